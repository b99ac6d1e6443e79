// rtrec_server: the recommendation service.
//
//   rtrec_server --config config/default.yaml
//
// Without --config the built-in defaults are used (the same values
// config/default.yaml documents), with the demo catalog shipped in data/.
// SIGINT or SIGTERM shuts down gracefully; SIGHUP re-reads the bearer tokens
// (server.auth.tokens_file) and the TLS certificates (server.tls).
// --check_config validates the configuration (and the tokens and TLS files
// it names) and exits: 0 when valid, 2 with the reasons otherwise.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "common/allocator.h"
#include "config/options.h"
#include "server/server.h"

ABSL_FLAG(std::string, config, "", "Path of the YAML config file (see config/default.yaml)");
ABSL_FLAG(std::string, listen_address, "",
          "Overrides server.listen_address (e.g. 127.0.0.1:0 for a free port)");
ABSL_FLAG(std::string, metrics_address, "-",
          "Overrides server.metrics_address; empty disables the metrics endpoint");
ABSL_FLAG(std::string, storage_path, "-",
          "Overrides storage.path (the directory of the state store and model checkpoints); "
          "empty keeps state in memory only");
ABSL_FLAG(std::string, seed_from, "",
          "Overrides storage.seed_from: a folder from `rtrec-cli model export` that an empty "
          "store starts from");

ABSL_FLAG(bool, check_config, false,
          "Validate the configuration (with its tokens and TLS files) and exit: 0 valid, 2 not");

namespace {

// What --check_config checks beyond parsing: the files the server would read
// at start.
absl::Status CheckSecrets(const rtrec::config::RtrecConfig& config) {
  auto access = rtrec::server::AccessControl::Create(
      config.server.auth.tokens_file, rtrec::server::IsLoopbackAddress(config.server.listen_address));
  if (!access.ok()) return access.status();
  if (config.server.tls.enabled()) {
    auto tls = rtrec::server::TlsCredentials::Create(config.server.tls);
    if (!tls.ok()) return tls.status();
  }
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  rtrec::KeepTensorPagesMapped();
  // Signals are taken by sigwait below, so block them in every thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string path = absl::GetFlag(FLAGS_config);
  absl::StatusOr<rtrec::config::RtrecConfig> config =
      path.empty() ? rtrec::config::ParseConfig("", ".") : rtrec::config::LoadConfigFile(path);
  if (!config.ok()) {
    std::cerr << "rtrec: invalid configuration: " << config.status().message() << "\n";
    return 2;
  }
  if (!absl::GetFlag(FLAGS_listen_address).empty()) {
    config->server.listen_address = absl::GetFlag(FLAGS_listen_address);
  }
  if (absl::GetFlag(FLAGS_metrics_address) != "-") {
    config->server.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  }
  if (!absl::GetFlag(FLAGS_seed_from).empty()) {
    config->storage.seed_from = absl::GetFlag(FLAGS_seed_from);
  }
  if (absl::GetFlag(FLAGS_storage_path) != "-") {
    config->storage.path = absl::GetFlag(FLAGS_storage_path);
  }
  if (absl::GetFlag(FLAGS_check_config)) {
    if (auto s = CheckSecrets(*config); !s.ok()) {
      std::cerr << "rtrec: invalid configuration: " << s.message() << "\n";
      return 2;
    }
    std::cout << "rtrec: configuration " << (path.empty() ? "(built-in defaults)" : path)
              << " is valid; gRPC on " << config->server.listen_address
              << (config->server.tls.enabled() ? (config->server.tls.client_ca.empty() ? " (TLS)" : " (mutual TLS)") : " (plaintext)")
              << (config->server.auth.tokens_file.empty() ? ", no tokens" : ", bearer tokens")
              << ", metrics on " << (config->server.metrics_address.empty() ? "(off)" : config->server.metrics_address)
              << ", largest message " << config->server.MaxMessageBytes() << " bytes" << std::endl;
    return 0;
  }
  auto server = rtrec::server::RtrecServer::Start(*config);
  if (!server.ok()) {
    std::cerr << "rtrec: cannot start: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << "rtrec: listening on port " << (*server)->port() << " (health NOT_SERVING while loading)";
  if ((*server)->metrics_port() != 0) std::cout << "; metrics on port " << (*server)->metrics_port();
  std::cout << std::endl;
  if (auto s = (*server)->Load(); !s.ok()) {
    std::cerr << "rtrec: cannot load: " << s.message() << "\n";
    (*server)->Shutdown();
    return 1;
  }
  rtrec::v1::ModelInfo info;
  (*server)->service()->FillModelInfo(&info);
  std::cout << "rtrec: SERVING model v" << info.model_version() << " on " << info.device()
            << ", catalog of " << info.catalog_size() << " items, text tower " << info.text_encoder()
            << std::endl;
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    if (auto s = (*server)->ReloadSecrets(); s.ok()) {
      std::cout << "rtrec: SIGHUP: tokens and TLS certificates reloaded" << std::endl;
    } else {
      std::cerr << "rtrec: SIGHUP: reload refused, the previous ones stay: " << s.message() << std::endl;
    }
  }
  std::cout << "rtrec: signal " << sig << ", shutting down" << std::endl;
  (*server)->Shutdown();
  return 0;
}

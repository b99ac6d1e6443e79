// rtrec_server: the recommendation service.
//
//   rtrec_server --config config/default.yaml
//
// Without --config the built-in defaults are used (the same values
// config/default.yaml documents), with the demo catalog shipped in data/.
// SIGINT or SIGTERM shuts down gracefully.
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

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  rtrec::KeepTensorPagesMapped();
  // Signals are taken by sigwait below, so block them in every thread.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
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
  sigwait(&signals, &sig);
  std::cout << "rtrec: signal " << sig << ", shutting down" << std::endl;
  (*server)->Shutdown();
  return 0;
}

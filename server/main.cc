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
#include "absl/strings/str_cat.h"
#include "common/allocator.h"
#include "common/build_info.h"
#include "common/command_line.h"
#include "common/logging.h"
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

// The effective configuration in a few log lines: what a reader of the log
// needs to know what this process is doing.
// The door in one line: addresses, TLS, tokens, message limit.
std::string DoorSummary(const rtrec::config::RtrecConfig& c) {
  return absl::StrCat(
      "gRPC on ", c.server.listen_address,
      c.server.tls.enabled() ? (c.server.tls.client_ca.empty() ? " (TLS)" : " (mutual TLS)") : " (plaintext)",
      c.server.auth.tokens_file.empty() ? ", no tokens" : ", bearer tokens", ", metrics on ",
      c.server.metrics_address.empty() ? "(off)" : c.server.metrics_address, ", largest message ",
      c.server.MaxMessageBytes(), " bytes");
}

void LogConfigSummary(const std::string& path, const rtrec::config::RtrecConfig& c) {
  using rtrec::logging::Info;
  Info("config", absl::StrCat("from ", path.empty() ? "(built-in defaults)" : path, "; ", DoorSummary(c)));
  Info("config", absl::StrCat(
      "catalog ", c.catalog.path.empty() ? "(demo)" : c.catalog.path, " (max ", c.catalog.max_items,
      " items); text tower ", c.text_tower.checkpoint_dir.empty() ? "random-initialised" : c.text_tower.checkpoint_dir,
      "; model on ", c.model.device, ", dim ", c.model.embedding_dim, ", ", c.model.num_layers, " layers"));
  Info("config", absl::StrCat(
      "batcher: batches of ", c.batcher.max_batch_size, ", ", c.batcher.max_queue_delay_us, " us, queue ",
      c.batcher.max_queue_size, ", ", c.batcher.num_threads, " threads, deadline admission ",
      c.batcher.deadline_admission ? "on" : "off", ", ", c.batcher.max_queued_per_client,
      " per client; policy temperature ", c.policy.temperature, ", epsilon ", c.policy.epsilon));
  Info("config", absl::StrCat(
      "learner ", c.learner.enabled ? "on" : "off", " (lr ", c.learner.learning_rate, ", batch ",
      c.learner.batch_size, ", publish every ", c.learner.publish_interval_ms, " ms); tuner ",
      c.tuner.enabled ? "on" : "off", "; storage ", c.storage.path.empty() ? "in memory only" : c.storage.path,
      c.storage.path.empty() ? "" : absl::StrCat(" (sync ", c.storage.sync, ")")));
}

}  // namespace

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv,
                                "rtrec_server [--config FILE] [flags]: the rtrec recommendation service");
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
    rtrec::logging::Error("config", absl::StrCat("invalid configuration: ", config.status().message()));
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
      rtrec::logging::Error("config", absl::StrCat("invalid configuration: ", s.message()));
      return 2;
    }
    std::cout << "rtrec: configuration " << (path.empty() ? "(built-in defaults)" : path) << " is valid; "
              << DoorSummary(*config) << std::endl;
    return 0;
  }
  rtrec::logging::Info("server", absl::StrCat("starting ", rtrec::VersionLine()));
  LogConfigSummary(path, *config);
  auto server = rtrec::server::RtrecServer::Start(*config);
  if (!server.ok()) {
    rtrec::logging::Error("server", absl::StrCat("cannot start: ", server.status().message()));
    return 1;
  }
  rtrec::logging::Info("server", absl::StrCat(
      "listening on port ", (*server)->port(), " (health NOT_SERVING while loading)",
      (*server)->metrics_port() != 0 ? absl::StrCat("; metrics on port ", (*server)->metrics_port()) : ""));
  if (auto s = (*server)->Load(); !s.ok()) {
    rtrec::logging::Error("server", absl::StrCat("cannot load: ", s.message()));
    (*server)->Shutdown();
    return 1;
  }
  rtrec::v1::ModelInfo info;
  (*server)->service()->FillModelInfo(&info);
  rtrec::logging::Info("server", absl::StrCat(
      "SERVING model v", info.model_version(), " on ", info.device(), ", catalog of ",
      info.catalog_size(), " items, text tower ", info.text_encoder()));
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    if (auto s = (*server)->ReloadSecrets(); s.ok()) {
      rtrec::logging::Info("server", "SIGHUP: tokens and TLS certificates reloaded");
    } else {
      rtrec::logging::Error("server", absl::StrCat("SIGHUP: reload refused, the previous ones stay: ", s.message()));
    }
  }
  rtrec::logging::Info("server", absl::StrCat("signal ", sig, ", draining and shutting down"));
  (*server)->Shutdown();
  rtrec::logging::Info("server", "stopped");
  return 0;
}

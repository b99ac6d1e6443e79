#include "server/server.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpc/support/log.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/build_info.h"
#include "common/logging.h"
#include "learner/checkpointing.h"
#include "storage/state_keys.h"

namespace rtrec::server {

namespace {

// gRPC's own messages go to rtrec's log (component "grpc").
void LogFromGrpc(gpr_log_func_args* args) {
  const logging::Level level = args->severity == GPR_LOG_SEVERITY_ERROR ? logging::Level::kError
                               : args->severity == GPR_LOG_SEVERITY_INFO ? logging::Level::kInfo
                                                                         : logging::Level::kDebug;
  logging::Log(level, "grpc", absl::StrCat(args->message, " (", args->file, ":", args->line, ")"));
}

}  // namespace

RtrecServer::RtrecServer(const config::RtrecConfig& config, Clock* clock)
    : config_(config), clock_(clock) {
  static std::once_flag routed;
  std::call_once(routed, [] { gpr_set_log_function(LogFromGrpc); });
}

absl::StatusOr<std::unique_ptr<RtrecServer>> RtrecServer::Start(
    const config::RtrecConfig& config, Clock* clock) {
  std::unique_ptr<RtrecServer> s(new RtrecServer(config, clock));
  auto access = AccessControl::Create(config.server.auth.tokens_file,
                                      IsLoopbackAddress(config.server.listen_address));
  if (!access.ok()) return access.status();
  s->access_ = std::move(*access);
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (config.server.tls.enabled()) {
    auto tls = TlsCredentials::Create(config.server.tls);
    if (!tls.ok()) return tls.status();
    s->tls_ = std::move(*tls);
    credentials = s->tls_->server_credentials();
  }
  s->service_ = std::make_unique<RecommenderService>(config, &s->metrics_, clock, s->access_.get());
  s->admin_ = std::make_unique<AdminService>(&s->metrics_, s->access_.get());
  if (!config.server.metrics_address.empty()) {
    RtrecServer* self = s.get();
    auto port = s->metrics_.StartHttpEndpoint(
        config.server.metrics_address,
        [self] {
          return self->stopping_.load() ? ProbeResult{false, "stopping"} : ProbeResult{true, "ok"};
        },
        [self] {
          if (self->stopping_.load()) return ProbeResult{false, "draining: shutting down"};
          if (!self->service_->ready()) return ProbeResult{false, "loading the model and catalog"};
          return ProbeResult{true, "ready"};
        });
    if (!port.ok()) return port.status();
    s->metrics_port_ = *port;
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.server.listen_address, credentials, &s->port_);
  // A port already in use is an error, not shared with the other process.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Every request the configured limits allow fits; larger ones are refused
  // by gRPC before they are read (RESOURCE_EXHAUSTED).
  const int64_t max_message = config.server.MaxMessageBytes();
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(max_message, INT32_MAX)));
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->admin_.get());
  s->grpc_server_ = builder.BuildAndStart();
  if (!s->grpc_server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "server.listen_address: cannot listen on ", config.server.listen_address,
        " (in use by another process, or not an address of this host)"));
  }
  s->SetHealth(false);
  RtrecServer* raw = s.get();
  s->metrics_.SetScrapeSource([raw] { return raw->Scrape(); });
  return s;
}

void RtrecServer::SetHealth(bool serving) {
  auto* health = grpc_server_->GetHealthCheckService();
  health->SetServingStatus(kHealthServiceName, serving);
  health->SetServingStatus(serving);  // ""
}

absl::Status RtrecServer::ReloadSecrets() {
  // Both are tried; either failure is reported.
  const absl::Status tokens = access_->Reload();
  const absl::Status tls = tls_ ? tls_->Reload() : absl::OkStatus();
  if (tokens.ok() || tls.ok()) return tokens.ok() ? tls : tokens;
  return absl::Status(tokens.code(), absl::StrCat(tokens.message(), "; ", tls.message()));
}

absl::Status RtrecServer::RequireCheckpoints() const {
  if (!stack_ || !stack_->checkpoints || !stack_->learner) {
    return absl::FailedPreconditionError(
        "this server keeps no model checkpoints (storage.path is empty or learner.enabled is false)");
  }
  return absl::OkStatus();
}

absl::StatusOr<rtrec::v1::ListCheckpointsResponse> RtrecServer::ListCheckpoints() {
  if (auto s = RequireCheckpoints(); !s.ok()) return s;
  rtrec::v1::ListCheckpointsResponse out;
  out.set_serving_version(stack_->models.Current()->version);
  for (const storage::CheckpointFile& f : stack_->checkpoints->List()) {
    auto* c = out.add_checkpoints();
    c->set_model_version(f.model_version);
    c->set_path(f.path);
    c->set_bytes(f.bytes);
    auto record = storage::ReadCheckpointFile(f.path);
    if (record.ok()) {
      c->set_created_unix_ms(record->created_unix_ms());
      c->set_examples_learned(record->learner_examples());
    } else {
      c->set_error(std::string(record.status().message()));
    }
  }
  return out;
}

absl::StatusOr<rtrec::v1::RollbackModelResponse> RtrecServer::RollbackModel(int64_t model_version) {
  if (auto s = RequireCheckpoints(); !s.ok()) return s;
  auto record = stack_->checkpoints->ReadVersion(model_version);
  if (!record.ok()) {
    return absl::Status(record.status().code(),
                        absl::StrCat("model_version: ", record.status().message()));
  }
  rtrec::v1::RollbackModelResponse out;
  out.set_restored_from_version(model_version);
  // On the learner thread, between two steps: no publish interleaves, and
  // the learner goes on from the restored weights.
  absl::Status swapped = stack_->learner->ReplaceServing([&]() -> absl::Status {
    auto serving = stack_->models.Current();
    auto snapshot = learner::SnapshotFromArchive(
        *serving, record->weights(), absl::StrCat("checkpoint of model v", model_version),
        serving->version + 1);
    if (!snapshot.ok()) return snapshot.status();
    if (auto s = stack_->publisher->Publish(*snapshot); !s.ok()) return s;
    out.set_serving_version((*snapshot)->version);
    return absl::OkStatus();
  });
  if (!swapped.ok()) return swapped;
  logging::Warning("admin", absl::StrCat("rolled back to the weights of model v", model_version,
                                         ", serving as v", out.serving_version()));
  return out;
}

absl::StatusOr<rtrec::v1::ExportCheckpointResponse> RtrecServer::ExportCheckpoint(
    int64_t model_version, const std::string& directory) {
  if (auto s = RequireCheckpoints(); !s.ok()) return s;
  auto record = stack_->checkpoints->ReadVersion(model_version);
  if (!record.ok()) {
    return absl::Status(record.status().code(),
                        absl::StrCat("model_version: ", record.status().message()));
  }
  const std::filesystem::path dir(directory);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("directory: cannot create ", directory, ": ", ec.message()));
  const std::string checkpoint_path = (dir / "checkpoint.rtrec").string();
  const std::string catalog_path = (dir / "catalog.jsonl").string();
  if (std::filesystem::exists(checkpoint_path) || std::filesystem::exists(catalog_path)) {
    return absl::AlreadyExistsError(absl::StrCat("directory: ", directory, " already holds an export"));
  }
  // The catalog in item order: the model's item rows follow it.
  auto catalog = stack_->catalog->Snapshot();
  if (auto s = model::WriteCatalogJsonl(*catalog, catalog_path); !s.ok()) return s;
  if (auto s = storage::WriteCheckpointFile(checkpoint_path, *record); !s.ok()) return s;
  rtrec::v1::ExportCheckpointResponse out;
  out.set_checkpoint_path(checkpoint_path);
  out.set_catalog_path(catalog_path);
  out.set_catalog_items(catalog->size());
  return out;
}

absl::StatusOr<std::string> RtrecServer::CheckpointNow() {
  if (!stack_->learner || !stack_->checkpoints) {
    return absl::FailedPreconditionError("checkpoints need storage.path and learner.enabled");
  }
  auto record = stack_->learner->MakeCheckpoint();
  if (!record.ok()) return record.status();
  return stack_->WriteCheckpoint(std::move(*record));
}

absl::Status RtrecServer::Load() {
  serving::ServingStackOptions options;
  options.clock = clock_;
  options.with_publisher = true;
  options.tuner_warmup = absl::Milliseconds(config_.impressions.reward_wait_ms);
  options.batch_observer = [this](int64_t size, double seconds) { metrics_.RecordBatch(size, seconds); };
  options.step_to_served_observer = [this](double seconds) { metrics_.RecordStepToServed(seconds); };
  auto stack = serving::ServingStack::Build(config_, std::move(options));
  if (!stack.ok()) return stack.status();
  stack_ = std::move(*stack);
  serving::ServingStack& st = *stack_;
  auto batcher = model::DynamicBatcher::Create(
      config_.batcher, [this](model::TaskBatch batch) { stack_->engine->RunBatch(std::move(batch)); },
      clock_);
  if (!batcher.ok()) return batcher.status();
  batcher_ = std::move(*batcher);
  if (st.learner) {
    std::function<void(const std::vector<state::Experience>&)> after_batch;
    if (st.tuner) {
      after_batch = [this](const std::vector<state::Experience>& batch) {
        const state::RewardTotals t = state::LoggedRewards(batch);
        stack_->tuner->RecordExamples(t.logged, t.reward_sum);
      };
    }
    st.learner->Start(st.experiences.get(), std::move(after_batch));
  }
  maintenance_ = std::thread([this] {
    const absl::Duration tick =
        stack_->store ? std::min(absl::Seconds(1), absl::Milliseconds(config_.storage.user_flush_ms))
                      : absl::Seconds(1);
    while (!stop_maintenance_.WaitForNotificationWithTimeout(tick)) {
      stack_->impressions->ExpireDue();
      if (auto s = stack_->users->FlushTastes(); !s.ok()) {
        logging::Error("users", s.status().message());
      }
    }
  });

  ServingComponents c;
  c.stack = &st;
  c.batcher = batcher_.get();
  service_->SetReady(c);
  admin_->SetReady(this);
  SetHealth(true);
  return absl::OkStatus();
}

std::vector<ScrapedValue> RtrecServer::Scrape() const {
  const BuildInfo& build = GetBuildInfo();
  std::vector<ScrapedValue> out = {
      {"rtrec_build_info", "1, labelled with the version, git revision and build type", false, 1,
       {{"version", build.version}, {"revision", build.revision}, {"build_type", build.build_type}}}};
  std::vector<ScrapedValue> values = service_->CollectMetrics();
  out.insert(out.end(), std::make_move_iterator(values.begin()), std::make_move_iterator(values.end()));
  return out;
}

void RtrecServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  // Drain: /readyz answers 503 and health NOT_SERVING while the calls in
  // flight finish (up to 5 s); /metrics is scraped until the components it
  // reads begin to stop.
  stopping_.store(true);
  if (grpc_server_) {
    SetHealth(false);
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  metrics_.StopHttpEndpoint();
  metrics_.SetScrapeSource(nullptr);
  stop_maintenance_.Notify();
  if (maintenance_.joinable()) maintenance_.join();
  if (admin_) admin_->Stop();  // before the learner: a rollback waits for its thread
  if (!stack_) return;
  if (stack_->learner) stack_->learner->Stop();
  batcher_.reset();  // answers anything still queued
  if (stack_->learner && stack_->checkpoints) {
    // What was learned since the last publish is checked and published (or
    // refused), then the whole state is checkpointed.
    stack_->learner->PublishPending();
    if (auto s = CheckpointNow(); !s.ok()) {
      logging::Error("checkpoints", absl::StrCat("checkpoint at shutdown not written: ", s.status().message()));
    }
  }
  stack_->publisher.reset();
  stack_->catalog_writer.reset();  // finishes queued upserts and publishes
  if (auto s = stack_->users->FlushTastes(); !s.ok()) {
    logging::Error("users", s.status().message());
  }
  if (stack_->store) stack_->store->Sync().IgnoreError();
}

RtrecServer::~RtrecServer() { Shutdown(); }

}  // namespace rtrec::server

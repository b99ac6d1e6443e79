#include "server/server.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "learner/checkpointing.h"
#include "storage/state_keys.h"

namespace rtrec::server {

RtrecServer::RtrecServer(const config::RtrecConfig& config, Clock* clock)
    : config_(config), clock_(clock) {}

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
    auto port = s->metrics_.StartHttpEndpoint(config.server.metrics_address);
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
  auto* health = s->grpc_server_->GetHealthCheckService();
  health->SetServingStatus(false);
  RtrecServer* raw = s.get();
  s->metrics_.SetScrapeSource([raw] { return raw->Scrape(); });
  return s;
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
  std::fprintf(stderr, "rtrec: rolled back to the weights of model v%lld, serving as v%lld\n",
               static_cast<long long>(model_version), static_cast<long long>(out.serving_version()));
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
        std::fprintf(stderr, "rtrec: %s\n", std::string(s.status().message()).c_str());
      }
    }
  });

  ServingComponents c;
  c.stack = &st;
  c.batcher = batcher_.get();
  service_->SetReady(c);
  admin_->SetReady(this);
  grpc_server_->GetHealthCheckService()->SetServingStatus(true);
  return absl::OkStatus();
}

std::vector<ScrapedValue> RtrecServer::Scrape() const {
  std::vector<ScrapedValue> out;
  if (!service_->ready()) {
    out.push_back({"rtrec_ready", "1 once model and catalog are loaded", false, 0});
    return out;
  }
  out.push_back({"rtrec_ready", "1 once model and catalog are loaded", false, 1});
  auto snap = stack_->models.Current();
  out.push_back({"rtrec_model_version", "Version of the serving model snapshot", false,
                 snap ? static_cast<double>(snap->version) : 0});
  out.push_back({"rtrec_model_swaps_total", "Model snapshots swapped into serving", true,
                 static_cast<double>(stack_->models.swaps())});
  out.push_back({"rtrec_model_rejected_swaps_total", "Snapshots refused by the publish checks",
                 true, static_cast<double>(stack_->models.rejected())});
  out.push_back({"rtrec_model_published_timestamp_seconds",
                 "Unix time when the serving snapshot was swapped in (or loaded)", false,
                 absl::ToDoubleSeconds(stack_->models.published_at() - absl::UnixEpoch())});
  const model::BatcherStats b = batcher_->stats();
  out.push_back({"rtrec_queue_depth", "Requests waiting in the inference queue", false,
                 static_cast<double>(b.queue_depth)});
  out.push_back({"rtrec_queue_capacity", "Requests the inference queue holds (batcher.max_queue_size)",
                 false, static_cast<double>(config_.batcher.max_queue_size)});
  out.push_back({"rtrec_batches_total", "Inference batches run", true, static_cast<double>(b.batches)});
  out.push_back({"rtrec_queue_expired_total", "Requests whose deadline passed in the queue", true,
                 static_cast<double>(b.expired)});
  out.push_back({"rtrec_queue_rejected_total", "Requests refused because the queue was full", true,
                 static_cast<double>(b.rejected_full)});
  out.push_back({"rtrec_queue_refused_deadline_total",
                 "Requests refused at once because their deadline could not cover the expected "
                 "wait and compute (batcher.deadline_admission)",
                 true, static_cast<double>(b.refused_deadline)});
  out.push_back({"rtrec_queue_refused_client_limit_total",
                 "Requests refused because their client held batcher.max_queued_per_client",
                 true, static_cast<double>(b.refused_client_limit)});
  out.push_back({"rtrec_request_cost_seconds",
                 "Measured compute per Recommend that deadline admission estimates with", false,
                 b.cost_per_request_seconds});
  auto catalog = stack_->catalog->Snapshot();
  out.push_back({"rtrec_catalog_items", "Items in the catalog", false,
                 static_cast<double>(catalog->size())});
  const state::ImpressionLogStats s = stack_->impressions->stats();
  out.push_back({"rtrec_impressions_logged_total", "Slates logged", true, static_cast<double>(s.logged)});
  out.push_back({"rtrec_impressions_joined_total", "Feedback events joined to an impression", true,
                 static_cast<double>(s.joined)});
  out.push_back({"rtrec_impressions_expired_total", "Impressions expired without more feedback",
                 true, static_cast<double>(s.expired)});
  out.push_back({"rtrec_experiences_pending", "Experiences waiting for the learner", false,
                 static_cast<double>(stack_->experiences->size())});
  out.push_back({"rtrec_experiences_capacity",
                 "Experiences that may wait for the learner (impressions.experience_capacity)", false,
                 static_cast<double>(config_.impressions.experience_capacity)});
  const state::ExperienceBufferStats eb = stack_->experiences->stats();
  out.push_back({"rtrec_feedback_refused_total",
                 "Feedback refused with RESOURCE_EXHAUSTED because the learner was behind", true,
                 static_cast<double>(eb.refused)});
  out.push_back({"rtrec_unanswered_examples_dropped_total",
                 "Default-reward examples dropped because the learner was behind", true,
                 static_cast<double>(eb.dropped_unanswered)});
  out.push_back({"rtrec_experiences_discarded_total",
                 "Oldest experiences dropped unlearned because learning is off (learner.enabled false)",
                 true, static_cast<double>(eb.discarded)});
  out.push_back({"rtrec_feedback_late_total", "Feedback for impressions that had closed", true,
                 static_cast<double>(s.late)});
  out.push_back({"rtrec_feedback_duplicate_total",
                 "Repeated feedback for one (request, item), not learned twice", true,
                 static_cast<double>(s.duplicate)});
  out.push_back({"rtrec_users_cached", "Users in memory (users.max_cached_users bounds it)", false,
                 static_cast<double>(stack_->users->num_users())});
  out.push_back({"rtrec_users_evicted_total", "Users evicted from memory (to the store when there is one)",
                 true, static_cast<double>(stack_->users->evicted())});
  if (stack_->store) {
    const storage::StateStoreStats st = stack_->store->stats();
    out.push_back({"rtrec_storage_writes_total", "Batches written to the state store", true,
                   static_cast<double>(st.writes)});
    out.push_back({"rtrec_storage_syncs_total", "Fsyncs of the state store's write-ahead log", true,
                   static_cast<double>(st.syncs)});
    out.push_back({"rtrec_checkpoints_written_total", "Model checkpoints written", true,
                   static_cast<double>(stack_->checkpoints_written())});
    out.push_back({"rtrec_checkpoint_last_seconds", "Time the last checkpoint took to write", false,
                   stack_->last_checkpoint_seconds()});
  }
  out.push_back({"rtrec_taste_changes_total",
                 "Changes of a user's taste detected from unclicked reports (users.taste_change_surprise)",
                 true, static_cast<double>(stack_->users->taste_changes())});
  const model::PolicyParams policy = stack_->policy.Get();
  out.push_back({"rtrec_policy_temperature", "Exploration temperature in use", false,
                 policy.temperature});
  out.push_back({"rtrec_policy_epsilon", "Uniform exploration share in use", false,
                 policy.epsilon});
  if (stack_->learner) {
    const learner::LearnerStats l = stack_->learner->stats();
    out.push_back({"rtrec_learner_steps_total", "Optimizer steps of the online learner", true,
                   static_cast<double>(l.steps)});
    out.push_back({"rtrec_learner_examples_total", "Experiences the learner consumed", true,
                   static_cast<double>(l.examples)});
    out.push_back({"rtrec_learner_skipped_steps_total",
                   "Learner steps skipped for a non-finite loss or gradient", true,
                   static_cast<double>(l.skipped_steps)});
    out.push_back({"rtrec_learner_loss", "Loss of the last learner step", false, l.last_loss});
    out.push_back({"rtrec_learner_mean_reward", "Running mean reward of logged examples", false,
                   l.mean_reward});
    out.push_back({"rtrec_learner_importance_weight_mean",
                   "Mean pi/beta over the last step's logged examples", false,
                   l.importance_weight_mean});
    out.push_back({"rtrec_learner_importance_weight_ess",
                   "Effective sample size (sum w)^2/(n sum w^2) of the last step", false,
                   l.importance_weight_ess});
    out.push_back({"rtrec_learner_learning_rate", "Learning rate in use", false, l.learning_rate});
    out.push_back({"rtrec_learner_publishes_total", "Snapshots the learner published", true,
                   static_cast<double>(l.publishes)});
  }
  if (stack_->tuner) {
    const tuner::TunerState t = stack_->tuner->state();
    out.push_back({"rtrec_tuner_learning_rate", "Learning rate the tuner chose for this round",
                   false, t.learning_rate});
    out.push_back({"rtrec_tuner_exploration", "Exploration share epsilon the tuner chose", false,
                   t.exploration});
    out.push_back({"rtrec_tuner_rounds_total", "Tuner rounds completed", true,
                   static_cast<double>(t.rounds)});
    out.push_back({"rtrec_tuner_round_reward", "Mean reward of the last completed round", false,
                   t.last_objective});
    out.push_back({"rtrec_tuner_best_round_reward", "Best mean reward of a round so far", false,
                   t.best_objective});
  }
  return out;
}

void RtrecServer::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  metrics_.StopHttpEndpoint();
  metrics_.SetScrapeSource(nullptr);
  if (grpc_server_) {
    grpc_server_->GetHealthCheckService()->SetServingStatus(false);
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
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
      std::fprintf(stderr, "rtrec: checkpoint at shutdown not written: %s\n",
                   std::string(s.status().message()).c_str());
    }
  }
  stack_->publisher.reset();
  stack_->catalog_writer.reset();  // finishes queued upserts and publishes
  if (auto s = stack_->users->FlushTastes(); !s.ok()) {
    std::fprintf(stderr, "rtrec: %s\n", std::string(s.status().message()).c_str());
  }
  if (stack_->store) stack_->store->Sync().IgnoreError();
}

RtrecServer::~RtrecServer() { Shutdown(); }

}  // namespace rtrec::server

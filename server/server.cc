#include "server/server.h"

#include <algorithm>
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
    : config_(config),
      clock_(clock),
      policy_(model::PolicyParams{config.policy.temperature, config.policy.epsilon}) {}

absl::StatusOr<std::unique_ptr<RtrecServer>> RtrecServer::Start(
    const config::RtrecConfig& config, Clock* clock) {
  std::unique_ptr<RtrecServer> s(new RtrecServer(config, clock));
  s->service_ = std::make_unique<RecommenderService>(config, &s->metrics_, clock);
  s->admin_ = std::make_unique<AdminService>(&s->metrics_);
  if (!config.server.metrics_address.empty()) {
    auto port = s->metrics_.StartHttpEndpoint(config.server.metrics_address);
    if (!port.ok()) return port.status();
    s->metrics_port_ = *port;
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.server.listen_address, grpc::InsecureServerCredentials(),
                           &s->port_);
  builder.RegisterService(s->service_.get());
  builder.RegisterService(s->admin_.get());
  s->grpc_server_ = builder.BuildAndStart();
  if (!s->grpc_server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "server.listen_address: cannot listen on ", config.server.listen_address));
  }
  auto* health = s->grpc_server_->GetHealthCheckService();
  health->SetServingStatus(false);
  RtrecServer* raw = s.get();
  s->metrics_.SetScrapeSource([raw] { return raw->Scrape(); });
  return s;
}

absl::Status RtrecServer::OpenStorage() {
  if (config_.storage.path.empty()) {
    std::fprintf(stderr,
                 "rtrec: storage.path is empty: state is kept in memory only; nothing survives a "
                 "restart\n");
    return absl::OkStatus();
  }
  auto store = storage::OpenStateStore(config_.storage);
  if (!store.ok()) return store.status();
  store_ = std::move(*store);
  checkpoints_ = std::make_unique<storage::CheckpointDirectory>(
      (std::filesystem::path(config_.storage.path) / "checkpoints").string(),
      config_.storage.checkpoints_to_keep);
  if (!config_.storage.seed_from.empty()) {
    if (auto s = SeedFromExport(); !s.ok()) return s;
  }
  std::vector<std::string> refused;
  restored_ = checkpoints_->ReadNewestGood(&refused);
  for (const auto& why : refused) std::fprintf(stderr, "rtrec: %s\n", why.c_str());
  std::fprintf(stderr, "rtrec: storage at %s (sync %s)%s\n", config_.storage.path.c_str(),
               config_.storage.sync.c_str(),
               restored_ ? absl::StrCat("; starting from the checkpoint of model v",
                                        restored_->model_version(), " (",
                                        restored_->learner_examples(), " examples learned)")
                               .c_str()
                         : "; no checkpoint yet");
  return absl::OkStatus();
}

absl::Status RtrecServer::SeedFromExport() {
  const std::filesystem::path seed(config_.storage.seed_from);
  auto stored = model::ReadStoredCatalog(*store_);
  if (!stored.ok()) return stored.status();
  if (!checkpoints_->List().empty() || !stored->empty()) {
    std::fprintf(stderr, "rtrec: storage.seed_from %s ignored: the store has its own state\n",
                 seed.c_str());
    return absl::OkStatus();
  }
  auto record = storage::ReadCheckpointFile((seed / "checkpoint.rtrec").string());
  if (!record.ok()) {
    return absl::Status(record.status().code(),
                        absl::StrCat("storage.seed_from: ", record.status().message()));
  }
  const std::string catalog = (seed / "catalog.jsonl").string();
  if (!std::filesystem::exists(catalog)) {
    return absl::NotFoundError(absl::StrCat("storage.seed_from: ", catalog, " is missing"));
  }
  // The experiences it learned belong to the other deployment's store.
  record->set_learned_through(0);
  auto written = checkpoints_->Write(*record);
  if (!written.ok()) return written.status();
  catalog_seed_path_ = catalog;
  std::fprintf(stderr, "rtrec: seeded from %s: model v%lld and its catalog\n", seed.c_str(),
               static_cast<long long>(record->model_version()));
  return absl::OkStatus();
}

absl::Status RtrecServer::RequireCheckpoints() const {
  if (!checkpoints_ || !learner_) {
    return absl::FailedPreconditionError(
        "this server keeps no model checkpoints (storage.path is empty or learner.enabled is false)");
  }
  return absl::OkStatus();
}

absl::StatusOr<rtrec::v1::ListCheckpointsResponse> RtrecServer::ListCheckpoints() {
  if (auto s = RequireCheckpoints(); !s.ok()) return s;
  rtrec::v1::ListCheckpointsResponse out;
  out.set_serving_version(models_.Current()->version);
  for (const storage::CheckpointFile& f : checkpoints_->List()) {
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
  auto record = checkpoints_->ReadVersion(model_version);
  if (!record.ok()) {
    return absl::Status(record.status().code(),
                        absl::StrCat("model_version: ", record.status().message()));
  }
  rtrec::v1::RollbackModelResponse out;
  out.set_restored_from_version(model_version);
  // On the learner thread, between two steps: no publish interleaves, and
  // the learner goes on from the restored weights.
  absl::Status swapped = learner_->ReplaceServing([&]() -> absl::Status {
    auto serving = models_.Current();
    auto snapshot = learner::SnapshotFromArchive(
        *serving, record->weights(), absl::StrCat("checkpoint of model v", model_version),
        serving->version + 1);
    if (!snapshot.ok()) return snapshot.status();
    if (auto s = publisher_->Publish(*snapshot); !s.ok()) return s;
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
  auto record = checkpoints_->ReadVersion(model_version);
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
  auto catalog = catalog_->Snapshot();
  if (auto s = model::WriteCatalogJsonl(*catalog, catalog_path); !s.ok()) return s;
  if (auto s = storage::WriteCheckpointFile(checkpoint_path, *record); !s.ok()) return s;
  rtrec::v1::ExportCheckpointResponse out;
  out.set_checkpoint_path(checkpoint_path);
  out.set_catalog_path(catalog_path);
  out.set_catalog_items(catalog->size());
  return out;
}

absl::StatusOr<std::string> RtrecServer::WriteCheckpoint(storage::v1::CheckpointRecord record) {
  if (!checkpoints_) return absl::FailedPreconditionError("storage.path is empty: no checkpoints");
  rtrec::MutexLock lock(&checkpoint_mu_);
  const absl::Time started = absl::Now();
  if (tuner_) {
    for (const auto& r : tuner_->state().history) {
      auto* out = record.add_tuner_rounds();
      out->set_round(r.round);
      out->set_learning_rate(r.learning_rate);
      out->set_exploration(r.exploration);
      out->set_objective(r.objective);
      out->set_examples(r.examples);
    }
  }
  auto path = checkpoints_->Write(record);
  if (!path.ok()) return path.status();
  // What the checkpoint's weights learned need not be replayed.
  storage::WriteBatch learned;
  learned.DeleteRange(storage::ExperienceKey(0),
                      storage::ExperienceKey(static_cast<uint64_t>(record.learned_through()) + 1));
  if (auto s = store_->Write(learned); !s.ok()) return s;
  const double seconds = absl::ToDoubleSeconds(absl::Now() - started);
  last_checkpoint_seconds_.store(seconds);
  checkpoints_written_.fetch_add(1);
  std::fprintf(stderr, "rtrec: checkpoint of model v%lld written to %s (%.1f MB, %.0f ms)\n",
               static_cast<long long>(record.model_version()), path->c_str(),
               static_cast<double>(record.ByteSizeLong()) / 1e6, seconds * 1e3);
  return path;
}

absl::StatusOr<std::string> RtrecServer::CheckpointNow() {
  if (!learner_ || !checkpoints_) {
    return absl::FailedPreconditionError("checkpoints need storage.path and learner.enabled");
  }
  auto record = learner_->MakeCheckpoint();
  if (!record.ok()) return record.status();
  return WriteCheckpoint(std::move(*record));
}

absl::Status RtrecServer::Load() {
  if (auto s = OpenStorage(); !s.ok()) return s;
  model::ConfigureIntraOpThreads(config_.model.intra_op_threads);
  auto device = model::ResolveDevice(config_.model.device);
  if (!device.ok()) return device.status();
  auto text = model::TextEmbedder::Create(config_.text_tower, *device);
  if (!text.ok()) return text.status();
  std::shared_ptr<const model::TextEmbedder> text_tower = std::move(*text);
  auto snapshot = model::BuildInitialSnapshot(config_, text_tower);
  if (!snapshot.ok()) return snapshot.status();
  if (restored_) {
    auto restored = learner::SnapshotFromArchive(
        **snapshot, restored_->weights(),
        absl::StrCat("checkpoint of model v", restored_->model_version(), " in ", checkpoints_->dir()),
        restored_->model_version());
    if (!restored.ok()) return restored.status();
    *snapshot = std::move(*restored);
  }
  models_.Publish(std::move(*snapshot));

  auto catalog = model::Catalog::Create(config_.catalog, store_.get());
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(*catalog);
  // The catalog file seeds an empty store only: after that the store (with
  // every upsert) is the catalog, in its item order.
  absl::StatusOr<std::vector<model::CatalogItem>> items = std::vector<model::CatalogItem>();
  if (store_) items = model::ReadStoredCatalog(*store_);
  if (!items.ok()) return items.status();
  if (items->empty()) {
    const std::string path = catalog_seed_path_.empty() ? config_.catalog.path : catalog_seed_path_;
    items = model::ReadCatalogJsonl(path, config_.server.max_item_text_bytes);
    if (!items.ok()) {
      return absl::Status(items.status().code(),
                          absl::StrCat(catalog_seed_path_.empty() ? "catalog.path: " : "storage.seed_from: ",
                                       items.status().message()));
    }
  } else {
    std::fprintf(stderr, "rtrec: catalog of %zu items from the store (catalog.path seeds an empty store only)\n",
                 items->size());
  }
  std::vector<std::string> texts;
  texts.reserve(items->size());
  for (const auto& item : *items) texts.push_back(model::ItemTextForEncoding(item));
  auto embeddings = text_tower->Embed(texts);
  if (!embeddings.ok()) return embeddings.status();
  for (size_t i = 0; i < items->size(); ++i) (*items)[i].text_embedding = std::move((*embeddings)[i]);
  if (!items->empty()) {
    auto upserted = catalog_->Upsert(std::move(*items));
    if (!upserted.ok()) {
      return absl::Status(upserted.status().code(),
                          absl::StrCat("catalog.path: ", upserted.status().message()));
    }
  }

  auto users = model::UserState::Create(config_.users, config_.model.embedding_dim, store_.get());
  if (!users.ok()) return users.status();
  users_ = std::move(*users);
  // Without a learner nobody drains the buffer: keep the newest experiences
  // (counted drops) rather than refuse every feedback once it is full.
  experiences_ = std::make_unique<learner::ExperienceBuffer>(
      config_.impressions.experience_capacity,
      config_.learner.enabled ? learner::OverflowPolicy::kRefuse : learner::OverflowPolicy::kDropOldest);
  auto impressions = learner::ImpressionLog::Create(config_.impressions, clock_, experiences_.get());
  if (!impressions.ok()) return impressions.status();
  impressions_ = std::move(*impressions);
  if (store_) {
    // What was accepted before a restart: the unlearned experiences (the
    // learner's backlog) and the impressions still open for feedback.
    if (config_.learner.enabled) {
      auto pending = experiences_->Restore(
          store_.get(), restored_ ? static_cast<uint64_t>(restored_->learned_through()) : 0);
      if (!pending.ok()) return pending.status();
      std::fprintf(stderr, "rtrec: %lld unlearned experiences restored\n",
                   static_cast<long long>(*pending));
    }
    impressions_->AttachStore(store_.get());
    auto open = impressions_->Restore();
    if (!open.ok()) return open.status();
    std::fprintf(stderr, "rtrec: %lld open impressions restored\n", static_cast<long long>(*open));
  }

  model::InferenceEngineOptions engine_options;
  engine_options.policy_seed = config_.policy.seed;
  engine_options.policy = &policy_;
  engine_options.intra_op_threads = config_.model.intra_op_threads;
  engine_options.batch_observer = [this](int64_t size, double seconds) {
    metrics_.RecordBatch(size, seconds);
  };
  auto engine = model::InferenceEngine::Create(engine_options, &models_, impressions_.get());
  if (!engine.ok()) return engine.status();
  engine_ = std::move(*engine);
  auto batcher = model::DynamicBatcher::Create(
      config_.batcher, [this](model::TaskBatch batch) { engine_->RunBatch(std::move(batch)); },
      clock_);
  if (!batcher.ok()) return batcher.status();
  batcher_ = std::move(*batcher);

  catalog_writer_ = std::make_unique<SerialExecutor>();
  publisher_ = std::make_unique<learner::ModelPublisher>(&models_, catalog_.get(),
                                                         catalog_writer_.get());
  if (config_.learner.enabled) {
    auto learner = learner::Learner::Create(config_.learner, &models_, catalog_.get(), &policy_,
                                            publisher_.get(), clock_);
    if (!learner.ok()) return learner.status();
    learner_ = std::move(*learner);
    learner_->UseUserTastes(users_.get());
    if (restored_) {
      if (auto s = learner_->RestoreFrom(*restored_); !s.ok()) return s;
    }
    if (checkpoints_) {
      learner_->SetCheckpointHook(
          config_.storage.checkpoint_interval_s > 0 ? absl::Seconds(config_.storage.checkpoint_interval_s)
                                                    : absl::InfiniteDuration(),
          [this](storage::v1::CheckpointRecord record) {
            auto written = WriteCheckpoint(std::move(record));
            if (!written.ok()) {
              std::fprintf(stderr, "rtrec: checkpoint not written: %s\n",
                           std::string(written.status().message()).c_str());
            }
          });
    }
    std::function<void(const std::vector<learner::Experience>&)> after_batch;
    if (config_.tuner.enabled) {
      auto tuner = learner::CreateTunerFor(config_, learner_.get(), &policy_, clock_,
                                           absl::Milliseconds(config_.impressions.reward_wait_ms));
      if (!tuner.ok()) return tuner.status();
      tuner_ = std::move(*tuner);
      if (restored_) {
        std::vector<tuner::TunerRound> rounds;
        for (const auto& r : restored_->tuner_rounds()) {
          rounds.push_back({r.round(), r.learning_rate(), r.exploration(), r.objective(), r.examples()});
        }
        tuner_->Restore(rounds, restored_->learning_rate(), restored_->epsilon());
      }
      after_batch = [this](const std::vector<learner::Experience>& batch) {
        const learner::RewardTotals t = learner::LoggedRewards(batch);
        tuner_->RecordExamples(t.logged, t.reward_sum);
      };
    }
    learner_->Start(experiences_.get(), std::move(after_batch));
  }
  maintenance_ = std::thread([this] {
    const absl::Duration tick =
        store_ ? std::min(absl::Seconds(1), absl::Milliseconds(config_.storage.user_flush_ms))
               : absl::Seconds(1);
    while (!stop_maintenance_.WaitForNotificationWithTimeout(tick)) {
      impressions_->ExpireDue();
      if (auto s = users_->FlushTastes(); !s.ok()) {
        std::fprintf(stderr, "rtrec: %s\n", std::string(s.status().message()).c_str());
      }
    }
  });

  ServingComponents c;
  c.catalog = catalog_.get();
  c.users = users_.get();
  c.models = &models_;
  c.batcher = batcher_.get();
  c.engine = engine_.get();
  c.impressions = impressions_.get();
  c.experiences = experiences_.get();
  c.catalog_writer = catalog_writer_.get();
  c.policy = &policy_;
  c.learner = learner_.get();
  c.tuner = tuner_.get();
  c.store = store_.get();
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
  auto snap = models_.Current();
  out.push_back({"rtrec_model_version", "Version of the serving model snapshot", false,
                 snap ? static_cast<double>(snap->version) : 0});
  out.push_back({"rtrec_model_swaps_total", "Model snapshots swapped into serving", true,
                 static_cast<double>(models_.swaps())});
  out.push_back({"rtrec_model_rejected_swaps_total", "Snapshots refused by the publish checks",
                 true, static_cast<double>(models_.rejected())});
  out.push_back({"rtrec_model_published_timestamp_seconds",
                 "Unix time when the serving snapshot was swapped in (or loaded)", false,
                 absl::ToDoubleSeconds(models_.published_at() - absl::UnixEpoch())});
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
  auto catalog = catalog_->Snapshot();
  out.push_back({"rtrec_catalog_items", "Items in the catalog", false,
                 static_cast<double>(catalog->size())});
  const learner::ImpressionLogStats s = impressions_->stats();
  out.push_back({"rtrec_impressions_logged_total", "Slates logged", true, static_cast<double>(s.logged)});
  out.push_back({"rtrec_impressions_joined_total", "Feedback events joined to an impression", true,
                 static_cast<double>(s.joined)});
  out.push_back({"rtrec_impressions_expired_total", "Impressions expired without more feedback",
                 true, static_cast<double>(s.expired)});
  out.push_back({"rtrec_experiences_pending", "Experiences waiting for the learner", false,
                 static_cast<double>(experiences_->size())});
  out.push_back({"rtrec_experiences_capacity",
                 "Experiences that may wait for the learner (impressions.experience_capacity)", false,
                 static_cast<double>(config_.impressions.experience_capacity)});
  const learner::ExperienceBufferStats eb = experiences_->stats();
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
                 static_cast<double>(users_->num_users())});
  out.push_back({"rtrec_users_evicted_total", "Users evicted from memory (to the store when there is one)",
                 true, static_cast<double>(users_->evicted())});
  if (store_) {
    const storage::StateStoreStats st = store_->stats();
    out.push_back({"rtrec_storage_writes_total", "Batches written to the state store", true,
                   static_cast<double>(st.writes)});
    out.push_back({"rtrec_storage_syncs_total", "Fsyncs of the state store's write-ahead log", true,
                   static_cast<double>(st.syncs)});
    out.push_back({"rtrec_checkpoints_written_total", "Model checkpoints written", true,
                   static_cast<double>(checkpoints_written_.load())});
    out.push_back({"rtrec_checkpoint_last_seconds", "Time the last checkpoint took to write", false,
                   last_checkpoint_seconds_.load()});
  }
  out.push_back({"rtrec_taste_changes_total",
                 "Changes of a user's taste detected from unclicked reports (users.taste_change_surprise)",
                 true, static_cast<double>(users_->taste_changes())});
  const model::PolicyParams policy = policy_.Get();
  out.push_back({"rtrec_policy_temperature", "Exploration temperature in use", false,
                 policy.temperature});
  out.push_back({"rtrec_policy_epsilon", "Uniform exploration share in use", false,
                 policy.epsilon});
  if (learner_) {
    const learner::LearnerStats l = learner_->stats();
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
  if (tuner_) {
    const tuner::TunerState t = tuner_->state();
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
  if (learner_) learner_->Stop();
  batcher_.reset();  // answers anything still queued
  if (learner_ && checkpoints_) {
    // What was learned since the last publish is checked and published (or
    // refused), then the whole state is checkpointed.
    learner_->PublishPending();
    if (auto s = CheckpointNow(); !s.ok()) {
      std::fprintf(stderr, "rtrec: checkpoint at shutdown not written: %s\n",
                   std::string(s.status().message()).c_str());
    }
  }
  publisher_.reset();
  catalog_writer_.reset();  // finishes queued upserts and publishes
  if (users_) {
    if (auto s = users_->FlushTastes(); !s.ok()) {
      std::fprintf(stderr, "rtrec: %s\n", std::string(s.status().message()).c_str());
    }
  }
  if (store_) store_->Sync().IgnoreError();
}

RtrecServer::~RtrecServer() { Shutdown(); }

}  // namespace rtrec::server

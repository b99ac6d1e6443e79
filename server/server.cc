#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace rtrec::server {

RtrecServer::RtrecServer(const config::RtrecConfig& config, Clock* clock)
    : config_(config),
      clock_(clock),
      policy_(model::PolicyParams{config.policy.temperature, config.policy.epsilon}) {}

absl::StatusOr<std::unique_ptr<RtrecServer>> RtrecServer::Start(
    const config::RtrecConfig& config, Clock* clock) {
  std::unique_ptr<RtrecServer> s(new RtrecServer(config, clock));
  s->service_ = std::make_unique<RecommenderService>(config, &s->metrics_, clock);
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

absl::Status RtrecServer::Load() {
  model::ConfigureIntraOpThreads(config_.model.intra_op_threads);
  auto device = model::ResolveDevice(config_.model.device);
  if (!device.ok()) return device.status();
  auto text = model::TextEmbedder::Create(config_.text_tower, *device);
  if (!text.ok()) return text.status();
  std::shared_ptr<const model::TextEmbedder> text_tower = std::move(*text);
  auto snapshot = model::BuildInitialSnapshot(config_, text_tower);
  if (!snapshot.ok()) return snapshot.status();
  models_.Publish(std::move(*snapshot));

  auto catalog = model::Catalog::Create(config_.catalog);
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(*catalog);
  auto items = model::ReadCatalogJsonl(config_.catalog.path, config_.server.max_item_text_bytes);
  if (!items.ok()) {
    return absl::Status(items.status().code(),
                        absl::StrCat("catalog.path: ", items.status().message()));
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

  auto users = model::UserState::Create(config_.users, config_.model.embedding_dim);
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
    std::function<void(const std::vector<learner::Experience>&)> after_batch;
    if (config_.tuner.enabled) {
      auto tuner = learner::CreateTunerFor(config_, learner_.get(), &policy_, clock_,
                                           absl::Milliseconds(config_.impressions.reward_wait_ms));
      if (!tuner.ok()) return tuner.status();
      tuner_ = std::move(*tuner);
      after_batch = [this](const std::vector<learner::Experience>& batch) {
        const learner::RewardTotals t = learner::LoggedRewards(batch);
        tuner_->RecordExamples(t.logged, t.reward_sum);
      };
    }
    learner_->Start(experiences_.get(), std::move(after_batch));
  }
  maintenance_ = std::thread([this] {
    while (!stop_maintenance_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
      impressions_->ExpireDue();
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
  service_->SetReady(c);
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
  if (learner_) learner_->Stop();
  batcher_.reset();  // answers anything still queued
  publisher_.reset();
  catalog_writer_.reset();  // finishes queued upserts and publishes
}

RtrecServer::~RtrecServer() { Shutdown(); }

}  // namespace rtrec::server

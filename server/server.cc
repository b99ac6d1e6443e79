#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rtrec::server {

RtrecServer::RtrecServer(const config::RtrecConfig& config, Clock* clock)
    : config_(config), clock_(clock) {}

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

  auto users = model::UserState::Create(config_.users);
  if (!users.ok()) return users.status();
  users_ = std::move(*users);
  experiences_ = std::make_unique<learner::ExperienceBuffer>(config_.impressions.experience_capacity);
  auto impressions = learner::ImpressionLog::Create(config_.impressions, clock_, experiences_.get());
  if (!impressions.ok()) return impressions.status();
  impressions_ = std::move(*impressions);

  model::InferenceEngineOptions engine_options;
  engine_options.policy = config_.policy;
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
  c.impressions = impressions_.get();
  c.experiences = experiences_.get();
  c.catalog_writer = catalog_writer_.get();
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
  const model::BatcherStats b = batcher_->stats();
  out.push_back({"rtrec_queue_depth", "Requests waiting in the inference queue", false,
                 static_cast<double>(b.queue_depth)});
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
  out.push_back({"rtrec_experiences_dropped_total", "Experiences dropped because the buffer was full",
                 true, static_cast<double>(experiences_->dropped())});
  out.push_back({"rtrec_policy_temperature", "Exploration temperature in use", false,
                 config_.policy.temperature});
  out.push_back({"rtrec_policy_epsilon", "Uniform exploration share in use", false,
                 config_.policy.epsilon});
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
  batcher_.reset();  // answers anything still queued
  publisher_.reset();
  catalog_writer_.reset();  // finishes queued upserts and publishes
}

RtrecServer::~RtrecServer() { Shutdown(); }

}  // namespace rtrec::server

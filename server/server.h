// One rtrec server: the gRPC endpoint (Recommender, health, reflection), the
// Prometheus endpoint, and the components behind them.
//
// Start() listens at once with health NOT_SERVING; Load() builds the text
// tower, the model and the catalog, then flips health to SERVING. Until then
// every Recommender RPC answers UNAVAILABLE.
//
// Thread safety: Start/Load/Shutdown from one controlling thread; accessors
// from any thread.
#ifndef RTREC_SERVER_SERVER_H_
#define RTREC_SERVER_SERVER_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "common/clock.h"
#include "config/options.h"
#include "common/serial_executor.h"
#include "learner/impression_log.h"
#include "learner/learner.h"
#include "learner/model_publisher.h"
#include "model/catalog.h"
#include "model/dynamic_batcher.h"
#include "model/inference_engine.h"
#include "model/model_store.h"
#include "model/text_embedder.h"
#include "model/user_state.h"
#include "server/admin_service.h"
#include "server/metrics.h"
#include "server/recommender_service.h"
#include "storage/checkpoints.h"
#include "storage/state_store.h"
#include "tuner/online_tuner.h"

namespace rtrec::server {

class RtrecServer final : public CheckpointOperations {
 public:
  // REQUIRES: clock outlives the server.
  static absl::StatusOr<std::unique_ptr<RtrecServer>> Start(const config::RtrecConfig& config,
                                                            Clock* clock = RealClock::Get());
  ~RtrecServer() override;

  absl::Status Load();
  // Stops accepting RPCs, answers what is in flight, stops the threads.
  void Shutdown();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  model::ModelStore* model_store() { return &models_; }
  // Where a learner hands new snapshots (REQUIRES: Load() succeeded).
  learner::ModelPublisher* publisher() { return publisher_.get(); }
  // The online learner; null when learner.enabled is false or before Load().
  learner::Learner* learner() { return learner_.get(); }
  // The GP tuner; null unless learner and tuner are enabled.
  tuner::OnlineTuner* tuner() { return tuner_.get(); }
  // Exploration parameters serving uses now.
  model::PolicyControl* policy() { return &policy_; }
  RecommenderService* service() { return service_.get(); }
  // The state store and checkpoints; null when storage.path is empty.
  storage::StateStore* state_store() { return store_.get(); }
  storage::CheckpointDirectory* checkpoints() { return checkpoints_.get(); }
  // The Admin service's operations (CheckpointOperations).
  absl::StatusOr<rtrec::v1::ListCheckpointsResponse> ListCheckpoints() override;
  absl::StatusOr<rtrec::v1::RollbackModelResponse> RollbackModel(int64_t model_version) override;
  absl::StatusOr<rtrec::v1::ExportCheckpointResponse> ExportCheckpoint(
      int64_t model_version, const std::string& directory) override;
  ServerMetrics* metrics() { return &metrics_; }

 private:
  RtrecServer(const config::RtrecConfig& config, Clock* clock);
  std::vector<ScrapedValue> Scrape() const;
  // Opens the store and reads the newest good checkpoint (storage.path).
  absl::Status OpenStorage();
  // Adds the tuner's rounds, writes the file, drops the learned experiences.
  absl::StatusOr<std::string> WriteCheckpoint(storage::v1::CheckpointRecord record);
  // A checkpoint of the stopped learner (at shutdown).
  absl::StatusOr<std::string> CheckpointNow();
  // storage.seed_from into an empty store: its checkpoint, and its catalog
  // as the catalog to load.
  absl::Status SeedFromExport();
  absl::Status RequireCheckpoints() const;

  const config::RtrecConfig config_;
  Clock* const clock_;
  ServerMetrics metrics_;
  std::unique_ptr<RecommenderService> service_;
  std::unique_ptr<AdminService> admin_;
  // The catalog file Load() reads into an empty store (catalog.path, or the
  // seed's catalog).
  std::string catalog_seed_path_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  int metrics_port_ = 0;

  // Components, in construction order (destroyed in reverse).
  std::unique_ptr<storage::StateStore> store_;
  std::unique_ptr<storage::CheckpointDirectory> checkpoints_;
  // The checkpoint the server started from, if any.
  std::optional<storage::v1::CheckpointRecord> restored_;
  model::ModelStore models_;
  model::PolicyControl policy_;
  std::unique_ptr<model::Catalog> catalog_;
  std::unique_ptr<model::UserState> users_;
  std::unique_ptr<learner::ExperienceBuffer> experiences_;
  std::unique_ptr<learner::ImpressionLog> impressions_;
  std::unique_ptr<model::InferenceEngine> engine_;
  std::unique_ptr<model::DynamicBatcher> batcher_;
  std::unique_ptr<SerialExecutor> catalog_writer_;
  std::unique_ptr<learner::ModelPublisher> publisher_;
  std::unique_ptr<learner::Learner> learner_;
  std::unique_ptr<tuner::OnlineTuner> tuner_;

  rtrec::Mutex checkpoint_mu_;  // one checkpoint write at a time
  std::atomic<int64_t> checkpoints_written_{0};
  std::atomic<double> last_checkpoint_seconds_{0};
  rtrec::Notification stop_maintenance_;
  std::thread maintenance_;
  bool shut_down_ = false;
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_SERVER_H_

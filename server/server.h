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
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "config/options.h"
#include "model/dynamic_batcher.h"
#include "server/admin_service.h"
#include "server/metrics.h"
#include "server/recommender_service.h"
#include "server/tls.h"
#include "serving/serving_stack.h"

namespace rtrec::server {

// The name grpc.health.v1 answers for besides "" (the whole server).
inline constexpr char kHealthServiceName[] = "rtrec.v1.Recommender";

class RtrecServer final : public CheckpointOperations {
 public:
  // REQUIRES: clock outlives the server.
  static absl::StatusOr<std::unique_ptr<RtrecServer>> Start(const config::RtrecConfig& config,
                                                            Clock* clock = RealClock::Get());
  ~RtrecServer() override;

  absl::Status Load();
  // Re-reads server.auth.tokens_file and the server.tls files (SIGHUP). What
  // does not load is refused, naming the file, and the old one stays.
  absl::Status ReloadSecrets();
  // Stops accepting RPCs, answers what is in flight, stops the threads.
  void Shutdown();

  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  // The components (REQUIRES: Load() succeeded): the model store, the
  // learner (null when learner.enabled is false), the tuner (null unless
  // learner and tuner are enabled), the exploration in use, the state store
  // and checkpoints (null when storage.path is empty).
  serving::ServingStack* stack() { return stack_.get(); }
  model::ModelStore* model_store() { return &stack_->models; }
  learner::ModelPublisher* publisher() { return stack_->publisher.get(); }
  learner::Learner* learner() { return stack_ ? stack_->learner.get() : nullptr; }
  tuner::OnlineTuner* tuner() { return stack_ ? stack_->tuner.get() : nullptr; }
  model::PolicyControl* policy() { return &stack_->policy; }
  RecommenderService* service() { return service_.get(); }
  model::DynamicBatcher* batcher() { return batcher_.get(); }
  ServerMetrics* metrics() { return &metrics_; }

  // The Admin service's operations (CheckpointOperations).
  absl::StatusOr<rtrec::v1::ListCheckpointsResponse> ListCheckpoints() override;
  absl::StatusOr<rtrec::v1::RollbackModelResponse> RollbackModel(int64_t model_version) override;
  absl::StatusOr<rtrec::v1::ExportCheckpointResponse> ExportCheckpoint(
      int64_t model_version, const std::string& directory) override;

 private:
  RtrecServer(const config::RtrecConfig& config, Clock* clock);
  std::vector<ScrapedValue> Scrape() const;
  // grpc.health.v1 for "" and kHealthServiceName.
  void SetHealth(bool serving);
  // A checkpoint of the stopped learner (at shutdown).
  absl::StatusOr<std::string> CheckpointNow();
  absl::Status RequireCheckpoints() const;

  const config::RtrecConfig config_;
  Clock* const clock_;
  ServerMetrics metrics_;
  std::unique_ptr<AccessControl> access_;
  std::unique_ptr<TlsCredentials> tls_;
  std::unique_ptr<RecommenderService> service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int port_ = 0;
  int metrics_port_ = 0;

  std::unique_ptr<serving::ServingStack> stack_;
  std::unique_ptr<model::DynamicBatcher> batcher_;

  rtrec::Notification stop_maintenance_;
  std::thread maintenance_;
  bool shut_down_ = false;
  // Set when Shutdown begins: /readyz answers 503 from then on (drain).
  std::atomic<bool> stopping_{false};
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_SERVER_H_

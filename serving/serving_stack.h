// The serving stack of one process, wired in one place for the server, the
// lock-step runner (sim/lockstep_runner.h) and the offline evaluator
// (eval/offline_runner.h): the state store and the newest good checkpoint
// (storage.path), the text tower and the model snapshot, the catalog, the
// users, the experience buffer and impression log (with what a restart
// restores), the inference engine, the model publisher, and the learner and
// tuner. The server adds gRPC, the batcher and its threads on top.
//
// Build() wires, restores and returns; nothing runs until the caller starts
// the learner (Learner::Start) or serves.
#ifndef RTREC_SERVING_SERVING_STACK_H_
#define RTREC_SERVING_SERVING_STACK_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/serial_executor.h"
#include "config/options.h"
#include "learner/learner.h"
#include "learner/model_publisher.h"
#include "model/catalog.h"
#include "model/exploration_policy.h"
#include "model/inference_engine.h"
#include "model/model_store.h"
#include "model/text_embedder.h"
#include "state/impression_log.h"
#include "state/user_state.h"
#include "storage/checkpoints.h"
#include "storage/state_store.h"
#include "tuner/online_tuner.h"

namespace rtrec::serving {

struct ServingStackOptions {
  // REQUIRES: outlives the stack.
  Clock* clock = nullptr;
  // The catalog an empty store (or no store) starts with; nullopt:
  // catalog.path (or storage.seed_from's catalog).
  std::optional<std::vector<model::CatalogItem>> items;
  // Text tower and model on the CPU whatever model.device says.
  bool cpu_only = false;
  // The learner publishes through a ModelPublisher on a catalog writer
  // thread (which also serves UpsertItems); else straight into the store.
  bool with_publisher = false;
  // Users' tastes enter the learner's user states (the server's setting).
  bool learner_uses_tastes = true;
  // Examples the tuner does not count at first (the server: the reward wait).
  absl::Duration tuner_warmup = absl::ZeroDuration();
  // The experience buffer; defaults: impressions.experience_capacity, and
  // kRefuse with a learner, kDropOldest without one.
  std::optional<int64_t> experience_capacity;
  std::optional<state::OverflowPolicy> overflow;
  // Sees every inference batch (size, seconds).
  std::function<void(int64_t, double)> batch_observer;
  // Serving a learned snapshot for the first time (InferenceEngineOptions).
  std::function<void(double)> step_to_served_observer;
  // Start-up messages ("rtrec: ..."); default stderr.
  std::function<void(const std::string&)> log;
};

class ServingStack {
 public:
  static absl::StatusOr<std::unique_ptr<ServingStack>> Build(const config::RtrecConfig& config,
                                                             ServingStackOptions options);
  ~ServingStack();

  // Encodes the items' texts with the serving text tower and upserts them:
  // the one place items enter the catalog (start-up, UpsertItems).
  absl::StatusOr<model::UpsertResult> EncodeAndUpsert(std::vector<model::CatalogItem> items);

  // Adds the tuner's rounds, writes the checkpoint file and drops the
  // experiences it learned from the store. FAILED_PRECONDITION without
  // storage.path. Returns the path.
  absl::StatusOr<std::string> WriteCheckpoint(storage::v1::CheckpointRecord record);
  int64_t checkpoints_written() const { return checkpoints_written_.load(); }
  double last_checkpoint_seconds() const { return last_checkpoint_seconds_.load(); }

  const config::RtrecConfig config;
  // Null when storage.path is empty.
  std::unique_ptr<storage::StateStore> store;
  std::unique_ptr<storage::CheckpointDirectory> checkpoints;
  // The checkpoint the stack started from, if any.
  std::optional<storage::v1::CheckpointRecord> restored;
  model::ModelStore models;
  model::PolicyControl policy;
  std::unique_ptr<model::Catalog> catalog;
  std::unique_ptr<state::UserState> users;
  std::unique_ptr<state::ExperienceBuffer> experiences;
  std::unique_ptr<state::ImpressionLog> impressions;
  std::unique_ptr<model::InferenceEngine> engine;
  // With with_publisher only.
  std::unique_ptr<SerialExecutor> catalog_writer;
  std::unique_ptr<learner::ModelPublisher> publisher;
  // Null when learner.enabled is false; the tuner also when tuner.enabled is.
  std::unique_ptr<learner::Learner> learner;
  std::unique_ptr<tuner::OnlineTuner> tuner;

 private:
  ServingStack(const config::RtrecConfig& config, ServingStackOptions options);
  absl::Status OpenStorage();
  absl::Status SeedFromExport();
  absl::Status LoadModelAndCatalog();
  absl::Status LoadState();
  absl::Status LoadLearner();
  void Log(const std::string& message) const;

  ServingStackOptions options_;
  // The catalog file an empty store starts from.
  std::string catalog_seed_path_;
  rtrec::Mutex checkpoint_mu_;  // one checkpoint write at a time
  std::atomic<int64_t> checkpoints_written_{0};
  std::atomic<double> last_checkpoint_seconds_{0};
};

}  // namespace rtrec::serving

#endif  // RTREC_SERVING_SERVING_STACK_H_

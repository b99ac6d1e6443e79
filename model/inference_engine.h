// Runs batches of Recommend tasks: one model snapshot per batch, the user
// tower over every request's context (and query) in one forward pass, scores
// against the cached item embeddings, the exploration policy per request, and
// the impression log entry for every slate.
//
// Item embeddings of the whole catalog are cached per (model version, catalog
// version) and rebuilt when either changes.
//
// Thread safety: RunBatch may be called by several inference threads at once.
#ifndef RTREC_MODEL_INFERENCE_ENGINE_H_
#define RTREC_MODEL_INFERENCE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "config/options.h"
#include "state/impression.h"
#include "model/catalog.h"
#include "model/dynamic_batcher.h"
#include "model/exploration_policy.h"
#include "model/model_store.h"
#include "state/user_state.h"

namespace rtrec::model {

struct RecommendedItemResult {
  int64_t index = 0;
  std::string item_id;
  float score = 0;
  double propensity = 1.0;
};

struct RecommendResult {
  std::string request_id;
  std::vector<RecommendedItemResult> items;
  int64_t model_version = 0;
  std::vector<int64_t> context;
};

// One Recommend request, resolved to catalog indices by the service.
class RecommendTask : public BatchTask {
 public:
  std::string user_id;
  std::string query;
  // Behaviour context, oldest first, at most the model's history window.
  std::vector<int64_t> context;
  // Indices to rank; empty means the whole catalog snapshot.
  std::vector<int64_t> candidates;
  // Indices never to return (recent history), sorted ascending.
  std::vector<int64_t> excluded;
  int64_t k = 10;
  bool explore = true;
  // The user's taste vector (UserState::Taste); empty: none.
  std::vector<float> taste;
  std::shared_ptr<const CatalogSnapshot> catalog;
  // Called exactly once, with the result or an error.
  std::function<void(absl::StatusOr<RecommendResult>)> done;

  void Fail(const absl::Status& status) override { done(status); }
};

struct InferenceEngineOptions {
  // Seed of the slate sampling streams (policy.seed).
  int64_t policy_seed = 12345;
  // Exploration parameters, read once per batch. Null: PolicyParams{}.
  const PolicyControl* policy = nullptr;
  // Intra-op threads each inference thread may use (model.intra_op_threads);
  // applied per thread, since OpenMP keeps the setting per thread.
  int64_t intra_op_threads = 1;
  // Called after every batch with its size and compute time.
  std::function<void(int64_t batch_size, double seconds)> batch_observer;
};

class InferenceEngine {
 public:
  // REQUIRES: store and log outlive the engine.
  static absl::StatusOr<std::unique_ptr<InferenceEngine>> Create(
      InferenceEngineOptions options, const ModelStore* store,
      state::SlateLogger* log);
  ~InferenceEngine();

  // Answers every task of the batch.
  void RunBatch(TaskBatch batch);

  // Teaches the user's taste (UserState::LearnTaste) one joined example:
  // x is the item's vector under the serving snapshot, the rest of the
  // logit is the served score less its taste part plus the reward model's
  // offset for the slate position. Skipped for an item outside `catalog`.
  void LearnTaste(const state::Experience& example, const CatalogSnapshot& catalog,
                  state::UserState* users);

 private:
  InferenceEngine(InferenceEngineOptions options, const ModelStore* store,
                  state::SlateLogger* log);
  struct ItemCache;
  // The item vectors of (snapshot, catalog), built when either changed.
  std::shared_ptr<const ItemCache> Items(const ModelSnapshot& snapshot,
                                         const CatalogSnapshot& catalog)
      ABSL_LOCKS_EXCLUDED(cache_mu_);

  const InferenceEngineOptions options_;
  const ModelStore* const store_;
  state::SlateLogger* const log_;
  const uint64_t request_id_prefix_;
  std::atomic<uint64_t> next_request_ = 0;
  std::atomic<uint64_t> next_batch_ = 0;
  rtrec::Mutex cache_mu_;
  std::shared_ptr<const ItemCache> cache_ ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace rtrec::model


namespace rtrec::model {

class TextEmbedder;

// Torch set-up that the torch-free server code needs: the intra-op thread
// count for CPU inference, and the initial model as snapshot version 1 (with
// `text` as its query encoder; its width sizes the item projection).
void ConfigureIntraOpThreads(int64_t threads);
absl::StatusOr<std::shared_ptr<ModelSnapshot>> BuildInitialSnapshot(
    const config::RtrecConfig& config, std::shared_ptr<const TextEmbedder> text);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_INFERENCE_ENGINE_H_

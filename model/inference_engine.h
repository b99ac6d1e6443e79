// Runs batches of Recommend tasks: one model snapshot per batch, the user
// tower over every request's context (and query) in one forward pass, scores
// against the cached item embeddings, the exploration policy per request, and
// the impression log entry for every slate.
//
// Item embeddings of the whole catalog are cached per (model version, catalog
// version). A catalog below retrieval.min_items is scored whole, its cache
// rebuilt by the first batch that sees a new version (cheap at that size).
// A larger one is served through the retrieval stage: a background indexer
// builds the item vectors of each new (snapshot, catalog) pair and, at most
// every reindex_interval_ms, a FAISS index over them (model/
// retrieval_index.h); a batch uses the newest prepared pair — the snapshot
// it serves is the one its item vectors were built for — retrieves each
// request's top `candidates` items from the index (plus items added since
// the index was built, scored exactly), scores those exactly and explores
// over them. Propensities are then conditional on the retrieved set, which
// the impression logs as its candidates, so the learner computes π over the
// same set.
//
// Thread safety: RunBatch may be called by several inference threads at once.
#ifndef RTREC_MODEL_INFERENCE_ENGINE_H_
#define RTREC_MODEL_INFERENCE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "config/options.h"
#include "state/impression.h"
#include "model/catalog.h"
#include "model/dynamic_batcher.h"
#include "model/exploration_policy.h"
#include "model/model_store.h"
#include "model/retrieval_index.h"
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
  // Called once per learned snapshot version, by the first batch that
  // serves it: seconds from the end of its learner step to that batch's
  // answers (ModelSnapshot::learned_at).
  std::function<void(double seconds)> step_to_served_observer;
  // The retrieval stage (config retrieval.*); min_items 0: always exact.
  config::RetrievalOptions retrieval;
  // The newest catalog, read by the background indexer. Without it there is
  // no retrieval stage.
  std::function<std::shared_ptr<const CatalogSnapshot>()> latest_catalog;
};

// What the retrieval stage did (gauges on /metrics).
struct RetrievalStats {
  bool active = false;          // the newest prepared catalog uses it
  int64_t index_items = 0;      // items in the index
  int64_t index_lists = 0;      // its inverted lists (0: exact, flat)
  int64_t index_builds = 0;
  int64_t item_builds = 0;      // item-vector builds by the indexer
  double last_index_seconds = 0;
  double last_items_seconds = 0;
  // Measured at the last build on recent requests' user vectors against
  // exact scoring (−1 before any was measured): the index's recall@100
  // (its top 100 vs the exact top 100), and the stage's (the share of the
  // exact top 100 among the `candidates` it retrieves, which are then
  // ranked exactly).
  double recall_at_100 = -1;
  double candidates_recall_at_100 = -1;
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

  // Large catalogs: builds the item vectors of the serving snapshot and the
  // newest catalog now, and the index when it is due (or `force_index`).
  // The background indexer calls it; start-up calls it once before serving,
  // and a bench to time a full re-index. A no-op for small catalogs.
  absl::Status PrepareItems(bool force_index = false) ABSL_LOCKS_EXCLUDED(prepare_mu_);
  RetrievalStats retrieval_stats() const ABSL_LOCKS_EXCLUDED(cache_mu_);

 private:
  InferenceEngine(InferenceEngineOptions options, const ModelStore* store,
                  state::SlateLogger* log);
  struct ItemCache;
  struct Prepared;
  struct BatchScores;
  // The item vectors of (snapshot, catalog), built when either changed.
  std::shared_ptr<const ItemCache> Items(const ModelSnapshot& snapshot,
                                         const CatalogSnapshot& catalog)
      ABSL_LOCKS_EXCLUDED(cache_mu_);
  static std::shared_ptr<ItemCache> BuildItems(const ModelSnapshot& snapshot, const CatalogSnapshot& catalog);
  bool UsesRetrieval(const CatalogSnapshot& catalog) const;
  // Scores each task's candidates: the whole catalog (`catalog`: the newest
  // any task of the batch saw), or the retrieval stage.
  absl::Status ScoreExact(const std::vector<RecommendTask*>& tasks, const CatalogSnapshot& catalog,
                          BatchScores* out);
  absl::Status ScoreRetrieved(const std::vector<RecommendTask*>& tasks, BatchScores* out);
  void Answer(const std::vector<RecommendTask*>& tasks, BatchScores& scored);

  const InferenceEngineOptions options_;
  const ModelStore* const store_;
  state::SlateLogger* const log_;
  const uint64_t request_id_prefix_;
  std::atomic<uint64_t> next_request_ = 0;
  std::atomic<uint64_t> next_batch_ = 0;
  // Newest learned version a batch has served (step_to_served_observer).
  std::atomic<int64_t> first_served_version_ = 0;
  mutable rtrec::Mutex cache_mu_;
  std::shared_ptr<const ItemCache> cache_ ABSL_GUARDED_BY(cache_mu_);
  // Large catalogs: the newest prepared (snapshot, item vectors, index).
  std::shared_ptr<const Prepared> prepared_ ABSL_GUARDED_BY(cache_mu_);
  RetrievalStats retrieval_stats_ ABSL_GUARDED_BY(cache_mu_);
  // Recent requests' queries [u, 1], for measuring recall at index builds.
  std::vector<std::vector<float>> recent_queries_ ABSL_GUARDED_BY(cache_mu_);
  size_t next_recent_query_ ABSL_GUARDED_BY(cache_mu_) = 0;
  // One PrepareItems at a time.
  rtrec::Mutex prepare_mu_ ABSL_ACQUIRED_BEFORE(cache_mu_);
  absl::Time index_built_at_ ABSL_GUARDED_BY(prepare_mu_) = absl::InfinitePast();
  // The background indexer (when retrieval is configured).
  rtrec::Notification stop_indexer_;
  std::thread indexer_;
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

// rtrec's real model and learner run over logged data, offline, on one
// thread: the evaluations behind rtrec-eval (tools/eval.cc).
//
// Open Bandit (progressive validation): the uniform-random policy's log is
// streamed in time order in chunks; every chunk is first scored by the
// serving snapshot (each row's target probability π(a_i | x_i) of the logged
// item, over all items, with the configured τ and ε, and greedily), then
// trained on by the Learner (the logged propensity is β) which publishes as
// configured. The chunk's decisions feed IPS, SNIPS and DR (with a reward
// model of per-item click rates fitted on the rows before the chunk), with
// bootstrap intervals. A context is the user's features as query text and
// the items the user clicked before (the affinity columns) as behaviour
// history; an item is its price band and hashed categories as text.
//
// The check: the Bernoulli-TS policy's log gives its on-policy click rate;
// the same estimators, run on the random log with π = Bernoulli-TS's
// empirical item frequencies per position, must find it.
//
// MovieLens (leave-one-out): every user's training interactions are streamed
// in time order as organic events through the Learner's next-item loss for
// `epochs` passes, the result is published, and each user's held-out last
// item is ranked among all items the user has not seen, by the model and by
// popularity, in the same harness (eval/ranking.h).
//
// Thread safety: not thread-safe.
#ifndef RTREC_EVAL_OFFLINE_RUNNER_H_
#define RTREC_EVAL_OFFLINE_RUNNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/options.h"
#include "eval/datasets.h"
#include "eval/off_policy.h"
#include "eval/ranking.h"
#include "state/impression_log.h"
#include "model/catalog.h"
#include "model/inference_engine.h"

namespace rtrec::eval {

// One request to the offline model.
struct OfflineRequest {
  std::string user_id;
  std::string query;
  std::vector<int64_t> context;   // oldest first
  std::vector<int64_t> excluded;  // sorted; never returned by TopK
};

// The serving path (InferenceEngine over a ModelStore and Catalog) and the
// Learner, built from a config, with a FakeClock.
class OfflineModel {
 public:
  static absl::StatusOr<std::unique_ptr<OfflineModel>> Create(const config::RtrecConfig& config,
                                                              std::vector<model::CatalogItem> items);
  ~OfflineModel();

  int64_t num_items() const;
  // Scores of every item (by catalog index) for each request.
  absl::StatusOr<std::vector<std::vector<float>>> Score(const std::vector<OfflineRequest>& requests);
  // The top k items for each request, best first (greedy).
  absl::StatusOr<std::vector<std::vector<int64_t>>> TopK(const std::vector<OfflineRequest>& requests, int64_t k);
  // Trains on `examples` in batches of learner.batch_size, publishing as the
  // learner's options say.
  absl::Status Train(const std::vector<state::Experience>& examples);
  // Publishes the learner's weights now (checked as in serving).
  absl::Status Publish();
  int64_t learner_steps() const;
  int64_t model_version() const;

 private:
  struct Impl;
  explicit OfflineModel(std::unique_ptr<Impl> impl);
  absl::StatusOr<std::vector<model::RecommendResult>> Run(const std::vector<OfflineRequest>& requests, int64_t k);
  std::unique_ptr<Impl> impl_;
};

struct BanditEvalOptions {
  int64_t chunk = 64;  // rows scored, then trained on, per progressive step
  bool learn = true;   // false: the initial model throughout
  int bootstrap = 1000;
  double confidence = 0.95;
  double reward_model_prior = 20;  // pseudo-impressions at the running mean click rate
  uint64_t seed = 1;
};

struct PolicyEstimate {
  std::string policy;
  Interval ips, snips, dr;
};

struct BanditEvalReport {
  int64_t rows = 0;
  int64_t clicks = 0;
  double logging_click_rate = 0;  // the random policy's on-policy click rate
  std::vector<PolicyEstimate> estimates;  // rtrec served, rtrec greedy, logging (sanity)
  // The Bernoulli-TS check (when its log was given).
  bool has_check = false;
  int64_t check_rows = 0;
  double check_on_policy = 0;
  PolicyEstimate check;
  int64_t learner_steps = 0;
  int64_t model_version = 0;
};

// Item text for an Open Bandit item: price band (quintile of item_feature_0)
// and the hashed categories.
std::vector<model::CatalogItem> OpenBanditCatalog(const std::vector<BanditItem>& items);

absl::StatusOr<BanditEvalReport> EvaluateOpenBandit(const config::RtrecConfig& config,
                                                    const std::vector<BanditItem>& items,
                                                    const std::vector<BanditLogRow>& random_log,
                                                    const std::vector<BanditLogRow>& check_log,
                                                    const BanditEvalOptions& options);

struct MovieLensEvalOptions {
  int64_t epochs = 3;
  int64_t k = 10;
  int64_t min_interactions = 3;
};

struct MovieLensEvalReport {
  int64_t users = 0, items = 0, train_interactions = 0;
  RankingMetrics model, popularity;
  int64_t learner_steps = 0;
};

absl::StatusOr<MovieLensEvalReport> EvaluateMovieLens(const config::RtrecConfig& config, const MovieLensData& data,
                                                      const MovieLensEvalOptions& options);

}  // namespace rtrec::eval

#endif  // RTREC_EVAL_OFFLINE_RUNNER_H_

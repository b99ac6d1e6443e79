// What serving logs and the learner learns from: a served slate (Impression)
// and one training example (Experience), and the interface through which
// serving hands its slates over (SlateLogger; state/impression_log.h
// implements it). Plain structs: model/ includes this, not the log.
#ifndef RTREC_STATE_IMPRESSION_H_
#define RTREC_STATE_IMPRESSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace rtrec::state {

struct ShownItem {
  int64_t item_index = 0;
  std::string item_id;
  float score = 0;
  // The part of `score` that came from the user's taste vector, t_u · e_i.
  float taste_score = 0;
  // P(item in slate) under the logging policy.
  double propensity = 1.0;
  // π(item), the single-draw probability.
  double selection_probability = 1.0;
};

struct Impression {
  std::string request_id;
  std::string user_id;
  // Item indices the user tower saw, oldest first.
  std::vector<int64_t> context;
  std::string query;
  std::vector<ShownItem> slate;
  // Size of the candidate set the slate was drawn from.
  int64_t num_candidates = 0;
  // The request's explicit candidates; empty means the whole catalog.
  std::vector<int64_t> candidates;
  // Items left out of the candidates (the user's consumed items under the
  // request's exclusion), sorted ascending.
  std::vector<int64_t> excluded;
  bool explored = true;
  int64_t model_version = 0;
  absl::Time logged_at;
};

struct Experience {
  enum class Source { kJoined, kExpired, kOrganic };
  Source source = Source::kJoined;
  std::string request_id;  // empty for organic events
  std::string user_id;
  std::vector<int64_t> context;
  std::string query;
  // As in the Impression: empty means the whole catalog.
  std::vector<int64_t> candidates;
  // As in the Impression: left out of the candidates, sorted ascending.
  std::vector<int64_t> excluded;
  int64_t item_index = 0;
  // Position of the item in its slate (0 = top); 0 for organic events.
  int64_t slate_position = 0;
  double reward = 0;
  // Logged policy; 1 for organic events (no propensity is known).
  double propensity = 1.0;
  double selection_probability = 1.0;
  int64_t slate_size = 1;
  int64_t model_version = 0;
  // The item's score as served and its taste part (see ShownItem); 0 for
  // organic events.
  float served_score = 0;
  float served_taste_score = 0;
  absl::Time time;
  // Position in the stream of experiences (ExperienceBuffer), from 1; a
  // checkpoint records the last one its weights learned.
  uint64_t seq = 0;
};

// The logged examples (joined or unanswered, not organic) of a batch and
// their reward total: what a learning round earned.
struct RewardTotals {
  int64_t logged = 0;
  double reward_sum = 0;
};
RewardTotals LoggedRewards(const std::vector<Experience>& batch);

// Where serving hands every slate it served (the inference engine calls it
// once per answered request). Thread safety: Record from any thread.
class SlateLogger {
 public:
  virtual ~SlateLogger() = default;
  virtual void Record(Impression impression) = 0;
};

}  // namespace rtrec::state

#endif  // RTREC_STATE_IMPRESSION_H_

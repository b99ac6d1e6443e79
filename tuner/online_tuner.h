// The online tuner: Bayesian optimisation of (log10 learning rate,
// exploration share ε) between learning rounds.
//
// The learner reports every batch it learned from (RecordExamples). A round
// ends after tuner.round_size logged examples (or tuner.round_ms); its
// objective is the mean reward of the round's logged examples, credited to
// the setting the round ran with. The tuner then proposes the next setting
// (a quasi-random initial design, then GP expected improvement, UCB or
// random search over the configured box, old rounds down-weighted by
// tuner.forgetting and limited to tuner.window) with ε moving at most
// tuner.max_exploration_step, and `apply` hands it to the learner's
// optimizer and the serving policy before the next round starts.
//
// The objective lags serving by up to impressions.reward_wait_ms, since
// unanswered items become examples only when their impression closes; keep
// round_size well above the traffic of one reward wait. For the same reason
// examples of the first `warmup` (the reward wait) are not counted: until
// the first impressions close, only clicks arrive, and a round of them would
// look perfect.
//
// Thread safety: RecordExamples is called by one thread (the learner's);
// state() from any thread.
#ifndef RTREC_TUNER_ONLINE_TUNER_H_
#define RTREC_TUNER_ONLINE_TUNER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "config/options.h"
#include "tuner/bayesian_optimizer.h"

namespace rtrec::tuner {

struct TunerRound {
  int64_t round = 0;
  double learning_rate = 0;
  double exploration = 0;
  double objective = 0;
  int64_t examples = 0;
};

struct TunerState {
  double learning_rate = 0;
  double exploration = 0;
  int64_t rounds = 0;
  bool has_best = false;
  double best_objective = 0;
  double best_learning_rate = 0;
  double best_exploration = 0;
  double last_objective = 0;
  // The most recent rounds (at most kHistory), oldest first.
  std::vector<TunerRound> history;
  static constexpr size_t kHistory = 200;
};

class OnlineTuner {
 public:
  // `apply(learning_rate, exploration)` puts a setting into use; it is
  // called at once with the initial setting and after every round.
  // REQUIRES: clock outlives the tuner.
  static absl::StatusOr<std::unique_ptr<OnlineTuner>> Create(
      const config::TunerOptions& options, double initial_learning_rate,
      double initial_exploration, std::function<void(double, double)> apply, Clock* clock,
      absl::Duration warmup = absl::ZeroDuration());

  // Counts `logged_examples` examples with rewards summing to `reward_sum`.
  // Returns true when this ended a round (and a new setting was applied).
  bool RecordExamples(int64_t logged_examples, double reward_sum);

  TunerState state() const ABSL_LOCKS_EXCLUDED(mu_);

  // After a restart: the rounds of a checkpoint (oldest first) are observed
  // again and the setting in use becomes (learning_rate, exploration).
  // Before the first RecordExamples.
  void Restore(const std::vector<TunerRound>& rounds, double learning_rate, double exploration)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  OnlineTuner(const config::TunerOptions& options, std::function<void(double, double)> apply,
              Clock* clock, absl::Duration warmup);
  void EndRound();

  const config::TunerOptions options_;
  const std::function<void(double, double)> apply_;
  Clock* const clock_;
  // Examples before this time are not counted.
  absl::Time counting_from_;
  BayesianOptimizer optimizer_;
  // The round in progress (learner thread only).
  Point setting_;  // {log10 lr, ε}
  int64_t round_examples_ = 0;
  double round_reward_ = 0;
  absl::Time round_started_;

  mutable rtrec::Mutex mu_;
  TunerState state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rtrec::tuner

#endif  // RTREC_TUNER_ONLINE_TUNER_H_

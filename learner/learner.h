// The online learner: one thread, its own trainable copy of the model, fed by
// the ExperienceBuffer; it publishes checked snapshots into serving.
//
// Loss per step (DESIGN §5), over a batch of experiences (experiences of one
// request share one pass of the user tower):
//   reward model, for logged examples (joined or unanswered), zeros
//   included: binary cross-entropy of σ(s_a + c + c_p) against the reward
//   clipped to [0, 1], weighted by learner.reward_loss_weight (the model's
//   RewardLogits: s the score, c_p the slate position's offset);
//   policy term, for logged examples:
//     −min(π/β, c) · K(1−π)^(K−1) · (r − r̂(a)) · log π(a|s)
//   with π = (1−ε)·softmax(s/τ) + ε/n over the request's candidates less its
//   excluded items (model/policy_probabilities.h, τ and ε as served now), β
//   the logged single-draw probability, K the slate size, weights without
//   gradient, r̂(a) the reward model's prediction (the running mean b when
//   reward_loss_weight is 0), c learner.importance_weight_cap (Chen et al.,
//   WSDM 2019, top-K correction), weighted by learner.policy_loss_weight;
//   next-item term, for positive organic events (no propensity): sampled
//   softmax over the catalog with learner.next_item_negatives negatives drawn
//   in proportion to item popularity, logits corrected by −log Q (Yi et al.,
//   RecSys 2019), weighted by learner.next_item_loss_weight.
// With learner.replay_ratio > 0 each step adds that many times its batch of
// examples drawn from the last replay_capacity learned.
// Adam with global-norm clipping for the dense parameters; the embedding
// tables move only in the rows a step touched (item ids and biases: lazy
// Adam; the hashed users: per-example SGD at learner.user_learning_rate). A
// step whose loss or gradient is not finite is skipped and counted. The
// learning rate can be changed at any time.
//
// Publishing: every learner.publish_every steps (or publish_interval_ms) the
// parameters are cloned into a new immutable snapshot and checked: every
// parameter finite, and its self-normalised IPS estimate on the last
// guard_window logged examples not below the serving snapshot's by more than
// guard_margin plus guard_z standard errors of the paired difference (a drop
// the window's noise cannot explain). A passing snapshot is published (version = serving + 1) with
// one pointer swap; a failing one is counted and the learner rolls back to
// the serving weights and restarts its optimizer.
//
// Each user's taste vector (state/user_state.h), as it is when the step
// runs, is part of the user state, without gradient.
//
// The text tower is not trained here (queries are encoded by the serving
// snapshot's tower, without gradient).
//
// Thread safety: Train, MaybePublish and PublishNow are called by one thread
// at a time (the learner thread once Start() ran). SetLearningRate, stats()
// and Stop() may be called from any thread.
#ifndef RTREC_LEARNER_LEARNER_H_
#define RTREC_LEARNER_LEARNER_H_

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "config/options.h"
#include "state/impression_log.h"
#include "learner/model_publisher.h"
#include "model/catalog.h"
#include "model/exploration_policy.h"
#include "model/model_store.h"
#include "state/user_state.h"
#include "rtrec/storage/v1/state.pb.h"
#include "tuner/online_tuner.h"

namespace rtrec::learner {

// The learner consumes the experiences the reward join produces.
using state::Experience;
using state::ExperienceBuffer;

struct LearnerStats {
  int64_t steps = 0;
  // Experiences consumed (every source).
  int64_t examples = 0;
  // Steps skipped because the loss or a gradient was not finite.
  int64_t skipped_steps = 0;
  int64_t publishes = 0;
  int64_t rejected_publishes = 0;
  int64_t last_published_version = 0;
  double last_loss = 0;
  // Running mean reward of logged examples: the baseline b.
  double mean_reward = 0;
  // Of the last step's logged examples: mean π/β and (Σw)²/(n·Σw²).
  double importance_weight_mean = 0;
  double importance_weight_ess = 0;
  double learning_rate = 0;
  // Why the last snapshot was refused ("" if none was).
  std::string last_rejection;
};

struct StepResult {
  // False when the batch had nothing to learn from or the step was skipped.
  bool stepped = false;
  double loss = 0;
  int64_t policy_examples = 0;
  int64_t next_item_examples = 0;
};

struct PublishDecision {
  bool attempted = false;
  bool published = false;
  int64_t version = 0;
  // Self-normalised IPS estimates on the guard window (when it was checked).
  bool estimated = false;
  double candidate_estimate = 0;
  double serving_estimate = 0;
  // Standard error of candidate_estimate − serving_estimate on the window.
  double difference_stderr = 0;
  // Examples the estimates used (the window), and how many of them needed
  // the serving snapshot's π computed (the others had it from the previous
  // publish, whose candidate is the serving snapshot now).
  int64_t checked_examples = 0;
  int64_t serving_recomputed = 0;
  std::string reason;  // why it was rejected
};

// learner.max_steps_per_second: steps start at least 1/max apart (no cap
// when max ≤ 0). Not thread-safe: the learner thread's own.
class StepPacer {
 public:
  explicit StepPacer(double max_per_second);
  // How long a step about to start at `now` must wait first.
  absl::Duration Delay(absl::Time now) const;
  // A step started at `at`.
  void Started(absl::Time at);

 private:
  absl::Duration interval_;
  absl::Time last_ = absl::InfinitePast();
};

// Applies learner.intra_op_threads and learner.nice to the calling thread
// (the learner's own; Learner::Start calls it). A niceness the process may
// not set is logged, not fatal.
void ApplyLearnerCpuBudget(const config::LearnerOptions& options);

// Self-normalised IPS: Σ w·r / Σ w with w = min(π_new/β, weight_cap). 0
// when Σ w is 0.
double SelfNormalizedIps(const std::vector<double>& new_probabilities,
                         const std::vector<double>& logged_probabilities,
                         const std::vector<double>& rewards,
                         double weight_cap = std::numeric_limits<double>::infinity());

// Standard error of SNIPS(a) − SNIPS(b) on the same logged examples (same
// weight cap): the spread of the paired influence terms
// w_a·(r − V_a)/w̄_a − w_b·(r − V_b)/w̄_b over √n (the delta method). 0 with
// fewer than two examples.
double PairedSnipsStderr(const std::vector<double>& probabilities_a,
                         const std::vector<double>& probabilities_b,
                         const std::vector<double>& logged_probabilities,
                         const std::vector<double>& rewards,
                         double weight_cap = std::numeric_limits<double>::infinity());

class Learner {
 public:
  // Copies the serving snapshot's weights as its trainable model.
  // REQUIRES: every pointer outlives the learner; `store` serves a snapshot.
  // `publisher` may be null: snapshots then go straight to `store`.
  static absl::StatusOr<std::unique_ptr<Learner>> Create(
      const config::LearnerOptions& options, model::ModelStore* store,
      model::Catalog* catalog, model::PolicyControl* policy, ModelPublisher* publisher,
      Clock* clock);
  ~Learner();

  // One optimizer step on `batch`.
  absl::StatusOr<StepResult> Train(const std::vector<Experience>& batch);
  // Checks and publishes when publish_every steps ran or publish_interval_ms
  // passed since the last publish (with at least one step).
  PublishDecision MaybePublish();
  // Checks and publishes now.
  PublishDecision PublishNow();
  // PublishNow() when a step ran since the last publish (at shutdown).
  PublishDecision PublishPending();

  // Runs the learner thread: waits for experiences, trains, publishes.
  // `after_batch` (optional) sees every batch after its step (the tuner
  // counts rounds with it), on the learner thread.
  void Start(ExperienceBuffer* buffer,
             std::function<void(const std::vector<Experience>&)> after_batch = nullptr);
  // Stops and joins the thread (experiences left in the buffer stay there).
  void Stop();

  // π(a|s) of each experience's item under the serving snapshot, computed
  // the way the learner computes it (model/policy_probabilities.h): what a
  // test compares with the selection probability serving logged. Learner
  // thread only (or before Start).
  std::vector<double> ServingPolicyProbabilities(const std::vector<Experience>& batch);

  // The users' taste vectors (UserState::Taste) enter every user state the
  // learner computes, as in serving: the model then learns what the tastes
  // do not already explain. Call before Start(); null (the default): none.
  void UseUserTastes(const state::UserState* users);

  // Checkpoints (storage/checkpoints.h). A checkpoint holds the serving
  // snapshot's weights and version, the learner's optimizer state, baseline,
  // learning rate, exploration and item counts, and learned_through: the
  // sequence number (Experience::seq) of the last experience consumed when
  // the serving weights were published (or a candidate was refused), so a
  // restart replays exactly the later ones.
  //
  // After a publish, once `interval` passed since the last checkpoint,
  // `hook` receives one on the learner thread. Call before Start().
  void SetCheckpointHook(absl::Duration interval,
                         std::function<void(storage::v1::CheckpointRecord)> hook);
  // A checkpoint now. Learner thread, or after Stop().
  absl::StatusOr<storage::v1::CheckpointRecord> MakeCheckpoint();
  // Goes on from `record` (whose weights serving already has, see
  // SnapshotFromArchive): the trainable weights are the serving ones; the
  // optimizer state (fresh when unreadable, logged), baseline, learning
  // rate, exploration, item counts and counters are the record's. Before
  // Start().
  absl::Status RestoreFrom(const storage::v1::CheckpointRecord& record);
  // An operator's change of the serving model (a rollback): runs `swap` on
  // the learner thread between two steps (at once when the thread is not
  // running), so no publish interleaves; when it succeeds the trainable
  // weights become the serving ones, the optimizer restarts, and the
  // checkpoint hook (if any) receives a checkpoint at once. Returns what
  // `swap` returned.
  absl::Status ReplaceServing(std::function<absl::Status()> swap);

  void SetLearningRate(double learning_rate);
  double learning_rate() const;
  LearnerStats stats() const;

  // Test seams: runs after every backward pass, before clipping; and the
  // trainable weights themselves.
  void SetAfterBackwardHookForTesting(std::function<void(model::ModelWeights&)> hook);
  model::ModelWeights& TrainableWeightsForTesting();

 private:
  struct Impl;
  explicit Learner(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The GP tuner for `learner` (config.tuner, starting from
// config.learner.learning_rate and config.policy.epsilon): each proposal sets
// the learner's learning rate and the ε of `policy`. Feed it every learned
// batch with RecordExamples(LoggedRewards(batch)). REQUIRES: all pointers
// outlive the tuner.
absl::StatusOr<std::unique_ptr<tuner::OnlineTuner>> CreateTunerFor(
    const config::RtrecConfig& config, Learner* learner, model::PolicyControl* policy,
    Clock* clock, absl::Duration warmup = absl::ZeroDuration());

}  // namespace rtrec::learner

#endif  // RTREC_LEARNER_LEARNER_H_

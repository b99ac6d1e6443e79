// Runs the real serving path (InferenceEngine, exploration policy, impression
// log, reward join) and the real Learner against a SyntheticWorld, in lock
// step on one thread with a FakeClock, so that a learning run is a pure
// function of its seeds. Used by the learning tests and benchmarks; the gRPC
// path is exercised by the server tests and tools/simulator.cc.
//
// One round: every user asks for a slate of k (one inference batch), clicks
// are drawn from the world's hidden model and sent as feedback, the clock
// moves past impressions.reward_wait_ms so unanswered items become
// default-reward examples, and the learner trains on everything pending in
// batches of learner.batch_size, publishing as its options say. With
// tuner.enabled the OnlineTuner sees every batch and sets the learning rate
// and ε at its round boundaries, as in the server.
//
// Thread safety: not thread-safe; one thread drives a runner.
#ifndef RTREC_SIM_LOCKSTEP_RUNNER_H_
#define RTREC_SIM_LOCKSTEP_RUNNER_H_

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "config/options.h"
#include "serving/serving_stack.h"
#include "sim/synthetic_world.h"
#include "tuner/online_tuner.h"

namespace rtrec::sim {

// A small model for fast lock-step runs: a one-layer random BERT (hidden 32)
// over the real vocabulary, a one-layer user tower of width 32, a 10-item
// history, 1 s reward wait, learning rate 1e-3 with next-item weight 2,
// publishing every 5 steps, tuner off.
config::RtrecConfig SmallLockstepConfig();

struct LockstepOptions {
  // model, text_tower, policy, impressions, learner and users.history_length
  // are used; learner.enabled false serves the initial model throughout.
  config::RtrecConfig config;
  int64_t k = 4;
  // Items of the user's primary topic in its history at start.
  int64_t seed_history = 3;
  uint64_t seed = 7;
};

struct RoundResult {
  int64_t shown = 0;
  int64_t clicks = 0;
  double click_rate = 0;      // clicks per shown item
  double uniform_rate = 0;    // expected, for a uniformly random slate
  double oracle_rate = 0;     // expected, for the best slate
  int64_t model_version = 0;  // serving at the start of the round
  int64_t learner_steps = 0;  // in this round
  double mean_loss = 0;
};

class LockstepRunner {
 public:
  // REQUIRES: world outlives the runner.
  static absl::StatusOr<std::unique_ptr<LockstepRunner>> Create(const LockstepOptions& options,
                                                                SyntheticWorld* world);
  ~LockstepRunner();

  absl::StatusOr<RoundResult> RunRound();

  // Null when learner.enabled is false.
  learner::Learner* learner() { return stack_->learner.get(); }
  // Null unless both learner.enabled and tuner.enabled.
  tuner::OnlineTuner* tuner() { return stack_->tuner.get(); }
  model::PolicyControl* policy() { return &stack_->policy; }
  model::ModelStore* store() { return &stack_->models; }
  model::Catalog* catalog() { return stack_->catalog.get(); }
  model::InferenceEngine* engine() { return stack_->engine.get(); }
  state::ImpressionLog* impressions() { return stack_->impressions.get(); }
  state::ExperienceBuffer* experiences() { return stack_->experiences.get(); }
  FakeClock* clock() { return &clock_; }
  int64_t total_clicks() const { return total_clicks_; }

 private:
  LockstepRunner(const LockstepOptions& options, SyntheticWorld* world);

  const LockstepOptions options_;
  SyntheticWorld* const world_;
  FakeClock clock_;
  std::mt19937_64 rng_;
  // The serving path of one process without gRPC (serving/serving_stack.h),
  // on the CPU, over the world's items.
  std::unique_ptr<serving::ServingStack> stack_;
  std::vector<std::vector<int64_t>> histories_;
  int64_t total_clicks_ = 0;
};

}  // namespace rtrec::sim

#endif  // RTREC_SIM_LOCKSTEP_RUNNER_H_

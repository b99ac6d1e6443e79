// The exploration policy: a slate of k drawn without replacement from the
// single-draw probabilities π (softmax with temperature over candidate
// scores, optionally mixed with uniform; defined once in
// model/policy_probabilities.h) by Gumbel-top-k, i.e. Plackett-Luce
// sampling, or the greedy top k.
//
// Every slate item carries its propensity: the exact probability that this
// policy puts the item somewhere in a slate of size k,
//   P(i in slate) = ∫_0^∞ π_i e^{-π_i t} P(#{j≠i : G_j(t)} ≤ k-1) dt,
// where G_j(t) are independent events of probability 1 - e^{-π_j t}. This
// follows from the Gumbel-max construction (t = e^{-threshold}); the integral
// is evaluated by the trapezoid rule in log t, which converges exponentially
// for this smooth integrand, and the inner count by dynamic programming.
// Cost: O(points · (n·k + k³)) per slate, points ≈ 120; accuracy better than 1e-9.
//
// Thread safety: pure functions; the caller owns the random engine.
// PolicyControl may be read and set from any thread.
#ifndef RTREC_MODEL_EXPLORATION_POLICY_H_
#define RTREC_MODEL_EXPLORATION_POLICY_H_

#include <cstdint>
#include <random>
#include <vector>

#include "common/mutex.h"

namespace rtrec::model {

struct PolicyParams {
  // τ > 0.
  double temperature = 1.0;
  // Uniform mix in [0, 1].
  double epsilon = 0.0;
};

// The exploration parameters serving uses now. Inference reads them once per
// batch; the learner reads them to compute π as served; the tuner sets them at
// a round boundary.
class PolicyControl {
 public:
  explicit PolicyControl(PolicyParams initial) : params_(initial) {}
  PolicyParams Get() const ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    return params_;
  }
  void Set(PolicyParams params) ABSL_LOCKS_EXCLUDED(mu_) {
    rtrec::MutexLock lock(&mu_);
    params_ = params;
  }

 private:
  mutable rtrec::Mutex mu_;
  PolicyParams params_ ABSL_GUARDED_BY(mu_);
};

struct Slate {
  // Positions into the scores vector, in slate order (best first).
  std::vector<int64_t> positions;
  // P(item in slate) under the policy, aligned with positions.
  std::vector<double> propensities;
  // π(item): the single-draw probability, aligned with positions (what the
  // learner's policy-gradient term differentiates).
  std::vector<double> selection_probabilities;
};

// P(item in a Plackett-Luce slate of size k) for each of `items` (positions
// into `pi`), given single-draw probabilities `pi` summing to 1.
// REQUIRES: `items` distinct, 0 < k.
std::vector<double> SlateInclusionProbabilities(const std::vector<double>& pi,
                                                const std::vector<int64_t>& items,
                                                int64_t k);

// Draws a slate of min(k, n) items from the single-draw probabilities `pi`
// (PolicyProbabilities / PolicyLogProbabilities, model/policy_probabilities.h),
// aligned with `scores`. With explore=false returns the top k by score (ties
// to the lower position) with propensity 1.
Slate SampleSlate(const std::vector<float>& scores, const std::vector<double>& pi, int64_t k,
                  bool explore, std::mt19937_64& rng);

}  // namespace rtrec::model

#endif  // RTREC_MODEL_EXPLORATION_POLICY_H_

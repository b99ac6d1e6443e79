// Off-policy estimators of a target policy's click rate from logs of another
// (the logging) policy, and bootstrap confidence intervals.
//
// For n logged decisions with reward r_i, logging probability p_i of the
// logged action a_i, target probability π_i = π(a_i | x_i), and a reward
// model q̂ with q̂_i = q̂(x_i, a_i) and v̂_i = Σ_a π(a | x_i) q̂(x_i, a):
//
//   IPS   = (1/n) Σ r_i π_i / p_i
//   SNIPS = Σ r_i π_i / p_i  /  Σ π_i / p_i
//   DR    = (1/n) Σ [ v̂_i + (π_i / p_i)(r_i − q̂_i) ]
//
// (Dudík, Langford, Li 2011; Swaminathan, Joachims 2015.)
//
// Thread safety: free functions, no shared state.
#ifndef RTREC_EVAL_OFF_POLICY_H_
#define RTREC_EVAL_OFF_POLICY_H_

#include <cstdint>
#include <functional>
#include <vector>

namespace rtrec::eval {

struct LoggedDecision {
  double reward = 0;
  double logging_probability = 1;  // p_i > 0
  double target_probability = 0;   // π(a_i | x_i)
  double reward_model_logged = 0;    // q̂(x_i, a_i)
  double reward_model_expected = 0;  // Σ_a π(a | x_i) q̂(x_i, a)
};

using Estimator = std::function<double(const std::vector<LoggedDecision>&)>;

double Ips(const std::vector<LoggedDecision>& log);
double Snips(const std::vector<LoggedDecision>& log);
double DoublyRobust(const std::vector<LoggedDecision>& log);

struct Interval {
  double estimate = 0;  // on the whole log
  double lower = 0, upper = 0;
};

// Percentile bootstrap: `resamples` logs of n decisions drawn with
// replacement (seeded), the (1−confidence)/2 and (1+confidence)/2 quantiles.
Interval Bootstrap(const std::vector<LoggedDecision>& log, const Estimator& estimator, int resamples,
                   double confidence, uint64_t seed);

}  // namespace rtrec::eval

#endif  // RTREC_EVAL_OFF_POLICY_H_

#include "eval/off_policy.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace rtrec::eval {

double Ips(const std::vector<LoggedDecision>& log) {
  if (log.empty()) return 0;
  double total = 0;
  for (const auto& d : log) total += d.reward * d.target_probability / d.logging_probability;
  return total / static_cast<double>(log.size());
}

double Snips(const std::vector<LoggedDecision>& log) {
  double weighted = 0, weights = 0;
  for (const auto& d : log) {
    const double w = d.target_probability / d.logging_probability;
    weighted += d.reward * w;
    weights += w;
  }
  return weights > 0 ? weighted / weights : 0.0;
}

double DoublyRobust(const std::vector<LoggedDecision>& log) {
  if (log.empty()) return 0;
  double total = 0;
  for (const auto& d : log) {
    total += d.reward_model_expected +
             d.target_probability / d.logging_probability * (d.reward - d.reward_model_logged);
  }
  return total / static_cast<double>(log.size());
}

Interval Bootstrap(const std::vector<LoggedDecision>& log, const Estimator& estimator, int resamples,
                   double confidence, uint64_t seed) {
  Interval out;
  out.estimate = estimator(log);
  if (log.empty() || resamples < 2) {
    out.lower = out.upper = out.estimate;
    return out;
  }
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, log.size() - 1);
  std::vector<double> values;
  values.reserve(resamples);
  std::vector<LoggedDecision> sample(log.size());
  for (int b = 0; b < resamples; ++b) {
    for (auto& d : sample) d = log[pick(rng)];
    values.push_back(estimator(sample));
  }
  std::sort(values.begin(), values.end());
  auto quantile = [&](double q) {
    const double at = q * static_cast<double>(values.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(at));
    const size_t hi = std::min(values.size() - 1, lo + 1);
    return values[lo] + (at - static_cast<double>(lo)) * (values[hi] - values[lo]);
  };
  out.lower = quantile((1 - confidence) / 2);
  out.upper = quantile((1 + confidence) / 2);
  return out;
}

}  // namespace rtrec::eval

#include "model/exploration_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace rtrec::model {
namespace {

// Trapezoid step in v = ln t and the integrand's negligible tails.
constexpr double kStep = 0.3;  // measured error < 1e-10 against exact enumeration
constexpr double kHighTail = 45.0;  // e^{-π_i t} below e^{-45}
// Bound on the error each shortcut may add to one propensity.
constexpr double kTolerance = 1e-12;

// Adds one independent event of probability p to a truncated count
// distribution dist[0..size-1].
inline void AddEvent(std::vector<double>& dist, double p, double q) {
  for (size_t c = dist.size() - 1; c > 0; --c) {
    dist[c] = dist[c] * q + dist[c - 1] * p;
  }
  dist[0] *= q;
}

}  // namespace

std::vector<double> SlateInclusionProbabilities(const std::vector<double>& pi,
                                                const std::vector<int64_t>& items,
                                                int64_t k) {
  const int64_t n = static_cast<int64_t>(pi.size());
  std::vector<double> out(items.size(), 1.0);
  if (k >= n) return out;
  if (k == 1) {
    for (size_t a = 0; a < items.size(); ++a) out[a] = pi[items[a]];
    return out;
  }
  std::vector<char> in_items(n, 0);
  for (int64_t i : items) in_items[i] = 1;

  // Below t0 fewer than k other items have passed the threshold except with
  // probability ≤ t^k/k! (their p_j sum to at most t), so there the count
  // term is 1 within kTolerance and its O(n·k) evaluation is skipped.
  double log_factorial = 0;
  for (int64_t i = 2; i <= k; ++i) log_factorial += std::log(static_cast<double>(i));
  const double t0 = std::exp((std::log(kTolerance) + log_factorial) / static_cast<double>(k));
  // One grid over the union of the slate items' supports.
  double v_lo = std::numeric_limits<double>::infinity();
  double v_hi = -std::numeric_limits<double>::infinity();
  for (int64_t i : items) {
    if (pi[i] <= 0) continue;
    v_lo = std::min(v_lo, std::log(kTolerance / pi[i]));
    v_hi = std::max(v_hi, std::log(kHighTail / pi[i]));
  }
  std::fill(out.begin(), out.end(), 0.0);
  if (!(v_lo < v_hi)) return out;
  const int64_t points = static_cast<int64_t>(std::ceil((v_hi - v_lo) / kStep));
  const double h = (v_hi - v_lo) / static_cast<double>(points);
  std::vector<double> rest(k), dist(k), slate_q(items.size());
  for (int64_t p = 0; p <= points; ++p) {
    const double t = std::exp(v_lo + h * static_cast<double>(p));
    const double weight = (p == 0 || p == points) ? 0.5 * h : h;
    const bool count_matters = t >= t0;
    if (count_matters) {
      // Count distribution over the candidates outside `items`.
      std::fill(rest.begin(), rest.end(), 0.0);
      rest[0] = 1.0;
      for (int64_t j = 0; j < n; ++j) {
        if (in_items[j]) continue;
        const double q = std::exp(-pi[j] * t);
        AddEvent(rest, 1.0 - q, q);
      }
      // P(fewer than k others passed) only falls as t grows: once it is
      // negligible, so is the rest of the integral.
      if (std::accumulate(rest.begin(), rest.end(), 0.0) < kTolerance) break;
      for (size_t b = 0; b < items.size(); ++b) slate_q[b] = std::exp(-pi[items[b]] * t);
    }
    for (size_t a = 0; a < items.size(); ++a) {
      const double pa = pi[items[a]];
      if (pa <= 0) continue;
      double at_most = 1.0;
      if (count_matters) {
        dist = rest;
        for (size_t b = 0; b < items.size(); ++b) {
          if (b != a) AddEvent(dist, 1.0 - slate_q[b], slate_q[b]);
        }
        at_most = std::accumulate(dist.begin(), dist.end(), 0.0);
      }
      // dt = t dv
      out[a] += weight * pa * t * std::exp(-pa * t) * at_most;
    }
  }
  for (double& o : out) o = std::clamp(o, 0.0, 1.0);
  return out;
}

Slate SampleSlate(const std::vector<float>& scores, const std::vector<double>& pi, int64_t k,
                  bool explore, std::mt19937_64& rng) {
  Slate slate;
  const int64_t n = static_cast<int64_t>(scores.size());
  k = std::min(k, n);
  if (k <= 0) return slate;
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  if (!explore) {
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) {
                        return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
                      });
    order.resize(k);
    slate.positions = order;
    slate.propensities.assign(k, 1.0);
  } else {
    // Gumbel-top-k: keys log π_j + G_j; the k largest form the slate.
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    std::vector<double> keys(n);
    for (int64_t j = 0; j < n; ++j) {
      double u = uniform(rng);
      while (u <= 0.0) u = uniform(rng);
      const double gumbel = -std::log(-std::log(u));
      keys[j] = pi[j] > 0 ? std::log(pi[j]) + gumbel
                          : -std::numeric_limits<double>::infinity();
    }
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [&](int64_t a, int64_t b) {
                        return keys[a] > keys[b] || (keys[a] == keys[b] && a < b);
                      });
    order.resize(k);
    slate.positions = order;
    slate.propensities = SlateInclusionProbabilities(pi, order, k);
  }
  slate.selection_probabilities.reserve(k);
  for (int64_t pos : slate.positions) slate.selection_probabilities.push_back(pi[pos]);
  return slate;
}

}  // namespace rtrec::model

#include "tuner/bayesian_optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace rtrec::tuner {
namespace {

constexpr int kPrimes[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37};

double RadicalInverse(uint64_t i, int base) {
  double inv = 1.0 / base, f = inv, r = 0;
  while (i > 0) {
    r += f * static_cast<double>(i % base);
    i /= base;
    f *= inv;
  }
  return r;
}

double NormalPdf(double z) { return 0.3989422804014327 * std::exp(-0.5 * z * z); }
double NormalCdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

}  // namespace

BayesianOptimizer::BayesianOptimizer(BayesianOptimizerOptions options)
    : options_(std::move(options)), rng_(options_.seed) {
  std::uniform_real_distribution<double> unit(0, 1);
  for (size_t d = 0; d < options_.box.size(); ++d) design_shift_.push_back(unit(rng_));
  options_.max_step.resize(options_.box.size(), 0.0);
}

Point BayesianOptimizer::ToUnit(const Point& x) const {
  Point u(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    u[d] = (x[d] - options_.box[d].lo) / (options_.box[d].hi - options_.box[d].lo);
  }
  return u;
}

Point BayesianOptimizer::FromUnit(const Point& u) const {
  Point x(u.size());
  for (size_t d = 0; d < u.size(); ++d) {
    x[d] = options_.box[d].lo + std::clamp(u[d], 0.0, 1.0) * (options_.box[d].hi - options_.box[d].lo);
  }
  return x;
}

Point BayesianOptimizer::Halton(uint64_t index, const Point& shift) const {
  Point p(shift.size());
  for (size_t d = 0; d < shift.size(); ++d) {
    p[d] = std::fmod(RadicalInverse(index + 1, kPrimes[d % 12]) + shift[d], 1.0);
  }
  return p;
}

const BayesianOptimizer::Observation& BayesianOptimizer::best() const {
  return *std::max_element(history_.begin(), history_.end(),
                           [](const Observation& a, const Observation& b) { return a.y < b.y; });
}

void BayesianOptimizer::Observe(const Point& x, double y) { history_.push_back({x, y}); }

Point BayesianOptimizer::Suggest(const Point* current) {
  const size_t dim = options_.box.size();
  last_from_model_ = false;
  // The allowed region, in unit coordinates.
  Point lo(dim, 0.0), hi(dim, 1.0);
  if (current != nullptr) {
    const Point c = ToUnit(*current);
    for (size_t d = 0; d < dim; ++d) {
      if (options_.max_step[d] <= 0) continue;
      const double step = options_.max_step[d] / (options_.box[d].hi - options_.box[d].lo);
      lo[d] = std::clamp(c[d] - step, 0.0, 1.0);
      hi[d] = std::clamp(c[d] + step, 0.0, 1.0);
    }
  }
  auto into_region = [&](Point u) {
    for (size_t d = 0; d < dim; ++d) u[d] = lo[d] + u[d] * (hi[d] - lo[d]);
    return u;
  };
  std::uniform_real_distribution<double> unit(0, 1);
  if (options_.acquisition == "random") {
    Point u(dim);
    for (auto& v : u) v = unit(rng_);
    return FromUnit(into_region(u));
  }
  if (static_cast<int>(history_.size()) < options_.initial_points) {
    return FromUnit(into_region(Halton(history_.size(), design_shift_)));
  }
  // Condition the GP on the (windowed, down-weighted) history.
  size_t first = 0;
  if (options_.window > 0 && history_.size() > static_cast<size_t>(options_.window)) {
    first = history_.size() - options_.window;
  }
  std::vector<Point> xs;
  std::vector<double> ys, ws;
  for (size_t i = first; i < history_.size(); ++i) {
    xs.push_back(ToUnit(history_[i].x));
    ys.push_back(history_[i].y);
    ws.push_back(std::max(1e-6, std::pow(options_.forgetting, static_cast<double>(history_.size() - 1 - i))));
  }
  const bool refit = model_suggestions_++ % std::max(1, options_.refit_every) == 0 ||
                     gp_.hyperparameters().length_scales.size() != dim;
  absl::Status conditioned = refit ? gp_.Fit(xs, ys, ws, options_.fit, rng_)
                                   : gp_.SetData(xs, ys, ws, gp_.hyperparameters());
  if (!conditioned.ok() && !refit) conditioned = gp_.Fit(xs, ys, ws, options_.fit, rng_);
  if (!conditioned.ok()) {
    Point u(dim);
    for (auto& v : u) v = unit(rng_);
    return FromUnit(into_region(u));
  }
  // Incumbent: the best posterior mean at the observed points (robust to noise).
  double incumbent = -std::numeric_limits<double>::infinity();
  for (const auto& x : xs) {
    double m, v;
    gp_.Predict(x, &m, &v);
    incumbent = std::max(incumbent, m);
  }
  double y_scale = 0;
  {
    double mean = 0;
    for (double y : ys) mean += y / ys.size();
    for (double y : ys) y_scale += (y - mean) * (y - mean) / ys.size();
    y_scale = y_scale > 0 ? std::sqrt(y_scale) : 1.0;
  }
  auto acquisition = [&](const Point& u) {
    double m, v;
    gp_.Predict(u, &m, &v);
    const double sd = std::sqrt(v);
    if (options_.acquisition == "ucb") return m + options_.ucb_kappa * sd;
    const double improvement = m - incumbent - options_.ei_xi * y_scale;
    if (sd < 1e-12) return std::max(improvement, 0.0);
    const double z = improvement / sd;
    return improvement * NormalCdf(z) + sd * NormalPdf(z);
  };
  Point shift(dim);
  for (auto& v : shift) v = unit(rng_);
  std::vector<std::pair<double, Point>> scored;
  for (int i = 0; i < options_.candidates; ++i) {
    Point u = into_region(Halton(candidate_offset_ + i, shift));
    scored.emplace_back(acquisition(u), std::move(u));
  }
  candidate_offset_ += options_.candidates;
  const int starts = std::min<int>(options_.refine_starts, static_cast<int>(scored.size()));
  std::partial_sort(scored.begin(), scored.begin() + starts, scored.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  Point best = scored[0].second;
  double best_value = scored[0].first;
  for (int s = 0; s < starts; ++s) {
    Point p = NelderMead([&](const Point& u) { return -acquisition(u); }, scored[s].second, lo, hi,
                         options_.refine_evaluations, 0.05);
    const double v = acquisition(p);
    if (v > best_value) {
      best_value = v;
      best = p;
    }
  }
  last_from_model_ = true;
  return FromUnit(best);
}

}  // namespace rtrec::tuner

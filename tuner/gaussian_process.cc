#include "tuner/gaussian_process.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace rtrec::tuner {
namespace {

constexpr double kLog2Pi = 1.8378770664093453;

// Solves L v = b in place (L lower, row-major n×n).
void ForwardSolve(const std::vector<double>& l, int n, std::vector<double>* b) {
  for (int i = 0; i < n; ++i) {
    double s = (*b)[i];
    for (int k = 0; k < i; ++k) s -= l[i * n + k] * (*b)[k];
    (*b)[i] = s / l[i * n + i];
  }
}

// Solves Lᵀ v = b in place.
void BackwardSolve(const std::vector<double>& l, int n, std::vector<double>* b) {
  for (int i = n - 1; i >= 0; --i) {
    double s = (*b)[i];
    for (int k = i + 1; k < n; ++k) s -= l[k * n + i] * (*b)[k];
    (*b)[i] = s / l[i * n + i];
  }
}

bool CholeskyInPlace(std::vector<double>* a, int n) {
  std::vector<double>& m = *a;
  for (int j = 0; j < n; ++j) {
    double d = m[j * n + j];
    for (int k = 0; k < j; ++k) d -= m[j * n + k] * m[j * n + k];
    if (!(d > 0) || !std::isfinite(d)) return false;
    const double ljj = std::sqrt(d);
    m[j * n + j] = ljj;
    for (int i = j + 1; i < n; ++i) {
      double s = m[i * n + j];
      for (int k = 0; k < j; ++k) s -= m[i * n + k] * m[j * n + k];
      m[i * n + j] = s / ljj;
    }
    for (int k = j + 1; k < n; ++k) m[j * n + k] = 0;
  }
  return true;
}

}  // namespace

double Matern52(const Point& a, const Point& b, const std::vector<double>& length_scales,
                double signal_variance) {
  double r2 = 0;
  for (size_t d = 0; d < a.size(); ++d) {
    const double t = (a[d] - b[d]) / length_scales[d];
    r2 += t * t;
  }
  const double r = std::sqrt(5.0 * r2);
  return signal_variance * (1.0 + r + r * r / 3.0) * std::exp(-r);
}

bool CholeskyWithJitter(std::vector<double>* a, int n, double* jitter_used) {
  double mean_diag = 0;
  for (int i = 0; i < n; ++i) mean_diag += (*a)[i * n + i];
  mean_diag = n > 0 ? std::max(mean_diag / n, 1e-12) : 1.0;
  if (!std::isfinite(mean_diag)) return false;
  const std::vector<double> original = *a;
  for (double jitter = 0; jitter <= 1e-2;) {
    *a = original;
    for (int i = 0; i < n; ++i) (*a)[i * n + i] += jitter * mean_diag;
    if (CholeskyInPlace(a, n)) {
      if (jitter_used) *jitter_used = jitter;
      return true;
    }
    jitter = jitter == 0 ? 1e-10 : jitter * 10;
  }
  return false;
}

Point NelderMead(const std::function<double(const Point&)>& f, Point start, const Point& lo,
                 const Point& hi, int max_evaluations, double initial_step) {
  const size_t d = start.size();
  auto clamp = [&](Point p) {
    for (size_t i = 0; i < d; ++i) p[i] = std::clamp(p[i], lo[i], hi[i]);
    return p;
  };
  std::vector<Point> simplex{clamp(start)};
  for (size_t i = 0; i < d; ++i) {
    Point p = start;
    const double step = initial_step * (hi[i] - lo[i]);
    p[i] = p[i] + step <= hi[i] ? p[i] + step : p[i] - step;
    simplex.push_back(clamp(p));
  }
  std::vector<double> values;
  for (const auto& p : simplex) values.push_back(f(p));
  int evaluations = static_cast<int>(simplex.size());
  std::vector<size_t> order(simplex.size());
  while (evaluations < max_evaluations) {
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
    const size_t best = order.front(), worst = order.back(), second = order[order.size() - 2];
    if (std::fabs(values[worst] - values[best]) < 1e-10) break;
    Point centroid(d, 0.0);
    for (size_t i : order) {
      if (i == worst) continue;
      for (size_t k = 0; k < d; ++k) centroid[k] += simplex[i][k] / static_cast<double>(d);
    }
    auto along = [&](double t) {
      Point p(d);
      for (size_t k = 0; k < d; ++k) p[k] = centroid[k] + t * (simplex[worst][k] - centroid[k]);
      return clamp(p);
    };
    Point reflected = along(-1.0);
    const double fr = f(reflected);
    ++evaluations;
    if (fr < values[best]) {
      Point expanded = along(-2.0);
      const double fe = f(expanded);
      ++evaluations;
      if (fe < fr) {
        simplex[worst] = expanded;
        values[worst] = fe;
      } else {
        simplex[worst] = reflected;
        values[worst] = fr;
      }
    } else if (fr < values[second]) {
      simplex[worst] = reflected;
      values[worst] = fr;
    } else {
      Point contracted = along(0.5);
      const double fc = f(contracted);
      ++evaluations;
      if (fc < values[worst]) {
        simplex[worst] = contracted;
        values[worst] = fc;
      } else {  // shrink towards the best
        for (size_t i = 0; i < simplex.size(); ++i) {
          if (i == best) continue;
          for (size_t k = 0; k < d; ++k) simplex[i][k] = simplex[best][k] + 0.5 * (simplex[i][k] - simplex[best][k]);
          values[i] = f(simplex[i]);
          ++evaluations;
        }
      }
    }
  }
  size_t best = 0;
  for (size_t i = 1; i < values.size(); ++i) {
    if (values[i] < values[best]) best = i;
  }
  return simplex[best];
}

absl::Status GaussianProcess::Standardise(const std::vector<Point>& x, const std::vector<double>& y,
                                          const std::vector<double>& weights) {
  if (x.empty()) return absl::InvalidArgumentError("GP: no observations");
  if (x.size() != y.size() || (!weights.empty() && weights.size() != y.size())) {
    return absl::InvalidArgumentError("GP: x, y and weights differ in length");
  }
  const size_t dim = x[0].size();
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].size() != dim) return absl::InvalidArgumentError(absl::StrCat("GP: x[", i, "] has the wrong dimension"));
    if (!std::isfinite(y[i])) return absl::InvalidArgumentError(absl::StrCat("GP: y[", i, "] is not finite"));
    for (double v : x[i]) {
      if (!std::isfinite(v)) return absl::InvalidArgumentError(absl::StrCat("GP: x[", i, "] is not finite"));
    }
    if (!weights.empty() && !(weights[i] > 0 && weights[i] <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat("GP: weights[", i, "] must be in (0, 1]"));
    }
  }
  x_ = x;
  weights_ = weights.empty() ? std::vector<double>(y.size(), 1.0) : weights;
  y_mean_ = std::accumulate(y.begin(), y.end(), 0.0) / static_cast<double>(y.size());
  double var = 0;
  for (double v : y) var += (v - y_mean_) * (v - y_mean_);
  var /= static_cast<double>(y.size());
  y_std_ = var > 1e-24 ? std::sqrt(var) : 1.0;
  z_.clear();
  for (double v : y) z_.push_back((v - y_mean_) / y_std_);
  return absl::OkStatus();
}

bool GaussianProcess::Condition(const GpHyperparameters& hp, std::vector<double>* chol,
                                std::vector<double>* alpha) const {
  const int n = static_cast<int>(x_.size());
  chol->assign(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      const double k = Matern52(x_[i], x_[j], hp.length_scales, hp.signal_variance);
      (*chol)[i * n + j] = k;
      (*chol)[j * n + i] = k;
    }
    (*chol)[i * n + i] += hp.noise_variance / weights_[i];
  }
  if (!CholeskyWithJitter(chol, n)) return false;
  *alpha = z_;
  ForwardSolve(*chol, n, alpha);
  BackwardSolve(*chol, n, alpha);
  return true;
}

double GaussianProcess::LogMarginalLikelihood(const GpHyperparameters& hp) const {
  std::vector<double> chol, alpha;
  if (!Condition(hp, &chol, &alpha)) return -std::numeric_limits<double>::infinity();
  const int n = static_cast<int>(x_.size());
  double fit = 0, logdet = 0;
  for (int i = 0; i < n; ++i) {
    fit += z_[i] * alpha[i];
    logdet += std::log(chol[i * n + i]);
  }
  return -0.5 * fit - logdet - 0.5 * n * kLog2Pi;
}

absl::Status GaussianProcess::SetData(const std::vector<Point>& x, const std::vector<double>& y,
                                      const std::vector<double>& weights, const GpHyperparameters& hp) {
  if (auto s = Standardise(x, y, weights); !s.ok()) return s;
  if (hp.length_scales.size() != x[0].size()) {
    return absl::InvalidArgumentError("GP: one length scale per input dimension is needed");
  }
  hp_ = hp;
  if (!Condition(hp_, &chol_, &alpha_)) {
    fitted_ = false;
    return absl::FailedPreconditionError("GP: the kernel matrix is not positive definite even with jitter");
  }
  fitted_ = true;
  return absl::OkStatus();
}

absl::Status GaussianProcess::Fit(const std::vector<Point>& x, const std::vector<double>& y,
                                  const std::vector<double>& weights, const GpFitOptions& options,
                                  std::mt19937_64& rng) {
  if (auto s = Standardise(x, y, weights); !s.ok()) return s;
  const size_t dim = x[0].size();
  // Search space: log ℓ_d, log σ², log σ_n².
  Point lo, hi;
  for (size_t d = 0; d < dim; ++d) {
    lo.push_back(std::log(options.min_length_scale));
    hi.push_back(std::log(options.max_length_scale));
  }
  lo.push_back(std::log(0.05));
  hi.push_back(std::log(20.0));
  lo.push_back(std::log(options.min_noise_variance));
  hi.push_back(std::log(options.max_noise_variance));
  auto unpack = [dim](const Point& p) {
    GpHyperparameters hp;
    for (size_t d = 0; d < dim; ++d) hp.length_scales.push_back(std::exp(p[d]));
    hp.signal_variance = std::exp(p[dim]);
    hp.noise_variance = std::exp(p[dim + 1]);
    return hp;
  };
  auto objective = [&](const Point& p) {
    const double lml = LogMarginalLikelihood(unpack(p));
    return std::isfinite(lml) ? -lml : 1e300;
  };
  std::vector<Point> starts;
  if (hp_.length_scales.size() == dim) {  // warm start from the last fit
    Point p;
    for (double l : hp_.length_scales) p.push_back(std::log(std::clamp(l, options.min_length_scale, options.max_length_scale)));
    p.push_back(std::log(std::clamp(hp_.signal_variance, 0.05, 20.0)));
    p.push_back(std::log(std::clamp(hp_.noise_variance, options.min_noise_variance, options.max_noise_variance)));
    starts.push_back(p);
  }
  {
    Point p(dim, std::log(0.3));
    p.push_back(0.0);
    p.push_back(std::log(std::clamp(1e-2, options.min_noise_variance, options.max_noise_variance)));
    starts.push_back(p);
  }
  std::uniform_real_distribution<double> unit(0, 1);
  for (int r = 0; r < options.restarts; ++r) {
    Point p;
    for (size_t i = 0; i < lo.size(); ++i) p.push_back(lo[i] + unit(rng) * (hi[i] - lo[i]));
    starts.push_back(p);
  }
  Point best;
  double best_value = std::numeric_limits<double>::infinity();
  for (const auto& s : starts) {
    Point p = NelderMead(objective, s, lo, hi, options.max_evaluations, 0.1);
    const double v = objective(p);
    if (v < best_value) {
      best_value = v;
      best = p;
    }
  }
  if (best.empty() || best_value >= 1e300) {
    fitted_ = false;
    return absl::FailedPreconditionError("GP: no hyper-parameters give a positive-definite kernel matrix");
  }
  hp_ = unpack(best);
  if (!Condition(hp_, &chol_, &alpha_)) {
    fitted_ = false;
    return absl::FailedPreconditionError("GP: the kernel matrix is not positive definite even with jitter");
  }
  fitted_ = true;
  return absl::OkStatus();
}

void GaussianProcess::Predict(const Point& x, double* mean, double* variance) const {
  if (!fitted_) {
    *mean = y_mean_;
    *variance = y_std_ * y_std_;
    return;
  }
  const int n = static_cast<int>(x_.size());
  std::vector<double> k(n);
  for (int i = 0; i < n; ++i) k[i] = Matern52(x, x_[i], hp_.length_scales, hp_.signal_variance);
  double m = 0;
  for (int i = 0; i < n; ++i) m += k[i] * alpha_[i];
  ForwardSolve(chol_, n, &k);
  double v = hp_.signal_variance;
  for (int i = 0; i < n; ++i) v -= k[i] * k[i];
  *mean = y_mean_ + y_std_ * m;
  *variance = std::max(v, 1e-12) * y_std_ * y_std_;
}

}  // namespace rtrec::tuner

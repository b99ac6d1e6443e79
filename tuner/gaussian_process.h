// Gaussian-process regression for the tuner: Matérn 5/2 kernel with one
// length scale per input dimension, signal and noise variance.
//
// Inputs are expected in the unit box (the optimizer scales them); outputs
// are standardised internally (zero mean, unit variance) and predictions are
// returned in the original units. Each observation may carry a weight in
// (0, 1]: its noise variance is noise/weight, so an old, down-weighted round
// still informs the model but counts less.
//
// Hyper-parameters are fitted by maximising the log marginal likelihood from
// several starts (Nelder-Mead in log space, bounded). The kernel matrix is
// factored by Cholesky with growing jitter; a matrix that stays indefinite
// gives an error, never a crash.
//
// Thread safety: const methods may be called concurrently; Fit/SetData not.
#ifndef RTREC_TUNER_GAUSSIAN_PROCESS_H_
#define RTREC_TUNER_GAUSSIAN_PROCESS_H_

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "absl/status/status.h"

namespace rtrec::tuner {

using Point = std::vector<double>;

struct GpHyperparameters {
  std::vector<double> length_scales;  // one per dimension, in unit-box units
  double signal_variance = 1.0;       // of the standardised output
  double noise_variance = 1e-2;       // of the standardised output
};

// k(a, b) = σ² (1 + √5 r + 5r²/3) e^{−√5 r}, r² = Σ ((a_d − b_d)/ℓ_d)².
double Matern52(const Point& a, const Point& b, const std::vector<double>& length_scales,
                double signal_variance);

// In-place lower Cholesky factor of the n×n row-major matrix `a`; adds
// jitter·mean(diag) to the diagonal, growing from 1e-10 to 1e-2, until it
// succeeds. Returns false (leaving `a` unspecified) if it never does.
bool CholeskyWithJitter(std::vector<double>* a, int n, double* jitter_used = nullptr);

// Minimises f over a box with Nelder-Mead (points outside are clamped).
Point NelderMead(const std::function<double(const Point&)>& f, Point start, const Point& lo,
                 const Point& hi, int max_evaluations, double initial_step);

struct GpFitOptions {
  int restarts = 4;              // random starts besides the previous optimum
  int max_evaluations = 200;     // likelihood evaluations per start
  double min_length_scale = 0.01;
  double max_length_scale = 10.0;
  double min_noise_variance = 1e-6;
  double max_noise_variance = 1.0;
};

class GaussianProcess {
 public:
  // Fits the hyper-parameters by maximum marginal likelihood, then
  // conditions on the data. `weights` may be empty (all 1).
  absl::Status Fit(const std::vector<Point>& x, const std::vector<double>& y,
                   const std::vector<double>& weights, const GpFitOptions& options,
                   std::mt19937_64& rng);
  // Conditions on the data with the given hyper-parameters.
  absl::Status SetData(const std::vector<Point>& x, const std::vector<double>& y,
                       const std::vector<double>& weights, const GpHyperparameters& hp);

  // Posterior mean and variance of the latent function at `x`, in the
  // original output units (the variance excludes observation noise).
  void Predict(const Point& x, double* mean, double* variance) const;

  // Log marginal likelihood of the standardised data under `hp`; -inf when
  // the kernel matrix cannot be factored.
  double LogMarginalLikelihood(const GpHyperparameters& hp) const;

  const GpHyperparameters& hyperparameters() const { return hp_; }
  int64_t size() const { return static_cast<int64_t>(x_.size()); }

 private:
  absl::Status Standardise(const std::vector<Point>& x, const std::vector<double>& y,
                           const std::vector<double>& weights);
  // Factors K + noise for `hp` into chol_ and solves alpha_.
  bool Condition(const GpHyperparameters& hp, std::vector<double>* chol,
                 std::vector<double>* alpha) const;

  std::vector<Point> x_;
  std::vector<double> z_;        // standardised outputs
  std::vector<double> weights_;
  double y_mean_ = 0, y_std_ = 1;
  GpHyperparameters hp_;
  std::vector<double> chol_;     // n×n lower factor
  std::vector<double> alpha_;    // (K + N)^-1 z
  bool fitted_ = false;
};

}  // namespace rtrec::tuner

#endif  // RTREC_TUNER_GAUSSIAN_PROCESS_H_

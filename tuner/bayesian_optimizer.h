// Bayesian optimisation of a noisy function over a box (maximisation): a
// seeded quasi-random initial design, then a Gaussian process (Matérn 5/2,
// hyper-parameters by marginal likelihood) and an acquisition function --
// expected improvement, or UCB -- maximised over quasi-random (Halton)
// candidates plus Nelder-Mead refinement from the best of them.
//
// Drift: with `forgetting` < 1 an observation made `a` observations ago has
// weight forgetting^a (its noise is divided by it), and `window` keeps only
// the most recent observations.
//
// Trust region: max_step[d] > 0 limits how far a suggestion may move along
// dimension d from the point passed to Suggest (the setting in use).
//
// Thread safety: not thread-safe.
#ifndef RTREC_TUNER_BAYESIAN_OPTIMIZER_H_
#define RTREC_TUNER_BAYESIAN_OPTIMIZER_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tuner/gaussian_process.h"

namespace rtrec::tuner {

struct Bound {
  double lo = 0;
  double hi = 1;
};

struct BayesianOptimizerOptions {
  std::vector<Bound> box;
  // Quasi-random points evaluated before the GP takes over.
  int initial_points = 5;
  // "ei" (expected improvement), "ucb" (mean + ucb_kappa·sd) or "random"
  // (uniform random search, the baseline).
  std::string acquisition = "ei";
  double ucb_kappa = 2.0;
  // EI exploration margin, in standardised output units.
  double ei_xi = 0.01;
  int candidates = 1000;
  int refine_starts = 3;
  int refine_evaluations = 60;
  double forgetting = 1.0;
  int window = 0;  // 0: all observations
  // Per dimension; 0 means no limit.
  std::vector<double> max_step;
  GpFitOptions fit;
  // Hyper-parameters are re-fitted every this many GP suggestions (the data
  // is always conditioned on); larger is cheaper.
  int refit_every = 1;
  uint64_t seed = 1;
};

class BayesianOptimizer {
 public:
  struct Observation {
    Point x;
    double y = 0;
  };

  explicit BayesianOptimizer(BayesianOptimizerOptions options);

  // The next point to evaluate. `current` (optional) is the setting in use,
  // the centre of the max_step trust region.
  Point Suggest(const Point* current = nullptr);
  void Observe(const Point& x, double y);

  const std::vector<Observation>& history() const { return history_; }
  // The observation with the highest y so far. REQUIRES: !history().empty().
  const Observation& best() const;
  // Whether the last Suggest came from the GP (false: initial design,
  // random search, or a GP that could not be fitted).
  bool last_from_model() const { return last_from_model_; }
  const GaussianProcess& model() const { return gp_; }

 private:
  Point ToUnit(const Point& x) const;
  Point FromUnit(const Point& u) const;
  // Halton point `index` in the unit cube with a seeded random shift.
  Point Halton(uint64_t index, const Point& shift) const;

  BayesianOptimizerOptions options_;
  std::mt19937_64 rng_;
  Point design_shift_;
  std::vector<Observation> history_;
  GaussianProcess gp_;
  uint64_t candidate_offset_ = 0;
  int64_t model_suggestions_ = 0;
  bool last_from_model_ = false;
};

}  // namespace rtrec::tuner

#endif  // RTREC_TUNER_BAYESIAN_OPTIMIZER_H_

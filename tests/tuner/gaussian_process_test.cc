// The tuner's Gaussian process and Bayesian optimizer: closed-form
// posterior, hyper-parameter recovery, robustness, and optimisation quality
// on Branin and Hartmann-6 against seeded random search.
#include "tuner/gaussian_process.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tuner/bayesian_optimizer.h"

namespace rtrec::tuner {
namespace {

TEST(GaussianProcessTest, PosteriorEqualsTheClosedFormOnTwoPoints) {
  const std::vector<Point> x = {{0.2}, {0.7}};
  const std::vector<double> y = {1.0, -0.5};
  GpHyperparameters hp;
  hp.length_scales = {0.3};
  hp.signal_variance = 1.5;
  hp.noise_variance = 0.1;
  GaussianProcess gp;
  ASSERT_TRUE(gp.SetData(x, y, {}, hp).ok());

  // By hand: standardise y, then m = k*ᵀ (K + σn² I)⁻¹ z with the 2×2 inverse.
  const double mean = 0.25, sd = 0.75;  // of {1, -0.5}
  const double z0 = (1.0 - mean) / sd, z1 = (-0.5 - mean) / sd;
  auto k = [&](double a, double b) {
    const double r = std::sqrt(5.0) * std::fabs(a - b) / 0.3;
    return 1.5 * (1 + r + r * r / 3) * std::exp(-r);
  };
  const double a = k(0.2, 0.2) + 0.1, b = k(0.2, 0.7), d = k(0.7, 0.7) + 0.1;
  const double det = a * d - b * b;
  const double i00 = d / det, i01 = -b / det, i11 = a / det;
  const double xs = 0.45;
  const double k0 = k(xs, 0.2), k1 = k(xs, 0.7);
  const double m = k0 * (i00 * z0 + i01 * z1) + k1 * (i01 * z0 + i11 * z1);
  const double v = 1.5 - (k0 * (i00 * k0 + i01 * k1) + k1 * (i01 * k0 + i11 * k1));
  double got_mean, got_var;
  gp.Predict({xs}, &got_mean, &got_var);
  EXPECT_NEAR(got_mean, mean + sd * m, 1e-10);
  EXPECT_NEAR(got_var, sd * sd * v, 1e-10);
  // The log marginal likelihood too: −½ zᵀK⁻¹z − ½ log det K − log 2π.
  const double quad = z0 * (i00 * z0 + i01 * z1) + z1 * (i01 * z0 + i11 * z1);
  EXPECT_NEAR(gp.LogMarginalLikelihood(hp), -0.5 * quad - 0.5 * std::log(det) - std::log(2 * M_PI), 1e-10);
}

TEST(GaussianProcessTest, FittingRecoversAKnownLengthScale) {
  // One draw from a Matérn 5/2 GP with ℓ = 0.15 at 120 points, small noise.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> unit(0, 1);
  std::normal_distribution<double> normal(0, 1);
  const int n = 120;
  std::vector<Point> x;
  for (int i = 0; i < n; ++i) x.push_back({unit(rng)});
  std::vector<double> cov(n * n);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) cov[i * n + j] = Matern52(x[i], x[j], {0.15}, 1.0);
  }
  ASSERT_TRUE(CholeskyWithJitter(&cov, n));
  std::vector<double> e(n), y(n, 0.0);
  for (auto& v : e) v = normal(rng);
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) y[i] += cov[i * n + j] * e[j];
    y[i] += 0.05 * normal(rng);
  }
  GaussianProcess gp;
  GpFitOptions options;
  ASSERT_TRUE(gp.Fit(x, y, {}, options, rng).ok());
  EXPECT_NEAR(gp.hyperparameters().length_scales[0], 0.15, 0.05);
  EXPECT_LT(gp.hyperparameters().noise_variance, 0.05);
}

TEST(GaussianProcessTest, DuplicatePointsAndConstantOutputsDoNotBreakIt) {
  std::vector<Point> x(20, Point{0.5, 0.5});  // a singular kernel without noise
  std::vector<double> y(20, 3.0);
  GpHyperparameters hp;
  hp.length_scales = {0.2, 0.2};
  hp.noise_variance = 1e-12;
  GaussianProcess gp;
  EXPECT_TRUE(gp.SetData(x, y, {}, hp).ok());  // jitter makes it factor
  double m, v;
  gp.Predict({0.5, 0.5}, &m, &v);
  EXPECT_NEAR(m, 3.0, 1e-6);
  std::mt19937_64 rng(1);
  EXPECT_TRUE(gp.Fit(x, y, {}, GpFitOptions{}, rng).ok());
  // Not a number in, an error out (naming the input), no crash.
  y[3] = std::nan("");
  EXPECT_THAT(std::string(gp.SetData(x, y, {}, hp).message()), ::testing::HasSubstr("y[3]"));
}

TEST(GaussianProcessTest, DownWeightedObservationsCountLess) {
  const std::vector<Point> x = {{0.5}, {0.5}};
  GpHyperparameters hp;
  hp.length_scales = {0.3};
  hp.noise_variance = 0.05;
  GaussianProcess gp;
  // An old observation says 0, a new one says 1: the posterior leans to 1.
  ASSERT_TRUE(gp.SetData(x, {0.0, 1.0}, {0.05, 1.0}, hp).ok());
  double m, v;
  gp.Predict({0.5}, &m, &v);
  EXPECT_GT(m, 0.8);
}

// ---------------------------------------------------------------- benchmarks

double Branin(const Point& p) {  // minimum 0.397887 on [-5, 10] × [0, 15]
  const double x1 = p[0], x2 = p[1];
  const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
  return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
}

double Hartmann6(const Point& x) {  // minimum −3.32237 on [0, 1]^6
  static const double a[4] = {1.0, 1.2, 3.0, 3.2};
  static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                 {0.05, 10, 17, 0.1, 8, 14},
                                 {3, 3.5, 1.7, 10, 17, 8},
                                 {17, 8, 0.05, 10, 0.1, 14}};
  static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                 {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                 {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                 {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
  double f = 0;
  for (int i = 0; i < 4; ++i) {
    double s = 0;
    for (int j = 0; j < 6; ++j) s += A[i][j] * (x[j] - P[i][j]) * (x[j] - P[i][j]);
    f -= a[i] * std::exp(-s);
  }
  return f;
}

struct Problem {
  const char* name;
  double (*f)(const Point&);
  std::vector<Bound> box;
  double minimum;
  double range;      // max − min over the box, for normalising
  double noise_sd;   // added to every evaluation the optimizer sees
  int gp_budget;
  int random_budget;
};

// Evaluations until the true value of an evaluated point is within 1 % of
// the range from the minimum; `budget` + 1 when never.
int EvaluationsToOnePercent(const Problem& p, BayesianOptimizerOptions o, int budget, uint64_t seed) {
  o.box = p.box;
  o.seed = seed;
  BayesianOptimizer bo(o);
  std::mt19937_64 noise_rng(seed * 7919 + 1);
  std::normal_distribution<double> noise(0, p.noise_sd);
  for (int i = 1; i <= budget; ++i) {
    Point x = bo.Suggest();
    const double f = p.f(x);
    if ((f - p.minimum) / p.range <= 0.01) return i;
    bo.Observe(x, -(f + noise(noise_rng)));  // the optimizer maximises
  }
  return budget + 1;
}

class OptimizerQualityTest : public ::testing::TestWithParam<Problem> {};

// Over 10 seeds, GP-EI needs at most half the evaluations that seeded random
// search needs on average to come within 1 % (normalised) of the optimum.
TEST_P(OptimizerQualityTest, GpEiNeedsAtMostHalfTheEvaluationsOfRandomSearch) {
  const Problem& p = GetParam();
  BayesianOptimizerOptions ei;
  ei.initial_points = 2 * static_cast<int>(p.box.size()) + 1;
  ei.refit_every = 3;
  ei.fit.restarts = 2;
  ei.fit.max_evaluations = 120;
  BayesianOptimizerOptions random;
  random.acquisition = "random";
  double gp_total = 0, random_total = 0;
  constexpr int kSeeds = 10;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    gp_total += EvaluationsToOnePercent(p, ei, p.gp_budget, seed);
    random_total += EvaluationsToOnePercent(p, random, p.random_budget, seed);
  }
  std::printf("%s: GP-EI %.1f, random search %.1f evaluations to 1%% (mean of %d seeds)\n", p.name,
              gp_total / kSeeds, random_total / kSeeds, kSeeds);
  EXPECT_LE(gp_total / kSeeds, 0.5 * random_total / kSeeds);
}

INSTANTIATE_TEST_SUITE_P(
    Benchmarks, OptimizerQualityTest,
    ::testing::Values(Problem{"Branin", Branin, {{-5, 10}, {0, 15}}, 0.397887, 308.13, 1.0, 100, 5000},
                      Problem{"Hartmann6", Hartmann6, {{0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}},
                              -3.32237, 3.32237, 0.05, 150, 20000}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(BayesianOptimizerTest, TrustRegionLimitsTheStepFromTheCurrentSetting) {
  BayesianOptimizerOptions o;
  o.box = {{-4, -1}, {0, 0.5}};
  o.max_step = {0, 0.05};
  o.initial_points = 3;
  BayesianOptimizer bo(o);
  Point current = {-2.0, 0.2};
  for (int i = 0; i < 12; ++i) {
    Point x = bo.Suggest(&current);
    EXPECT_LE(std::fabs(x[1] - current[1]), 0.05 + 1e-12) << "round " << i;
    EXPECT_GE(x[0], -4);
    EXPECT_LE(x[0], -1);
    bo.Observe(x, -(x[0] + 2.5) * (x[0] + 2.5) - (x[1] - 0.4) * (x[1] - 0.4));
    current = x;
  }
  // Pulled towards the optimum at exploration 0.4, one bounded step at a time.
  EXPECT_GT(current[1], 0.3);
}

}  // namespace
}  // namespace rtrec::tuner

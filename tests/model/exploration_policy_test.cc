#include "model/exploration_policy.h"
#include "model/policy_probabilities.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::model {
namespace {

// Exact P(i in slate) by enumerating every ordered Plackett-Luce slate.
void Enumerate(const std::vector<double>& pi, int64_t k, std::vector<int64_t>& prefix,
               double prob, std::vector<double>& out) {
  if (static_cast<int64_t>(prefix.size()) == k) {
    for (int64_t i : prefix) out[i] += prob;
    return;
  }
  double remaining = 1.0;
  for (int64_t i : prefix) remaining -= pi[i];
  for (int64_t i = 0; i < static_cast<int64_t>(pi.size()); ++i) {
    if (std::find(prefix.begin(), prefix.end(), i) != prefix.end()) continue;
    prefix.push_back(i);
    Enumerate(pi, k, prefix, prob * pi[i] / remaining, out);
    prefix.pop_back();
  }
}

// A slate from π as serving computes it.
Slate Sample(const std::vector<float>& scores, int64_t k, bool explore, const PolicyParams& params,
             std::mt19937_64& rng) {
  return SampleSlate(scores, PolicyProbabilities(scores, params), k, explore, rng);
}

TEST(ExplorationPolicyTest, SelectionProbabilitiesAreTemperedSoftmaxWithEpsilon) {
  std::vector<float> scores = {1.0f, 2.0f, 3.0f};
  auto pi = PolicyProbabilities(scores, {2.0, 0.0});
  double z = std::exp(0.5) + std::exp(1.0) + std::exp(1.5);
  EXPECT_NEAR(pi[0], std::exp(0.5) / z, 1e-12);
  EXPECT_NEAR(pi[2], std::exp(1.5) / z, 1e-12);
  auto mixed = PolicyProbabilities(scores, {2.0, 0.3});
  EXPECT_NEAR(mixed[0], 0.7 * pi[0] + 0.1, 1e-12);
  EXPECT_NEAR(std::accumulate(mixed.begin(), mixed.end(), 0.0), 1.0, 1e-12);
}

TEST(ExplorationPolicyTest, InclusionProbabilitiesMatchExactEnumeration) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal(0.0, 2.0);
  for (int trial = 0; trial < 5; ++trial) {
    const int64_t n = 6;
    std::vector<float> scores(n);
    for (auto& s : scores) s = static_cast<float>(normal(rng));
    auto pi = PolicyProbabilities(scores, {1.0, 0.0});
    for (int64_t k = 1; k <= 4; ++k) {
      std::vector<double> exact(n, 0.0);
      std::vector<int64_t> prefix;
      Enumerate(pi, k, prefix, 1.0, exact);
      std::vector<int64_t> items(n);
      std::iota(items.begin(), items.end(), 0);
      auto computed = SlateInclusionProbabilities(pi, items, k);
      double total = 0;
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(computed[i], exact[i], 1e-7) << "trial " << trial << " k " << k << " i " << i;
        total += computed[i];
      }
      EXPECT_NEAR(total, static_cast<double>(k), 1e-6);
    }
  }
}

TEST(ExplorationPolicyTest, EmpiricalSlateFrequenciesMatchPropensities) {
  // 12 candidates, k = 3, τ = 0.7 with ε = 0.05; 40000 seeded draws.
  std::vector<float> scores = {2.1f, 1.7f, 1.5f, 1.2f, 0.9f, 0.4f, 0.0f, -0.3f, -0.8f, -1.0f, -1.5f, -2.0f};
  const PolicyParams params{0.7, 0.05};
  const int64_t k = 3, draws = 40000;
  std::mt19937_64 rng(12345);
  std::vector<int64_t> counts(scores.size(), 0);
  std::map<int64_t, double> reported;
  for (int64_t d = 0; d < draws; ++d) {
    Slate slate = Sample(scores, k, /*explore=*/true, params, rng);
    ASSERT_EQ(slate.positions.size(), 3u);
    for (size_t j = 0; j < slate.positions.size(); ++j) {
      ++counts[slate.positions[j]];
      auto [it, fresh] = reported.emplace(slate.positions[j], slate.propensities[j]);
      if (!fresh) EXPECT_NEAR(it->second, slate.propensities[j], 1e-9);  // same item, same propensity
    }
  }
  // Tolerance: 4.5 standard errors of a binomial frequency, plus 1e-3.
  for (const auto& [pos, propensity] : reported) {
    const double freq = static_cast<double>(counts[pos]) / draws;
    const double se = std::sqrt(propensity * (1 - propensity) / draws);
    EXPECT_NEAR(freq, propensity, 4.5 * se + 1e-3) << "item " << pos;
  }
  EXPECT_EQ(reported.size(), scores.size());  // with ε every item shows up
}

TEST(ExplorationPolicyTest, GreedyReturnsTopKWithPropensityOne) {
  std::vector<float> scores = {0.1f, 0.9f, 0.5f, 0.9f};
  std::mt19937_64 rng(1);
  Slate slate = Sample(scores, 3, /*explore=*/false, {1.0, 0.0}, rng);
  EXPECT_THAT(slate.positions, ::testing::ElementsAre(1, 3, 2));
  EXPECT_THAT(slate.propensities, ::testing::ElementsAre(1.0, 1.0, 1.0));
}

TEST(ExplorationPolicyTest, SlateNeverLargerThanCandidatesAndWholeSetIsCertain) {
  std::vector<float> scores = {0.3f, -0.2f};
  std::mt19937_64 rng(3);
  Slate slate = Sample(scores, 5, true, {1.0, 0.0}, rng);
  ASSERT_EQ(slate.positions.size(), 2u);
  EXPECT_DOUBLE_EQ(slate.propensities[0], 1.0);
  EXPECT_DOUBLE_EQ(slate.propensities[1], 1.0);
  EXPECT_TRUE(Sample({}, 5, true, {1.0, 0.0}, rng).positions.empty());
}

TEST(ExplorationPolicyTest, SameSeedSameSlates) {
  std::vector<float> scores = {1, 2, 3, 4, 5, 6};
  std::mt19937_64 a(99), b(99);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Sample(scores, 2, true, {1.0, 0.0}, a).positions,
              Sample(scores, 2, true, {1.0, 0.0}, b).positions);
  }
}

TEST(ExplorationPolicyTest, PeakedPolicyKeepsTinyPropensitiesAccurate) {
  // Low temperature: one item dominates; the others' inclusion is small but exact.
  std::vector<double> pi = {0.97, 0.01, 0.01, 0.005, 0.005};
  std::vector<double> exact(pi.size(), 0.0);
  std::vector<int64_t> prefix;
  Enumerate(pi, 2, prefix, 1.0, exact);
  auto computed = SlateInclusionProbabilities(pi, {0, 1, 2, 3, 4}, 2);
  for (size_t i = 0; i < pi.size(); ++i) EXPECT_NEAR(computed[i], exact[i], 1e-8);
}

// A retrieval-sized choice set (1000 candidates, k = 10): each call sees
// 990 items outside its own ten (the vectorised count distribution and
// exponential), and over all calls the propensities must add up to k, the
// expected slate size, for a flat and a peaked policy; and an item's
// propensity must not depend on which other slate items it was computed with.
TEST(ExplorationPolicyTest, PropensitiesOverAThousandCandidatesSumToTheSlateSize) {
  for (double temperature : {1.0, 0.1}) {
    std::mt19937_64 rng(5);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> scores(1000);
    for (auto& x : scores) x = normal(rng);
    const std::vector<double> pi = PolicyProbabilities(scores, {temperature, 0.0});
    double total = 0;
    for (int64_t first = 0; first < 1000; first += 10) {
      std::vector<int64_t> items(10);
      std::iota(items.begin(), items.end(), first);
      for (double p : SlateInclusionProbabilities(pi, items, 10)) total += p;
    }
    EXPECT_NEAR(total, 10.0, 1e-6) << "temperature " << temperature;
    const double alone = SlateInclusionProbabilities(pi, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, 10)[3];
    const double elsewhere = SlateInclusionProbabilities(pi, {3, 500, 501, 502, 503, 504, 505, 506, 507, 999}, 10)[0];
    EXPECT_NEAR(alone, elsewhere, 1e-9) << "temperature " << temperature;
  }
}

}  // namespace
}  // namespace rtrec::model

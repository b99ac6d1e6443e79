#include "eval/off_policy.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace rtrec::eval {
namespace {

// Four decisions, values chosen by hand (see the comments for the sums).
std::vector<LoggedDecision> HandLog() {
  //            r  p     π      q̂(a_i) v̂       w = π/p
  return {{1, 0.5, 0.25, 0.4, 0.3},     // 0.5
          {0, 0.25, 0.5, 0.2, 0.35},    // 2
          {1, 0.25, 0.125, 0.6, 0.5},   // 0.5
          {0, 0.5, 0.75, 0.1, 0.2}};    // 1.5
}

TEST(OffPolicyTest, EstimatorsMatchHandComputedValues) {
  const auto log = HandLog();
  // IPS = (1·0.5 + 0 + 1·0.5 + 0) / 4
  EXPECT_DOUBLE_EQ(Ips(log), 0.25);
  // SNIPS = 1.0 / (0.5 + 2 + 0.5 + 1.5)
  EXPECT_DOUBLE_EQ(Snips(log), 1.0 / 4.5);
  // DR = (0.3 + 0.5·0.6  +  0.35 + 2·(−0.2)  +  0.5 + 0.5·0.4  +  0.2 + 1.5·(−0.1)) / 4 = 1.3 / 4
  EXPECT_NEAR(DoublyRobust(log), 0.325, 1e-12);
  EXPECT_EQ(Ips({}), 0.0);
  EXPECT_EQ(Snips({}), 0.0);
}

TEST(OffPolicyTest, DoublyRobustWithAPerfectRewardModelIsTheModelsValue) {
  // q̂ = the true expected reward: the correction terms vanish in expectation
  // and exactly when r equals q̂.
  std::vector<LoggedDecision> log = {{0.3, 0.5, 0.2, 0.3, 0.42}, {0.7, 0.1, 0.9, 0.7, 0.42}};
  EXPECT_NEAR(DoublyRobust(log), 0.42, 1e-12);
}

TEST(OffPolicyTest, BootstrapIsSeededAndItsIntervalsCoverTheTruth) {
  const auto log = HandLog();
  const Interval a = Bootstrap(log, Ips, 500, 0.9, 7), b = Bootstrap(log, Ips, 500, 0.9, 7);
  EXPECT_EQ(a.lower, b.lower);
  EXPECT_EQ(a.upper, b.upper);
  EXPECT_EQ(a.estimate, 0.25);
  EXPECT_LE(a.lower, a.estimate);
  EXPECT_GE(a.upper, a.estimate);
  // A constant log has no spread.
  const std::vector<LoggedDecision> same(20, LoggedDecision{1, 0.5, 0.5, 0, 0});
  const Interval c = Bootstrap(same, Snips, 200, 0.95, 1);
  EXPECT_EQ(c.lower, 1.0);
  EXPECT_EQ(c.upper, 1.0);

  // Coverage: uniform logging over 4 actions with click rates 0.1..0.4, a
  // target that always plays action 3 (true value 0.4). 95 % intervals from
  // 50 seeded logs of 2000 decisions should contain 0.4 about 95 % of the time.
  int covered = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> action(0, 3);
    std::uniform_real_distribution<double> u(0, 1);
    std::vector<LoggedDecision> sim;
    for (int i = 0; i < 2000; ++i) {
      const int a = action(rng);
      LoggedDecision d;
      d.reward = u(rng) < 0.1 * (a + 1) ? 1 : 0;
      d.logging_probability = 0.25;
      d.target_probability = a == 3 ? 1.0 : 0.0;
      sim.push_back(d);
    }
    const Interval i = Bootstrap(sim, Ips, 300, 0.95, seed + 100);
    covered += i.lower <= 0.4 && 0.4 <= i.upper;
  }
  EXPECT_GE(covered, 44);  // binomial(50, 0.95): P(< 44) ≈ 0.4 %
  EXPECT_LE(covered, 50);
}

}  // namespace
}  // namespace rtrec::eval

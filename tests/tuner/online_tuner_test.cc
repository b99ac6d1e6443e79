#include "tuner/online_tuner.h"

#include <cmath>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::tuner {
namespace {

config::TunerOptions Options() {
  config::TunerOptions o;
  o.round_size = 100;
  o.initial_rounds = 3;
  o.log10_lr_min = -4;
  o.log10_lr_max = -2;
  o.exploration_min = 0;
  o.exploration_max = 0.2;
  o.max_exploration_step = 0.05;
  return o;
}

TEST(OnlineTunerTest, RoundsEndBySizeAndEachProposalIsApplied) {
  FakeClock clock;
  std::vector<std::pair<double, double>> applied;
  auto t = OnlineTuner::Create(Options(), 1e-3, 0.1,
                               [&](double lr, double eps) { applied.emplace_back(lr, eps); }, &clock);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(applied.size(), 1u);  // the initial setting, at once
  EXPECT_DOUBLE_EQ(applied[0].first, 1e-3);
  EXPECT_FALSE((*t)->RecordExamples(60, 6));
  EXPECT_TRUE((*t)->RecordExamples(40, 4));  // 100 examples: round over
  ASSERT_EQ(applied.size(), 2u);
  const TunerState s = (*t)->state();
  EXPECT_EQ(s.rounds, 1);
  ASSERT_EQ(s.history.size(), 1u);
  EXPECT_DOUBLE_EQ(s.history[0].objective, 0.1);
  EXPECT_NEAR(s.history[0].learning_rate, 1e-3, 1e-12);
  EXPECT_DOUBLE_EQ(s.best_objective, 0.1);
  EXPECT_DOUBLE_EQ(s.learning_rate, applied[1].first);
  EXPECT_GE(std::log10(applied[1].first), -4 - 1e-9);
  EXPECT_LE(std::log10(applied[1].first), -2 + 1e-9);
}

TEST(OnlineTunerTest, RoundsEndByTimeWhenConfigured) {
  FakeClock clock;
  config::TunerOptions o = Options();
  o.round_ms = 1000;
  int applied = 0;
  auto t = OnlineTuner::Create(o, 1e-3, 0.0, [&](double, double) { ++applied; }, &clock);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->RecordExamples(5, 1));
  clock.Advance(absl::Milliseconds(1000));
  EXPECT_TRUE((*t)->RecordExamples(5, 1));
  EXPECT_EQ(applied, 2);
}

// The tuner finds the better region of a known objective: reward peaks at
// lr = 10^-2.5 and ε = 0.05; exploration moves at most 0.05 per round.
TEST(OnlineTunerTest, ConvergesTowardsTheBestSettingWithBoundedExplorationSteps) {
  FakeClock clock;
  double lr = 0, eps = 0;
  auto t = OnlineTuner::Create(Options(), 1e-4, 0.2, [&](double l, double e) { lr = l; eps = e; }, &clock);
  ASSERT_TRUE(t.ok());
  double previous_eps = eps;
  for (int round = 0; round < 30; ++round) {
    const double x = std::log10(lr) + 2.5, y = (eps - 0.05) * 10;
    const double reward = 0.5 - 0.1 * x * x - 0.1 * y * y;
    (*t)->RecordExamples(100, 100 * reward);
    EXPECT_LE(std::fabs(eps - previous_eps), 0.05 + 1e-9) << "round " << round;
    previous_eps = eps;
  }
  const TunerState s = (*t)->state();
  EXPECT_NEAR(std::log10(s.best_learning_rate), -2.5, 0.35);
  EXPECT_NEAR(s.best_exploration, 0.05, 0.05);
  EXPECT_GT(s.best_objective, 0.47);
}

TEST(OnlineTunerTest, ExamplesOfTheFirstRewardWaitAreNotCounted) {
  FakeClock clock;
  int applied = 0;
  auto t = OnlineTuner::Create(Options(), 1e-3, 0.0, [&](double, double) { ++applied; }, &clock,
                               absl::Seconds(5));
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE((*t)->RecordExamples(1000, 1000));  // only clicks so far: ignored
  clock.Advance(absl::Seconds(5));
  EXPECT_FALSE((*t)->RecordExamples(60, 6));
  EXPECT_TRUE((*t)->RecordExamples(40, 4));
  EXPECT_DOUBLE_EQ((*t)->state().history[0].objective, 0.1);
}

TEST(OnlineTunerTest, RefusesAnEmptyBox) {
  FakeClock clock;
  config::TunerOptions o = Options();
  o.log10_lr_min = -2;
  o.log10_lr_max = -3;
  auto t = OnlineTuner::Create(o, 1e-3, 0.0, [](double, double) {}, &clock);
  EXPECT_THAT(std::string(t.status().message()), ::testing::HasSubstr("tuner.log10_lr_max"));
}

}  // namespace
}  // namespace rtrec::tuner

#include "state/user_state.h"

#include <cmath>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::state {
namespace {

using ::testing::ElementsAre;

TEST(UserStateTest, AppendIsVisibleAtOnceAndBounded) {
  config::UserStateOptions o;
  o.history_length = 3;
  auto users = UserState::Create(o);
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE((*users)->History("u").empty());
  for (int64_t i = 1; i <= 5; ++i) (*users)->Append("u", i).IgnoreError();
  EXPECT_THAT((*users)->History("u"), ElementsAre(3, 4, 5));
  EXPECT_TRUE((*users)->History("other").empty());
  EXPECT_EQ((*users)->num_users(), 1);
}

TEST(UserStateConcurrencyTest, AppendsFromManyThreadsAreAllKept) {
  config::UserStateOptions o;
  o.history_length = 1000;
  o.num_shards = 4;
  auto users = UserState::Create(o);
  ASSERT_TRUE(users.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        (*users)->Append("shared", t * 1000 + i).IgnoreError();
        (*users)->Append("user-" + std::to_string(t), i).IgnoreError();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ((*users)->History("shared").size(), 800u);
  for (int t = 0; t < 8; ++t) EXPECT_EQ((*users)->History("user-" + std::to_string(t)).size(), 100u);
  EXPECT_EQ((*users)->num_users(), 9);
}

TEST(UserStateTest, RefusesBadOptions) {
  config::UserStateOptions o;
  o.history_length = 0;
  EXPECT_FALSE(UserState::Create(o).ok());
}

// One click on x = (1, 0) from N(0, λ⁻¹I): the Newton step by hand is
// t = (r − p)/(λ + p(1 − p)) · x with p = σ(base_logit).
TEST(TasteTest, OneExampleIsTheNewtonStepByHand) {
  TasteEstimate t;
  const double lambda = 2.0, base = -1.5;
  UpdateTaste(&t, {1.0f, 0.0f}, base, 1.0, lambda, /*forgetting=*/1.0);
  const double p = 1.0 / (1.0 + std::exp(-base));
  ASSERT_EQ(t.mean.size(), 2u);
  EXPECT_NEAR(t.mean[0], (1.0 - p) / (lambda + p * (1 - p)), 1e-6);
  EXPECT_NEAR(t.mean[1], 0.0, 1e-7);
  EXPECT_NEAR(t.precision[0], lambda + p * (1 - p), 1e-5);
  EXPECT_NEAR(t.precision[3], lambda, 1e-6);
  // A reward above 1 counts as 1 (the reward model's target is clipped).
  TasteEstimate big;
  UpdateTaste(&big, {1.0f, 0.0f}, base, 1000.0, lambda, 1.0);
  EXPECT_FLOAT_EQ(big.mean[0], t.mean[0]);
}

// Clicks build a taste for an item; zeros then lower its score with every
// report, and forgetting lets the same zeros move it further: a change of
// taste is followed within a few examples.
TEST(TasteTest, ZerosAfterClicksLowerTheScoreAndForgettingFollowsFaster) {
  const std::vector<float> a = {1.0f, 0.5f, 0.0f};
  auto score = [&](const TasteEstimate& t) {
    double s = 0;
    for (size_t i = 0; i < a.size(); ++i) s += t.mean[i] * a[i];
    return s;
  };
  double after_zeros[2];
  const double forgetting[2] = {1.0, 0.8};
  for (int f = 0; f < 2; ++f) {
    TasteEstimate t;
    for (int i = 0; i < 10; ++i) UpdateTaste(&t, a, -2.0, 1.0, 1.0, forgetting[f]);
    double last = score(t);
    EXPECT_GT(last, 1.0);
    for (int i = 0; i < 5; ++i) {
      UpdateTaste(&t, a, -2.0, 0.0, 1.0, forgetting[f]);
      EXPECT_LT(score(t), last);
      last = score(t);
    }
    after_zeros[f] = last;
  }
  EXPECT_LT(after_zeros[1], after_zeros[0] - 0.1);
}

// The surprise of unclicked reports is the sum of the taste's P(click) over
// them, reset by a click; reaching change_surprise shrinks the precision to
// change_keep of itself plus the rest of the prior, once.
TEST(TasteTest, UnclickedSurpriseDetectsAChangeAndShrinksTheEvidence) {
  const std::vector<float> x = {1.0f, 0.0f};
  const double lambda = 1.0, surprise = 1.5, keep = 0.1;
  TasteEstimate t;
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(UpdateTaste(&t, x, 0.0, 1.0, lambda, 1.0, surprise, keep));
  }
  EXPECT_EQ(t.unclicked_surprise, 0.0);
  // The taste now predicts clicks on x: each zero adds its P(click).
  double expected_sum = 0;
  int reports = 0;
  for (;;) {
    const double p = 1.0 / (1.0 + std::exp(-(t.mean[0] * x[0])));
    const float precision_before = t.precision[0];
    const bool changed = UpdateTaste(&t, x, 0.0, 0.0, lambda, 1.0, surprise, keep);
    ++reports;
    expected_sum += p;
    if (changed) {
      EXPECT_GE(expected_sum, surprise);
      // Shrunk before this example's own curvature is added.
      EXPECT_NEAR(t.precision[0], keep * precision_before + (1 - keep) * lambda + p * (1 - p), 1e-4);
      EXPECT_NEAR(t.precision[3], lambda, 1e-6);
      EXPECT_EQ(t.unclicked_surprise, 0.0);
      break;
    }
    EXPECT_NEAR(t.unclicked_surprise, expected_sum, 1e-6);
    ASSERT_LT(reports, 10);
  }
  EXPECT_EQ(reports, 2);  // p ≈ 0.88 after 20 clicks: two zeros sum past 1.5
  // A click in between resets the sum: alternating never detects a change.
  TasteEstimate steady;
  for (int i = 0; i < 20; ++i) UpdateTaste(&steady, x, 0.0, 1.0, lambda, 1.0, surprise, keep);
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(UpdateTaste(&steady, x, 0.0, i % 2, lambda, 1.0, surprise, keep));
  }
  // 0 never detects one.
  TasteEstimate never;
  for (int i = 0; i < 20; ++i) UpdateTaste(&never, x, 0.0, 1.0, lambda, 1.0);
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(UpdateTaste(&never, x, 0.0, 0.0, lambda, 1.0));
}

// After a detected change the user tower reads only what came after it;
// History (what exclusion leaves out) keeps everything.
TEST(TasteTest, TowerHistoryRestartsAtAChangeOfTaste) {
  config::UserStateOptions o;
  o.history_length = 4;
  o.taste_prior_precision = 1.0;
  o.taste_forgetting = 1.0;
  o.taste_change_surprise = 1.5;
  auto users = UserState::Create(o, /*taste_dim=*/1);
  ASSERT_TRUE(users.ok());
  for (int64_t i = 1; i <= 3; ++i) (*users)->Append("u", i).IgnoreError();
  EXPECT_THAT((*users)->TowerHistory("u"), ElementsAre(1, 2, 3));
  for (int i = 0; i < 20; ++i) (*users)->LearnTaste("u", {1.0f}, 0.0, 1.0);
  EXPECT_EQ((*users)->taste_changes(), 0);
  (*users)->LearnTaste("u", {1.0f}, 0.0, 0.0);
  (*users)->LearnTaste("u", {1.0f}, 0.0, 0.0);
  EXPECT_EQ((*users)->taste_changes(), 1);
  EXPECT_TRUE((*users)->TowerHistory("u").empty());
  EXPECT_THAT((*users)->History("u"), ElementsAre(1, 2, 3));
  (*users)->Append("u", 7).IgnoreError();
  EXPECT_THAT((*users)->TowerHistory("u"), ElementsAre(7));
  for (int64_t i = 8; i <= 12; ++i) (*users)->Append("u", i).IgnoreError();
  EXPECT_THAT((*users)->TowerHistory("u"), ElementsAre(9, 10, 11, 12));
  EXPECT_THAT((*users)->History("u"), ElementsAre(9, 10, 11, 12));
  EXPECT_TRUE((*users)->TowerHistory("nobody").empty());

  o.taste_change_keep = 2.0;
  EXPECT_FALSE(UserState::Create(o, 1).ok());
  o.taste_change_keep = 0.02;
  o.taste_change_surprise = -1.0;
  EXPECT_FALSE(UserState::Create(o, 1).ok());
}

TEST(TasteTest, UserStateLearnsPerUserAndIgnoresOtherDimensions) {
  config::UserStateOptions o;
  auto users = UserState::Create(o, /*taste_dim=*/2);
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE((*users)->learns_taste());
  EXPECT_TRUE((*users)->Taste("u").empty());
  (*users)->LearnTaste("u", {1.0f, 0.0f}, -3.0, 1.0);
  (*users)->LearnTaste("u", {1.0f, 0.0f, 0.0f}, -3.0, 1.0);  // another width: ignored
  std::vector<float> t = (*users)->Taste("u");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_GT(t[0], 0.0f);
  EXPECT_TRUE((*users)->Taste("v").empty());
  EXPECT_TRUE((*users)->History("u").empty());  // a taste is not a history entry

  o.learn_taste = false;
  auto off = UserState::Create(o, 2);
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE((*off)->learns_taste());
  (*off)->LearnTaste("u", {1.0f, 0.0f}, -3.0, 1.0);
  EXPECT_TRUE((*off)->Taste("u").empty());

  o.learn_taste = true;
  o.taste_forgetting = 0.0;
  EXPECT_FALSE(UserState::Create(o, 2).ok());
}

}  // namespace
}  // namespace rtrec::state

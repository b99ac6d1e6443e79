#include "eval/ranking.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::eval {
namespace {

using ::testing::ElementsAre;

TEST(RankingTest, HitRateAndNdcgOnAToyCase) {
  const std::vector<int64_t> top = {5, 3, 9};
  EXPECT_EQ(RankIn(top, 5), 0);
  EXPECT_EQ(RankIn(top, 3), 1);
  EXPECT_EQ(RankIn(top, 7), -1);
  EXPECT_EQ(HitRate(1, 3), 1.0);
  EXPECT_EQ(HitRate(-1, 3), 0.0);
  EXPECT_EQ(HitRate(3, 3), 0.0);  // rank 3 is the fourth place: outside @3
  EXPECT_DOUBLE_EQ(Ndcg(0, 3), 1.0);
  EXPECT_DOUBLE_EQ(Ndcg(1, 3), 1.0 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(Ndcg(2, 3), 0.5);
  EXPECT_EQ(Ndcg(-1, 3), 0.0);
  const RankingMetrics m = Summarize({0, 1, -1, 2}, 3);
  EXPECT_EQ(m.users, 4);
  EXPECT_DOUBLE_EQ(m.hr, 0.75);
  EXPECT_DOUBLE_EQ(m.ndcg, (1.0 + 1.0 / std::log2(3.0) + 0.0 + 0.5) / 4);
}

TEST(RankingTest, LeaveOneOutHoldsOutEachUsersLastInteractionByTime) {
  const std::vector<Interaction> x = {
      {0, 10, 300}, {0, 11, 100}, {0, 12, 200},  // user 0, out of time order
      {1, 20, 5},                                // user 1: too short
      {2, 30, 7}, {2, 31, 7}, {2, 32, 7},        // user 2: ties keep file order
  };
  const auto splits = LeaveOneOut(x, 3);
  ASSERT_EQ(splits.size(), 2u);
  EXPECT_EQ(splits[0].user, 0);
  EXPECT_THAT(splits[0].train, ElementsAre(11, 12));
  EXPECT_THAT(splits[0].train_timestamps, ElementsAre(100, 200));
  EXPECT_EQ(splits[0].test_item, 10);
  EXPECT_THAT(splits[1].train, ElementsAre(30, 31));
  EXPECT_EQ(splits[1].test_item, 32);
}

TEST(RankingTest, PopularityRanksByTrainingCountsAndSkipsSeenItems) {
  std::vector<UserSplit> splits(2);
  splits[0].train = {1, 2, 2, 3};
  splits[0].test_item = 0;
  splits[1].train = {2, 3, 4};
  splits[1].test_item = 1;
  const auto counts = PopularityCounts(splits, 5);
  EXPECT_THAT(counts, ElementsAre(0, 1, 3, 2, 1));
  EXPECT_THAT(PopularityTopK(counts, {}, 3), ElementsAre(2, 3, 1));    // ties: lower index first
  EXPECT_THAT(PopularityTopK(counts, {2, 3}, 3), ElementsAre(1, 4, 0));
}

}  // namespace
}  // namespace rtrec::eval

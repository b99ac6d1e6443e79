#include "state/impression_log.h"

#include <thread>
#include <vector>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::state {
namespace {

using ::testing::HasSubstr;

Impression MakeImpression(const std::string& id, const std::string& user) {
  Impression imp;
  imp.request_id = id;
  imp.user_id = user;
  imp.context = {7, 8};
  imp.model_version = 3;
  for (int i = 0; i < 3; ++i) {
    ShownItem s;
    s.item_index = 10 + i;
    s.item_id = "item-" + std::to_string(i);
    s.propensity = 0.5 + 0.1 * i;
    s.selection_probability = 0.2;
    imp.slate.push_back(s);
  }
  return imp;
}

class ImpressionLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.reward_wait_ms = 1000;
    options_.capacity = 2;
    options_.default_reward = -0.1;
    auto log = ImpressionLog::Create(options_, &clock_, &buffer_);
    ASSERT_TRUE(log.ok());
    log_ = std::move(*log);
  }
  FakeClock clock_;
  config::ImpressionLogOptions options_;
  ExperienceBuffer buffer_{100};
  std::unique_ptr<ImpressionLog> log_;
};

TEST_F(ImpressionLogTest, JoinsFeedbackToTheLoggedPropensity) {
  log_->Record(MakeImpression("r1", "alice"));
  auto outcome = log_->Join("r1", "alice", "item-2", 1.0);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(*outcome, JoinOutcome::kJoined);
  auto learned = buffer_.PopBatch(10);
  ASSERT_EQ(learned.size(), 1u);
  const Experience* e = &learned[0];
  EXPECT_EQ(e->source, Experience::Source::kJoined);
  EXPECT_EQ(e->item_index, 12);
  EXPECT_DOUBLE_EQ(e->propensity, 0.7);
  EXPECT_DOUBLE_EQ(e->reward, 1.0);
  EXPECT_EQ(e->model_version, 3);
  EXPECT_EQ(e->slate_size, 3);
  EXPECT_THAT(e->context, ::testing::ElementsAre(7, 8));
  EXPECT_EQ(log_->stats().joined, 1);
}

TEST_F(ImpressionLogTest, RefusesUnknownRequestWrongUserAndItemOutsideSlate) {
  log_->Record(MakeImpression("r1", "alice"));
  auto unknown = log_->Join("nope", "alice", "item-0", 1.0);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("request_id"));
  auto user = log_->Join("r1", "bob", "item-0", 1.0);
  EXPECT_EQ(user.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(user.status().message()), HasSubstr("user_id"));
  auto item = log_->Join("r1", "alice", "item-9", 1.0);
  EXPECT_EQ(item.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(item.status().message()), HasSubstr("item_id"));
  EXPECT_EQ(buffer_.size(), 0);
}

TEST_F(ImpressionLogTest, ExpiryTurnsUnansweredItemsIntoDefaultRewardExamples) {
  log_->Record(MakeImpression("r1", "alice"));
  ASSERT_TRUE(log_->Join("r1", "alice", "item-1", 1.0).ok());
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_EQ(log_->ExpireDue(), 0);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(log_->ExpireDue(), 1);
  auto all = buffer_.PopBatch(10);
  ASSERT_EQ(all.size(), 3u);  // one joined + two expired
  EXPECT_EQ(all[0].source, Experience::Source::kJoined);
  EXPECT_EQ(all[1].source, Experience::Source::kExpired);
  EXPECT_DOUBLE_EQ(all[1].reward, -0.1);
  EXPECT_EQ(all[1].item_index, 10);
  EXPECT_EQ(all[2].item_index, 12);
}

TEST_F(ImpressionLogTest, LateFeedbackIsCountedAndNotLearned) {
  log_->Record(MakeImpression("r1", "alice"));
  clock_.Advance(absl::Milliseconds(1000));
  EXPECT_EQ(log_->ExpireDue(), 1);
  const int64_t examples = buffer_.size();
  auto late = log_->Join("r1", "alice", "item-0", 1.0);
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(*late, JoinOutcome::kLate);
  EXPECT_EQ(buffer_.size(), examples);
  EXPECT_EQ(log_->stats().late, 1);
  EXPECT_EQ(log_->stats().joined, 0);
  // Never logged at all: refused, naming the field.
  auto unknown = log_->Join("r9", "alice", "item-0", 1.0);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("request_id"));
}

TEST_F(ImpressionLogTest, LateFeedbackMemoryIsBounded) {
  options_.late_feedback_memory = 1;
  options_.capacity = 10;
  auto log = ImpressionLog::Create(options_, &clock_, &buffer_);
  ASSERT_TRUE(log.ok());
  (*log)->Record(MakeImpression("r1", "a"));
  (*log)->Record(MakeImpression("r2", "a"));
  clock_.Advance(absl::Milliseconds(1000));
  EXPECT_EQ((*log)->ExpireDue(), 2);
  EXPECT_EQ((*log)->Join("r1", "a", "item-0", 1).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*(*log)->Join("r2", "a", "item-0", 1), JoinOutcome::kLate);
}

TEST_F(ImpressionLogTest, FirstAggregationLearnsTheFirstRewardOnce) {
  log_->Record(MakeImpression("r1", "alice"));
  EXPECT_EQ(*log_->Join("r1", "alice", "item-1", 1.0), JoinOutcome::kJoined);
  EXPECT_EQ(*log_->Join("r1", "alice", "item-1", 5.0), JoinOutcome::kDuplicate);
  clock_.Advance(absl::Milliseconds(1000));
  log_->ExpireDue();
  auto all = buffer_.PopBatch(10);
  ASSERT_EQ(all.size(), 3u);  // item-1 once, items 0 and 2 with the default
  int joined = 0;
  for (const auto& e : all) {
    if (e.item_index == 11) {
      ++joined;
      EXPECT_DOUBLE_EQ(e.reward, 1.0);
    }
  }
  EXPECT_EQ(joined, 1);
  EXPECT_EQ(log_->stats().duplicate, 1);
}

TEST_F(ImpressionLogTest, SumAggregationLearnsTheSumWhenTheImpressionCloses) {
  options_.feedback_aggregation = "sum";
  auto log = ImpressionLog::Create(options_, &clock_, &buffer_);
  ASSERT_TRUE(log.ok());
  (*log)->Record(MakeImpression("r1", "alice"));
  EXPECT_EQ(*(*log)->Join("r1", "alice", "item-1", 1.0), JoinOutcome::kJoined);
  EXPECT_EQ(*(*log)->Join("r1", "alice", "item-1", 2.5), JoinOutcome::kDuplicate);
  EXPECT_EQ(buffer_.size(), 0);  // nothing learned before the impression closes
  EXPECT_EQ(buffer_.stats().reserved, 1);
  clock_.Advance(absl::Milliseconds(1000));
  (*log)->ExpireDue();
  auto all = buffer_.PopBatch(10);
  ASSERT_EQ(all.size(), 3u);
  int joined = 0;
  for (const auto& e : all) {
    if (e.source == Experience::Source::kJoined) {
      ++joined;
      EXPECT_EQ(e.item_index, 11);
      EXPECT_DOUBLE_EQ(e.reward, 3.5);
    } else {
      EXPECT_DOUBLE_EQ(e.reward, -0.1);
    }
  }
  EXPECT_EQ(joined, 1);
  EXPECT_EQ(buffer_.stats().reserved, 0);
}

TEST_F(ImpressionLogTest, SummedRewardsAreClampedToMaxRewardSum) {
  options_.feedback_aggregation = "sum";
  options_.max_reward_sum = 100;
  auto log = ImpressionLog::Create(options_, &clock_, &buffer_);
  ASSERT_TRUE(log.ok());
  (*log)->Record(MakeImpression("r1", "alice"));
  // A thousand reports of 1000 on one shown item; and a flood of complaints
  // on another.
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE((*log)->Join("r1", "alice", "item-1", 1000.0).ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*log)->Join("r1", "alice", "item-2", -7.0).ok());
  clock_.Advance(absl::Milliseconds(1000));
  (*log)->ExpireDue();
  for (const auto& e : buffer_.PopBatch(10)) {
    if (e.item_index == 11) EXPECT_DOUBLE_EQ(e.reward, 100.0);
    if (e.item_index == 12) EXPECT_DOUBLE_EQ(e.reward, -100.0);
  }
}

TEST(ImpressionLogBackPressureTest, FullBufferRefusesFeedbackAndChangesNothing) {
  FakeClock clock;
  ExperienceBuffer buffer(1);
  config::ImpressionLogOptions options;
  options.reward_wait_ms = 1000;
  auto log = ImpressionLog::Create(options, &clock, &buffer);
  ASSERT_TRUE(log.ok());
  (*log)->Record(MakeImpression("r1", "alice"));
  ASSERT_EQ(*(*log)->Join("r1", "alice", "item-0", 1.0), JoinOutcome::kJoined);
  auto refused = (*log)->Join("r1", "alice", "item-1", 1.0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(buffer.stats().refused, 1);
  EXPECT_EQ((*log)->stats().joined, 1);
  // Once the learner drained the buffer, the same feedback is accepted.
  ASSERT_EQ(buffer.PopBatch(10).size(), 1u);
  EXPECT_EQ(*(*log)->Join("r1", "alice", "item-1", 1.0), JoinOutcome::kJoined);
  // Unanswered examples of a closing impression that do not fit are counted.
  clock.Advance(absl::Milliseconds(1000));
  (*log)->ExpireDue();
  EXPECT_EQ(buffer.stats().dropped_unanswered, 1);
}

TEST_F(ImpressionLogTest, FullLogExpiresTheOldestEarly) {
  log_->Record(MakeImpression("r1", "a"));
  log_->Record(MakeImpression("r2", "a"));
  log_->Record(MakeImpression("r3", "a"));  // capacity 2: r1 goes
  EXPECT_EQ(log_->stats().expired, 1);
  EXPECT_EQ(log_->stats().live, 2);
  EXPECT_EQ(buffer_.size(), 3);
  EXPECT_EQ(*log_->Join("r1", "a", "item-0", 1), JoinOutcome::kLate);
  EXPECT_EQ(*log_->Join("r3", "a", "item-0", 1), JoinOutcome::kJoined);
}

TEST(ExperienceBufferTest, RefusesWhenFullAndPopsOldestFirst) {
  ExperienceBuffer buffer(2);
  for (int i = 0; i < 2; ++i) {
    Experience e;
    e.item_index = i;
    ASSERT_TRUE(buffer.TryPush(e).ok());
  }
  Experience third;
  third.item_index = 2;
  EXPECT_EQ(buffer.TryPush(third).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(buffer.Reserve().code(), absl::StatusCode::kResourceExhausted);
  auto got = buffer.PopBatch(5);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].item_index, 0);
  EXPECT_EQ(got[1].item_index, 1);
}

TEST(ExperienceBufferTest, DropOldestKeepsTheNewestAndCountsTheDrops) {
  ExperienceBuffer buffer(2, OverflowPolicy::kDropOldest);
  for (int i = 0; i < 5; ++i) {
    Experience e;
    e.item_index = i;
    ASSERT_TRUE(buffer.TryPush(e).ok());
  }
  ASSERT_TRUE(buffer.Reserve().ok());  // drops item 3 for the slot
  Experience unanswered;
  unanswered.item_index = 9;
  buffer.PushUnanswered(unanswered);  // drops item 4; the slot stays held
  const ExperienceBufferStats stats = buffer.stats();
  EXPECT_EQ(stats.refused, 0);
  EXPECT_EQ(stats.dropped_unanswered, 0);
  EXPECT_EQ(stats.discarded, 5);
  auto got = buffer.PopBatch(5);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].item_index, 9);
}

TEST(ExperienceBufferConcurrencyTest, WaitingLearnerGetsEveryExperienceExactlyOnce) {
  ExperienceBuffer buffer(64);
  constexpr int kPerProducer = 500;
  std::vector<std::thread> producers;
  for (int p = 0; p < 3; ++p) {
    producers.emplace_back([&buffer, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        Experience e;
        e.item_index = p * kPerProducer + i;
        while (!buffer.TryPush(e).ok()) std::this_thread::yield();  // back-pressure
      }
    });
  }
  std::vector<int> seen(3 * kPerProducer, 0);
  int received = 0;
  while (received < 3 * kPerProducer) {
    for (auto& e : buffer.WaitAndPopBatch(16, absl::Seconds(10), absl::Milliseconds(1))) {
      ++seen[e.item_index];
      ++received;
    }
  }
  for (auto& t : producers) t.join();
  for (int count : seen) ASSERT_EQ(count, 1);
  buffer.Close();
  EXPECT_TRUE(buffer.WaitAndPopBatch(16, absl::Seconds(10), absl::Seconds(10)).empty());
}

}  // namespace
}  // namespace rtrec::state

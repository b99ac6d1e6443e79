#include "learner/impression_log.h"

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::learner {
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
  auto e = log_->Join("r1", "alice", "item-2", 1.0);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->item_index, 12);
  EXPECT_DOUBLE_EQ(e->propensity, 0.7);
  EXPECT_DOUBLE_EQ(e->reward, 1.0);
  EXPECT_EQ(e->model_version, 3);
  EXPECT_EQ(e->slate_size, 3);
  EXPECT_THAT(e->context, ::testing::ElementsAre(7, 8));
  EXPECT_EQ(buffer_.size(), 1);
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
  EXPECT_EQ(log_->Join("r1", "alice", "item-0", 1.0).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(ImpressionLogTest, FullLogExpiresTheOldestEarly) {
  log_->Record(MakeImpression("r1", "a"));
  log_->Record(MakeImpression("r2", "a"));
  log_->Record(MakeImpression("r3", "a"));  // capacity 2: r1 goes
  EXPECT_EQ(log_->stats().expired, 1);
  EXPECT_EQ(log_->stats().live, 2);
  EXPECT_EQ(buffer_.size(), 3);
  EXPECT_FALSE(log_->Join("r1", "a", "item-0", 1).ok());
  EXPECT_TRUE(log_->Join("r3", "a", "item-0", 1).ok());
}

TEST(ExperienceBufferTest, DropsAndCountsTheOldestWhenFull) {
  ExperienceBuffer buffer(2);
  for (int i = 0; i < 3; ++i) {
    Experience e;
    e.item_index = i;
    buffer.Push(e);
  }
  EXPECT_EQ(buffer.dropped(), 1);
  auto got = buffer.PopBatch(5);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].item_index, 1);
}

}  // namespace
}  // namespace rtrec::learner

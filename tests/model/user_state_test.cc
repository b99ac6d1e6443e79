#include "model/user_state.h"

#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::model {
namespace {

using ::testing::ElementsAre;

TEST(UserStateTest, AppendIsVisibleAtOnceAndBounded) {
  config::UserStateOptions o;
  o.history_length = 3;
  auto users = UserState::Create(o);
  ASSERT_TRUE(users.ok());
  EXPECT_TRUE((*users)->History("u").empty());
  for (int64_t i = 1; i <= 5; ++i) (*users)->Append("u", i);
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
        (*users)->Append("shared", t * 1000 + i);
        (*users)->Append("user-" + std::to_string(t), i);
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

}  // namespace
}  // namespace rtrec::model

#include "model/user_state.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/status/status.h"

namespace rtrec::model {

UserState::UserState(const config::UserStateOptions& options)
    : options_(options), shards_(new Shard[options.num_shards]) {}

absl::StatusOr<std::unique_ptr<UserState>> UserState::Create(
    const config::UserStateOptions& options) {
  if (options.history_length < 1) {
    return absl::InvalidArgumentError("users.history_length: must be at least 1");
  }
  if (options.max_consumed_items < 1) {
    return absl::InvalidArgumentError("users.max_consumed_items: must be at least 1");
  }
  if (options.num_shards < 1) {
    return absl::InvalidArgumentError("users.num_shards: must be at least 1");
  }
  return std::unique_ptr<UserState>(new UserState(options));
}

UserState::Shard& UserState::ShardFor(const std::string& user_id) const {
  size_t h = absl::Hash<std::string>()(user_id);
  return shards_[h % static_cast<size_t>(options_.num_shards)];
}

void UserState::Append(const std::string& user_id, int64_t item_index) {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  User& u = shard.users[user_id];
  u.history.push_back(item_index);
  while (static_cast<int64_t>(u.history.size()) > options_.history_length) u.history.pop_front();
  if (!u.consumed.insert(item_index).second) {
    // Consumed again: it moves to the back of the order.
    u.consumed_order.erase(std::find(u.consumed_order.begin(), u.consumed_order.end(), item_index));
  }
  u.consumed_order.push_back(item_index);
  while (static_cast<int64_t>(u.consumed_order.size()) > options_.max_consumed_items) {
    u.consumed.erase(u.consumed_order.front());
    u.consumed_order.pop_front();
  }
}

std::vector<int64_t> UserState::History(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user_id);
  if (it == shard.users.end()) return {};
  return std::vector<int64_t>(it->second.history.begin(), it->second.history.end());
}

std::vector<int64_t> UserState::Consumed(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user_id);
  if (it == shard.users.end()) return {};
  return std::vector<int64_t>(it->second.consumed_order.begin(), it->second.consumed_order.end());
}

int64_t UserState::num_users() const {
  int64_t n = 0;
  for (int64_t i = 0; i < options_.num_shards; ++i) {
    rtrec::MutexLock lock(&shards_[i].mu);
    n += static_cast<int64_t>(shards_[i].users.size());
  }
  return n;
}

}  // namespace rtrec::model

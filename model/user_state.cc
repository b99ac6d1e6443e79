#include "model/user_state.h"

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
  std::deque<int64_t>& h = shard.histories[user_id];
  h.push_back(item_index);
  while (static_cast<int64_t>(h.size()) > options_.history_length) h.pop_front();
}

std::vector<int64_t> UserState::History(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  auto it = shard.histories.find(user_id);
  if (it == shard.histories.end()) return {};
  return std::vector<int64_t>(it->second.begin(), it->second.end());
}

int64_t UserState::num_users() const {
  int64_t n = 0;
  for (int64_t i = 0; i < options_.num_shards; ++i) {
    rtrec::MutexLock lock(&shards_[i].mu);
    n += static_cast<int64_t>(shards_[i].histories.size());
  }
  return n;
}

}  // namespace rtrec::model

// Per-user record of consumed items (catalog indices): the recent history,
// oldest first, bounded to users.history_length items (what the user tower
// reads), and the last users.max_consumed_items distinct items (what
// policy.exclusion "consumed" leaves out of slates). In memory.
//
// What is appended is decided by the caller (the feedback path appends only
// positive events, see RecommenderService::ProcessFeedback).
//
// An Append is visible to every History() call that starts after it returns,
// which is what makes "the very next Recommend sees the new item" hold.
//
// Thread safety: all methods may be called from any thread. Users are spread
// over users.num_shards shards, each with its own mutex held only to copy or
// append a short vector.
#ifndef RTREC_MODEL_USER_STATE_H_
#define RTREC_MODEL_USER_STATE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"
#include "config/options.h"

namespace rtrec::model {

class UserState {
 public:
  static absl::StatusOr<std::unique_ptr<UserState>> Create(
      const config::UserStateOptions& options);

  // Appends `item_index` to the user's history, dropping the oldest entry
  // when the history is full, and remembers it as consumed.
  void Append(const std::string& user_id, int64_t item_index);

  // The user's history, oldest first; empty for an unknown user.
  std::vector<int64_t> History(const std::string& user_id) const;

  // The distinct items the user consumed, at most max_consumed_items, most
  // recent last; empty for an unknown user.
  std::vector<int64_t> Consumed(const std::string& user_id) const;

  int64_t num_users() const;
  int64_t history_length() const { return options_.history_length; }

 private:
  explicit UserState(const config::UserStateOptions& options);

  struct User {
    std::deque<int64_t> history;
    // Distinct consumed items in order of their last consumption, and the
    // same set for look-ups.
    std::deque<int64_t> consumed_order;
    absl::flat_hash_set<int64_t> consumed;
  };
  struct Shard {
    mutable rtrec::Mutex mu;
    absl::flat_hash_map<std::string, User> users ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(const std::string& user_id) const;

  const config::UserStateOptions options_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace rtrec::model

#endif  // RTREC_MODEL_USER_STATE_H_

// The impression log and the reward join.
//
// Every Recommend records what was shown (request_id → user, context, slate,
// propensities, model version). Feedback quoting that request_id is joined to
// it and becomes an Experience for the learner. An impression lives for
// impressions.reward_wait_ms; when it expires, each slate item that got no
// feedback becomes an Experience with impressions.default_reward. When the log
// is full the oldest impression expires early (counted, not lost).
//
// Experiences go to an ExperienceBuffer that the learner drains. Organic
// events (feedback without request_id) enter the same buffer without a
// propensity.
//
// Thread safety: all methods of both classes may be called from any thread.
#ifndef RTREC_LEARNER_IMPRESSION_LOG_H_
#define RTREC_LEARNER_IMPRESSION_LOG_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "config/options.h"

namespace rtrec::learner {

struct ShownItem {
  int64_t item_index = 0;
  std::string item_id;
  float score = 0;
  // P(item in slate) under the logging policy.
  double propensity = 1.0;
  // π(item), the single-draw probability.
  double selection_probability = 1.0;
};

struct Impression {
  std::string request_id;
  std::string user_id;
  // Item indices the user tower saw, oldest first.
  std::vector<int64_t> context;
  std::string query;
  std::vector<ShownItem> slate;
  // Size of the candidate set the slate was drawn from.
  int64_t num_candidates = 0;
  bool explored = true;
  int64_t model_version = 0;
  absl::Time logged_at;
};

struct Experience {
  enum class Source { kJoined, kExpired, kOrganic };
  Source source = Source::kJoined;
  std::string request_id;  // empty for organic events
  std::string user_id;
  std::vector<int64_t> context;
  std::string query;
  int64_t item_index = 0;
  double reward = 0;
  // Logged policy; 1 for organic events (no propensity is known).
  double propensity = 1.0;
  double selection_probability = 1.0;
  int64_t slate_size = 1;
  int64_t model_version = 0;
  absl::Time time;
};

class ExperienceBuffer {
 public:
  explicit ExperienceBuffer(int64_t capacity) : capacity_(capacity) {}
  // Appends; when full, drops (and counts) the oldest experience.
  void Push(Experience e) ABSL_LOCKS_EXCLUDED(mu_);
  // Removes and returns up to `max` experiences, oldest first.
  std::vector<Experience> PopBatch(int64_t max) ABSL_LOCKS_EXCLUDED(mu_);
  int64_t size() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t dropped() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const int64_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<Experience> items_ ABSL_GUARDED_BY(mu_);
  int64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

struct ImpressionLogStats {
  int64_t logged = 0;
  int64_t joined = 0;    // feedback events joined to an impression
  int64_t expired = 0;   // impressions that expired (by time or capacity)
  int64_t live = 0;      // impressions waiting for feedback now
};

class ImpressionLog {
 public:
  // REQUIRES: clock and buffer outlive the log.
  static absl::StatusOr<std::unique_ptr<ImpressionLog>> Create(
      const config::ImpressionLogOptions& options, Clock* clock,
      ExperienceBuffer* buffer);

  // Stores the impression. Expires what is due first.
  void Record(Impression impression) ABSL_LOCKS_EXCLUDED(mu_);

  // Joins one feedback event. NOT_FOUND when request_id is unknown or
  // expired; INVALID_ARGUMENT naming user_id or item_id when they do not
  // match the impression. On success the experience is in the buffer and is
  // also returned.
  absl::StatusOr<Experience> Join(const std::string& request_id,
                                  const std::string& user_id,
                                  const std::string& item_id, double reward)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Expires every impression older than reward_wait_ms; returns how many.
  int64_t ExpireDue() ABSL_LOCKS_EXCLUDED(mu_);

  ImpressionLogStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  ImpressionLog(const config::ImpressionLogOptions& options, Clock* clock,
                ExperienceBuffer* buffer);
  struct Entry {
    Impression impression;
    std::vector<char> answered;  // per slate item
  };
  int64_t ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireFrontLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const config::ImpressionLogOptions options_;
  Clock* const clock_;
  ExperienceBuffer* const buffer_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // request ids in logging order, for expiry.
  std::deque<std::pair<absl::Time, std::string>> order_ ABSL_GUARDED_BY(mu_);
  ImpressionLogStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rtrec::learner

#endif  // RTREC_LEARNER_IMPRESSION_LOG_H_

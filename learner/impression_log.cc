#include "learner/impression_log.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rtrec::learner {
namespace {

// The training example of slate position `pos` of an impression.
Experience MakeExperience(const Impression& imp, size_t pos, Experience::Source source,
                          double reward, absl::Time now) {
  Experience e;
  e.source = source;
  e.request_id = imp.request_id;
  e.user_id = imp.user_id;
  e.context = imp.context;
  e.query = imp.query;
  e.item_index = imp.slate[pos].item_index;
  e.reward = reward;
  e.propensity = imp.slate[pos].propensity;
  e.selection_probability = imp.slate[pos].selection_probability;
  e.slate_size = static_cast<int64_t>(imp.slate.size());
  e.model_version = imp.model_version;
  e.time = now;
  return e;
}

}  // namespace

void ExperienceBuffer::Push(Experience e) {
  absl::MutexLock lock(&mu_);
  items_.push_back(std::move(e));
  while (static_cast<int64_t>(items_.size()) > capacity_) {
    items_.pop_front();
    ++dropped_;
  }
}

std::vector<Experience> ExperienceBuffer::PopBatch(int64_t max) {
  absl::MutexLock lock(&mu_);
  std::vector<Experience> out;
  while (!items_.empty() && static_cast<int64_t>(out.size()) < max) {
    out.push_back(std::move(items_.front()));
    items_.pop_front();
  }
  return out;
}

int64_t ExperienceBuffer::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(items_.size());
}

int64_t ExperienceBuffer::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

ImpressionLog::ImpressionLog(const config::ImpressionLogOptions& options,
                             Clock* clock, ExperienceBuffer* buffer)
    : options_(options), clock_(clock), buffer_(buffer) {}

absl::StatusOr<std::unique_ptr<ImpressionLog>> ImpressionLog::Create(
    const config::ImpressionLogOptions& options, Clock* clock,
    ExperienceBuffer* buffer) {
  if (options.capacity < 1) {
    return absl::InvalidArgumentError("impressions.capacity: must be at least 1");
  }
  if (options.reward_wait_ms < 1) {
    return absl::InvalidArgumentError("impressions.reward_wait_ms: must be at least 1");
  }
  if (clock == nullptr || buffer == nullptr) {
    return absl::InvalidArgumentError("ImpressionLog needs a clock and a buffer");
  }
  return std::unique_ptr<ImpressionLog>(new ImpressionLog(options, clock, buffer));
}

void ImpressionLog::Record(Impression impression) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  ExpireLocked(now);
  while (static_cast<int64_t>(entries_.size()) >= options_.capacity) ExpireFrontLocked();
  impression.logged_at = now;
  std::string id = impression.request_id;
  Entry entry;
  entry.answered.assign(impression.slate.size(), 0);
  entry.impression = std::move(impression);
  order_.emplace_back(now, id);
  entries_[id] = std::move(entry);
  ++stats_.logged;
}

absl::StatusOr<Experience> ImpressionLog::Join(const std::string& request_id,
                                               const std::string& user_id,
                                               const std::string& item_id,
                                               double reward) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  ExpireLocked(now);
  auto it = entries_.find(request_id);
  if (it == entries_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "request_id: '", request_id,
        "' is unknown or expired (impressions wait impressions.reward_wait_ms = ",
        options_.reward_wait_ms, " ms for feedback)"));
  }
  Entry& entry = it->second;
  const Impression& imp = entry.impression;
  if (imp.user_id != user_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "user_id: '", user_id, "' is not the user of request_id '", request_id, "'"));
  }
  size_t pos = 0;
  while (pos < imp.slate.size() && imp.slate[pos].item_id != item_id) ++pos;
  if (pos == imp.slate.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "item_id: '", item_id, "' was not in the slate of request_id '", request_id, "'"));
  }
  entry.answered[pos] = 1;
  Experience e = MakeExperience(imp, pos, Experience::Source::kJoined, reward, now);
  ++stats_.joined;
  buffer_->Push(e);
  return e;
}

int64_t ImpressionLog::ExpireDue() {
  absl::MutexLock lock(&mu_);
  return ExpireLocked(clock_->Now());
}

int64_t ImpressionLog::ExpireLocked(absl::Time now) {
  const absl::Duration wait = absl::Milliseconds(options_.reward_wait_ms);
  int64_t n = 0;
  while (!order_.empty() && order_.front().first + wait <= now) {
    ExpireFrontLocked();
    ++n;
  }
  return n;
}

void ImpressionLog::ExpireFrontLocked() {
  mu_.AssertHeld();
  if (order_.empty()) return;
  std::string id = std::move(order_.front().second);
  order_.pop_front();
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  const Entry& entry = it->second;
  const Impression& imp = entry.impression;
  const absl::Time now = clock_->Now();
  for (size_t pos = 0; pos < imp.slate.size(); ++pos) {
    if (entry.answered[pos]) continue;
    Experience e = MakeExperience(imp, pos, Experience::Source::kExpired,
                                  options_.default_reward, now);
    buffer_->Push(std::move(e));
  }
  entries_.erase(it);
  ++stats_.expired;
}

ImpressionLogStats ImpressionLog::stats() const {
  absl::MutexLock lock(&mu_);
  ImpressionLogStats s = stats_;
  s.live = static_cast<int64_t>(entries_.size());
  return s;
}

}  // namespace rtrec::learner

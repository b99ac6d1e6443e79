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
  e.candidates = imp.candidates;
  e.excluded = imp.excluded;
  e.item_index = imp.slate[pos].item_index;
  e.slate_position = static_cast<int64_t>(pos);
  e.reward = reward;
  e.propensity = imp.slate[pos].propensity;
  e.selection_probability = imp.slate[pos].selection_probability;
  e.slate_size = static_cast<int64_t>(imp.slate.size());
  e.model_version = imp.model_version;
  e.served_score = imp.slate[pos].score;
  e.served_taste_score = imp.slate[pos].taste_score;
  e.time = now;
  return e;
}

}  // namespace

RewardTotals LoggedRewards(const std::vector<Experience>& batch) {
  RewardTotals t;
  for (const auto& e : batch) {
    if (e.source == Experience::Source::kOrganic) continue;
    ++t.logged;
    t.reward_sum += e.reward;
  }
  return t;
}

absl::Status ExperienceBuffer::FullError() const {
  return absl::ResourceExhaustedError(absl::StrCat(
      "the learner is behind: ", items_.size() + reserved_,
      " experiences wait (impressions.experience_capacity = ", capacity_,
      "); retry this feedback later"));
}

bool ExperienceBuffer::MakeRoomLocked() {
  if (HasRoomLocked()) return true;
  if (overflow_ == OverflowPolicy::kRefuse) return false;
  if (!items_.empty()) {
    items_.pop_front();
    ++discarded_;
  }
  return true;
}

absl::Status ExperienceBuffer::TryPush(Experience e) {
  rtrec::MutexLock lock(&mu_);
  if (!MakeRoomLocked()) {
    ++refused_;
    return FullError();
  }
  items_.push_back(std::move(e));
  return absl::OkStatus();
}

absl::Status ExperienceBuffer::Reserve() {
  rtrec::MutexLock lock(&mu_);
  if (!MakeRoomLocked()) {
    ++refused_;
    return FullError();
  }
  ++reserved_;
  return absl::OkStatus();
}

void ExperienceBuffer::PushReserved(Experience e) {
  rtrec::MutexLock lock(&mu_);
  if (reserved_ > 0) --reserved_;
  items_.push_back(std::move(e));
}

void ExperienceBuffer::PushUnanswered(Experience e) {
  rtrec::MutexLock lock(&mu_);
  if (!MakeRoomLocked()) {
    ++dropped_unanswered_;
    return;
  }
  items_.push_back(std::move(e));
}

std::vector<Experience> ExperienceBuffer::PopLocked(int64_t max) {
  std::vector<Experience> out;
  while (!items_.empty() && static_cast<int64_t>(out.size()) < max) {
    out.push_back(std::move(items_.front()));
    items_.pop_front();
  }
  return out;
}

std::vector<Experience> ExperienceBuffer::PopBatch(int64_t max) {
  rtrec::MutexLock lock(&mu_);
  return PopLocked(max);
}

std::vector<Experience> ExperienceBuffer::WaitAndPopBatch(int64_t max, absl::Duration idle_wait,
                                                          absl::Duration fill_wait) {
  rtrec::MutexLock lock(&mu_);
  struct Want {
    const ExperienceBuffer* buffer;
    size_t n;
  };
  auto enough = +[](Want* w) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return w->buffer->closed_ || w->buffer->items_.size() >= w->n;
  };
  Want first{this, 1};
  mu_.AwaitWithTimeout(absl::Condition(enough, &first), idle_wait);
  if (!items_.empty()) {
    Want full{this, static_cast<size_t>(max)};
    mu_.AwaitWithTimeout(absl::Condition(enough, &full), fill_wait);
  }
  return PopLocked(max);
}

void ExperienceBuffer::Close() {
  rtrec::MutexLock lock(&mu_);
  closed_ = true;
}

int64_t ExperienceBuffer::size() const {
  rtrec::MutexLock lock(&mu_);
  return static_cast<int64_t>(items_.size());
}

ExperienceBufferStats ExperienceBuffer::stats() const {
  rtrec::MutexLock lock(&mu_);
  ExperienceBufferStats s;
  s.size = static_cast<int64_t>(items_.size());
  s.reserved = reserved_;
  s.capacity = capacity_;
  s.refused = refused_;
  s.dropped_unanswered = dropped_unanswered_;
  s.discarded = discarded_;
  return s;
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
  if (options.feedback_aggregation != "first" && options.feedback_aggregation != "sum") {
    return absl::InvalidArgumentError(
        "impressions.feedback_aggregation: must be \"first\" or \"sum\"");
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
  rtrec::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  ExpireLocked(now);
  while (static_cast<int64_t>(entries_.size()) >= options_.capacity) ExpireFrontLocked();
  impression.logged_at = now;
  std::string id = impression.request_id;
  Entry entry;
  entry.answered.assign(impression.slate.size(), 0);
  entry.reward_sum.assign(impression.slate.size(), 0.0);
  entry.had_positive.assign(impression.slate.size(), 0);
  entry.impression = std::move(impression);
  order_.emplace_back(now, id);
  entries_[id] = std::move(entry);
  ++stats_.logged;
}

absl::StatusOr<JoinOutcome> ImpressionLog::Join(const std::string& request_id,
                                                const std::string& user_id,
                                                const std::string& item_id, double reward,
                                                bool* first_positive, Experience* learned) {
  if (first_positive) *first_positive = false;
  rtrec::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  ExpireLocked(now);
  auto it = entries_.find(request_id);
  if (it == entries_.end()) {
    if (closed_.contains(request_id)) {
      ++stats_.late;
      return JoinOutcome::kLate;
    }
    return absl::NotFoundError(absl::StrCat(
        "request_id: '", request_id,
        "' is unknown (it was never logged, or closed long ago; impressions wait "
        "impressions.reward_wait_ms = ", options_.reward_wait_ms, " ms for feedback)"));
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
  const bool sum = options_.feedback_aggregation == "sum";
  auto note_positive = [&] {
    if (reward > 0 && !entry.had_positive[pos]) {
      entry.had_positive[pos] = 1;
      if (first_positive) *first_positive = true;
    }
  };
  if (entry.answered[pos]) {
    if (sum) entry.reward_sum[pos] += reward;
    note_positive();
    ++stats_.duplicate;
    return JoinOutcome::kDuplicate;
  }
  if (sum) {
    // The summed reward is learned when the impression closes; its slot in
    // the buffer is held from now on.
    if (auto s = buffer_->Reserve(); !s.ok()) return s;
    entry.reward_sum[pos] = reward;
  } else {
    Experience e = MakeExperience(imp, pos, Experience::Source::kJoined, reward, now);
    if (auto s = buffer_->TryPush(learned ? e : std::move(e)); !s.ok()) return s;
    if (learned) *learned = std::move(e);
  }
  entry.answered[pos] = 1;
  note_positive();
  ++stats_.joined;
  return JoinOutcome::kJoined;
}

int64_t ImpressionLog::ExpireDue() {
  rtrec::MutexLock lock(&mu_);
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
  const bool sum = options_.feedback_aggregation == "sum";
  for (size_t pos = 0; pos < imp.slate.size(); ++pos) {
    if (entry.answered[pos]) {
      if (sum) {
        buffer_->PushReserved(MakeExperience(imp, pos, Experience::Source::kJoined,
                                             entry.reward_sum[pos], now));
      }
      continue;
    }
    buffer_->PushUnanswered(MakeExperience(imp, pos, Experience::Source::kExpired,
                                           options_.default_reward, now));
  }
  entries_.erase(it);
  ++stats_.expired;
  RememberClosedLocked(id);
}

void ImpressionLog::RememberClosedLocked(const std::string& request_id) {
  if (options_.late_feedback_memory <= 0) return;
  closed_order_.push_back(request_id);
  closed_.insert(request_id);
  while (static_cast<int64_t>(closed_order_.size()) > options_.late_feedback_memory) {
    closed_.erase(closed_order_.front());
    closed_order_.pop_front();
  }
}

ImpressionLogStats ImpressionLog::stats() const {
  rtrec::MutexLock lock(&mu_);
  ImpressionLogStats s = stats_;
  s.live = static_cast<int64_t>(entries_.size());
  return s;
}

}  // namespace rtrec::learner

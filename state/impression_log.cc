#include "state/impression_log.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "common/refusal.h"
#include "common/logging.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rtrec/storage/v1/state.pb.h"
#include "storage/state_keys.h"

namespace rtrec::state {
namespace {

std::string EncodeImpression(const Impression& imp) {
  storage::v1::ImpressionRecord r;
  r.set_request_id(imp.request_id);
  r.set_user_id(imp.user_id);
  r.mutable_context()->Add(imp.context.begin(), imp.context.end());
  r.set_query(imp.query);
  for (const auto& s : imp.slate) {
    auto* o = r.add_slate();
    o->set_item_index(s.item_index);
    o->set_item_id(s.item_id);
    o->set_score(s.score);
    o->set_taste_score(s.taste_score);
    o->set_propensity(s.propensity);
    o->set_selection_probability(s.selection_probability);
  }
  r.set_num_candidates(imp.num_candidates);
  r.mutable_candidates()->Add(imp.candidates.begin(), imp.candidates.end());
  r.mutable_excluded()->Add(imp.excluded.begin(), imp.excluded.end());
  r.set_explored(imp.explored);
  r.set_model_version(imp.model_version);
  r.set_logged_at_unix_us(absl::ToUnixMicros(imp.logged_at));
  return r.SerializeAsString();
}

absl::StatusOr<Impression> DecodeImpression(std::string_view bytes) {
  storage::v1::ImpressionRecord r;
  if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("not an impression record");
  }
  Impression imp;
  imp.request_id = r.request_id();
  imp.user_id = r.user_id();
  imp.context.assign(r.context().begin(), r.context().end());
  imp.query = r.query();
  for (const auto& s : r.slate()) {
    ShownItem o;
    o.item_index = s.item_index();
    o.item_id = s.item_id();
    o.score = s.score();
    o.taste_score = s.taste_score();
    o.propensity = s.propensity();
    o.selection_probability = s.selection_probability();
    imp.slate.push_back(std::move(o));
  }
  imp.num_candidates = r.num_candidates();
  imp.candidates.assign(r.candidates().begin(), r.candidates().end());
  imp.excluded.assign(r.excluded().begin(), r.excluded().end());
  imp.explored = r.explored();
  imp.model_version = r.model_version();
  imp.logged_at = absl::FromUnixMicros(r.logged_at_unix_us());
  return imp;
}

absl::Status UnreadableRecord(std::string_view key, const absl::Status& why) {
  std::string printable;
  for (char c : key) printable.push_back(c == '\0' ? '|' : c);
  return absl::InternalError(absl::StrCat("storage: record '", printable, "' is unreadable (",
                                          why.message(), "); the store is damaged or foreign"));
}

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

std::string EncodeExperience(const Experience& e) {
  storage::v1::ExperienceRecord r;
  r.set_source(static_cast<int>(e.source));
  r.set_request_id(e.request_id);
  r.set_user_id(e.user_id);
  r.mutable_context()->Add(e.context.begin(), e.context.end());
  r.set_query(e.query);
  r.mutable_candidates()->Add(e.candidates.begin(), e.candidates.end());
  r.mutable_excluded()->Add(e.excluded.begin(), e.excluded.end());
  r.set_item_index(e.item_index);
  r.set_slate_position(e.slate_position);
  r.set_reward(e.reward);
  r.set_propensity(e.propensity);
  r.set_selection_probability(e.selection_probability);
  r.set_slate_size(e.slate_size);
  r.set_model_version(e.model_version);
  r.set_served_score(e.served_score);
  r.set_served_taste_score(e.served_taste_score);
  r.set_time_unix_us(absl::ToUnixMicros(e.time));
  return r.SerializeAsString();
}

absl::StatusOr<Experience> DecodeExperience(std::string_view bytes) {
  storage::v1::ExperienceRecord r;
  if (!r.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())) || r.source() < 0 ||
      r.source() > static_cast<int>(Experience::Source::kOrganic)) {
    return absl::DataLossError("not an experience record");
  }
  Experience e;
  e.source = static_cast<Experience::Source>(r.source());
  e.request_id = r.request_id();
  e.user_id = r.user_id();
  e.context.assign(r.context().begin(), r.context().end());
  e.query = r.query();
  e.candidates.assign(r.candidates().begin(), r.candidates().end());
  e.excluded.assign(r.excluded().begin(), r.excluded().end());
  e.item_index = r.item_index();
  e.slate_position = r.slate_position();
  e.reward = r.reward();
  e.propensity = r.propensity();
  e.selection_probability = r.selection_probability();
  e.slate_size = r.slate_size();
  e.model_version = r.model_version();
  e.served_score = r.served_score();
  e.served_taste_score = r.served_taste_score();
  e.time = absl::FromUnixMicros(r.time_unix_us());
  return e;
}

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
  return WithReason(WithRetryAfter(absl::ResourceExhaustedError(absl::StrCat(
                                        "the learner is behind: ", items_.size() + reserved_,
                                        " experiences wait (impressions.experience_capacity = ",
                                        capacity_, "); retry this feedback later")),
                                    absl::Seconds(1)),
                    reason::kLearnerBehind);
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

void ExperienceBuffer::AppendLocked(Experience e, storage::WriteBatch* journal) {
  e.seq = next_seq_++;
  // A buffer that drops its oldest (no learner) keeps nothing durable.
  if (journal != nullptr && overflow_ == OverflowPolicy::kRefuse) {
    journal->Put(storage::ExperienceKey(e.seq), EncodeExperience(e));
  }
  items_.push_back(std::move(e));
}

absl::Status ExperienceBuffer::TryPush(Experience e, storage::WriteBatch* journal) {
  rtrec::MutexLock lock(&mu_);
  if (!MakeRoomLocked()) {
    ++refused_;
    return FullError();
  }
  AppendLocked(std::move(e), journal);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ExperienceBuffer::Restore(storage::StateStore* store,
                                                  uint64_t learned_through) {
  std::vector<Experience> restored;
  uint64_t last = learned_through;
  absl::Status bad;
  auto scanned = store->Scan(storage::kExperiencePrefix, [&](std::string_view key,
                                                             std::string_view value) {
    if (key.size() != 10) {
      bad = UnreadableRecord(key, absl::DataLossError("bad key"));
      return false;
    }
    const uint64_t seq = storage::DecodeUint64(key.substr(2));
    last = std::max(last, seq);
    if (seq <= learned_through) return true;
    auto e = DecodeExperience(value);
    if (!e.ok()) {
      bad = UnreadableRecord(key, e.status());
      return false;
    }
    e->seq = seq;
    restored.push_back(std::move(*e));
    return true;
  });
  if (!scanned.ok()) return scanned;
  if (!bad.ok()) return bad;
  storage::WriteBatch learned;
  learned.DeleteRange(storage::ExperienceKey(0), storage::ExperienceKey(learned_through + 1));
  if (auto s = store->Write(learned); !s.ok()) return s;
  rtrec::MutexLock lock(&mu_);
  const int64_t n = static_cast<int64_t>(restored.size());
  for (auto& e : restored) items_.push_back(std::move(e));
  next_seq_ = std::max(next_seq_, last + 1);
  return n;
}

void ExperienceBuffer::RestoreReserved(int64_t n) {
  rtrec::MutexLock lock(&mu_);
  reserved_ += n;
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

void ExperienceBuffer::PushReserved(Experience e, storage::WriteBatch* journal) {
  rtrec::MutexLock lock(&mu_);
  if (reserved_ > 0) --reserved_;
  AppendLocked(std::move(e), journal);
}

void ExperienceBuffer::PushUnanswered(Experience e, storage::WriteBatch* journal) {
  rtrec::MutexLock lock(&mu_);
  if (!MakeRoomLocked()) {
    ++dropped_unanswered_;
    return;
  }
  AppendLocked(std::move(e), journal);
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
  if (store_) journal_.Put(storage::ImpressionKey(id), EncodeImpression(impression));
  entry.impression = std::move(impression);
  order_.emplace_back(now, id);
  entries_[id] = std::move(entry);
  ++stats_.logged;
  // An impression that cannot be written is still served; its feedback
  // after a restart would be answered NOT_FOUND.
  if (auto s = WriteJournalLocked(); !s.ok()) {
    logging::Error("impressions", absl::StrCat("impression ", id, " not stored: ", s.message()));
  }
}

double ImpressionLog::ClampedSum(double sum, double reward) const {
  return std::clamp(sum + reward, -options_.max_reward_sum, options_.max_reward_sum);
}

void ImpressionLog::AttachStore(storage::StateStore* store) {
  rtrec::MutexLock lock(&mu_);
  store_ = store;
}

absl::Status ImpressionLog::WriteJournalLocked() {
  if (store_ == nullptr || journal_.empty()) return absl::OkStatus();
  absl::Status s = store_->Write(journal_);
  journal_ = storage::WriteBatch();
  return s;
}

void ImpressionLog::ReplayFeedbackLocked(Entry& entry, size_t pos, double reward) {
  const bool sum = options_.feedback_aggregation == "sum";
  if (!entry.answered[pos]) {
    entry.answered[pos] = 1;
    entry.reward_sum[pos] = reward;
    if (sum) buffer_->RestoreReserved(1);
  } else if (sum) {
    entry.reward_sum[pos] = ClampedSum(entry.reward_sum[pos], reward);
  }
  if (reward > 0) entry.had_positive[pos] = 1;
}

absl::StatusOr<int64_t> ImpressionLog::Restore() {
  rtrec::MutexLock lock(&mu_);
  if (store_ == nullptr) return 0;
  absl::Status bad;
  std::vector<std::pair<absl::Time, std::string>> order;
  auto scanned = store_->Scan(storage::kImpressionPrefix, [&](std::string_view key,
                                                              std::string_view value) {
    auto imp = DecodeImpression(value);
    if (!imp.ok()) {
      bad = UnreadableRecord(key, imp.status());
      return false;
    }
    Entry entry;
    entry.answered.assign(imp->slate.size(), 0);
    entry.reward_sum.assign(imp->slate.size(), 0.0);
    entry.had_positive.assign(imp->slate.size(), 0);
    order.emplace_back(imp->logged_at, imp->request_id);
    entry.impression = std::move(*imp);
    entries_[entry.impression.request_id] = std::move(entry);
    return true;
  });
  if (!scanned.ok()) return scanned;
  if (!bad.ok()) return bad;
  storage::WriteBatch orphans;  // feedback of impressions that closed
  scanned = store_->Scan(storage::kFeedbackPrefix, [&](std::string_view key, std::string_view value) {
    const size_t zero = key.find('\0', 2);
    storage::v1::FeedbackRecord r;
    if (zero == std::string_view::npos || key.size() != zero + 9 ||
        !r.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      bad = UnreadableRecord(key, absl::DataLossError("not a feedback record"));
      return false;
    }
    next_feedback_seq_ = std::max(next_feedback_seq_, storage::DecodeUint64(key.substr(zero + 1)) + 1);
    auto it = entries_.find(std::string(key.substr(2, zero - 2)));
    if (it == entries_.end() || r.slate_position() < 0 ||
        static_cast<size_t>(r.slate_position()) >= it->second.answered.size()) {
      orphans.Delete(std::string(key));
      return true;
    }
    ReplayFeedbackLocked(it->second, static_cast<size_t>(r.slate_position()), r.reward());
    return true;
  });
  if (!scanned.ok()) return scanned;
  if (!bad.ok()) return bad;
  if (auto s = store_->Write(orphans); !s.ok()) return s;
  std::sort(order.begin(), order.end());
  for (auto& o : order) order_.push_back(std::move(o));
  return static_cast<int64_t>(order.size());
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
    WriteJournalLocked().IgnoreError();  // what expired on the way
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
  storage::WriteBatch* journal = store_ ? &journal_ : nullptr;
  // The event itself, so that a restart rebuilds the join (a duplicate only
  // matters under "sum", or when it is the first positive one).
  auto journal_event = [&] {
    if (journal == nullptr) return;
    storage::v1::FeedbackRecord r;
    r.set_slate_position(static_cast<int32_t>(pos));
    r.set_reward(reward);
    journal->Put(storage::FeedbackKey(request_id, next_feedback_seq_++), r.SerializeAsString());
  };
  if (entry.answered[pos]) {
    if (sum) entry.reward_sum[pos] = ClampedSum(entry.reward_sum[pos], reward);
    if (sum || (reward > 0 && !entry.had_positive[pos])) journal_event();
    note_positive();
    ++stats_.duplicate;
    if (auto s = WriteJournalLocked(); !s.ok()) return s;
    return JoinOutcome::kDuplicate;
  }
  if (sum) {
    // The summed reward is learned when the impression closes; its slot in
    // the buffer is held from now on.
    if (auto s = buffer_->Reserve(); !s.ok()) {
      WriteJournalLocked().IgnoreError();  // what expired on the way
      return s;
    }
    entry.reward_sum[pos] = ClampedSum(0.0, reward);
  } else {
    Experience e = MakeExperience(imp, pos, Experience::Source::kJoined, reward, now);
    if (auto s = buffer_->TryPush(learned ? e : std::move(e), journal); !s.ok()) {
      WriteJournalLocked().IgnoreError();
      return s;
    }
    if (learned) *learned = std::move(e);
  }
  journal_event();
  entry.answered[pos] = 1;
  note_positive();
  ++stats_.joined;
  if (auto s = WriteJournalLocked(); !s.ok()) return s;
  return JoinOutcome::kJoined;
}

int64_t ImpressionLog::ExpireDue() {
  rtrec::MutexLock lock(&mu_);
  const int64_t n = ExpireLocked(clock_->Now());
  if (auto s = WriteJournalLocked(); !s.ok()) {
    logging::Error("impressions", absl::StrCat("closing impressions not stored: ", s.message()));
  }
  return n;
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
  storage::WriteBatch* journal = store_ ? &journal_ : nullptr;
  for (size_t pos = 0; pos < imp.slate.size(); ++pos) {
    if (entry.answered[pos]) {
      if (sum) {
        buffer_->PushReserved(MakeExperience(imp, pos, Experience::Source::kJoined,
                                             entry.reward_sum[pos], now),
                              journal);
      }
      continue;
    }
    buffer_->PushUnanswered(MakeExperience(imp, pos, Experience::Source::kExpired,
                                           options_.default_reward, now),
                            journal);
  }
  if (journal) {
    journal->Delete(storage::ImpressionKey(id));
    const std::string prefix = storage::FeedbackKeyPrefix(id);
    journal->DeleteRange(prefix, storage::PrefixEnd(prefix));
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

}  // namespace rtrec::state

#include "state/user_state.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/logging.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rtrec/storage/v1/state.pb.h"
#include "storage/state_keys.h"

namespace rtrec::state {
namespace {

std::string EncodeTaste(const TasteEstimate& taste) {
  storage::v1::UserTasteRecord t;
  t.mutable_mean()->Add(taste.mean.begin(), taste.mean.end());
  t.mutable_precision()->Add(taste.precision.begin(), taste.precision.end());
  t.set_unclicked_surprise(taste.unclicked_surprise);
  return t.SerializeAsString();
}

}  // namespace

namespace {

// Overwrites the lower triangle of a symmetric positive definite n×n A
// (row-major) with its Cholesky factor L (A = L·Lᵀ). False when A is not
// positive definite in floating point.
bool Cholesky(std::vector<double>& a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (int64_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    if (!(d > 0)) return false;
    const double l = std::sqrt(d);
    a[j * n + j] = l;
    for (int64_t i = j + 1; i < n; ++i) {
      double s = a[i * n + j];
      for (int64_t k = 0; k < j; ++k) s -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = s / l;
    }
  }
  return true;
}

// Solves Lᵀ·v = b in place, L from Cholesky().
void SolveUpperTransposed(const std::vector<double>& a, int64_t n, std::vector<double>& b) {
  for (int64_t i = n - 1; i >= 0; --i) {
    double s = b[i];
    for (int64_t k = i + 1; k < n; ++k) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
}

// Solves A·v = b in place for a symmetric positive definite A (overwritten
// by its Cholesky factor). False when A is not positive definite.
bool CholeskySolve(std::vector<double>& a, int64_t n, std::vector<double>& b) {
  if (!Cholesky(a, n)) return false;
  for (int64_t i = 0; i < n; ++i) {  // L y = b
    double s = b[i];
    for (int64_t k = 0; k < i; ++k) s -= a[i * n + k] * b[k];
    b[i] = s / a[i * n + i];
  }
  SolveUpperTransposed(a, n, b);  // Lᵀ v = y
  return true;
}

}  // namespace

bool UpdateTaste(TasteEstimate* taste, const std::vector<float>& x, double base_logit,
                 double reward, double prior_precision, double forgetting,
                 double change_surprise, double change_keep) {
  const int64_t d = static_cast<int64_t>(x.size());
  if (taste->mean.empty()) {
    taste->mean.assign(d, 0.0f);
    taste->precision.assign(d * d, 0.0f);
    for (int64_t i = 0; i < d; ++i) taste->precision[i * d + i] = static_cast<float>(prior_precision);
  }
  double z = base_logit;
  for (int64_t i = 0; i < d; ++i) z += static_cast<double>(taste->mean[i]) * x[i];
  const double p = 1.0 / (1.0 + std::exp(-z));
  const double h = p * (1.0 - p);
  const double r = std::clamp(reward, 0.0, 1.0);
  bool changed = false;
  if (change_surprise > 0) {
    taste->unclicked_surprise = r > 0 ? 0.0 : taste->unclicked_surprise + p;
    if (taste->unclicked_surprise >= change_surprise) {
      // A change of taste: the evidence behind the taste mostly goes; the
      // next examples move it as a new user's do.
      taste->unclicked_surprise = 0;
      for (auto& v : taste->precision) v = static_cast<float>(v * change_keep);
      for (int64_t i = 0; i < d; ++i) {
        taste->precision[i * d + i] += static_cast<float>((1.0 - change_keep) * prior_precision);
      }
      changed = true;
    }
  }
  std::vector<double> a(d * d);
  std::vector<double> g(d);
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < d; ++j) {
      double v = forgetting * taste->precision[i * d + j] + h * x[i] * x[j];
      if (i == j) v += (1.0 - forgetting) * prior_precision;
      a[i * d + j] = v;
      taste->precision[i * d + j] = static_cast<float>(v);
    }
    g[i] = (r - p) * x[i];
  }
  if (!CholeskySolve(a, d, g)) return changed;
  for (int64_t i = 0; i < d; ++i) {
    if (!std::isfinite(g[i])) return changed;
  }
  for (int64_t i = 0; i < d; ++i) taste->mean[i] += static_cast<float>(g[i]);
  return changed;
}

UserState::UserState(const config::UserStateOptions& options, int64_t taste_dim,
                     storage::StateStore* store)
    : options_(options),
      taste_dim_(options.learn_taste ? taste_dim : 0),
      store_(store),
      users_per_shard_(std::max<int64_t>(
          1, (options.max_cached_users + options.num_shards - 1) / options.num_shards)),
      shards_(new Shard[options.num_shards]) {}

absl::StatusOr<std::unique_ptr<UserState>> UserState::Create(
    const config::UserStateOptions& options, int64_t taste_dim, storage::StateStore* store) {
  if (options.max_cached_users < 1) {
    return absl::InvalidArgumentError("users.max_cached_users: must be at least 1");
  }
  if (options.history_length < 1) {
    return absl::InvalidArgumentError("users.history_length: must be at least 1");
  }
  if (options.max_consumed_items < 1) {
    return absl::InvalidArgumentError("users.max_consumed_items: must be at least 1");
  }
  if (options.num_shards < 1) {
    return absl::InvalidArgumentError("users.num_shards: must be at least 1");
  }
  if (!(options.taste_prior_precision > 0)) {
    return absl::InvalidArgumentError("users.taste_prior_precision: must be positive");
  }
  if (!(options.taste_change_surprise >= 0)) {
    return absl::InvalidArgumentError("users.taste_change_surprise: must not be negative");
  }
  if (!(options.taste_change_keep >= 0 && options.taste_change_keep <= 1)) {
    return absl::InvalidArgumentError("users.taste_change_keep: must be in [0, 1]");
  }
  if (!(options.taste_forgetting > 0 && options.taste_forgetting <= 1)) {
    return absl::InvalidArgumentError("users.taste_forgetting: must be in (0, 1]");
  }
  if (taste_dim < 0) return absl::InvalidArgumentError("UserState: taste_dim must not be negative");
  return std::unique_ptr<UserState>(new UserState(options, taste_dim, store));
}

UserState::Shard& UserState::ShardFor(const std::string& user_id) const {
  size_t h = absl::Hash<std::string>()(user_id);
  return shards_[h % static_cast<size_t>(options_.num_shards)];
}

namespace {

void LogUnreadable(const std::string& key, const char* what) {
  logging::Warning("users", absl::StrCat("storage record '", key, "' is not a ", what,
                                         "; the user starts afresh"));
}

}  // namespace

UserState::User* UserState::FindLocked(Shard& shard, const std::string& user_id,
                                       bool create) const {
  auto it = shard.users.find(user_id);
  if (it != shard.users.end()) {
    shard.recency.splice(shard.recency.begin(), shard.recency, it->second.recency);
    return &it->second;
  }
  User loaded;
  bool found = false;
  if (store_ != nullptr) {
    const std::string hkey = storage::HistoryKey(user_id);
    auto history = store_->Get(hkey);
    storage::v1::UserHistoryRecord h;
    if (!history.ok()) {
      logging::Error("users", history.status().message());
    } else if (history->has_value()) {
      if (h.ParseFromString(**history)) {
        found = true;
        loaded.history.assign(h.history().begin(), h.history().end());
        loaded.since_change = h.since_change();
        loaded.consumed_order.assign(h.consumed_order().begin(), h.consumed_order().end());
        loaded.consumed.insert(h.consumed_order().begin(), h.consumed_order().end());
      } else {
        LogUnreadable(hkey, "user history");
      }
    }
    const std::string tkey = storage::TasteKey(user_id);
    auto taste = taste_dim_ > 0 ? store_->Get(tkey) : absl::StatusOr<std::optional<std::string>>();
    storage::v1::UserTasteRecord t;
    if (taste.ok() && taste->has_value()) {
      if (t.ParseFromString(**taste) && t.mean_size() == taste_dim_ &&
          t.precision_size() == taste_dim_ * taste_dim_) {
        found = true;
        loaded.taste.mean.assign(t.mean().begin(), t.mean().end());
        loaded.taste.precision.assign(t.precision().begin(), t.precision().end());
        loaded.taste.unclicked_surprise = t.unclicked_surprise();
      } else {
        LogUnreadable(tkey, "taste of this model's width");
      }
    }
  }
  if (!found && !create) return nullptr;
  shard.recency.push_front(user_id);
  loaded.recency = shard.recency.begin();
  shard.users.emplace(user_id, std::move(loaded));
  while (static_cast<int64_t>(shard.users.size()) > users_per_shard_) {
    const std::string& victim = shard.recency.back();
    auto v = shard.users.find(victim);
    if (v->second.taste_dirty && store_ != nullptr) {
      storage::WriteBatch batch;
      batch.Put(storage::TasteKey(victim), EncodeTaste(v->second.taste));
      if (auto s = store_->Write(batch); !s.ok()) {
        logging::Error("users", s.message());
      }
    }
    shard.dirty_tastes.erase(victim);
    shard.users.erase(v);
    shard.recency.pop_back();
    evicted_.fetch_add(1, std::memory_order_relaxed);
  }
  return &shard.users.find(user_id)->second;
}

absl::Status UserState::WriteHistoryLocked(const std::string& user_id, const User& u) const {
  if (store_ == nullptr) return absl::OkStatus();
  storage::v1::UserHistoryRecord h;
  h.mutable_history()->Add(u.history.begin(), u.history.end());
  h.set_since_change(u.since_change);
  h.mutable_consumed_order()->Add(u.consumed_order.begin(), u.consumed_order.end());
  storage::WriteBatch batch;
  batch.Put(storage::HistoryKey(user_id), h.SerializeAsString());
  return store_->Write(batch);
}

absl::StatusOr<int64_t> UserState::FlushTastes() {
  if (store_ == nullptr) return 0;
  int64_t n = 0;
  for (int64_t i = 0; i < options_.num_shards; ++i) {
    Shard& shard = shards_[i];
    storage::WriteBatch batch;
    {
      rtrec::MutexLock lock(&shard.mu);
      for (const std::string& id : shard.dirty_tastes) {
        auto it = shard.users.find(id);
        if (it == shard.users.end()) continue;
        batch.Put(storage::TasteKey(id), EncodeTaste(it->second.taste));
        it->second.taste_dirty = false;
      }
      shard.dirty_tastes.clear();
      // Written under the lock: a later change is not overtaken by this one.
      if (auto s = store_->Write(batch); !s.ok()) return s;
    }
    n += static_cast<int64_t>(batch.size());
  }
  return n;
}

absl::Status UserState::Append(const std::string& user_id, int64_t item_index) {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  User& u = *FindLocked(shard, user_id, /*create=*/true);
  u.history.push_back(item_index);
  while (static_cast<int64_t>(u.history.size()) > options_.history_length) u.history.pop_front();
  if (u.since_change >= 0) {
    u.since_change = std::min<int64_t>(u.since_change + 1, static_cast<int64_t>(u.history.size()));
  }
  if (!u.consumed.insert(item_index).second) {
    // Consumed again: it moves to the back of the order.
    u.consumed_order.erase(std::find(u.consumed_order.begin(), u.consumed_order.end(), item_index));
  }
  u.consumed_order.push_back(item_index);
  while (static_cast<int64_t>(u.consumed_order.size()) > options_.max_consumed_items) {
    u.consumed.erase(u.consumed_order.front());
    u.consumed_order.pop_front();
  }
  return WriteHistoryLocked(user_id, u);
}

std::vector<int64_t> UserState::History(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  const User* u = FindLocked(shard, user_id, /*create=*/false);
  if (u == nullptr) return {};
  return std::vector<int64_t>(u->history.begin(), u->history.end());
}

std::vector<int64_t> UserState::TowerHistory(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  const User* found = FindLocked(shard, user_id, /*create=*/false);
  if (found == nullptr) return {};
  const User& u = *found;
  const int64_t n = u.since_change < 0 ? static_cast<int64_t>(u.history.size()) : u.since_change;
  return std::vector<int64_t>(u.history.end() - n, u.history.end());
}

std::vector<int64_t> UserState::Consumed(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  const User* u = FindLocked(shard, user_id, /*create=*/false);
  if (u == nullptr) return {};
  return std::vector<int64_t>(u->consumed_order.begin(), u->consumed_order.end());
}

std::vector<float> UserState::Taste(const std::string& user_id) const {
  if (taste_dim_ == 0) return {};
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  const User* u = FindLocked(shard, user_id, /*create=*/false);
  if (u == nullptr) return {};
  return u->taste.mean;
}

void UserState::LearnTaste(const std::string& user_id, const std::vector<float>& x,
                           double base_logit, double reward) {
  if (taste_dim_ == 0 || static_cast<int64_t>(x.size()) != taste_dim_ || !std::isfinite(base_logit)) {
    return;
  }
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  User& u = *FindLocked(shard, user_id, /*create=*/true);
  const bool changed =
      UpdateTaste(&u.taste, x, base_logit, reward, options_.taste_prior_precision,
                  options_.taste_forgetting, options_.taste_change_surprise, options_.taste_change_keep);
  if (store_ != nullptr && !u.taste_dirty) {
    u.taste_dirty = true;
    shard.dirty_tastes.insert(user_id);
  }
  if (changed) {
    u.since_change = 0;
    taste_changes_.fetch_add(1, std::memory_order_relaxed);
    if (auto s = WriteHistoryLocked(user_id, u); !s.ok()) {
      logging::Error("users", s.message());
    }
  }
}

int64_t UserState::num_users() const {
  int64_t n = 0;
  for (int64_t i = 0; i < options_.num_shards; ++i) {
    rtrec::MutexLock lock(&shards_[i].mu);
    n += static_cast<int64_t>(shards_[i].users.size());
  }
  return n;
}

}  // namespace rtrec::state

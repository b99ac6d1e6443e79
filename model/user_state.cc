#include "model/user_state.h"

#include <algorithm>
#include <cmath>

#include "absl/hash/hash.h"
#include "absl/status/status.h"

namespace rtrec::model {

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

UserState::UserState(const config::UserStateOptions& options, int64_t taste_dim)
    : options_(options),
      taste_dim_(options.learn_taste ? taste_dim : 0),
      shards_(new Shard[options.num_shards]) {}

absl::StatusOr<std::unique_ptr<UserState>> UserState::Create(
    const config::UserStateOptions& options, int64_t taste_dim) {
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
  return std::unique_ptr<UserState>(new UserState(options, taste_dim));
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
}

std::vector<int64_t> UserState::History(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user_id);
  if (it == shard.users.end()) return {};
  return std::vector<int64_t>(it->second.history.begin(), it->second.history.end());
}

std::vector<int64_t> UserState::TowerHistory(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user_id);
  if (it == shard.users.end()) return {};
  const User& u = it->second;
  const int64_t n = u.since_change < 0 ? static_cast<int64_t>(u.history.size()) : u.since_change;
  return std::vector<int64_t>(u.history.end() - n, u.history.end());
}

std::vector<int64_t> UserState::Consumed(const std::string& user_id) const {
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user_id);
  if (it == shard.users.end()) return {};
  return std::vector<int64_t>(it->second.consumed_order.begin(), it->second.consumed_order.end());
}

std::vector<float> UserState::Taste(const std::string& user_id) const {
  if (taste_dim_ == 0) return {};
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user_id);
  if (it == shard.users.end()) return {};
  return it->second.taste.mean;
}

void UserState::LearnTaste(const std::string& user_id, const std::vector<float>& x,
                           double base_logit, double reward) {
  if (taste_dim_ == 0 || static_cast<int64_t>(x.size()) != taste_dim_ || !std::isfinite(base_logit)) {
    return;
  }
  Shard& shard = ShardFor(user_id);
  rtrec::MutexLock lock(&shard.mu);
  User& u = shard.users[user_id];
  if (UpdateTaste(&u.taste, x, base_logit, reward, options_.taste_prior_precision,
                  options_.taste_forgetting, options_.taste_change_surprise, options_.taste_change_keep)) {
    u.since_change = 0;
    taste_changes_.fetch_add(1, std::memory_order_relaxed);
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

}  // namespace rtrec::model

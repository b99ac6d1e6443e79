// Per-user record of consumed items (catalog indices): the recent history,
// oldest first, bounded to users.history_length items (what the user tower
// reads), and the last users.max_consumed_items distinct items (what
// policy.exclusion "consumed" leaves out of slates); and the user's taste
// vector t_u, learned from the user's own joined feedback. In memory.
//
// Taste (users.learn_taste): serving adds t_u to the user state u, so an
// item scores (u + t_u) · e_i + b_i. t_u is the mean of a Gaussian posterior
// N(t_u, P⁻¹) of a Bayesian logistic regression
//   P(reward > 0) = σ(z + t · x),
// x the item's vector e_i and z the rest of the reward logit (the model's
// score without the taste, plus the slate position's offset), updated at
// each joined example by one online Newton (Laplace / extended Kalman)
// step:
//   P ← γ·P + (1 − γ)·λ·I          forgetting (users.taste_forgetting γ,
//                                  users.taste_prior_precision λ)
//   p = σ(z + t·x),  P ← P + p(1 − p)·x xᵀ,  t ← t + P⁻¹ x (r − p)
// with r the reward clipped to [0, 1]. A zero moves the taste away from what
// was ignored at once, and a click towards what was clicked, by the amount
// the user's own evidence allows: a new user's first examples move it most.
// The model's SGD-trained user embedding learns at one rate for every user
// and only when the learner has published; this is exact per user, second
// order, and visible at the user's next request.
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

// A taste posterior: mean t (D) and precision P (D×D, row-major).
struct TasteEstimate {
  std::vector<float> mean;
  std::vector<float> precision;
};

// One online Newton step of `taste` (see above) on an example with item
// vector `x`, rest-of-logit `base_logit` and reward `reward` (clipped to
// [0, 1]). An empty `taste` starts at N(0, λ⁻¹·I). REQUIRES: x is non-empty
// and, when taste is not empty, of its dimension.
void UpdateTaste(TasteEstimate* taste, const std::vector<float>& x, double base_logit,
                 double reward, double prior_precision, double forgetting);

class UserState {
 public:
  // `taste_dim`: dimension of the taste vectors (the model's embedding_dim);
  // 0 or users.learn_taste false: no taste is learned.
  static absl::StatusOr<std::unique_ptr<UserState>> Create(
      const config::UserStateOptions& options, int64_t taste_dim = 0);

  // Appends `item_index` to the user's history, dropping the oldest entry
  // when the history is full, and remembers it as consumed.
  void Append(const std::string& user_id, int64_t item_index);

  // The user's history, oldest first; empty for an unknown user.
  std::vector<int64_t> History(const std::string& user_id) const;

  // The distinct items the user consumed, at most max_consumed_items, most
  // recent last; empty for an unknown user.
  std::vector<int64_t> Consumed(const std::string& user_id) const;

  // The user's taste vector t_u (taste_dim floats); empty for a user with
  // no joined feedback yet, or without taste learning.
  std::vector<float> Taste(const std::string& user_id) const;

  // Learns from one joined example of the user (see above): `x` the item's
  // vector (taste_dim floats), `base_logit` the reward logit without the
  // taste. A no-op without taste learning or when x has another dimension
  // (a model of another width was loaded).
  void LearnTaste(const std::string& user_id, const std::vector<float>& x, double base_logit,
                  double reward);

  bool learns_taste() const { return taste_dim_ > 0; }
  int64_t taste_dim() const { return taste_dim_; }

  int64_t num_users() const;
  int64_t history_length() const { return options_.history_length; }

 private:
  UserState(const config::UserStateOptions& options, int64_t taste_dim);

  struct User {
    std::deque<int64_t> history;
    // Distinct consumed items in order of their last consumption, and the
    // same set for look-ups.
    std::deque<int64_t> consumed_order;
    absl::flat_hash_set<int64_t> consumed;
    TasteEstimate taste;
  };
  struct Shard {
    mutable rtrec::Mutex mu;
    absl::flat_hash_map<std::string, User> users ABSL_GUARDED_BY(mu);
  };
  Shard& ShardFor(const std::string& user_id) const;

  const config::UserStateOptions options_;
  const int64_t taste_dim_;
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace rtrec::model

#endif  // RTREC_MODEL_USER_STATE_H_

#include "tuner/online_tuner.h"

#include "absl/strings/str_format.h"
#include "common/logging.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/status/status.h"

namespace rtrec::tuner {
namespace {

BayesianOptimizerOptions OptimizerOptions(const config::TunerOptions& o) {
  BayesianOptimizerOptions b;
  b.box = {{o.log10_lr_min, o.log10_lr_max}, {o.exploration_min, o.exploration_max}};
  b.initial_points = static_cast<int>(o.initial_rounds);
  b.acquisition = o.acquisition;
  b.forgetting = o.forgetting;
  b.window = static_cast<int>(o.window);
  b.max_step = {0.0, o.max_exploration_step};
  b.seed = static_cast<uint64_t>(o.seed);
  b.candidates = 500;
  return b;
}

}  // namespace

OnlineTuner::OnlineTuner(const config::TunerOptions& options,
                         std::function<void(double, double)> apply, Clock* clock,
                         absl::Duration warmup)
    : options_(options),
      apply_(std::move(apply)),
      clock_(clock),
      counting_from_(clock->Now() + warmup),
      optimizer_(OptimizerOptions(options)) {}

absl::StatusOr<std::unique_ptr<OnlineTuner>> OnlineTuner::Create(
    const config::TunerOptions& options, double initial_learning_rate, double initial_exploration,
    std::function<void(double, double)> apply, Clock* clock, absl::Duration warmup) {
  if (!(initial_learning_rate > 0)) {
    return absl::InvalidArgumentError("learner.learning_rate: must be positive for the tuner");
  }
  if (options.log10_lr_min >= options.log10_lr_max) {
    return absl::InvalidArgumentError("tuner.log10_lr_max: must be above tuner.log10_lr_min");
  }
  if (options.exploration_min > options.exploration_max) {
    return absl::InvalidArgumentError("tuner.exploration_max: must not be below tuner.exploration_min");
  }
  if (!apply || clock == nullptr) return absl::InvalidArgumentError("OnlineTuner needs apply and a clock");
  std::unique_ptr<OnlineTuner> t(new OnlineTuner(options, std::move(apply), clock, warmup));
  t->setting_ = {std::log10(initial_learning_rate), initial_exploration};
  t->round_started_ = t->counting_from_;
  {
    rtrec::MutexLock lock(&t->mu_);
    t->state_.learning_rate = initial_learning_rate;
    t->state_.exploration = initial_exploration;
  }
  t->apply_(initial_learning_rate, initial_exploration);
  return t;
}

bool OnlineTuner::RecordExamples(int64_t logged_examples, double reward_sum) {
  if (clock_->Now() < counting_from_) return false;
  round_examples_ += logged_examples;
  round_reward_ += reward_sum;
  const bool by_size = round_examples_ >= options_.round_size;
  const bool by_time = options_.round_ms > 0 && round_examples_ > 0 &&
                       clock_->Now() - round_started_ >= absl::Milliseconds(options_.round_ms);
  if (!by_size && !by_time) return false;
  EndRound();
  return true;
}

void OnlineTuner::EndRound() {
  const double objective = round_reward_ / static_cast<double>(round_examples_);
  optimizer_.Observe(setting_, objective);
  TunerRound round;
  round.learning_rate = std::pow(10.0, setting_[0]);
  round.exploration = setting_[1];
  round.objective = objective;
  round.examples = round_examples_;
  // The next setting: ε may move at most max_exploration_step from now.
  Point current = setting_;
  current[1] = std::clamp(current[1], options_.exploration_min, options_.exploration_max);
  setting_ = optimizer_.Suggest(&current);
  round_examples_ = 0;
  round_reward_ = 0;
  round_started_ = clock_->Now();
  const double lr = std::pow(10.0, setting_[0]);
  apply_(lr, setting_[1]);
  rtrec::MutexLock lock(&mu_);
  round.round = ++state_.rounds;
  state_.last_objective = objective;
  if (!state_.has_best || objective > state_.best_objective) {
    state_.has_best = true;
    state_.best_objective = objective;
    state_.best_learning_rate = round.learning_rate;
    state_.best_exploration = round.exploration;
  }
  state_.history.push_back(round);
  if (state_.history.size() > TunerState::kHistory) state_.history.erase(state_.history.begin());
  state_.learning_rate = lr;
  state_.exploration = setting_[1];
  logging::Info("tuner", absl::StrFormat(
      "round %d: mean reward %.4f over %d examples at learning rate %.3g, epsilon %.3f; next: "
      "learning rate %.3g, epsilon %.3f (best so far %.4f)",
      round.round, objective, round.examples, round.learning_rate, round.exploration, lr,
      setting_[1], state_.best_objective));
}

void OnlineTuner::Restore(const std::vector<TunerRound>& rounds, double learning_rate,
                          double exploration) {
  for (const TunerRound& r : rounds) {
    if (r.learning_rate > 0) optimizer_.Observe({std::log10(r.learning_rate), r.exploration}, r.objective);
  }
  if (learning_rate > 0) setting_ = {std::log10(learning_rate), exploration};
  apply_(std::pow(10.0, setting_[0]), setting_[1]);
  rtrec::MutexLock lock(&mu_);
  for (const TunerRound& r : rounds) {
    state_.rounds = std::max(state_.rounds, r.round);
    state_.last_objective = r.objective;
    if (!state_.has_best || r.objective > state_.best_objective) {
      state_.has_best = true;
      state_.best_objective = r.objective;
      state_.best_learning_rate = r.learning_rate;
      state_.best_exploration = r.exploration;
    }
    state_.history.push_back(r);
  }
  while (state_.history.size() > TunerState::kHistory) state_.history.erase(state_.history.begin());
  state_.learning_rate = std::pow(10.0, setting_[0]);
  state_.exploration = setting_[1];
}

TunerState OnlineTuner::state() const {
  rtrec::MutexLock lock(&mu_);
  return state_;
}

}  // namespace rtrec::tuner

#include "sim/lockstep_runner.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rtrec::sim {

config::RtrecConfig SmallLockstepConfig() {
  config::RtrecConfig c = *config::ParseConfig("", ".");
  c.text_tower.hidden_size = 32;
  c.text_tower.num_layers = 1;
  c.text_tower.num_heads = 2;
  c.text_tower.intermediate_size = 64;
  c.text_tower.max_seq_length = 16;
  c.model.embedding_dim = 32;
  c.model.num_layers = 1;
  c.model.num_heads = 2;
  c.model.ffn_dim = 64;
  c.model.intra_op_threads = 1;
  c.users.history_length = 10;
  c.catalog.max_items = 500;
  c.impressions.reward_wait_ms = 1000;
  c.learner.batch_size = 64;
  c.learner.learning_rate = 0.001;
  c.learner.next_item_loss_weight = 2.0;
  c.learner.publish_every = 5;
  c.learner.publish_interval_ms = 0;
  c.learner.guard_min_examples = 200;
  c.tuner.enabled = false;
  return c;
}

LockstepRunner::LockstepRunner(const LockstepOptions& options, SyntheticWorld* world)
    : options_(options),
      world_(world),
      rng_(options.seed) {}

LockstepRunner::~LockstepRunner() = default;

absl::StatusOr<std::unique_ptr<LockstepRunner>> LockstepRunner::Create(
    const LockstepOptions& options, SyntheticWorld* world) {
  std::unique_ptr<LockstepRunner> r(new LockstepRunner(options, world));
  const config::RtrecConfig& c = options.config;
  serving::ServingStackOptions so;
  so.clock = &r->clock_;
  so.items = world->items();
  so.cpu_only = true;
  so.learner_uses_tastes = false;
  so.overflow = state::OverflowPolicy::kRefuse;
  auto stack = serving::ServingStack::Build(c, std::move(so));
  if (!stack.ok()) return stack.status();
  r->stack_ = std::move(*stack);
  for (int64_t u = 0; u < world->num_users(); ++u) {
    r->histories_.push_back(world->SeedHistory(u, options.seed_history, r->rng_));
  }
  return r;
}

absl::StatusOr<RoundResult> LockstepRunner::RunRound() {
  const config::RtrecConfig& c = options_.config;
  const int64_t users = world_->num_users();
  RoundResult round;
  round.model_version = stack_->models.Current()->version;
  std::vector<absl::StatusOr<model::RecommendResult>> results(
      users, absl::UnknownError("unanswered"));
  model::TaskBatch batch;
  auto catalog = stack_->catalog->Snapshot();
  for (int64_t u = 0; u < users; ++u) {
    auto t = std::make_unique<model::RecommendTask>();
    t->user_id = world_->user_id(u);
    auto& h = histories_[u];
    const int64_t window = c.users.history_length;
    t->context.assign(h.size() > static_cast<size_t>(window) ? h.end() - window : h.begin(), h.end());
    if (c.policy.exclusion != "none") {
      t->excluded = t->context;
      std::sort(t->excluded.begin(), t->excluded.end());
      t->excluded.erase(std::unique(t->excluded.begin(), t->excluded.end()), t->excluded.end());
    }
    t->k = options_.k;
    t->catalog = catalog;
    t->done = [&results, u](absl::StatusOr<model::RecommendResult> r) { results[u] = std::move(r); };
    batch.push_back(std::move(t));
  }
  stack_->engine->RunBatch(std::move(batch));
  std::uniform_real_distribution<double> coin(0, 1);
  for (int64_t u = 0; u < users; ++u) {
    if (!results[u].ok()) return results[u].status();
    const auto& items = results[u]->items;
    for (size_t pos = 0; pos < items.size(); ++pos) {
      ++round.shown;
      if (coin(rng_) >= world_->ClickProbability(u, items[pos].index, static_cast<int64_t>(pos))) continue;
      ++round.clicks;
      auto joined = stack_->impressions->Join(results[u]->request_id, world_->user_id(u), items[pos].item_id, 1.0);
      if (!joined.ok()) return joined.status();
      histories_[u].push_back(items[pos].index);
    }
    round.uniform_rate += world_->UniformClickRate(u, options_.k) / users;
    round.oracle_rate += world_->OracleClickRate(u, options_.k) / users;
  }
  total_clicks_ += round.clicks;
  round.click_rate = round.shown ? static_cast<double>(round.clicks) / round.shown : 0.0;
  clock_.Advance(absl::Milliseconds(c.impressions.reward_wait_ms));
  stack_->impressions->ExpireDue();
  double loss_sum = 0;
  for (;;) {
    auto examples = stack_->experiences->PopBatch(c.learner.batch_size);
    if (examples.empty()) break;
    if (!stack_->learner) continue;
    auto step = stack_->learner->Train(examples);
    if (!step.ok()) return step.status();
    if (step->stepped) {
      ++round.learner_steps;
      loss_sum += step->loss;
    }
    stack_->learner->MaybePublish();
    if (stack_->tuner) {
      const state::RewardTotals t = state::LoggedRewards(examples);
      stack_->tuner->RecordExamples(t.logged, t.reward_sum);
    }
  }
  if (round.learner_steps > 0) round.mean_loss = loss_sum / round.learner_steps;
  return round;
}

}  // namespace rtrec::sim

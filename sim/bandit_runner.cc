#include "sim/bandit_runner.h"

#include <algorithm>

#include "common/clock.h"
#include "state/impression_log.h"
#include "learner/learner.h"
#include "model/exploration_policy.h"
#include "model/model_store.h"
#include "state/user_state.h"
#include "serving/serving_stack.h"

namespace rtrec::sim {
namespace {

double Ratio(const std::vector<double>& v, const std::vector<double>& oracle, int64_t from, int64_t to) {
  from = std::max<int64_t>(0, from);
  to = std::min<int64_t>(static_cast<int64_t>(v.size()), to);
  double a = 0, b = 0;
  for (int64_t r = from; r < to; ++r) {
    a += v[r];
    b += oracle[r];
  }
  return b > 0 ? a / b : 0.0;
}

}  // namespace

double BanditRunResult::Level(int64_t from, int64_t to) const { return Ratio(served, oracle, from, to); }
double BanditRunResult::UniformLevel(int64_t from, int64_t to) const { return Ratio(uniform, oracle, from, to); }

absl::StatusOr<BanditRunResult> RunBanditInProcess(const BanditRunOptions& options,
                                                   const BanditWorld& world, int64_t requests) {
  const config::RtrecConfig& c = options.config;
  FakeClock clock;
  serving::ServingStackOptions so;
  so.clock = &clock;
  so.items = world.items();
  so.cpu_only = true;
  so.overflow = state::OverflowPolicy::kRefuse;
  auto built = serving::ServingStack::Build(c, std::move(so));
  if (!built.ok()) return built.status();
  serving::ServingStack& stack = **built;
  state::UserState* users = stack.users.get();
  state::ExperienceBuffer& buffer = *stack.experiences;
  learner::Learner* learner = stack.learner.get();
  tuner::OnlineTuner* tuner = stack.tuner.get();
  BanditRunResult out;
  const absl::Duration per_request = absl::Seconds(1.0 / options.requests_per_second);
  auto catalog = stack.catalog->Snapshot();
  for (int64_t from = 0; from < requests; from += options.requests_per_batch) {
    const int64_t to = std::min(requests, from + options.requests_per_batch);
    std::vector<BanditRequest> batch_requests;
    std::vector<absl::StatusOr<model::RecommendResult>> results(to - from, absl::UnknownError("unanswered"));
    model::TaskBatch batch;
    for (int64_t r = from; r < to; ++r) {
      batch_requests.push_back(world.Request(r));
      const BanditRequest& req = batch_requests.back();
      auto t = std::make_unique<model::RecommendTask>();
      t->user_id = world.user_id(req.user);
      t->context = users->TowerHistory(t->user_id);
      t->taste = users->Taste(t->user_id);
      t->candidates = req.candidates;  // the world's items are catalog indices 0..n-1
      t->k = world.options().k;
      t->catalog = catalog;
      t->done = [&results, i = r - from](absl::StatusOr<model::RecommendResult> res) {
        results[i] = std::move(res);
      };
      batch.push_back(std::move(t));
    }
    stack.engine->RunBatch(std::move(batch));
    for (int64_t r = from; r < to; ++r) {
      const BanditRequest& req = batch_requests[r - from];
      auto& res = results[r - from];
      if (!res.ok()) return res.status();
      std::vector<int64_t> slate;
      for (size_t p = 0; p < res->items.size(); ++p) {
        const auto& item = res->items[p];
        slate.push_back(item.index);
        const bool click = req.click_uniform[p] <
                           world.ClickProbability(r, req.user, item.index, static_cast<int64_t>(p));
        bool first_positive = false;
        state::Experience learned;
        learned.item_index = -1;
        auto joined = stack.impressions->Join(res->request_id, world.user_id(req.user), item.item_id,
                                         click ? 1.0 : 0.0, &first_positive, &learned);
        if (!joined.ok()) return joined.status();
        if (learned.item_index >= 0) stack.engine->LearnTaste(learned, *catalog, users);
        if (click && first_positive) users->Append(world.user_id(req.user), item.index).IgnoreError();  // no store: always OK
      }
      if (slate.empty()) ++out.empty_slates;
      out.served.push_back(world.ExpectedSlateRate(req, slate));
      out.oracle.push_back(world.ExpectedSlateRate(req, world.OracleSlate(req)));
      out.uniform.push_back(world.UniformRate(req));
      clock.Advance(per_request);
    }
    stack.impressions->ExpireDue();
    while (learner && buffer.size() >= c.learner.batch_size) {
      auto examples = buffer.PopBatch(c.learner.batch_size);
      auto step = learner->Train(examples);
      if (!step.ok()) return step.status();
      if (tuner) {
        const state::RewardTotals t = state::LoggedRewards(examples);
        tuner->RecordExamples(t.logged, t.reward_sum);
      }
      learner->MaybePublish();
    }
    if (learner) learner->MaybePublish();
  }
  if (learner) {
    const auto stats = learner->stats();
    out.learner_steps = stats.steps;
    out.publishes = stats.publishes;
    out.rejected_publishes = stats.rejected_publishes;
    out.skipped_steps = stats.skipped_steps;
  }
  return out;
}

}  // namespace rtrec::sim

// rtrec_learner_bench: the online learner's throughput and how fast a new
// snapshot reaches serving, in process, on the default model shape.
//
// 1. Examples per second: Learner::Train on batches of learner.batch_size
//    experiences logged by the real serving path against a synthetic world of
//    --items items.
// 2. Step-to-serving latency: --clients threads call Recommend through the
//    dynamic batcher and two inference threads without pause; after each
//    learner step the snapshot is checked and published (PublishNow, with the
//    guard window full), and the time from the end of that step to the first
//    Recommend answered by the new version is recorded. p50/p99 over
//    --publishes publishes.
//
// Prints one line of JSON.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "common/mutex.h"
#include "config/options.h"
#include "learner/learner.h"
#include "model/dynamic_batcher.h"
#include "sim/lockstep_runner.h"

ABSL_FLAG(int, items_per_topic, 125, "Items per topic of the synthetic world (8 topics)");
ABSL_FLAG(int, warm_rounds, 20, "Lock-step rounds that fill the experience log first");
ABSL_FLAG(int, steps, 200, "Learner steps timed for throughput");
ABSL_FLAG(int, publishes, 100, "Publishes timed for step-to-serving latency");
ABSL_FLAG(int, clients, 4, "Concurrent Recommend callers during the latency part");
ABSL_FLAG(int, learner_intra_op_threads, 0, "learner.intra_op_threads of the thread that trains and publishes");
ABSL_FLAG(int, learner_nice, 0, "learner.nice of the thread that trains and publishes");

namespace {

using Steady = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_learner_bench [flags]: learner throughput and publish latency");
  using namespace rtrec;
  config::RtrecConfig c = *config::ParseConfig("", ".");
  c.impressions.reward_wait_ms = 1000;
  c.learner.publish_every = 1000000000;  // the bench publishes by hand
  c.learner.publish_interval_ms = 0;
  c.learner.guard_min_examples = 1;
  c.learner.intra_op_threads = absl::GetFlag(FLAGS_learner_intra_op_threads);
  c.learner.nice = absl::GetFlag(FLAGS_learner_nice);
  sim::SyntheticWorldOptions wo;
  wo.num_topics = 8;
  wo.items_per_topic = absl::GetFlag(FLAGS_items_per_topic);
  wo.num_users = 64;
  sim::SyntheticWorld world(wo);
  sim::LockstepOptions lo;
  lo.config = c;
  lo.k = 10;
  auto runner_or = sim::LockstepRunner::Create(lo, &world);
  if (!runner_or.ok()) {
    std::fprintf(stderr, "%s\n", runner_or.status().ToString().c_str());
    return 1;
  }
  auto& runner = *runner_or;
  learner::Learner* learner = runner->learner();

  // Experiences from the real serving path; the learner trains as it goes.
  std::vector<state::Experience> pool;
  for (int i = 0; i < absl::GetFlag(FLAGS_warm_rounds); ++i) {
    if (!runner->RunRound().ok()) return 1;
  }
  // Slates through the real engine, one click each, then expiry: a pool of
  // experiences to time the learner on.
  const int64_t batch_size = c.learner.batch_size;
  {
    auto snapshot = runner->catalog()->Snapshot();
    for (int rep = 0; rep < 8; ++rep) {
      model::TaskBatch batch;
      std::vector<absl::StatusOr<model::RecommendResult>> results(world.num_users(),
                                                                  absl::UnknownError(""));
      for (int64_t u = 0; u < world.num_users(); ++u) {
        auto t = std::make_unique<model::RecommendTask>();
        t->user_id = world.user_id(u);
        t->k = 10;
        t->catalog = snapshot;
        t->context = {u % snapshot->size()};
        t->done = [&results, u](absl::StatusOr<model::RecommendResult> r) { results[u] = std::move(r); };
        batch.push_back(std::move(t));
      }
      runner->engine()->RunBatch(std::move(batch));
      for (int64_t u = 0; u < world.num_users(); ++u) {
        if (!results[u].ok()) continue;
        runner->impressions()->Join(results[u]->request_id, world.user_id(u),
                                    results[u]->items[0].item_id, 1.0).IgnoreError();
      }
      runner->clock()->Advance(absl::Milliseconds(c.impressions.reward_wait_ms));
      runner->impressions()->ExpireDue();
      for (auto& e : runner->experiences()->PopBatch(1 << 20)) pool.push_back(std::move(e));
    }
  }
  const int steps = absl::GetFlag(FLAGS_steps);
  int64_t examples = 0;
  const auto t0 = Steady::now();
  for (int s = 0; s < steps; ++s) {
    std::vector<state::Experience> batch;
    for (int64_t j = 0; j < batch_size; ++j) batch.push_back(pool[(s * batch_size + j) % pool.size()]);
    if (!learner->Train(batch).ok()) return 1;
    examples += batch_size;
  }
  const double train_seconds = std::chrono::duration<double>(Steady::now() - t0).count();

  // Step-to-serving latency under concurrent Recommend load; this thread
  // trains and publishes, with the learner thread's CPU budget.
  learner::ApplyLearnerCpuBudget(c.learner);
  config::BatcherOptions bo = c.batcher;
  auto batcher = model::DynamicBatcher::Create(
      bo, [&](model::TaskBatch b) { runner->engine()->RunBatch(std::move(b)); }, RealClock::Get());
  if (!batcher.ok()) return 1;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> served{0};
  rtrec::Mutex mu;
  std::vector<Steady::time_point> first_seen(1 << 16);
  std::vector<char> seen(1 << 16, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < absl::GetFlag(FLAGS_clients); ++i) {
    clients.emplace_back([&, i] {
      while (!stop.load()) {
        auto task = std::make_unique<model::RecommendTask>();
        task->user_id = world.user_id(i);
        task->k = 10;
        task->catalog = runner->catalog()->Snapshot();
        rtrec::Notification finished;
        int64_t version = -1;
        task->done = [&](absl::StatusOr<model::RecommendResult> r) {
          if (r.ok()) version = r->model_version;
          finished.Notify();
        };
        (*batcher)->Schedule(std::move(task)).IgnoreError();
        finished.WaitForNotification();
        const auto now = Steady::now();
        ++served;
        if (version >= 0 && version < static_cast<int64_t>(seen.size())) {
          rtrec::MutexLock lock(&mu);
          if (!seen[version]) {
            seen[version] = 1;
            first_seen[version] = now;
          }
        }
      }
    });
  }
  std::vector<double> latencies_ms;
  std::vector<double> publish_ms;
  int64_t checked = 0, recomputed = 0;
  const int publishes = absl::GetFlag(FLAGS_publishes);
  for (int p = 0; p < publishes; ++p) {
    std::vector<state::Experience> batch;
    for (int64_t j = 0; j < batch_size; ++j) batch.push_back(pool[(p * batch_size + j) % pool.size()]);
    if (!learner->Train(batch).ok()) return 1;
    const auto step_done = Steady::now();
    auto d = learner->PublishNow();
    checked = d.checked_examples;
    recomputed += d.serving_recomputed;
    publish_ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - step_done).count());
    if (!d.published) continue;
    // Wait (bounded) until a client was answered by the new version.
    for (int spin = 0; spin < 100000; ++spin) {
      {
        rtrec::MutexLock lock(&mu);
        if (seen[d.version]) {
          latencies_ms.push_back(
              std::chrono::duration<double, std::milli>(first_seen[d.version] - step_done).count());
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  stop.store(true);
  for (auto& t : clients) t.join();
  batcher->reset();
  std::printf(
      "{\"items\": %lld, \"batch_size\": %lld, \"examples_per_s\": %.0f, \"steps_per_s\": %.1f, "
      "\"publishes\": %zu, \"guard_window_examples\": %lld, \"serving_pi_recomputed_per_publish\": %.1f, "
      "\"publish_check_p50_ms\": %.2f, \"publish_check_p99_ms\": %.2f, \"step_to_served_p50_ms\": %.2f, "
      "\"step_to_served_p99_ms\": %.2f, \"recommends_during\": %lld}\n",
      static_cast<long long>(runner->catalog()->Snapshot()->size()),
      static_cast<long long>(batch_size), examples / train_seconds, steps / train_seconds,
      latencies_ms.size(), static_cast<long long>(checked),
      publishes > 0 ? static_cast<double>(recomputed) / publishes : 0.0, Percentile(publish_ms, 0.5),
      Percentile(publish_ms, 0.99), Percentile(latencies_ms, 0.5),
      Percentile(latencies_ms, 0.99), static_cast<long long>(served.load()));
  return 0;
}

#include "sim/simulation.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "absl/strings/str_format.h"
#include "common/mutex.h"

namespace rtrec::sim {
namespace {

struct WindowAccumulator {
  WindowReport report;
  int64_t size = 0;
  int64_t finished = 0;
  double served_sum = 0, oracle_sum = 0, random_sum = 0;
  std::vector<double> latencies_ms;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

absl::StatusOr<SimulationSummary> RunSimulation(const StreamWorld& world, const SimulationOptions& options,
                                                SimulatedService* service,
                                                const std::function<void(const WindowReport&)>& on_window) {
  if (options.rate <= 0) return absl::InvalidArgumentError("rate: must be positive");
  if (options.window_s <= 0) return absl::InvalidArgumentError("window_s: must be positive");
  if (options.seconds <= 0) return absl::InvalidArgumentError("seconds: must be positive");
  if (options.concurrency < 1) return absl::InvalidArgumentError("concurrency: must be at least 1");
  if (options.k < 1) return absl::InvalidArgumentError("k: must be at least 1");
  const int64_t total = static_cast<int64_t>(std::floor(options.seconds * options.rate));
  const int64_t n_windows = static_cast<int64_t>(std::ceil(options.seconds / options.window_s));
  auto window_of = [&](int64_t i) {
    return std::min<int64_t>(n_windows - 1,
                             static_cast<int64_t>(static_cast<double>(i) / options.rate / options.window_s));
  };
  std::vector<WindowAccumulator> acc(n_windows);
  for (int64_t w = 0; w < n_windows; ++w) {
    acc[w].report.window = w;
    acc[w].report.start_s = static_cast<double>(w) * options.window_s;
    acc[w].report.end_s = std::min(options.seconds, static_cast<double>(w + 1) * options.window_s);
    acc[w].report.after_shift = world.options().shift_at_s >= 0 && acc[w].report.start_s >= world.options().shift_at_s;
  }
  for (int64_t i = 0; i < total; ++i) ++acc[window_of(i)].size;

  SimulationSummary summary;
  rtrec::Mutex mu;
  int64_t next_report = 0;
  // Emits every complete window in order. REQUIRES: mu held.
  auto emit_complete = [&]() {
    while (next_report < n_windows && acc[next_report].finished == acc[next_report].size) {
      WindowAccumulator& a = acc[next_report];
      WindowReport& r = a.report;
      const double n = static_cast<double>(std::max<int64_t>(1, r.requests - r.errors));
      r.served_ctr = r.impressions ? static_cast<double>(r.clicks) / static_cast<double>(r.impressions) : 0.0;
      r.served_expected = a.served_sum / n;
      r.oracle = a.oracle_sum / n;
      r.random = a.random_sum / n;
      if (options.real_time) {
        r.p50_ms = Percentile(a.latencies_ms, 0.5);
        r.p99_ms = Percentile(a.latencies_ms, 0.99);
      }
      summary.windows.push_back(r);
      if (on_window) on_window(r);
      ++next_report;
    }
  };
  {
    rtrec::MutexLock lock(&mu);
    emit_complete();
  }

  std::atomic<int64_t> next{0};
  const auto start = std::chrono::steady_clock::now();
  auto worker = [&]() {
    for (int64_t i = next.fetch_add(1); i < total; i = next.fetch_add(1)) {
      const double t = static_cast<double>(i) / options.rate;
      if (options.real_time) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                  std::chrono::duration<double>(t)));
      }
      std::seed_seq seq{static_cast<uint64_t>(options.seed), static_cast<uint64_t>(i)};
      std::mt19937_64 rng(seq);
      std::uniform_real_distribution<double> coin(0, 1);
      const int64_t user = static_cast<int64_t>(rng() % static_cast<uint64_t>(world.num_users()));
      const std::string user_id = world.user_id(user);
      std::string query;
      if (coin(rng) < options.query_fraction) query = world.topics()[world.LikedTopics(user, t)[0]];
      const auto sent = std::chrono::steady_clock::now();
      absl::StatusOr<SimulatedSlate> slate = service->Recommend(user_id, query, options.k);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count();
      int64_t clicks = 0, feedback_sent = 0, feedback_failed = 0, organic = 0;
      std::vector<int64_t> shown;
      if (slate.ok()) {
        for (size_t pos = 0; pos < slate->item_ids.size(); ++pos) {
          const int64_t item = world.IndexOf(slate->item_ids[pos]);
          shown.push_back(item);
          const bool click = coin(rng) < world.ClickProbability(user, item, static_cast<int64_t>(pos), t);
          if (click) ++clicks;
          if (!click && !options.report_every_slot) continue;
          absl::Status s = service->Feedback(slate->request_id, user_id, slate->item_ids[pos], click ? 1.0 : 0.0);
          s.ok() ? ++feedback_sent : ++feedback_failed;
        }
      }
      // Organic events: at most one per request, with the configured mean.
      if (coin(rng) < options.organic_per_request) {
        const int64_t item = world.OrganicItem(user, t, coin(rng));
        absl::Status s = service->Feedback("", user_id, world.items()[item].item_id, 1.0);
        s.ok() ? (++feedback_sent, ++organic) : ++feedback_failed;
      }
      const double served = slate.ok() ? world.SlateClickRate(user, shown, t) : 0.0;
      const double oracle = world.OracleClickRate(user, options.k, t);
      const double random = world.UniformClickRate(user, options.k, t);

      rtrec::MutexLock lock(&mu);
      WindowAccumulator& a = acc[window_of(i)];
      WindowReport& r = a.report;
      ++r.requests;
      if (!slate.ok()) {
        ++r.errors;
      } else {
        r.impressions += static_cast<int64_t>(shown.size());
        r.clicks += clicks;
        r.model_version = std::max(r.model_version, slate->model_version);
        a.served_sum += served;
        a.oracle_sum += oracle;
        a.random_sum += random;
        a.latencies_ms.push_back(ms);
      }
      r.feedback_sent += feedback_sent;
      r.feedback_failed += feedback_failed;
      r.organic_sent += organic;
      ++a.finished;
      emit_complete();
    }
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < options.concurrency; ++c) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  SummarizeShift(world, &summary);
  return summary;
}

void SummarizeShift(const StreamWorld& world, SimulationSummary* summary, int64_t baseline_windows,
                    double reference_level) {
  auto ratio = [](const WindowReport& w) { return w.oracle > 0 ? w.served_expected / w.oracle : 0.0; };
  const auto& windows = summary->windows;
  summary->total_feedback = 0;
  for (const auto& w : windows) summary->total_feedback += w.feedback_sent;
  size_t first_after = windows.size();
  for (size_t i = 0; i < windows.size(); ++i) {
    if (windows[i].after_shift) {
      first_after = i;
      break;
    }
  }
  const size_t from = first_after > static_cast<size_t>(baseline_windows) ? first_after - baseline_windows : 0;
  double before = 0, after = 0;
  for (size_t i = from; i < first_after; ++i) before += ratio(windows[i]);
  for (size_t i = first_after; i < windows.size(); ++i) after += ratio(windows[i]);
  summary->before_shift = first_after > from ? before / static_cast<double>(first_after - from) : 0.0;
  summary->after_shift =
      first_after < windows.size() ? after / static_cast<double>(windows.size() - first_after) : 0.0;
  summary->recovery_level = reference_level > 0 ? reference_level : summary->before_shift;
  summary->recovered_window = summary->feedback_to_recover = -1;
  summary->seconds_to_recover = -1;
  if (first_after == windows.size() || first_after == 0 || world.options().shift_at_s < 0) return;
  int64_t feedback = 0;
  for (size_t i = first_after; i < windows.size(); ++i) {
    feedback += windows[i].feedback_sent;
    if (ratio(windows[i]) >= 0.9 * summary->recovery_level) {
      summary->recovered_window = windows[i].window;
      summary->feedback_to_recover = feedback;
      summary->seconds_to_recover = windows[i].end_s - world.options().shift_at_s;
      return;
    }
  }
}

std::string WindowCsvHeader() {
  return "window,start_s,end_s,requests,errors,impressions,clicks,served_ctr,served_expected_ctr,oracle_ctr,"
         "random_ctr,feedback_sent,feedback_failed,organic_sent,model_version,p50_ms,p99_ms,after_shift";
}

std::string WindowCsvRow(const WindowReport& w) {
  return absl::StrFormat("%d,%.1f,%.1f,%d,%d,%d,%d,%.5f,%.5f,%.5f,%.5f,%d,%d,%d,%d,%.2f,%.2f,%d", w.window,
                         w.start_s, w.end_s, w.requests, w.errors, w.impressions, w.clicks, w.served_ctr,
                         w.served_expected, w.oracle, w.random, w.feedback_sent, w.feedback_failed,
                         w.organic_sent, w.model_version, w.p50_ms, w.p99_ms, w.after_shift ? 1 : 0);
}

}  // namespace rtrec::sim

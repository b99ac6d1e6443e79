// rtrec_simulator: a simulated user population that talks to a running rtrec
// server, so the service can be watched at work.
//
// Each simulated user secretly likes two departments of the demo catalog
// (the first tag of an item). For every Recommend the user clicks each shown
// item with probability --like_ctr if it is from a liked department, else
// --base_ctr, and the clicks go back through Feedback with the request_id.
// Every --report_s seconds it prints the click-through rate of the window,
// latency, the model version and batching counters, and one sample slate.
//
//   rtrec_simulator --target 127.0.0.1:50051 --seconds 60
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/options.h"
#include "model/catalog.h"
#include "rtrec/v1/recommender.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "rtrec server address");
ABSL_FLAG(std::string, catalog, "", "Catalog JSONL the server uses (default: the demo catalog)");
ABSL_FLAG(int, seconds, 60, "How long to run");
ABSL_FLAG(int, users, 200, "Simulated users");
ABSL_FLAG(int, concurrency, 4, "Concurrent client threads");
ABSL_FLAG(int, k, 5, "Slate size");
ABSL_FLAG(double, like_ctr, 0.35, "Click probability for an item of a liked department");
ABSL_FLAG(double, base_ctr, 0.02, "Click probability for any other item");
ABSL_FLAG(double, query_fraction, 0.2, "Share of requests that carry a search query");
ABSL_FLAG(int, report_s, 5, "Seconds between reports");
ABSL_FLAG(uint64_t, seed, 42, "Random seed");
ABSL_FLAG(int, max_requests, 1000000, "Stop after this many requests in all");
ABSL_FLAG(bool, allow_recent_items, true,
          "Let slates repeat the user's recent items. With false, a simulated user who clicked "
          "every liked item soon sees only items it does not like, whatever the model does");

namespace {

struct Window {
  std::mutex mu;
  int64_t requests = 0, impressions = 0, clicks = 0, errors = 0;
  std::vector<double> latencies_ms;
  std::string sample;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string catalog_path = absl::GetFlag(FLAGS_catalog);
  if (catalog_path.empty()) catalog_path = rtrec::config::DefaultCatalogPath();
  auto items = rtrec::model::ReadCatalogJsonl(catalog_path, 1 << 20);
  if (!items.ok() || items->empty()) {
    fprintf(stderr, "simulator: cannot read catalog %s: %s\n", catalog_path.c_str(),
            std::string(items.status().message()).c_str());
    return 1;
  }
  std::map<std::string, std::string> department;
  std::vector<std::string> departments;
  for (const auto& item : *items) {
    std::string d = item.tags.empty() ? "other" : item.tags[0];
    department[item.item_id] = d;
    if (std::find(departments.begin(), departments.end(), d) == departments.end()) departments.push_back(d);
  }
  std::mt19937_64 setup(absl::GetFlag(FLAGS_seed));
  const int n_users = absl::GetFlag(FLAGS_users);
  std::vector<std::pair<std::string, std::string>> likes(n_users);
  for (auto& l : likes) {
    l.first = departments[setup() % departments.size()];
    l.second = departments[setup() % departments.size()];
  }
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(30))) {
    fprintf(stderr, "simulator: cannot reach %s\n", absl::GetFlag(FLAGS_target).c_str());
    return 1;
  }
  Window window;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> total_requests{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(absl::GetFlag(FLAGS_seconds));
  std::vector<std::thread> workers;
  for (int w = 0; w < absl::GetFlag(FLAGS_concurrency); ++w) {
    workers.emplace_back([&, w] {
      std::mt19937_64 rng(absl::GetFlag(FLAGS_seed) * 1000 + w);
      std::uniform_real_distribution<double> u(0, 1);
      auto stub = rtrec::v1::Recommender::NewStub(channel);
      while (!stop && total_requests.fetch_add(1) < absl::GetFlag(FLAGS_max_requests)) {
        const int user = static_cast<int>(rng() % n_users);
        rtrec::v1::RecommendRequest req;
        req.set_user_id(absl::StrCat("sim-user-", user));
        req.set_k(absl::GetFlag(FLAGS_k));
        req.set_allow_recent_items(absl::GetFlag(FLAGS_allow_recent_items));
        if (u(rng) < absl::GetFlag(FLAGS_query_fraction)) req.set_query(likes[user].first + " gear");
        rtrec::v1::RecommendResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
        const auto t0 = std::chrono::steady_clock::now();
        grpc::Status s = stub->Recommend(&ctx, req, &resp);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        int clicks = 0;
        std::vector<std::string> shown;
        if (s.ok()) {
          for (const auto& item : resp.items()) {
            const std::string& d = department[item.item_id()];
            const bool liked = d == likes[user].first || d == likes[user].second;
            const bool click = u(rng) < (liked ? absl::GetFlag(FLAGS_like_ctr) : absl::GetFlag(FLAGS_base_ctr));
            shown.push_back(absl::StrCat(item.item_id(), click ? "*" : ""));
            if (!click) continue;
            ++clicks;
            rtrec::v1::FeedbackRequest fb;
            fb.set_request_id(resp.request_id());
            fb.set_user_id(req.user_id());
            fb.set_item_id(item.item_id());
            fb.set_reward(1.0);
            fb.set_event_type(rtrec::v1::EVENT_TYPE_CLICK);
            rtrec::v1::FeedbackResponse fr;
            grpc::ClientContext fctx;
            stub->Feedback(&fctx, fb, &fr);
          }
        }
        std::lock_guard<std::mutex> lock(window.mu);
        ++window.requests;
        if (!s.ok()) {
          ++window.errors;
          continue;
        }
        window.impressions += resp.items_size();
        window.clicks += clicks;
        window.latencies_ms.push_back(ms);
        window.sample = absl::StrCat(req.user_id(), " (likes ", likes[user].first, ", ", likes[user].second,
                                     req.query().empty() ? "" : absl::StrCat("; query '", req.query(), "'"),
                                     "): ", absl::StrJoin(shown, " "));
      }
    });
  }
  auto info_stub = rtrec::v1::Recommender::NewStub(channel);
  int64_t cumulative_clicks = 0, cumulative_impressions = 0;
  printf("simulator: %d users over %zu departments, k=%d, %d clients; '*' marks a click\n", n_users,
         departments.size(), absl::GetFlag(FLAGS_k), absl::GetFlag(FLAGS_concurrency));
  while (std::chrono::steady_clock::now() < deadline && total_requests < absl::GetFlag(FLAGS_max_requests)) {
    std::this_thread::sleep_for(std::chrono::seconds(absl::GetFlag(FLAGS_report_s)));
    Window snapshot_copy;
    {
      std::lock_guard<std::mutex> lock(window.mu);
      snapshot_copy.requests = window.requests;
      snapshot_copy.impressions = window.impressions;
      snapshot_copy.clicks = window.clicks;
      snapshot_copy.errors = window.errors;
      snapshot_copy.latencies_ms.swap(window.latencies_ms);
      snapshot_copy.sample = window.sample;
      window.requests = window.impressions = window.clicks = window.errors = 0;
    }
    auto& lat = snapshot_copy.latencies_ms;
    std::sort(lat.begin(), lat.end());
    const double p50 = lat.empty() ? 0 : lat[lat.size() / 2];
    const double p99 = lat.empty() ? 0 : lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
    cumulative_clicks += snapshot_copy.clicks;
    cumulative_impressions += snapshot_copy.impressions;
    rtrec::v1::ModelInfo info;
    grpc::ClientContext ictx;
    info_stub->GetModelInfo(&ictx, rtrec::v1::GetModelInfoRequest(), &info);
    printf("[%3ds] %5lld req  ctr %.3f (all %.3f)  p50 %.1f ms  p99 %.1f ms  errors %lld | model v%lld "
           "swaps %lld  batches %lld largest %lld  joined %lld  pending %lld\n",
           static_cast<int>(absl::GetFlag(FLAGS_seconds) -
                            std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::steady_clock::now()).count()),
           static_cast<long long>(snapshot_copy.requests),
           snapshot_copy.impressions ? static_cast<double>(snapshot_copy.clicks) / snapshot_copy.impressions : 0.0,
           cumulative_impressions ? static_cast<double>(cumulative_clicks) / cumulative_impressions : 0.0, p50, p99,
           static_cast<long long>(snapshot_copy.errors), static_cast<long long>(info.model_version()),
           static_cast<long long>(info.swaps()), static_cast<long long>(info.batches()),
           static_cast<long long>(info.largest_batch_size()), static_cast<long long>(info.impressions_joined()),
           static_cast<long long>(info.experiences_pending()));
    printf("        learner: %lld steps, mean reward %.3f, loss %.3f, IW ESS %.2f, rejected %lld | tuner: "
           "lr %.2g, epsilon %.3f, %lld rounds, best round %.3f\n",
           static_cast<long long>(info.learner_steps()), info.mean_reward(), info.last_loss(),
           info.importance_weight_ess(), static_cast<long long>(info.rejected_swaps()),
           info.learning_rate(), info.epsilon(), static_cast<long long>(info.tuner().rounds()),
           info.tuner().best_objective());
    printf("        e.g. %s\n", snapshot_copy.sample.c_str());
    fflush(stdout);
  }
  stop = true;
  for (auto& t : workers) t.join();
  return 0;
}

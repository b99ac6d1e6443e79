// rtrec-sim: a simulated user population that drives a running rtrec server
// over gRPC only, so the service can be watched learning.
//
// The world (sim/stream_world.h) is built from a catalog file whose items'
// first tag is their topic (default: the demo catalog); rtrec-sim upserts
// those items through UpsertItems first, so any server can be driven. Users
// like two topics, their tastes drift, and at --shift_at_s every user's
// liked topics move (a population-wide preference shift). Clicks follow a
// hidden model with position bias and go back through Feedback with the
// request_id; some organic events go without one.
//
// Every --window_s seconds it prints the served slates' click rate against
// the oracle's and a uniformly random slate's for the same requests, as
// numbers and as a bar, and appends the window to --csv. At the end it prints
// served/oracle before and after the shift and how many feedback events the
// service needed to get back to 90 % of its pre-shift level.
//
//   rtrec-sim --target 127.0.0.1:50051 --seconds 60 --shift_at_s 30 --csv curve.csv
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "common/command_line.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "config/options.h"
#include "model/catalog.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "sim/simulation.h"
#include "sim/stream_world.h"
#include "tools/grpc_client.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "rtrec server address");
ABSL_FLAG(std::string, catalog, "", "Catalog JSONL of the world (default: the demo catalog)");
ABSL_FLAG(bool, upsert, true, "Upsert the world's items through UpsertItems before the run");
ABSL_FLAG(double, seconds, 60, "Length of the run");
ABSL_FLAG(double, rate, 150, "Recommend requests per second (open loop)");
ABSL_FLAG(int, concurrency, 4, "Concurrent client threads");
ABSL_FLAG(int, users, 200, "Simulated users");
ABSL_FLAG(int, k, 5, "Slate size");
ABSL_FLAG(double, window_s, 5, "Seconds per reported window");
ABSL_FLAG(double, shift_at_s, -2, "When the preference shift happens (-1: never; -2: half-way)");
ABSL_FLAG(int, shift_offset, 3, "Topics every liked topic moves at the shift");
ABSL_FLAG(double, drift, 0.5, "Amplitude of the slow taste drift");
ABSL_FLAG(double, like_ctr, 0.35, "Extra click probability for the most liked topic");
ABSL_FLAG(double, base_ctr, 0.02, "Click probability of an item nobody likes");
ABSL_FLAG(double, query_fraction, 0.2, "Share of requests that carry a search query");
ABSL_FLAG(double, organic, 0.1, "Organic events (no request_id) per request");
ABSL_FLAG(bool, report_every_slot, true,
          "Report every shown slot (0 for an item not clicked), as bandit clients do; false: clicks only");
ABSL_FLAG(bool, greedy, false, "Ask for greedy slates (exploration: false): what the model ranks first");
ABSL_FLAG(bool, allow_recent_items, true, "Let slates repeat the user's recent items");
ABSL_FLAG(uint64_t, seed, 42, "Random seed of the world and the stream");
ABSL_FLAG(double, recover_to, -1,
          "Served/oracle level whose 90 % counts as recovered after the shift (default: the run's own "
          "level before the shift)");
ABSL_FLAG(std::string, csv, "", "Write one line per window here");
ABSL_FLAG(std::string, summary, "", "Write the run's summary (key=value lines) here");

namespace {

using rtrec::tools::ToAbsl;

class GrpcService : public rtrec::sim::SimulatedService {
 public:
  explicit GrpcService(std::shared_ptr<grpc::Channel> channel)
      : stub_(rtrec::v1::Recommender::NewStub(channel)) {}

  absl::StatusOr<rtrec::sim::SimulatedSlate> Recommend(const std::string& user_id, const std::string& query,
                                                       int64_t k) override {
    rtrec::v1::RecommendRequest req;
    req.set_user_id(user_id);
    req.set_query(query);
    req.set_k(static_cast<int32_t>(k));
    req.set_allow_recent_items(absl::GetFlag(FLAGS_allow_recent_items));
    if (absl::GetFlag(FLAGS_greedy)) req.set_exploration(false);
    rtrec::v1::RecommendResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    grpc::Status s = stub_->Recommend(&ctx, req, &resp);
    if (!s.ok()) return ToAbsl(s);
    rtrec::sim::SimulatedSlate slate;
    slate.request_id = resp.request_id();
    slate.model_version = resp.model_version();
    for (const auto& item : resp.items()) slate.item_ids.push_back(item.item_id());
    return slate;
  }

  absl::Status Feedback(const std::string& request_id, const std::string& user_id, const std::string& item_id,
                        double reward) override {
    rtrec::v1::FeedbackRequest fb;
    fb.set_request_id(request_id);
    fb.set_user_id(user_id);
    fb.set_item_id(item_id);
    fb.set_reward(reward);
    fb.set_event_type(request_id.empty() ? rtrec::v1::EVENT_TYPE_VIEW : rtrec::v1::EVENT_TYPE_CLICK);
    rtrec::v1::FeedbackResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return ToAbsl(stub_->Feedback(&ctx, fb, &resp));
  }

  rtrec::v1::ModelInfo Info() {
    rtrec::v1::ModelInfo info;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    stub_->GetModelInfo(&ctx, rtrec::v1::GetModelInfoRequest(), &info);
    return info;
  }

  absl::Status Upsert(const std::vector<rtrec::model::CatalogItem>& items) {
    return rtrec::tools::UpsertCatalogItems(*stub_, items);
  }

 private:
  std::unique_ptr<rtrec::v1::Recommender::Stub> stub_;
};

// "|####r#####     o   |": served as a bar, r = random, o = oracle.
std::string Bar(const rtrec::sim::WindowReport& w, double scale) {
  constexpr int kWidth = 40;
  auto col = [&](double v) { return std::clamp(static_cast<int>(v / scale * kWidth + 0.5), 0, kWidth - 1); };
  std::string bar(kWidth, ' ');
  for (int i = 0; i < col(w.served_expected); ++i) bar[i] = '#';
  bar[col(w.random)] = 'r';
  bar[col(w.oracle)] = 'o';
  return "|" + bar + "|";
}

}  // namespace

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec-sim [--target HOST:PORT] [flags]: simulated users driving a running rtrec server");
  std::string catalog_path = absl::GetFlag(FLAGS_catalog);
  if (catalog_path.empty()) catalog_path = rtrec::config::DefaultCatalogPath();
  auto items = rtrec::model::ReadCatalogJsonl(catalog_path, 1 << 20);
  if (!items.ok()) {
    fprintf(stderr, "rtrec-sim: --catalog %s: %s\n", catalog_path.c_str(),
            std::string(items.status().message()).c_str());
    return 2;
  }
  rtrec::sim::StreamWorldOptions wo;
  wo.num_users = absl::GetFlag(FLAGS_users);
  wo.base_ctr = absl::GetFlag(FLAGS_base_ctr);
  wo.like_ctr = absl::GetFlag(FLAGS_like_ctr);
  wo.drift = absl::GetFlag(FLAGS_drift);
  wo.shift_at_s = absl::GetFlag(FLAGS_shift_at_s);
  if (wo.shift_at_s == -2) wo.shift_at_s = absl::GetFlag(FLAGS_seconds) / 2;
  wo.shift_offset = absl::GetFlag(FLAGS_shift_offset);
  wo.seed = absl::GetFlag(FLAGS_seed);
  auto world = rtrec::sim::StreamWorld::Create(wo, *items);
  if (!world.ok()) {
    fprintf(stderr, "rtrec-sim: %s\n", std::string(world.status().message()).c_str());
    return 2;
  }
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_target), grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(60))) {
    fprintf(stderr, "rtrec-sim: cannot reach %s\n", absl::GetFlag(FLAGS_target).c_str());
    return 1;
  }
  GrpcService service(channel);
  if (absl::GetFlag(FLAGS_upsert)) {
    if (absl::Status s = service.Upsert(world->items()); !s.ok()) {
      fprintf(stderr, "rtrec-sim: UpsertItems: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::ofstream csv;
  if (!absl::GetFlag(FLAGS_csv).empty()) {
    csv.open(absl::GetFlag(FLAGS_csv));
    csv << rtrec::sim::WindowCsvHeader() << "\n";
  }
  rtrec::sim::SimulationOptions so;
  so.seconds = absl::GetFlag(FLAGS_seconds);
  so.rate = absl::GetFlag(FLAGS_rate);
  so.concurrency = absl::GetFlag(FLAGS_concurrency);
  so.k = absl::GetFlag(FLAGS_k);
  so.window_s = absl::GetFlag(FLAGS_window_s);
  so.query_fraction = absl::GetFlag(FLAGS_query_fraction);
  so.organic_per_request = absl::GetFlag(FLAGS_organic);
  so.report_every_slot = absl::GetFlag(FLAGS_report_every_slot);
  so.seed = absl::GetFlag(FLAGS_seed);
  so.real_time = true;
  printf("rtrec-sim: %d users, %zu items in %zu topics, %.0f requests/s, k=%d, shift at %.0f s\n",
         wo.num_users, world->items().size(), world->topics().size(), so.rate, static_cast<int>(so.k),
         wo.shift_at_s);
  printf("  each line is one window: its end; a bar (# served, r random slate, o oracle); served = the expected\n"
         "  click rate of the slates rtrec served (clicks = the clicks the simulated users made); oracle = the\n"
         "  best slate's; random = a uniformly random slate's; then the model version serving (v), swaps so far,\n"
         "  learner steps, eps = the exploration share in use, fb = feedback events sent in the window\n");
  fflush(stdout);
  // A fixed scale, so the bars of different windows compare.
  const double scale = (wo.base_ctr + wo.like_ctr) * 1.3;
  auto on_window = [&](const rtrec::sim::WindowReport& w) {
    rtrec::v1::ModelInfo info = service.Info();
    printf("%5.0fs %s served %.3f (clicks %.3f) oracle %.3f random %.3f | v%lld swaps %lld steps %lld eps %.3f "
           "fb %lld%s%s\n",
           w.end_s, Bar(w, scale).c_str(), w.served_expected, w.served_ctr, w.oracle, w.random,
           static_cast<long long>(info.model_version()), static_cast<long long>(info.swaps()),
           static_cast<long long>(info.learner_steps()), info.epsilon(), static_cast<long long>(w.feedback_sent),
           w.errors ? absl::StrCat(" errors ", w.errors).c_str() : "",
           wo.shift_at_s >= 0 && w.start_s <= wo.shift_at_s && wo.shift_at_s < w.end_s ? "  <- preference shift"
                                                                                    : "");
    fflush(stdout);
    if (csv.is_open()) csv << rtrec::sim::WindowCsvRow(w) << "\n" << std::flush;
  };
  auto summary = rtrec::sim::RunSimulation(*world, so, &service, on_window);
  if (!summary.ok()) {
    fprintf(stderr, "rtrec-sim: %s\n", std::string(summary.status().message()).c_str());
    return 2;
  }
  rtrec::sim::SummarizeShift(*world, &*summary, 3, absl::GetFlag(FLAGS_recover_to));
  printf("rtrec-sim: served/oracle (the share of the oracle's click rate rtrec reached) %.3f over the last 3 "
         "windows before the shift, %.3f averaged over every window after it; ",
         summary->before_shift, summary->after_shift);
  if (summary->feedback_to_recover >= 0) {
    printf("at 90%% of %.3f again after %lld feedback events (%.0f s)\n", summary->recovery_level,
           static_cast<long long>(summary->feedback_to_recover), summary->seconds_to_recover);
  } else {
    printf("not at 90%% of %.3f again by the end\n", summary->recovery_level);
  }
  if (!absl::GetFlag(FLAGS_summary).empty()) {
    std::ofstream out(absl::GetFlag(FLAGS_summary));
    out << absl::StrFormat(
        "before_shift=%.4f\nafter_shift=%.4f\nrecovery_level=%.4f\nfeedback_to_recover=%d\n"
        "seconds_to_recover=%.1f\ntotal_feedback=%d\n",
        summary->before_shift, summary->after_shift, summary->recovery_level, summary->feedback_to_recover,
        summary->seconds_to_recover, summary->total_feedback);
  }
  return 0;
}

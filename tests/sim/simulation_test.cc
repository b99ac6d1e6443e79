#include "sim/simulation.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "config/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/catalog.h"
#include "sim/stream_world.h"

namespace rtrec::sim {
namespace {

std::vector<model::CatalogItem> DemoItems() {
  auto items = model::ReadCatalogJsonl(config::DefaultCatalogPath(), 1 << 20);
  EXPECT_TRUE(items.ok()) << items.status();
  return *items;
}

StreamWorld MakeWorld(double shift_at_s = 30, uint64_t seed = 42, double drift = 0.5) {
  StreamWorldOptions o;
  o.drift = drift;
  o.num_users = 50;
  o.shift_at_s = shift_at_s;
  o.seed = seed;
  auto w = StreamWorld::Create(o, DemoItems());
  EXPECT_TRUE(w.ok()) << w.status();
  return *std::move(w);
}

// A deterministic stand-in for a server: each slate is a pure function of
// (user, query, the user's feedback so far is NOT used), so runs compare.
class FixedService : public SimulatedService {
 public:
  FixedService(const StreamWorld* world, std::function<std::vector<int64_t>(int64_t user, int64_t k)> pick)
      : world_(world), pick_(std::move(pick)) {}
  absl::StatusOr<SimulatedSlate> Recommend(const std::string& user_id, const std::string& query,
                                           int64_t k) override {
    if (user_id == fail_user_) return absl::UnavailableError("down");
    SimulatedSlate s;
    s.request_id = absl::StrCat("r-", user_id, "-", query);
    const int64_t user = std::stoll(user_id.substr(user_id.rfind('-') + 1));
    for (int64_t i : pick_(user, k)) s.item_ids.push_back(world_->items()[i].item_id);
    s.model_version = 1;
    return s;
  }
  absl::Status Feedback(const std::string& request_id, const std::string&, const std::string&,
                        double reward) override {
    (request_id.empty() ? organic_ : joined_).fetch_add(1);
    if (!request_id.empty() && reward > 0) positive_.fetch_add(1);
    return absl::OkStatus();
  }
  std::atomic<int64_t> joined_{0}, organic_{0}, positive_{0};
  std::string fail_user_;

 private:
  const StreamWorld* world_;
  std::function<std::vector<int64_t>(int64_t, int64_t)> pick_;
};

std::vector<int64_t> FirstItems(int64_t user, int64_t k) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < k; ++i) out.push_back((user * 7 + i * 13) % 240);
  return out;
}

SimulationOptions FastOptions(uint64_t seed, int concurrency) {
  SimulationOptions o;
  o.seconds = 60;
  o.rate = 40;
  o.window_s = 10;
  o.concurrency = concurrency;
  o.seed = seed;
  o.real_time = false;
  return o;
}

std::vector<std::string> Csv(const SimulationSummary& s) {
  std::vector<std::string> rows;
  for (const auto& w : s.windows) rows.push_back(WindowCsvRow(w));
  return rows;
}

TEST(SimulationTest, SameSeedGivesTheSameRunWithOneOrFourClientThreads) {
  const StreamWorld world = MakeWorld();
  FixedService one(&world, FirstItems), four(&world, FirstItems), other(&world, FirstItems);
  std::vector<int64_t> order;
  auto a = RunSimulation(world, FastOptions(7, 1), &one, [&](const WindowReport& w) { order.push_back(w.window); });
  auto b = RunSimulation(world, FastOptions(7, 4), &four, nullptr);
  auto c = RunSimulation(world, FastOptions(8, 4), &other, nullptr);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  ASSERT_EQ(a->windows.size(), 6u);
  EXPECT_EQ(Csv(*a), Csv(*b));
  EXPECT_NE(Csv(*a), Csv(*c));
  EXPECT_THAT(order, ::testing::ElementsAre(0, 1, 2, 3, 4, 5));  // reported in order
  int64_t requests = 0, clicks = 0, sent = 0, impressions = 0;
  for (const auto& w : a->windows) {
    requests += w.requests;
    clicks += w.clicks;
    sent += w.feedback_sent;
    impressions += w.impressions;
    EXPECT_EQ(w.after_shift, w.start_s >= 30);
  }
  EXPECT_EQ(requests, 60 * 40);
  // Every shown slot went back as feedback, the clicks with a positive reward.
  EXPECT_EQ(one.joined_.load(), impressions);
  EXPECT_EQ(one.positive_.load(), clicks);
  EXPECT_EQ(sent, impressions + one.organic_.load());
  EXPECT_GT(one.organic_.load(), 0);
  // Clicks only: the same clicks, nothing else sent for the slates.
  FixedService clicks_only(&world, FirstItems);
  SimulationOptions o = FastOptions(7, 1);
  o.report_every_slot = false;
  auto d = RunSimulation(world, o, &clicks_only, nullptr);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(clicks_only.joined_.load(), clicks);
  EXPECT_EQ(clicks_only.positive_.load(), clicks);
}

TEST(SimulationTest, OracleServiceMatchesTheOracleAndRandomServiceTheRandomRate) {
  // Without drift, the oracle slate of time 0 is the oracle slate throughout.
  const StreamWorld world = MakeWorld(/*shift_at_s=*/-1, 42, /*drift=*/0);
  FixedService oracle(&world, [&](int64_t user, int64_t k) {
    std::vector<int64_t> idx(world.items().size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
    std::stable_sort(idx.begin(), idx.end(), [&](int64_t x, int64_t y) {
      return world.ClickProbability(user, x, 0, 0) > world.ClickProbability(user, y, 0, 0);
    });
    idx.resize(k);
    return idx;
  });
  SimulationOptions o = FastOptions(3, 2);
  o.seconds = 2;
  o.window_s = 2;
  o.rate = 200;
  auto run = RunSimulation(world, o, &oracle, nullptr);
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(run->windows.size(), 1u);
  EXPECT_NEAR(run->windows[0].served_expected, run->windows[0].oracle, 0.01 * run->windows[0].oracle);
  EXPECT_GT(run->windows[0].oracle, 2 * run->windows[0].random);
  // Sampled clicks agree with the expected rate (400 slates x 5 items).
  EXPECT_NEAR(run->windows[0].served_ctr, run->windows[0].served_expected, 0.04);

  // A seeded uniformly random slate per request.
  std::atomic<uint64_t> counter{0};
  FixedService random(&world, [&](int64_t, int64_t k) {
    std::mt19937_64 rng(counter.fetch_add(1));
    std::vector<int64_t> idx(world.items().size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(k);
    return idx;
  });
  o.seconds = 20;
  o.window_s = 20;
  auto r = RunSimulation(world, o, &random, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->windows[0].served_expected, r->windows[0].random, 0.1 * r->windows[0].random);
}

TEST(SimulationTest, ShiftMovesEveryUsersTastesAndHurtsAStaleSlate) {
  const StreamWorld world = MakeWorld(/*shift_at_s=*/30, 42, /*drift=*/0);
  for (int64_t u = 0; u < world.num_users(); ++u) {
    const auto before = world.LikedTopics(u, 29.9), after = world.LikedTopics(u, 30);
    ASSERT_EQ(before.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(after[i], (before[i] + 3) % static_cast<int64_t>(world.topics().size()));
    }
    // Position bias: the same item is clicked less further down the slate.
    EXPECT_LT(world.ClickProbability(u, 0, 3, 0), world.ClickProbability(u, 0, 0, 0));
  }
  EXPECT_EQ(world.IndexOf("no-such-item"), -1);
  EXPECT_EQ(world.ClickProbability(0, -1, 0, 0), world.options().base_ctr);

  // A service that serves the pre-shift oracle slate until it has received
  // `adapt_after` clicks (positive feedback; every slot is reported) after
  // the shift, then the post-shift one.
  std::atomic<int64_t> clicks_after_shift{0};
  std::atomic<bool> shifted{false};
  const int64_t adapt_after = 150;
  class AdaptingService : public SimulatedService {
   public:
    AdaptingService(const StreamWorld* w, std::atomic<int64_t>* n, std::atomic<bool>* shifted, int64_t adapt_after)
        : w_(w), n_(n), shifted_(shifted), adapt_after_(adapt_after) {}
    absl::StatusOr<SimulatedSlate> Recommend(const std::string& user_id, const std::string&, int64_t k) override {
      const int64_t user = std::stoll(user_id.substr(user_id.rfind('-') + 1));
      const double t = shifted_->load() && n_->load() >= adapt_after_ ? 31 : 0;
      std::vector<int64_t> idx(w_->items().size());
      for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<int64_t>(i);
      std::stable_sort(idx.begin(), idx.end(), [&](int64_t x, int64_t y) {
        return w_->ClickProbability(user, x, 0, t) > w_->ClickProbability(user, y, 0, t);
      });
      SimulatedSlate s;
      s.request_id = "r";
      for (int64_t i = 0; i < k; ++i) s.item_ids.push_back(w_->items()[idx[i]].item_id);
      return s;
    }
    absl::Status Feedback(const std::string&, const std::string&, const std::string&, double reward) override {
      if (shifted_->load() && reward > 0) n_->fetch_add(1);
      return absl::OkStatus();
    }

   private:
    const StreamWorld* w_;
    std::atomic<int64_t>* n_;
    std::atomic<bool>* shifted_;
    int64_t adapt_after_;
  } service(&world, &clicks_after_shift, &shifted, adapt_after);
  SimulationOptions o = FastOptions(5, 1);
  o.window_s = 5;
  o.rate = 40;
  auto run = RunSimulation(world, o, &service, [&](const WindowReport& w) {
    // One thread: the window before the shift ends before any later request.
    if (w.end_s >= 30) shifted = true;
  });
  ASSERT_TRUE(run.ok());
  // Windows before the shift are near the oracle; the first after it is far below.
  EXPECT_GT(run->before_shift, 0.8);
  const WindowReport& first_after = run->windows[6];
  ASSERT_TRUE(first_after.after_shift);
  EXPECT_LT(first_after.served_expected / first_after.oracle, 0.5 * run->before_shift);
  // Recovery is counted in feedback events from the shift to the end of the
  // first window back at 90 %: at least the 150 the service waited for.
  ASSERT_GE(run->recovered_window, 7);
  EXPECT_GE(run->feedback_to_recover, adapt_after);
  int64_t sent = 0;
  for (int64_t w = 6; w <= run->recovered_window; ++w) sent += run->windows[w].feedback_sent;
  EXPECT_EQ(run->feedback_to_recover, sent);
  EXPECT_DOUBLE_EQ(run->seconds_to_recover, run->windows[run->recovered_window].end_s - 30);
  EXPECT_EQ(run->recovery_level, run->before_shift);
  // Against a level nobody reaches (another run's, say), it never recovers.
  SimulationSummary against = *run;
  SummarizeShift(world, &against, 3, /*reference_level=*/1.5);
  EXPECT_EQ(against.recovery_level, 1.5);
  EXPECT_EQ(against.recovered_window, -1);
  EXPECT_EQ(against.feedback_to_recover, -1);
}

// Eight client threads against a service that answers from several threads
// too (run under ThreadSanitizer by tools/sanitize.sh). The world is built in
// code: Debian's protobuf (the catalog's JSON parser) is not instrumented.
TEST(SimulationConcurrencyTest, EightClientsReportEveryRequestOnce) {
  std::vector<model::CatalogItem> items;
  for (int i = 0; i < 36; ++i) {
    model::CatalogItem item;
    item.item_id = "item-" + std::to_string(i);
    item.tags = {"topic-" + std::to_string(i % 6)};
    items.push_back(item);
  }
  StreamWorldOptions wo;
  wo.num_users = 20;
  wo.shift_at_s = 5;
  auto world = StreamWorld::Create(wo, items);
  ASSERT_TRUE(world.ok()) << world.status();
  FixedService service(&*world, [](int64_t user, int64_t k) {
    std::vector<int64_t> out;
    for (int64_t i = 0; i < k; ++i) out.push_back((user + i * 5) % 36);
    return out;
  });
  SimulationOptions o = FastOptions(11, 8);
  o.seconds = 10;
  o.window_s = 1;
  o.rate = 100;
  int64_t reported = 0, last = -1;
  auto run = RunSimulation(*world, o, &service, [&](const WindowReport& w) {
    EXPECT_EQ(w.window, last + 1);  // in order, one at a time
    last = w.window;
    reported += w.requests;
  });
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(reported, 1000);
  EXPECT_EQ(run->windows.size(), 10u);
  // Every shown slot is reported once (1 clicked, 0 not), and the positive
  // ones are exactly the clicks counted.
  int64_t clicks = 0, impressions = 0;
  for (const auto& w : run->windows) clicks += w.clicks, impressions += w.impressions;
  EXPECT_EQ(impressions, 1000 * o.k);
  EXPECT_EQ(service.joined_.load(), impressions);
  EXPECT_EQ(service.positive_.load(), clicks);
  EXPECT_GT(clicks, 0);
}

TEST(SimulationTest, ErrorsAreCountedAndBadOptionsRefused) {
  const StreamWorld world = MakeWorld();
  FixedService service(&world, FirstItems);
  service.fail_user_ = "sim-user-3";
  auto run = RunSimulation(world, FastOptions(1, 2), &service, nullptr);
  ASSERT_TRUE(run.ok());
  int64_t errors = 0;
  for (const auto& w : run->windows) errors += w.errors;
  EXPECT_GT(errors, 0);
  SimulationOptions bad = FastOptions(1, 1);
  bad.rate = 0;
  EXPECT_THAT(RunSimulation(world, bad, &service, nullptr).status().message(), ::testing::HasSubstr("rate"));
  EXPECT_THAT(StreamWorld::Create(StreamWorldOptions(), {}).status().message(), ::testing::HasSubstr("catalog"));
}

}  // namespace
}  // namespace rtrec::sim

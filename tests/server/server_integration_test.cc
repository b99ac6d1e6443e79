// A real rtrec server on 127.0.0.1:0, driven through the generated stub.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/recommender_model.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "server/server.h"
#include "tests/server/test_util.h"

namespace rtrec::server {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using rtrec::v1::Recommender;

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(const config::RtrecConfig& config) {
    auto server = RtrecServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = Recommender::NewStub(channel_);
  }
  void StartAndLoad(const config::RtrecConfig& config = rtrec::testing::LoopbackConfig()) {
    StartServer(config);
    ASSERT_TRUE(server_->Load().ok());
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  grpc::Status Recommend(const v1::RecommendRequest& req, v1::RecommendResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->Recommend(&ctx, req, resp);
  }
  grpc::Status Feedback(const v1::FeedbackRequest& req, v1::FeedbackResponse* resp = nullptr) {
    grpc::ClientContext ctx;
    v1::FeedbackResponse ignored;
    return stub_->Feedback(&ctx, req, resp ? resp : &ignored);
  }
  v1::ModelInfo Info() {
    grpc::ClientContext ctx;
    v1::ModelInfo info;
    EXPECT_TRUE(stub_->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
    return info;
  }
  static std::vector<std::string> Ids(const v1::RecommendResponse& r) {
    std::vector<std::string> ids;
    for (const auto& i : r.items()) ids.push_back(i.item_id());
    return ids;
  }
  // The behaviour context the user tower saw.
  static std::vector<std::string> ContextIds(const v1::RecommendResponse& r) {
    return {r.context_item_ids().begin(), r.context_item_ids().end()};
  }

  // Declared before server_, so a server started on it stops first.
  FakeClock fake_clock_;
  std::unique_ptr<RtrecServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Recommender::Stub> stub_;
};

TEST_F(ServerTest, HealthIsNotServingUntilLoadedAndRpcsAnswerUnavailable) {
  StartServer(rtrec::testing::LoopbackConfig());
  grpc::Status hs;
  EXPECT_EQ(rtrec::testing::Health(channel_, &hs), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(hs.ok()) << hs.error_message();
  v1::RecommendRequest req;
  req.set_user_id("early");
  v1::RecommendResponse resp;
  EXPECT_EQ(Recommend(req, &resp).error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_TRUE(server_->Load().ok());
  EXPECT_EQ(rtrec::testing::Health(channel_), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_TRUE(Recommend(req, &resp).ok());
}

// Server reflection answers list_services with rtrec's service. The request
// is hand-encoded (ServerReflectionRequest.list_services = "", field 7), since
// the reflection messages live inside libgrpc++_reflection.
TEST_F(ServerTest, ReflectionListsTheRecommenderService) {
  StartAndLoad();
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto call = stub.PrepareCall(&ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  auto step = [&](intptr_t want) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&tag, &ok));
    EXPECT_EQ(reinterpret_cast<intptr_t>(tag), want);
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(step(1));
  const char request[] = {0x3a, 0x00};
  grpc::Slice slice(request, sizeof(request));
  grpc::ByteBuffer out(&slice, 1);
  call->Write(out, reinterpret_cast<void*>(2));
  ASSERT_TRUE(step(2));
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(3));
  ASSERT_TRUE(step(3));
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(in.Dump(&slices).ok());
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_THAT(bytes, HasSubstr("rtrec.v1.Recommender"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  EXPECT_TRUE(status.ok()) << status.error_message();
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ServerTest, FeedbackReachesTheNextRecommendAndJoinsTheImpression) {
  StartAndLoad();
  v1::RecommendRequest req;
  req.set_user_id("alice");
  req.set_k(5);
  v1::RecommendResponse first;
  ASSERT_TRUE(Recommend(req, &first).ok());
  ASSERT_EQ(first.items_size(), 5);
  EXPECT_FALSE(first.request_id().empty());
  EXPECT_EQ(first.model_version(), 1);
  EXPECT_EQ(first.context_item_ids_size(), 0);
  const std::vector<std::string> first_ids = Ids(first);
  std::set<std::string> distinct(first_ids.begin(), first_ids.end());
  EXPECT_EQ(distinct.size(), 5u);
  for (const auto& item : first.items()) {
    EXPECT_GT(item.propensity(), 0.0);
    EXPECT_LE(item.propensity(), 1.0);
  }
  const std::string clicked = first.items(2).item_id();
  v1::FeedbackRequest fb;
  fb.set_request_id(first.request_id());
  fb.set_user_id("alice");
  fb.set_item_id(clicked);
  fb.set_reward(1.0);
  fb.set_event_type(v1::EVENT_TYPE_CLICK);
  v1::FeedbackResponse fb_resp;
  ASSERT_TRUE(Feedback(fb, &fb_resp).ok());
  EXPECT_TRUE(fb_resp.joined());
  v1::RecommendResponse second;
  ASSERT_TRUE(Recommend(req, &second).ok());
  EXPECT_THAT(ContextIds(second),
              Contains(clicked));
  EXPECT_THAT(Ids(second), Not(Contains(clicked)));  // recent items are not re-recommended
  req.set_allow_recent_items(true);
  req.add_candidate_item_ids(clicked);
  v1::RecommendResponse allowed;
  ASSERT_TRUE(Recommend(req, &allowed).ok());
  EXPECT_THAT(Ids(allowed), Contains(clicked));
  // An organic event (no request_id) also enters the history at once.
  v1::FeedbackRequest organic;
  organic.set_user_id("alice");
  organic.set_item_id("jazz-003");
  organic.set_reward(1.0);
  organic.set_event_type(v1::EVENT_TYPE_PURCHASE);
  ASSERT_TRUE(Feedback(organic).ok());
  v1::RecommendRequest again;
  again.set_user_id("alice");
  v1::RecommendResponse third;
  ASSERT_TRUE(Recommend(again, &third).ok());
  ASSERT_GE(third.context_item_ids_size(), 2);
  EXPECT_EQ(third.context_item_ids(third.context_item_ids_size() - 1), "jazz-003");
  v1::ModelInfo info = Info();
  EXPECT_EQ(info.impressions_joined(), 1);
  EXPECT_EQ(info.experiences_pending(), 2);  // one joined + one organic
  EXPECT_EQ(info.catalog_size(), 240);
}

// What feedback means: only positive events enter the history, once; every
// joined report, zeros included, is a training example.
TEST_F(ServerTest, OnlyPositiveFeedbackEntersTheHistoryOnceAndZerosAreStillLearned) {
  StartAndLoad(rtrec::testing::LoopbackConfig());
  v1::RecommendRequest req;
  req.set_user_id("bob");
  req.set_k(4);
  req.set_exclusion(v1::EXCLUSION_NONE);
  v1::RecommendResponse slate;
  ASSERT_TRUE(Recommend(req, &slate).ok());
  ASSERT_EQ(slate.items_size(), 4);
  auto report = [&](int pos, double reward, v1::EventType type, v1::FeedbackResponse* out = nullptr) {
    v1::FeedbackRequest fb;
    fb.set_request_id(slate.request_id());
    fb.set_user_id("bob");
    fb.set_item_id(slate.items(pos).item_id());
    fb.set_reward(reward);
    fb.set_event_type(type);
    v1::FeedbackResponse resp;
    grpc::Status s = Feedback(fb, &resp);
    if (out) *out = resp;
    return s;
  };
  // A zero (seen, ignored), a dismiss with a positive reward, a negative: none
  // enters the history; all three are joined, so all three are learned.
  ASSERT_TRUE(report(0, 0.0, v1::EVENT_TYPE_UNSPECIFIED).ok());
  ASSERT_TRUE(report(1, 1.0, v1::EVENT_TYPE_DISMISS).ok());
  ASSERT_TRUE(report(2, -1.0, v1::EVENT_TYPE_VIEW).ok());
  v1::RecommendResponse after;
  ASSERT_TRUE(Recommend(req, &after).ok());
  EXPECT_EQ(after.context_item_ids_size(), 0);
  // A click enters once; its duplicate, and a later positive report for the
  // item first reported with 0, behave as the proto says.
  v1::FeedbackResponse dup;
  ASSERT_TRUE(report(3, 1.0, v1::EVENT_TYPE_UNSPECIFIED).ok());
  ASSERT_TRUE(report(3, 1.0, v1::EVENT_TYPE_CLICK, &dup).ok());
  EXPECT_TRUE(dup.duplicate());
  ASSERT_TRUE(report(0, 1.0, v1::EVENT_TYPE_CLICK).ok());  // first positive for item 0
  ASSERT_TRUE(report(0, 1.0, v1::EVENT_TYPE_CLICK).ok());  // its repeat
  ASSERT_TRUE(Recommend(req, &after).ok());
  EXPECT_THAT(ContextIds(after),
              ElementsAre(slate.items(3).item_id(), slate.items(0).item_id()));
  v1::ModelInfo info = Info();
  EXPECT_EQ(info.impressions_joined(), 4);      // one per slate item
  EXPECT_EQ(info.experiences_pending(), 4);     // zeros and the negative included
  EXPECT_EQ(info.feedback_duplicate(), 3);
}

// users.learn_taste: a zero never enters the history, yet the user's next
// slate already scores the ignored item lower (the taste learned it at
// once, with no learner running and the model version unchanged), and only
// for that user.
TEST_F(ServerTest, AZeroLowersTheIgnoredItemAtTheUsersNextRequestOnly) {
  StartAndLoad(rtrec::testing::LoopbackConfig());
  auto scores_for = [&](const std::string& user, const std::vector<std::string>& candidates,
                        v1::RecommendResponse* out) {
    v1::RecommendRequest req;
    req.set_user_id(user);
    req.set_k(static_cast<int>(candidates.size()));
    req.set_exclusion(v1::EXCLUSION_NONE);
    for (const auto& c : candidates) req.add_candidate_item_ids(c);
    EXPECT_TRUE(Recommend(req, out).ok());
    std::map<std::string, float> by_item;
    for (const auto& i : out->items()) by_item[i.item_id()] = i.score();
    return by_item;
  };
  v1::RecommendRequest first;
  first.set_user_id("bob");
  first.set_k(4);
  v1::RecommendResponse slate;
  ASSERT_TRUE(Recommend(first, &slate).ok());
  ASSERT_EQ(slate.items_size(), 4);
  const std::vector<std::string> candidates = Ids(slate);
  v1::RecommendResponse bob_before, carol_before, bob_after, carol_after;
  auto bob0 = scores_for("bob", candidates, &bob_before);
  auto carol0 = scores_for("carol", candidates, &carol_before);
  v1::FeedbackRequest fb;
  fb.set_request_id(bob_before.request_id());
  fb.set_user_id("bob");
  fb.set_item_id(candidates[0]);
  fb.set_reward(0.0);
  ASSERT_TRUE(Feedback(fb).ok());
  auto bob1 = scores_for("bob", candidates, &bob_after);
  auto carol1 = scores_for("carol", candidates, &carol_after);
  EXPECT_EQ(bob_after.model_version(), bob_before.model_version());
  EXPECT_EQ(bob_after.context_item_ids_size(), 0);
  EXPECT_LT(bob1[candidates[0]], bob0[candidates[0]] - 1e-4);
  for (const auto& c : candidates) EXPECT_FLOAT_EQ(carol1[c], carol0[c]) << c;
}

TEST_F(ServerTest, ExclusionModesLeaveOutNothingTheRecentWindowOrEverythingConsumed) {
  auto config = rtrec::testing::LoopbackConfig();
  config.users.history_length = 2;
  StartAndLoad(config);
  // Three organic purchases: the window (2) holds the last two, the consumed
  // set all three.
  const std::vector<std::string> bought = {"jazz-001", "jazz-002", "jazz-003"};
  for (const auto& id : bought) {
    v1::FeedbackRequest fb;
    fb.set_user_id("carol");
    fb.set_item_id(id);
    fb.set_reward(1.0);
    fb.set_event_type(v1::EVENT_TYPE_PURCHASE);
    ASSERT_TRUE(Feedback(fb).ok());
  }
  auto slate_of = [&](v1::Exclusion exclusion) {
    v1::RecommendRequest req;
    req.set_user_id("carol");
    req.set_k(5);
    for (const auto& id : bought) req.add_candidate_item_ids(id);
    req.add_candidate_item_ids("jazz-004");
    req.set_exclusion(exclusion);
    v1::RecommendResponse resp;
    EXPECT_TRUE(Recommend(req, &resp).ok());
    std::vector<std::string> ids = Ids(resp);
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  EXPECT_THAT(slate_of(v1::EXCLUSION_NONE), ElementsAre("jazz-001", "jazz-002", "jazz-003", "jazz-004"));
  EXPECT_THAT(slate_of(v1::EXCLUSION_RECENT), ElementsAre("jazz-001", "jazz-004"));
  EXPECT_THAT(slate_of(v1::EXCLUSION_CONSUMED), ElementsAre("jazz-004"));
  // Unspecified is the configured default (recent).
  EXPECT_THAT(slate_of(v1::EXCLUSION_UNSPECIFIED), ElementsAre("jazz-001", "jazz-004"));
  v1::RecommendRequest bad;
  bad.set_user_id("carol");
  bad.set_exclusion(static_cast<v1::Exclusion>(42));
  v1::RecommendResponse resp;
  grpc::Status s = Recommend(bad, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("exclusion"));
}

TEST_F(ServerTest, ThirtyTwoConcurrentClientsAreBatchedTogether) {
  auto config = rtrec::testing::LoopbackConfig();
  config.batcher.max_batch_size = 32;
  // Long enough that a batch only closes early when it is full.
  config.batcher.max_queue_delay_us = 2000000;
  config.batcher.num_threads = 2;
  StartAndLoad(config);
  const int kClients = 32;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = Recommender::NewStub(channel_);
      v1::RecommendRequest req;
      req.set_user_id("user-" + std::to_string(c));
      req.set_k(3);
      v1::RecommendResponse resp;
      grpc::ClientContext ctx;
      if (stub->Recommend(&ctx, req, &resp).ok() && resp.items_size() == 3) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients);
  v1::ModelInfo info = Info();
  EXPECT_EQ(info.batched_requests(), kClients);
  EXPECT_GT(info.largest_batch_size(), 1);
  EXPECT_LT(info.batches(), kClients);
  // The same counters, as Prometheus scrapes them.
  std::string metrics = rtrec::testing::HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("200 OK"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_batch_size_count " ));
  EXPECT_THAT(metrics, HasSubstr("rtrec_rpc_requests_total{code=\"OK\",method=\"Recommend\"} 32"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_impressions_logged_total 32"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_model_version 1"));
  EXPECT_THAT(rtrec::testing::HttpGet(server_->metrics_port(), "/other"), HasSubstr("404"));
}

struct BadRequestCase {
  const char* name;
  std::function<void(v1::RecommendRequest*)> mutate;
  grpc::StatusCode code;
  const char* field;
};

TEST_F(ServerTest, BadRecommendRequestsGetTheRightCodeAndTheServerKeepsServing) {
  auto config = rtrec::testing::LoopbackConfig();
  config.server.max_query_bytes = 64;
  config.server.max_candidates = 5;
  StartAndLoad(config);
  std::vector<BadRequestCase> cases = {
      {"no user", [](auto* r) { r->clear_user_id(); }, grpc::StatusCode::INVALID_ARGUMENT, "user_id"},
      {"long user", [](auto* r) { r->set_user_id(std::string(300, 'u')); },
       grpc::StatusCode::INVALID_ARGUMENT, "user_id"},
      {"negative k", [](auto* r) { r->set_k(-1); }, grpc::StatusCode::INVALID_ARGUMENT, "k:"},
      {"huge k", [](auto* r) { r->set_k(100000); }, grpc::StatusCode::INVALID_ARGUMENT, "k:"},
      {"long query", [](auto* r) { r->set_query(std::string(65, 'q')); },
       grpc::StatusCode::INVALID_ARGUMENT, "query"},
      {"unknown candidate", [](auto* r) { r->add_candidate_item_ids("no-such-item"); },
       grpc::StatusCode::INVALID_ARGUMENT, "candidate_item_ids[0]"},
      {"duplicate candidate",
       [](auto* r) {
         r->add_candidate_item_ids("tea-001");
         r->add_candidate_item_ids("tea-001");
       },
       grpc::StatusCode::INVALID_ARGUMENT, "candidate_item_ids[1]"},
      {"too many candidates",
       [](auto* r) {
         for (int i = 0; i < 6; ++i) r->add_candidate_item_ids("tea-00" + std::to_string(i));
       },
       grpc::StatusCode::INVALID_ARGUMENT, "candidate_item_ids"},
      {"unknown context", [](auto* r) { r->add_context_item_ids(""); },
       grpc::StatusCode::INVALID_ARGUMENT, "context_item_ids[0]"},
  };
  for (const auto& c : cases) {
    v1::RecommendRequest req;
    req.set_user_id("bob");
    c.mutate(&req);
    v1::RecommendResponse resp;
    grpc::Status s = Recommend(req, &resp);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.field)) << c.name;
  }
  struct FeedbackCase {
    const char* name;
    std::function<void(v1::FeedbackRequest*)> mutate;
    grpc::StatusCode code;
    const char* field;
  };
  std::vector<FeedbackCase> feedback_cases = {
      {"no user", [](auto* r) { r->clear_user_id(); }, grpc::StatusCode::INVALID_ARGUMENT, "user_id"},
      {"no item", [](auto* r) { r->clear_item_id(); }, grpc::StatusCode::INVALID_ARGUMENT, "item_id"},
      {"unknown item", [](auto* r) { r->set_item_id("ghost"); }, grpc::StatusCode::INVALID_ARGUMENT,
       "item_id"},
      {"nan reward", [](auto* r) { r->set_reward(std::nan("")); }, grpc::StatusCode::INVALID_ARGUMENT,
       "reward"},
      {"huge reward", [](auto* r) { r->set_reward(1e9); }, grpc::StatusCode::INVALID_ARGUMENT, "reward"},
      {"bad event", [](auto* r) { r->set_event_type(static_cast<v1::EventType>(42)); },
       grpc::StatusCode::INVALID_ARGUMENT, "event_type"},
      {"negative time", [](auto* r) { r->set_timestamp_ms(-5); }, grpc::StatusCode::INVALID_ARGUMENT,
       "timestamp_ms"},
      {"unknown request", [](auto* r) { r->set_request_id("never-issued"); },
       grpc::StatusCode::NOT_FOUND, "request_id"},
  };
  for (const auto& c : feedback_cases) {
    v1::FeedbackRequest req;
    req.set_user_id("bob");
    req.set_item_id("tea-001");
    req.set_reward(1);
    c.mutate(&req);
    grpc::Status s = Feedback(req);
    EXPECT_EQ(s.error_code(), c.code) << c.name << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.field)) << c.name;
  }
  // Feedback naming an item outside the slate, or another user's request.
  v1::RecommendRequest ok_req;
  ok_req.set_user_id("bob");
  ok_req.set_k(2);
  v1::RecommendResponse ok_resp;
  ASSERT_TRUE(Recommend(ok_req, &ok_resp).ok());
  v1::FeedbackRequest wrong_user;
  wrong_user.set_request_id(ok_resp.request_id());
  wrong_user.set_user_id("mallory");
  wrong_user.set_item_id(ok_resp.items(0).item_id());
  EXPECT_EQ(Feedback(wrong_user).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // Bad upserts.
  {
    v1::UpsertItemsRequest up;
    grpc::ClientContext ctx;
    v1::UpsertItemsResponse resp;
    grpc::Status s = stub_->UpsertItems(&ctx, up, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("items"));
    up.add_items()->set_item_id("x");
    grpc::ClientContext ctx2;
    s = stub_->UpsertItems(&ctx2, up, &resp);
    EXPECT_THAT(s.error_message(), HasSubstr("items[0].text"));
  }
  // Still serving, and nothing answered INTERNAL.
  ASSERT_TRUE(Recommend(ok_req, &ok_resp).ok());
  EXPECT_EQ(rtrec::testing::Health(channel_), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_THAT(server_->metrics()->RenderText(), Not(HasSubstr("code=\"INTERNAL\"")));
}

TEST_F(ServerTest, UpsertedItemIsRecommendableAtOnce) {
  StartAndLoad();
  v1::UpsertItemsRequest up;
  auto* item = up.add_items();
  item->set_item_id("new-kayak");
  item->set_title("Inflatable kayak");
  item->set_text("A two-person inflatable kayak for lakes and rivers.");
  item->add_tags("water");
  grpc::ClientContext ctx;
  v1::UpsertItemsResponse resp;
  ASSERT_TRUE(stub_->UpsertItems(&ctx, up, &resp).ok());
  EXPECT_EQ(resp.inserted(), 1);
  EXPECT_EQ(resp.catalog_size(), 241);
  v1::RecommendRequest req;
  req.set_user_id("carol");
  req.add_candidate_item_ids("new-kayak");
  req.add_candidate_item_ids("tea-000");
  req.add_candidate_item_ids("coffee-000");
  req.set_k(3);
  v1::RecommendResponse rec;
  ASSERT_TRUE(Recommend(req, &rec).ok());
  EXPECT_THAT(Ids(rec), Contains("new-kayak"));
  // Updating the text keeps the item and its index.
  item->set_text("Now with a pump.");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->UpsertItems(&ctx2, up, &resp).ok());
  EXPECT_EQ(resp.updated(), 1);
  EXPECT_EQ(resp.catalog_size(), 241);
}

// The retrieval stage (retrieval.min_items below the demo catalog's 240
// items, 60 candidates): the greedy slate and its scores equal exact
// whole-catalog scoring of the same model, an exploring slate's items come
// from the retrieved set with propensities in (0, 1], the retrieved set is
// what the impression logged (it joins feedback), and /metrics and
// ModelInfo report the index.
TEST_F(ServerTest, RetrievalStageRanksLikeExactScoringAndExploresOverItsCandidates) {
  // A query gives each request a user state of its own (a new user's
  // scores would otherwise all tie).
  auto greedy = [&](const std::string& user) {
    v1::RecommendRequest req;
    req.set_user_id(user);
    req.set_query(user == "ana" ? "green tea" : user == "bo" ? "running shoes" : "camera lens " + user);
    req.set_k(10);
    req.set_exploration(false);
    v1::RecommendResponse resp;
    EXPECT_TRUE(Recommend(req, &resp).ok());
    return resp;
  };
  const std::vector<std::string> users = {"ana", "bo", "chen", "dara", "eli"};
  config::RtrecConfig exact = rtrec::testing::LoopbackConfig();
  exact.retrieval.min_items = 0;
  StartAndLoad(exact);
  std::vector<v1::RecommendResponse> expected;
  for (const auto& u : users) {
    expected.push_back(greedy(u));
    ASSERT_EQ(expected.back().items_size(), 10);
    // Scores that differ: a ranking for retrieval to get right.
    EXPECT_GT(expected.back().items(0).score() - expected.back().items(9).score(), 1e-3) << u;
  }
  server_->Shutdown();
  server_.reset();

  config::RtrecConfig retrieval = rtrec::testing::LoopbackConfig();
  retrieval.retrieval.min_items = 100;
  retrieval.retrieval.candidates = 60;
  retrieval.retrieval.lists = 16;  // every list probed: the plumbing, not FAISS recall, is tested here
  retrieval.retrieval.probes = 16;
  StartAndLoad(retrieval);
  for (size_t i = 0; i < users.size(); ++i) {
    const v1::RecommendResponse got = greedy(users[i]);
    ASSERT_EQ(Ids(got), Ids(expected[i])) << users[i];
    for (int j = 0; j < got.items_size(); ++j) {
      EXPECT_NEAR(got.items(j).score(), expected[i].items(j).score(), 1e-4);
    }
  }
  v1::RecommendRequest req;
  req.set_user_id("ana");
  req.set_k(10);
  req.set_exploration(true);
  v1::RecommendResponse explored;
  ASSERT_TRUE(Recommend(req, &explored).ok());
  ASSERT_EQ(explored.items_size(), 10);
  for (const auto& item : explored.items()) {
    EXPECT_GT(item.propensity(), 0.0);
    EXPECT_LE(item.propensity(), 1.0);
  }
  v1::FeedbackRequest fb;
  fb.set_request_id(explored.request_id());
  fb.set_user_id("ana");
  fb.set_item_id(explored.items(3).item_id());
  fb.set_reward(1.0);
  v1::FeedbackResponse joined;
  ASSERT_TRUE(Feedback(fb, &joined).ok());
  EXPECT_TRUE(joined.joined());
  const std::string metrics = rtrec::testing::HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("rtrec_retrieval_active 1"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_retrieval_index_items 240"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_retrieval_index_builds_total 1"));
}

TEST_F(ServerTest, DifferentQueriesGiveDifferentSlates) {
  StartAndLoad();
  auto slate = [&](const std::string& query) {
    v1::RecommendRequest req;
    req.set_user_id("dave");
    req.set_query(query);
    req.set_k(10);
    req.set_exploration(false);
    v1::RecommendResponse resp;
    EXPECT_TRUE(Recommend(req, &resp).ok());
    return Ids(resp);
  };
  auto running = slate("light trail running shoes");
  auto jazz = slate("a jazz record");
  ASSERT_EQ(running.size(), 10u);
  EXPECT_NE(running, jazz);
  EXPECT_EQ(running, slate("light trail running shoes"));  // greedy is deterministic
}

TEST_F(ServerTest, StreamFeedbackAcceptsGoodMessagesAndListsBadOnes) {
  StartAndLoad();
  grpc::ClientContext ctx;
  v1::StreamFeedbackResponse resp;
  auto writer = stub_->StreamFeedback(&ctx, &resp);
  for (int i = 0; i < 4; ++i) {
    v1::FeedbackRequest fb;
    fb.set_user_id("erin");
    fb.set_item_id(i == 2 ? "ghost" : "coffee-00" + std::to_string(i));
    fb.set_reward(1);
    ASSERT_TRUE(writer->Write(fb));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(resp.accepted(), 3);
  EXPECT_EQ(resp.rejected(), 1);
  ASSERT_EQ(resp.errors_size(), 1);
  EXPECT_EQ(resp.errors(0).index(), 2);
  EXPECT_THAT(resp.errors(0).message(), HasSubstr("item_id"));
  v1::RecommendRequest req;
  req.set_user_id("erin");
  v1::RecommendResponse rec;
  ASSERT_TRUE(Recommend(req, &rec).ok());
  EXPECT_EQ(rec.context_item_ids_size(), 3);
}

// Feedback over gRPC: duplicates are not learned twice, late feedback is
// counted, and a full experience buffer answers RESOURCE_EXHAUSTED.
TEST_F(ServerTest, FeedbackIsLateDuplicateOrRefusedWhenTheLearnerIsBehind) {
  auto config = rtrec::testing::LoopbackConfig();
  config.impressions.experience_capacity = 1;
  // A learner that is behind: it waits (up to an hour) for a batch of 1000
  // before it pops anything, so the one slot stays taken.
  config.learner.enabled = true;
  config.learner.batch_size = 1000;
  config.learner.max_batch_wait_ms = 3600000;
  config.impressions.reward_wait_ms = 60000;
  config.batcher.max_batch_size = 1;  // batches close by size: the fake clock never moves on its own
  auto server = RtrecServer::Start(config, &fake_clock_);
  ASSERT_TRUE(server.ok());
  server_ = std::move(*server);
  ASSERT_TRUE(server_->Load().ok());
  channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                 grpc::InsecureChannelCredentials());
  stub_ = Recommender::NewStub(channel_);
  v1::RecommendRequest req;
  req.set_user_id("bob");
  req.set_k(3);
  v1::RecommendResponse shown;
  ASSERT_TRUE(Recommend(req, &shown).ok());
  v1::FeedbackRequest fb;
  fb.set_user_id("bob");
  fb.set_request_id(shown.request_id());
  fb.set_item_id(shown.items(0).item_id());
  fb.set_reward(1.0);
  fb.set_event_type(v1::EVENT_TYPE_CLICK);
  v1::FeedbackResponse first, repeat, refused_resp;
  ASSERT_TRUE(Feedback(fb, &first).ok());
  EXPECT_TRUE(first.joined());
  ASSERT_TRUE(Feedback(fb, &repeat).ok());
  EXPECT_TRUE(repeat.duplicate());
  EXPECT_FALSE(repeat.joined());
  // The buffer (capacity 1) holds the first click: the next one is refused.
  fb.set_item_id(shown.items(1).item_id());
  grpc::Status refused = Feedback(fb, &refused_resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("impressions.experience_capacity"));
  // After the impression closed, feedback for it is late: accepted, counted.
  fake_clock_.Advance(absl::Milliseconds(60000));
  v1::FeedbackResponse late;
  fb.set_item_id(shown.items(2).item_id());
  ASSERT_TRUE(Feedback(fb, &late).ok());
  EXPECT_TRUE(late.late());
  v1::ModelInfo info = Info();
  EXPECT_EQ(info.feedback_duplicate(), 1);
  EXPECT_EQ(info.feedback_late(), 1);
  EXPECT_EQ(info.feedback_refused(), 1);
  EXPECT_EQ(info.impressions_joined(), 1);
  const std::string metrics = rtrec::testing::HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("rtrec_feedback_refused_total 1"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_feedback_late_total 1"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_feedback_duplicate_total 1"));
}

// With learning off nobody drains the experience buffer: feedback must still
// be accepted (it updates the user's history), the oldest experiences make
// room, and the drops are counted.
TEST_F(ServerTest, FeedbackIsNeverRefusedWhenLearningIsOff) {
  auto config = rtrec::testing::LoopbackConfig();
  config.impressions.experience_capacity = 2;
  StartAndLoad(config);
  v1::RecommendRequest req;
  req.set_user_id("off");
  req.set_k(5);
  v1::RecommendResponse shown;
  ASSERT_TRUE(Recommend(req, &shown).ok());
  for (const auto& item : shown.items()) {
    v1::FeedbackRequest fb;
    fb.set_user_id("off");
    fb.set_request_id(shown.request_id());
    fb.set_item_id(item.item_id());
    fb.set_reward(1.0);
    v1::FeedbackResponse resp;
    ASSERT_TRUE(Feedback(fb, &resp).ok());
    EXPECT_TRUE(resp.joined());
  }
  v1::ModelInfo info = Info();
  EXPECT_EQ(info.feedback_refused(), 0);
  EXPECT_EQ(info.experiences_pending(), 2);
  EXPECT_EQ(info.impressions_joined(), 5);
  EXPECT_THAT(rtrec::testing::HttpGet(server_->metrics_port(), "/metrics"),
              HasSubstr("rtrec_experiences_discarded_total 3"));
  v1::RecommendResponse next;
  ASSERT_TRUE(Recommend(req, &next).ok());
  EXPECT_EQ(next.context_item_ids_size(), 5);  // every click reached the history
}

// A change of taste detected from unclicked reports restarts the behaviour
// the user tower reads (the slate's context) but not what exclusion leaves
// out, and is counted on /metrics.
TEST_F(ServerTest, ChangeOfTasteRestartsTheContextButNotTheExclusion) {
  auto config = rtrec::testing::LoopbackConfig();
  // Any unclicked report completes a change (its P(click) is above 0.001).
  config.users.taste_change_surprise = 0.001;
  StartAndLoad(config);
  auto report = [&](const v1::RecommendResponse& slate, int position, double reward) {
    v1::FeedbackRequest fb;
    fb.set_user_id("carol");
    fb.set_request_id(slate.request_id());
    fb.set_item_id(slate.items(position).item_id());
    fb.set_reward(reward);
    v1::FeedbackResponse resp;
    ASSERT_TRUE(Feedback(fb, &resp).ok());
    EXPECT_TRUE(resp.joined());
  };
  v1::RecommendRequest req;
  req.set_user_id("carol");
  req.set_k(3);
  v1::RecommendResponse first;
  ASSERT_TRUE(Recommend(req, &first).ok());
  ASSERT_EQ(first.items_size(), 3);
  report(first, 0, 1.0);
  report(first, 1, 1.0);
  const std::string a = first.items(0).item_id(), b = first.items(1).item_id();
  v1::RecommendResponse second;
  ASSERT_TRUE(Recommend(req, &second).ok());
  EXPECT_THAT(ContextIds(second),
              ElementsAre(a, b));
  EXPECT_THAT(rtrec::testing::HttpGet(server_->metrics_port(), "/metrics"),
              HasSubstr("rtrec_taste_changes_total 0"));
  report(second, 0, 0.0);
  EXPECT_THAT(rtrec::testing::HttpGet(server_->metrics_port(), "/metrics"),
              HasSubstr("rtrec_taste_changes_total 1"));
  // Among a, b and two others, the default exclusion (recent) still leaves
  // out a and b, while the tower reads nothing from before the change.
  v1::RecommendRequest among = req;
  among.set_k(4);
  among.add_candidate_item_ids(a);
  among.add_candidate_item_ids(b);
  for (const std::string& id : {"jazz-001", "coffee-001"}) {
    if (id != a && id != b) among.add_candidate_item_ids(id);
  }
  v1::RecommendResponse third;
  ASSERT_TRUE(Recommend(among, &third).ok());
  EXPECT_EQ(third.context_item_ids_size(), 0);
  ASSERT_GE(third.items_size(), 1);
  EXPECT_THAT(Ids(third), Not(Contains(a)));
  EXPECT_THAT(Ids(third), Not(Contains(b)));
  // A click after the change is the first item of the new context.
  report(third, 0, 1.0);
  v1::RecommendResponse fourth;
  ASSERT_TRUE(Recommend(req, &fourth).ok());
  EXPECT_THAT(ContextIds(fourth),
              ElementsAre(third.items(0).item_id()));
}

// The GP tuner inside a real server: rounds complete from real feedback, and
// its state reaches GetModelInfo and /metrics.
TEST_F(ServerTest, TunerRoundsAreVisibleInModelInfoAndMetrics) {
  auto config = rtrec::testing::LoopbackConfig();
  config.learner.enabled = true;
  config.learner.batch_size = 8;
  config.learner.max_batch_wait_ms = 1;
  config.impressions.reward_wait_ms = 100;  // also the tuner's warm-up
  config.tuner.enabled = true;
  config.tuner.round_size = 40;
  config.tuner.initial_rounds = 2;
  StartAndLoad(config);
  v1::ModelInfo info;
  // Bounded by work, not time: each iteration is one Recommend and one click.
  for (int i = 0; i < 20000; ++i) {
    v1::RecommendRequest req;
    req.set_user_id("tuned-" + std::to_string(i % 7));
    req.set_k(4);
    v1::RecommendResponse resp;
    ASSERT_TRUE(Recommend(req, &resp).ok());
    v1::FeedbackRequest fb;
    fb.set_user_id(req.user_id());
    fb.set_request_id(resp.request_id());
    fb.set_item_id(resp.items(0).item_id());
    fb.set_reward(1.0);
    fb.set_event_type(v1::EVENT_TYPE_CLICK);
    ASSERT_TRUE(Feedback(fb).ok());
    if (i % 50 == 49) {
      info = Info();
      if (info.tuner().rounds() >= 3) break;
    }
  }
  ASSERT_TRUE(info.has_tuner());
  const v1::TunerInfo& t = info.tuner();
  ASSERT_GE(t.rounds(), 3);
  ASSERT_EQ(t.history_size(), t.rounds());
  EXPECT_NEAR(t.history(0).learning_rate(), config.learner.learning_rate, 1e-12);
  for (const auto& round : t.history()) {
    EXPECT_GE(round.examples(), config.tuner.round_size);
    EXPECT_GE(round.objective(), 0.0);
    EXPECT_LE(round.objective(), 1.0);
    EXPECT_LE(round.objective(), t.best_objective());
    EXPECT_GE(round.exploration(), config.tuner.exploration_min);
    EXPECT_LE(round.exploration(), config.tuner.exploration_max);
  }
  // The proposal in use is inside the box, and serving uses an ε from it.
  EXPECT_GE(std::log10(t.learning_rate()), config.tuner.log10_lr_min - 1e-9);
  EXPECT_LE(std::log10(t.learning_rate()), config.tuner.log10_lr_max + 1e-9);
  EXPECT_GE(info.epsilon(), config.tuner.exploration_min);
  EXPECT_LE(info.epsilon(), config.tuner.exploration_max);
  const std::string metrics = rtrec::testing::HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("rtrec_tuner_rounds_total"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_tuner_learning_rate"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_tuner_exploration"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_tuner_best_round_reward"));
}

// The concurrency tests (suite names containing "Concurrency") also run under
// AddressSanitizer (tools/sanitize.sh).
class ServerConcurrencyTest : public ServerTest {};

// 8 clients call Recommend and send feedback over gRPC while the learner
// thread trains on it and publishes after every step, until it published 100
// snapshots: no RPC fails, every version a client sees was published, and no
// client sees versions go backwards.
TEST_F(ServerConcurrencyTest, LearnerPublishes100SnapshotsUnderLoadAndNoRequestFails) {
  auto config = rtrec::testing::LoopbackConfig();
  config.learner.enabled = true;
  config.learner.publish_every = 1;
  config.learner.batch_size = 8;
  config.learner.max_batch_wait_ms = 1;
  config.learner.guard_min_examples = 1000000;  // finiteness only: every snapshot goes out
  StartAndLoad(config);
  constexpr int kClients = 8;
  constexpr int64_t kSnapshots = 100;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, served{0};
  std::vector<std::vector<int64_t>> versions(kClients);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = Recommender::NewStub(channel_);
      // Bounded by work, not time: a stuck learner fails the checks below.
      for (int i = 0; i < 20000 && !done.load(); ++i) {
        v1::RecommendRequest req;
        req.set_user_id("load-" + std::to_string(c));
        req.set_k(4);
        v1::RecommendResponse resp;
        grpc::ClientContext ctx;
        if (!stub->Recommend(&ctx, req, &resp).ok() || resp.items_size() != 4) {
          ++failures;
          continue;
        }
        ++served;
        versions[c].push_back(resp.model_version());
        v1::FeedbackRequest fb;
        fb.set_user_id(req.user_id());
        fb.set_request_id(resp.request_id());
        fb.set_item_id(resp.items(i % 4).item_id());
        fb.set_reward(i % 3 == 0 ? 1.0 : 0.0);
        fb.set_event_type(v1::EVENT_TYPE_CLICK);
        grpc::ClientContext fctx;
        v1::FeedbackResponse fresp;
        if (!stub->Feedback(&fctx, fb, &fresp).ok()) ++failures;
        if (server_->model_store()->swaps() >= kSnapshots) done.store(true);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures.load(), 0);
  v1::ModelInfo info = Info();
  EXPECT_GE(info.swaps(), kSnapshots);
  EXPECT_EQ(info.rejected_swaps(), 0);
  EXPECT_TRUE(info.learner_enabled());
  EXPECT_GE(info.publishes(), kSnapshots);
  EXPECT_GT(info.learner_steps(), 0);
  const int64_t last = info.model_version();
  for (int c = 0; c < kClients; ++c) {
    ASSERT_FALSE(versions[c].empty());
    for (size_t j = 0; j < versions[c].size(); ++j) {
      ASSERT_GE(versions[c][j], 1);
      ASSERT_LE(versions[c][j], last);
      if (j > 0) ASSERT_GE(versions[c][j], versions[c][j - 1]) << "client " << c;
    }
  }
  const std::string metrics = rtrec::testing::HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("rtrec_learner_steps_total"));
  EXPECT_THAT(metrics, HasSubstr("rtrec_learner_importance_weight_ess"));
  std::printf("served %d requests across %lld published snapshots\n", served.load(),
              static_cast<long long>(last));
}

}  // namespace
}  // namespace rtrec::server

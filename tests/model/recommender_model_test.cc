#include "model/recommender_model.h"

#include <memory>
#include <vector>

#include "common/mutex.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/inference_engine.h"
#include "state/impression_log.h"

namespace rtrec::model {
namespace {

RecommenderModelOptions SmallShape() {
  RecommenderModelOptions o;
  o.text_dim = 8;
  o.embedding_dim = 16;
  o.num_layers = 2;
  o.num_heads = 2;
  o.ffn_dim = 32;
  o.max_items = 50;
  o.max_history = 6;
  return o;
}

TEST(RecommenderModelTest, NewItemIsScoredOnItsTextAlone) {
  torch::manual_seed(0);
  RecommenderModel model(SmallShape());
  auto text = torch::randn({3, 8});
  auto e = model->ItemEmbeddings(text, torch::tensor({0, 1, 2}, torch::kInt64));
  // A new item's id row and bias are zero: its vector is its text's,
  // centred on the catalog's mean text.
  EXPECT_TRUE(torch::allclose(e, model->item_text_proj(text - text.mean(0, true))));
  EXPECT_TRUE(torch::allclose(model->ItemBiases(torch::tensor({0, 1, 2}, torch::kInt64)),
                              torch::zeros({3})));
}

TEST(RecommenderModelTest, BatchedUserStatesEqualOneAtATime) {
  torch::manual_seed(1);
  RecommenderModel model(SmallShape());
  model->eval();
  torch::NoGradGuard g;
  std::vector<torch::Tensor> histories = {torch::randn({0, 16}), torch::randn({4, 16}),
                                          torch::randn({6, 16}), torch::randn({1, 16})};
  auto queries = torch::randn({4, 8});
  std::vector<bool> has_query = {false, true, false, true};
  auto batched = model->UserStates(histories, queries, has_query);
  ASSERT_EQ(batched.size(0), 4);
  for (int r = 0; r < 4; ++r) {
    auto alone = model->UserStates({histories[r]}, queries.slice(0, r, r + 1), {has_query[r]});
    EXPECT_TRUE(torch::allclose(batched[r], alone[0], 1e-5, 1e-5)) << "row " << r;
  }
  EXPECT_TRUE(torch::isfinite(batched).all().item<bool>());
}

TEST(RecommenderModelTest, QueryTokenAndHistoryChangeTheUserState) {
  torch::manual_seed(2);
  RecommenderModel model(SmallShape());
  model->eval();
  torch::NoGradGuard g;
  auto h = torch::randn({3, 16});
  auto q = torch::randn({2, 8});
  auto u = model->UserStates({h, h}, q, {false, true});
  EXPECT_FALSE(torch::allclose(u[0], u[1]));
  auto shorter = model->UserStates({h.slice(0, 0, 2)}, torch::Tensor(), {false});
  EXPECT_FALSE(torch::allclose(u[0], shorter[0]));
}

TEST(RecommenderModelTest, CloneIsDeep) {
  config::ModelOptions mo;
  mo.device = "cpu";
  auto snap = CreateInitialSnapshot(mo, SmallShape(), nullptr);
  ASSERT_TRUE(snap.ok()) << snap.status();
  auto clone = CloneSnapshot(**snap, 2);
  EXPECT_EQ(clone->version, 2);
  {
    torch::NoGradGuard g;
    clone->weights->model->item_text_proj->weight.add_(1.0);
  }
  EXPECT_FALSE(torch::allclose(clone->weights->model->item_text_proj->weight,
                               (*snap)->weights->model->item_text_proj->weight));
}

TEST(RecommenderModelTest, CudaIsRefusedWhenAbsentAndAutoResolves) {
  auto automatic = ResolveDevice("auto");
  ASSERT_TRUE(automatic.ok());
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(*automatic, "cpu");
    auto cuda = ResolveDevice("cuda");
    ASSERT_FALSE(cuda.ok());
    EXPECT_THAT(std::string(cuda.status().message()), ::testing::HasSubstr("model.device"));
  } else {
    EXPECT_EQ(*automatic, "cuda");
  }
}

// ------------------------------------------------------------- InferenceEngine

class InferenceEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config::ModelOptions mo;
    mo.device = "auto";
    auto snap = CreateInitialSnapshot(mo, SmallShape(), nullptr);
    ASSERT_TRUE(snap.ok());
    store_.Publish(*snap);
    auto catalog = Catalog::Create(config::CatalogOptions{});
    ASSERT_TRUE(catalog.ok());
    catalog_ = std::move(*catalog);
    std::vector<CatalogItem> items;
    for (int i = 0; i < 20; ++i) {
      CatalogItem c;
      c.item_id = "i" + std::to_string(i);
      c.title = c.item_id;
      for (int d = 0; d < 8; ++d) c.text_embedding.push_back(0.1f * ((i * 7 + d * 3) % 11) - 0.5f);
      items.push_back(std::move(c));
    }
    ASSERT_TRUE(catalog_->Upsert(std::move(items)).ok());
    auto log = state::ImpressionLog::Create(config::ImpressionLogOptions{}, &clock_, &buffer_);
    ASSERT_TRUE(log.ok());
    log_ = std::move(*log);
    InferenceEngineOptions eo;
    eo.batch_observer = [this](int64_t n, double) { observed_ += n; };
    auto engine = InferenceEngine::Create(eo, &store_, log_.get());
    ASSERT_TRUE(engine.ok());
    engine_ = std::move(*engine);
  }

  std::unique_ptr<RecommendTask> Task(std::vector<absl::StatusOr<RecommendResult>>* out, size_t slot) {
    auto t = std::make_unique<RecommendTask>();
    t->user_id = "u" + std::to_string(slot);
    t->catalog = catalog_->Snapshot();
    t->done = [out, slot](absl::StatusOr<RecommendResult> r) { (*out)[slot] = std::move(r); };
    return t;
  }

  FakeClock clock_;
  ModelStore store_;
  std::unique_ptr<Catalog> catalog_;
  state::ExperienceBuffer buffer_{1000};
  std::unique_ptr<state::ImpressionLog> log_;
  std::unique_ptr<InferenceEngine> engine_;
  int64_t observed_ = 0;
};

TEST_F(InferenceEngineTest, OneBatchAnswersEveryTaskAndLogsEverySlate) {
  std::vector<absl::StatusOr<RecommendResult>> results(3, absl::UnknownError("unanswered"));
  TaskBatch batch;
  auto a = Task(&results, 0);  // whole catalog, excluding recent items
  a->context = {1, 2, 3};
  a->excluded = {1, 2, 3};
  a->k = 5;
  auto b = Task(&results, 1);  // explicit candidates, greedy, with a query-free context
  b->candidates = {4, 5, 6};
  b->k = 10;
  b->explore = false;
  auto c = Task(&results, 2);
  c->k = 2;
  c->context = {7};
  batch.push_back(std::move(a));
  batch.push_back(std::move(b));
  batch.push_back(std::move(c));
  engine_->RunBatch(std::move(batch));
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(results[0]->items.size(), 5u);
  for (const auto& item : results[0]->items) {
    EXPECT_THAT(item.index, ::testing::Not(::testing::AnyOf(1, 2, 3))) << "recent items must not be recommended";
    EXPECT_GT(item.propensity, 0.0);
    EXPECT_LE(item.propensity, 1.0);
  }
  ASSERT_EQ(results[1]->items.size(), 3u);
  for (const auto& item : results[1]->items) {
    EXPECT_THAT(item.index, ::testing::AnyOf(4, 5, 6));
    EXPECT_EQ(item.propensity, 1.0);
  }
  EXPECT_GE(results[1]->items[0].score, results[1]->items[1].score);
  EXPECT_EQ(results[2]->model_version, 1);
  EXPECT_NE(results[0]->request_id, results[1]->request_id);
  EXPECT_EQ(log_->stats().logged, 3);
  EXPECT_EQ(observed_, 3);
  // Feedback on a returned item joins with the propensity that was returned.
  auto joined = log_->Join(results[0]->request_id, "u0", results[0]->items[2].item_id, 1.0);
  ASSERT_TRUE(joined.ok());
  auto learned = buffer_.PopBatch(10);
  ASSERT_EQ(learned.size(), 1u);
  EXPECT_DOUBLE_EQ(learned[0].propensity, results[0]->items[2].propensity);
  EXPECT_FALSE(learned[0].excluded.empty());
  EXPECT_TRUE(learned[0].candidates.empty());
}

TEST_F(InferenceEngineTest, SwappedSnapshotServesTheNextBatch) {
  store_.Publish(CloneSnapshot(*store_.Current(), 7));
  std::vector<absl::StatusOr<RecommendResult>> results(1, absl::UnknownError("unanswered"));
  TaskBatch batch;
  batch.push_back(Task(&results, 0));
  engine_->RunBatch(std::move(batch));
  ASSERT_TRUE(results[0].ok());
  EXPECT_EQ(results[0]->model_version, 7);
  EXPECT_EQ(store_.swaps(), 1);
}

}  // namespace
}  // namespace rtrec::model

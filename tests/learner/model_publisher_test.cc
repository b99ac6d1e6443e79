#include "learner/model_publisher.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/recommender_model.h"
#include "model/text_embedder.h"
#include "model/text_embedder_impl.h"

namespace rtrec::learner {
namespace {

// Embeddings of one text agree across batch shapes up to float rounding.
::testing::Matcher<std::vector<float>> NearVector(const std::vector<float>& want) {
  std::vector<::testing::Matcher<float>> each;
  for (float w : want) each.push_back(::testing::FloatNear(w, 1e-4f));
  return ::testing::ElementsAreArray(each);
}

class ModelPublisherTest : public ::testing::Test {
 protected:
  void Build() {
    config::TextTowerOptions t;
    t.checkpoint_dir = std::string(RTREC_SOURCE_DIR) + "/tests/data/tiny_bert";
    t.max_seq_length = 32;
    auto text = model::TextEmbedder::Create(t, "cpu");
    ASSERT_TRUE(text.ok()) << text.status();
    text_ = std::move(*text);
    model::RecommenderModelOptions shape;
    shape.text_dim = text_->dim();
    shape.embedding_dim = 16;
    shape.max_items = 10;
    config::ModelOptions mo;
    mo.device = "cpu";
    auto snap = model::CreateInitialSnapshot(mo, shape, text_);
    ASSERT_TRUE(snap.ok());
    store_.Publish(*snap);
    auto catalog = model::Catalog::Create(config::CatalogOptions{});
    catalog_ = std::move(*catalog);
    std::vector<model::CatalogItem> items;
    for (const char* title : {"green tea", "jazz record", "trail running shoes"}) {
      model::CatalogItem c;
      c.item_id = title;
      c.title = title;
      items.push_back(c);
    }
    auto e = text_->Embed({"green tea", "jazz record", "trail running shoes"});
    ASSERT_TRUE(e.ok());
    for (size_t i = 0; i < items.size(); ++i) items[i].text_embedding = (*e)[i];
    ASSERT_TRUE(catalog_->Upsert(std::move(items)).ok());
    publisher_ = std::make_unique<ModelPublisher>(&store_, catalog_.get(), &writer_);
  }

  std::shared_ptr<model::TextEmbedder> text_;
  model::ModelStore store_;
  std::unique_ptr<model::Catalog> catalog_;
  SerialExecutor writer_;
  std::unique_ptr<ModelPublisher> publisher_;
};

TEST_F(ModelPublisherTest, SameTextTowerPublishesWithoutReencoding) {
  Build();
  const int64_t catalog_version = catalog_->Snapshot()->version();
  ASSERT_TRUE(publisher_->Publish(model::CloneSnapshot(*store_.Current(), 2)).ok());
  EXPECT_EQ(store_.Current()->version, 2);
  EXPECT_EQ(catalog_->Snapshot()->version(), catalog_version);
}

TEST_F(ModelPublisherTest, NewTextTowerReencodesTheCatalogThenSwaps) {
  Build();
  auto before = catalog_->Snapshot();
  // A snapshot with a tower of its own: a deep copy whose weights changed.
  auto adapted = text_->Clone();
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  {
    torch::NoGradGuard g;
    for (auto& kv : (*adapted)->impl()->model->named_parameters()) {
      if (kv.key().find("attention.self.value.weight") != std::string::npos) kv.value().mul_(1.5).add_(0.05);
    }
  }
  // The serving tower is untouched by the copy's change.
  auto serving_again = text_->Embed({"green tea"});
  EXPECT_THAT((*serving_again)[0], NearVector(before->item(0).text_embedding));
  std::shared_ptr<const model::TextEmbedder> new_text(std::move(*adapted));
  ASSERT_TRUE(publisher_->Publish(model::CloneSnapshot(*store_.Current(), 2, new_text)).ok());
  auto after = catalog_->Snapshot();
  EXPECT_EQ(after->version(), before->version() + 1);
  EXPECT_EQ(store_.Current()->version, 2);
  EXPECT_EQ(store_.Current()->text, new_text);
  auto expected = new_text->Embed({"jazz record"});
  ASSERT_TRUE(expected.ok());
  EXPECT_THAT(after->item(1).text_embedding, NearVector((*expected)[0]));
  EXPECT_THAT(after->item(1).text_embedding,
              ::testing::Not(NearVector(before->item(1).text_embedding)));
  EXPECT_EQ(after->item(1).item_id, "jazz record");
}

TEST_F(ModelPublisherTest, RefusesSnapshotWithoutWeights) {
  Build();
  auto empty = std::make_shared<model::ModelSnapshot>();
  EXPECT_EQ(publisher_->Publish(empty).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_.Current()->version, 1);
}

}  // namespace
}  // namespace rtrec::learner

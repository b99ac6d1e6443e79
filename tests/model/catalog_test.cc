#include "model/catalog.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rtrec::model {
namespace {

using ::testing::HasSubstr;

CatalogItem Item(const std::string& id, float v) {
  CatalogItem c;
  c.item_id = id;
  c.title = "title " + id;
  c.text_embedding = {v, v};
  return c;
}

// A file private to the running test (ctest runs tests in parallel).
std::string WriteTemp(const std::string& name, const std::string& content) {
  std::string unique = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  for (char& c : unique) {
    if (c == '/') c = '_';
  }
  std::string path = ::testing::TempDir() + "/" + unique + "_" + name;
  std::ofstream(path) << content;
  return path;
}

TEST(CatalogTest, UpsertInsertsUpdatesAndKeepsIndices) {
  config::CatalogOptions o;
  o.max_items = 3;
  auto catalog = Catalog::Create(o);
  ASSERT_TRUE(catalog.ok());
  auto before = (*catalog)->Snapshot();
  auto r = (*catalog)->Upsert({Item("a", 1), Item("b", 2)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inserted, 2);
  EXPECT_EQ(before->size(), 0);  // old snapshots are immutable
  r = (*catalog)->Upsert({Item("b", 5), Item("c", 3)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->inserted, 1);
  EXPECT_EQ(r->updated, 1);
  auto snap = (*catalog)->Snapshot();
  ASSERT_EQ(snap->size(), 3);
  EXPECT_EQ(*snap->Find("b"), 1);
  EXPECT_EQ(snap->item(1).text_embedding[0], 5);
  EXPECT_FALSE(snap->Find("zzz").has_value());
  // Full: a new item is refused, the catalog unchanged.
  auto full = (*catalog)->Upsert({Item("d", 4)});
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*catalog)->Snapshot()->size(), 3);
}

TEST(CatalogTest, RefusesEmbeddingOfWrongWidth) {
  auto catalog = Catalog::Create(config::CatalogOptions{});
  ASSERT_TRUE((*catalog)->Upsert({Item("a", 1)}).ok());
  CatalogItem wide = Item("b", 1);
  wide.text_embedding.push_back(3);
  auto r = (*catalog)->Upsert({wide});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("items[0] (b)"));
}

TEST(CatalogTest, ReadsJsonl) {
  std::string path = WriteTemp("catalog_ok.jsonl",
                               R"({"item_id": "x1", "title": "Red shoe", "text": "runs", "tags": ["a", "b"]}

{"item_id": "x2", "text": "only text"}
)");
  auto items = ReadCatalogJsonl(path, 1000);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].tags.size(), 2u);
  EXPECT_EQ(ItemTextForEncoding((*items)[0]), "Red shoe. runs");
  EXPECT_EQ(ItemTextForEncoding((*items)[1]), "only text");
}

TEST(CatalogTest, ShippedDemoCatalogLoads) {
  auto items = ReadCatalogJsonl(config::DefaultCatalogPath(), 65536);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_EQ(items->size(), 240u);
}

struct BadLine {
  const char* content;
  const char* message;
};

class CatalogErrorTest : public ::testing::TestWithParam<BadLine> {};

TEST_P(CatalogErrorTest, ErrorNamesLineAndField) {
  std::string path = WriteTemp("catalog_bad.jsonl", GetParam().content);
  auto items = ReadCatalogJsonl(path, 100);
  ASSERT_FALSE(items.ok());
  EXPECT_THAT(std::string(items.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Table, CatalogErrorTest,
    ::testing::Values(
        BadLine{"{\"item_id\": \"a\", \"text\": \"t\"}\nnot json\n", ":2: invalid JSON"},
        BadLine{"{\"title\": \"no id\"}\n", ":1: item_id: missing"},
        BadLine{"{\"item_id\": 5, \"text\": \"t\"}\n", "item_id: must be a string"},
        BadLine{"{\"item_id\": \"a\", \"text\": \"t\", \"price\": 3}\n", "price: unknown field"},
        BadLine{"{\"item_id\": \"a\", \"tags\": \"x\", \"text\": \"t\"}\n", "tags: must be a list"},
        BadLine{"{\"item_id\": \"a\"}\n", ".text: an item needs a title or a text"},
        BadLine{"{\"item_id\": \"a\", \"text\": \"t\"}\n{\"item_id\": \"a\", \"text\": \"u\"}\n",
                ":2: item_id 'a' repeats line 1"}));

TEST(CatalogTest, MissingFileIsNotFound) {
  auto items = ReadCatalogJsonl("/nonexistent.jsonl", 100);
  EXPECT_EQ(items.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace rtrec::model

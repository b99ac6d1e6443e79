#include "model/bert_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/text_embedder.h"

namespace rtrec::model {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTinyBert = std::string(RTREC_SOURCE_DIR) + "/tests/data/tiny_bert";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Copies the tiny checkpoint to a fresh folder, with `weights` as model.safetensors.
std::string CopyCheckpoint(const std::string& name, const std::string& weights = "model.safetensors") {
  fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  fs::copy_file(fs::path(kTinyBert) / "config.json", dir / "config.json");
  fs::copy_file(fs::path(kTinyBert) / "vocab.txt", dir / "vocab.txt");
  fs::copy_file(fs::path(kTinyBert) / weights, dir / "model.safetensors");
  return dir.string();
}

torch::Tensor NestedToTensor(const google::protobuf::Value& v) {
  std::vector<double> flat;
  std::vector<int64_t> shape;
  const google::protobuf::Value* cur = &v;
  while (cur->has_list_value()) {
    shape.push_back(cur->list_value().values_size());
    cur = &cur->list_value().values(0);
  }
  std::function<void(const google::protobuf::Value&)> walk = [&](const google::protobuf::Value& x) {
    if (x.has_list_value()) {
      for (const auto& e : x.list_value().values()) walk(e);
    } else {
      flat.push_back(x.number_value());
    }
  };
  walk(v);
  return torch::tensor(flat, torch::kFloat64).view(shape);
}

class BertNumericsTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

// The encoder against the independent numpy reference (tests/reference/bert_reference.py).
TEST_P(BertNumericsTest, MatchesReferenceTo1e4) {
  const auto [dtype, file] = GetParam();
  auto expected = ParseJsonObject(ReadFile(kTinyBert + "/expected.json"));
  ASSERT_TRUE(expected.ok()) << expected.status();
  auto loaded = LoadBertCheckpoint(CopyCheckpoint(std::string("numerics_") + dtype, file));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_THAT(loaded->skipped_tensors, ::testing::ElementsAre("cls.predictions.bias"));
  auto ids = NestedToTensor(expected->fields().at("input_ids")).to(torch::kInt64);
  auto mask = NestedToTensor(expected->fields().at("attention_mask")).to(torch::kInt64);
  const auto& want = expected->fields().at(dtype).struct_value().fields();
  loaded->model->eval();
  torch::NoGradGuard no_grad;
  auto hidden = loaded->model->forward(ids, mask).to(torch::kFloat64);
  auto ref_hidden = NestedToTensor(want.at("last_hidden"));
  // Compare real tokens only: padded positions are not defined by BERT.
  auto m = mask.to(torch::kBool).unsqueeze(-1).expand_as(hidden);
  double max_err = (hidden - ref_hidden).abs().masked_select(m).max().item<double>();
  EXPECT_LT(max_err, 1e-4) << dtype;
  auto mean = PoolHidden(loaded->model, hidden.to(torch::kFloat32), mask, "mean").to(torch::kFloat64);
  EXPECT_LT((mean - NestedToTensor(want.at("mean"))).abs().max().item<double>(), 1e-4);
  auto pooler = PoolHidden(loaded->model, hidden.to(torch::kFloat32), mask, "pooler").to(torch::kFloat64);
  EXPECT_LT((pooler - NestedToTensor(want.at("pooler"))).abs().max().item<double>(), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, BertNumericsTest,
                         ::testing::Values(std::make_pair("F32", "model.safetensors"),
                                           std::make_pair("F16", "model.f16.safetensors"),
                                           std::make_pair("BF16", "model.bf16.safetensors")));

// --------------------------------------------------------------- loader errors

class BertLoaderErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = CopyCheckpoint(::testing::UnitTest::GetInstance()->current_test_info()->name());
    auto file = SafetensorsFile::Read(dir_ + "/model.safetensors");
    ASSERT_TRUE(file.ok());
    for (const auto& t : file->tensors()) {
      tensors_.push_back({t.name, t.shape, file->ToFloat32(t)});
    }
  }
  void Rewrite() { ASSERT_TRUE(WriteSafetensors(dir_ + "/model.safetensors", tensors_, "F32").ok()); }
  std::string Error() {
    auto loaded = LoadBertCheckpoint(dir_);
    EXPECT_FALSE(loaded.ok());
    return std::string(loaded.status().message());
  }
  std::string dir_;
  std::vector<TensorToWrite> tensors_;
};

TEST_F(BertLoaderErrorTest, MissingTensorIsNamed) {
  tensors_.erase(std::remove_if(tensors_.begin(), tensors_.end(),
                                [](const auto& t) { return t.name == "bert.encoder.layer.1.output.dense.bias"; }),
                 tensors_.end());
  Rewrite();
  EXPECT_THAT(Error(), HasSubstr("missing tensors: encoder.layer.1.output.dense.bias"));
}

TEST_F(BertLoaderErrorTest, UnexpectedTensorIsNamed) {
  tensors_.push_back({"bert.encoder.layer.7.extra.weight", {2}, {1, 2}});
  Rewrite();
  EXPECT_THAT(Error(), HasSubstr("unexpected tensors: bert.encoder.layer.7.extra.weight"));
}

TEST_F(BertLoaderErrorTest, MisShapedTensorIsNamed) {
  for (auto& t : tensors_) {
    if (t.name == "bert.pooler.dense.bias") {
      t.shape = {2, 16};
    }
  }
  Rewrite();
  EXPECT_THAT(Error(), HasSubstr("bert.pooler.dense.bias has shape [2,16], the model needs [32]"));
}

TEST_F(BertLoaderErrorTest, EveryProblemIsReportedAtOnce) {
  tensors_.erase(tensors_.begin());
  tensors_.push_back({"surprise", {1}, {0}});
  Rewrite();
  std::string e = Error();
  EXPECT_THAT(e, HasSubstr("missing tensors"));
  EXPECT_THAT(e, HasSubstr("unexpected tensors: surprise"));
}

TEST_F(BertLoaderErrorTest, TruncatedFileIsRefusedNotCrashed) {
  std::string bytes = ReadFile(dir_ + "/model.safetensors");
  for (size_t keep : {size_t{0}, size_t{5}, size_t{200}, bytes.size() / 2, bytes.size() - 1}) {
    std::ofstream(dir_ + "/model.safetensors", std::ios::binary) << bytes.substr(0, keep);
    EXPECT_THAT(Error(), HasSubstr("model.safetensors")) << keep;
  }
}

TEST_F(BertLoaderErrorTest, MissingFilesAreNamed) {
  fs::remove(dir_ + "/vocab.txt");
  EXPECT_THAT(Error(), HasSubstr("vocab.txt is missing"));
}

TEST_F(BertLoaderErrorTest, ConfigErrorsNameTheKey) {
  std::string config = ReadFile(dir_ + "/config.json");
  std::ofstream(dir_ + "/config.json") << "{\"hidden_size\": 32}";
  EXPECT_THAT(Error(), HasSubstr("num_hidden_layers: missing"));
  std::ofstream(dir_ + "/config.json") << "{\"hidden_size\": \"big\"";
  EXPECT_THAT(Error(), HasSubstr("config.json"));
  std::string bad_act = config;
  bad_act.replace(bad_act.find("\"gelu\""), 6, "\"swish\"");
  std::ofstream(dir_ + "/config.json") << bad_act;
  EXPECT_THAT(Error(), HasSubstr("hidden_act: 'swish' is not supported"));
}

TEST_F(BertLoaderErrorTest, VocabSizeMismatchIsNamed) {
  std::ofstream(dir_ + "/vocab.txt", std::ios::app) << "extra\n";
  EXPECT_THAT(Error(), HasSubstr("vocab_size"));
}

TEST(BertCheckpointTest, SaveThenLoadRoundTripsWithoutPrefix) {
  BertConfig c;
  c.vocab_size = 8;
  c.hidden_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 24;
  c.max_position_embeddings = 16;
  BertModel model(c);
  model->eval();
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "##d"};
  std::string dir = ::testing::TempDir() + "/roundtrip_bert";
  ASSERT_TRUE(SaveBertCheckpoint(model, vocab, dir, "F32").ok());
  auto loaded = LoadBertCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  loaded->model->eval();
  auto ids = torch::tensor({{2, 4, 5, 3}}, torch::kInt64);
  auto mask = torch::ones({1, 4}, torch::kInt64);
  torch::NoGradGuard g;
  EXPECT_TRUE(torch::allclose(model->forward(ids, mask), loaded->model->forward(ids, mask)));
}

// ------------------------------------------------------------------ TextEmbedder

TEST(TextEmbedderTest, LoadsConfiguredCheckpointFolder) {
  config::TextTowerOptions o;
  o.checkpoint_dir = kTinyBert;
  o.max_seq_length = 32;
  o.encode_batch_size = 2;
  auto e = TextEmbedder::Create(o, "cpu");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->dim(), 32);
  EXPECT_THAT((*e)->description(), HasSubstr("L2/H32/A4"));
  auto v = (*e)->Embed({"the coffee", "green tea", "jazz record", "the coffee"});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 4u);
  EXPECT_EQ((*v)[0], (*v)[3]);  // batching does not change a text's vector
  EXPECT_NE((*v)[0], (*v)[1]);
}

TEST(TextEmbedderTest, RandomBertWithShippedVocabularyAndClearErrors) {
  config::TextTowerOptions o;
  o.vocab_path = config::DefaultVocabPath();
  o.hidden_size = 32;
  o.num_heads = 2;
  o.intermediate_size = 64;
  auto e = TextEmbedder::Create(o, "cpu");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT((*e)->description(), HasSubstr("random"));
  o.checkpoint_dir = "/nonexistent/bert";
  auto missing = TextEmbedder::Create(o, "cpu");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("config.json is missing"));
}

}  // namespace
}  // namespace rtrec::model

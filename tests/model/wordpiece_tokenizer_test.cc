#include "model/wordpiece_tokenizer.h"

#include <fstream>
#include <string>

#include "common/json.h"
#include "config/options.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/unicode_data.h"

namespace rtrec::model {
namespace {

using ::testing::ElementsAre;

class WordPieceTokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto t = WordPieceTokenizer::FromVocabFile(config::DefaultVocabPath());
    ASSERT_TRUE(t.ok()) << t.status();
    tokenizer_ = t->release();
  }
  static void TearDownTestSuite() { delete tokenizer_; }
  static WordPieceTokenizer* tokenizer_;
};
WordPieceTokenizer* WordPieceTokenizerTest::tokenizer_ = nullptr;

TEST_F(WordPieceTokenizerTest, ShippedVocabularyHasTheBertSpecialIds) {
  EXPECT_EQ(tokenizer_->vocab_size(), 30522);
  EXPECT_EQ(tokenizer_->pad_id(), 0);
  EXPECT_EQ(tokenizer_->unk_id(), 100);
  EXPECT_EQ(tokenizer_->cls_id(), 101);
  EXPECT_EQ(tokenizer_->sep_id(), 102);
}

TEST_F(WordPieceTokenizerTest, PinnedIds) {
  EXPECT_THAT(tokenizer_->Encode("Hello, world!", 512), ElementsAre(101, 7592, 1010, 2088, 999, 102));
  EXPECT_THAT(tokenizer_->Encode("", 512), ElementsAre(101, 102));
  EXPECT_THAT(tokenizer_->Tokenize("Café déjà"), ElementsAre("cafe", "de", "##ja"));
  EXPECT_THAT(tokenizer_->Encode(std::string(101, 'a'), 512), ElementsAre(101, 100, 102));
  EXPECT_THAT(tokenizer_->BasicTokenize("我爱 NY!"), ElementsAre("我", "爱", "ny", "!"));
}

// Every case of tests/data/tokenizer_cases.jsonl, produced by the independent
// reference in tests/reference/bert_tokenizer_reference.py.
TEST_F(WordPieceTokenizerTest, MatchesReferenceTokenizerOnTrickyInputs) {
  std::ifstream in(std::string(RTREC_SOURCE_DIR) + "/tests/data/tokenizer_cases.jsonl");
  ASSERT_TRUE(in) << "missing fixture";
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    auto obj = ParseJsonObject(line);
    ASSERT_TRUE(obj.ok()) << obj.status();
    auto text = JsonString(*obj, "text", "case");
    auto ids = JsonIntList(*obj, "ids", "case");
    ASSERT_TRUE(text.ok() && ids.ok());
    std::vector<int64_t> got = tokenizer_->Encode(*text, 512);
    EXPECT_EQ(got, *ids) << "input: " << line;
    ++cases;
  }
  EXPECT_GE(cases, 30);
}

TEST_F(WordPieceTokenizerTest, TruncatesAndPadsBatches) {
  auto ids = tokenizer_->Encode("the quick brown fox jumps", 4);
  EXPECT_THAT(ids, ElementsAre(101, 1996, 4248, 102));
  EncodedBatch b = tokenizer_->EncodeBatch({"hello", "the quick brown fox"}, 16);
  EXPECT_EQ(b.batch_size, 2);
  EXPECT_EQ(b.seq_len, 6);
  EXPECT_THAT(std::vector<int64_t>(b.input_ids.begin(), b.input_ids.begin() + 6),
              ElementsAre(101, 7592, 102, 0, 0, 0));
  EXPECT_THAT(std::vector<int64_t>(b.attention_mask.begin(), b.attention_mask.begin() + 6),
              ElementsAre(1, 1, 1, 0, 0, 0));
}

TEST_F(WordPieceTokenizerTest, InvalidUtf8IsDroppedNotFatal) {
  std::string bad = "ok\xff\xfe" "fine\xc3";
  EXPECT_THAT(tokenizer_->Tokenize(bad), ElementsAre("ok", "##fine"));
}

TEST(WordPieceVocabTest, RefusesVocabularyWithoutSpecialTokens) {
  auto t = WordPieceTokenizer::FromTokens({"[PAD]", "[UNK]", "[CLS]", "hello"});
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), ::testing::HasSubstr("[SEP]"));
  EXPECT_EQ(WordPieceTokenizer::FromVocabFile("/nonexistent/vocab.txt").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(UnicodeDataTest, ClassesAndMappings) {
  EXPECT_TRUE(unicode::Has(U'!', unicode::kPunctuation));
  EXPECT_TRUE(unicode::Has(U'\u00bf', unicode::kPunctuation));
  EXPECT_TRUE(unicode::Has(U'\u3000', unicode::kWhitespace));
  EXPECT_TRUE(unicode::Has(U'\u200b', unicode::kControl));
  EXPECT_FALSE(unicode::Has(U'\t', unicode::kControl));
  EXPECT_TRUE(unicode::IsChineseChar(U'\u4e2d'));
  std::u32string out;
  unicode::AppendLowerStripped(U'\u00c9', false, &out);  // É → e
  EXPECT_EQ(out, U"e");
  EXPECT_EQ(unicode::DecodeUtf8("\xe4\xb8\xad"), U"\u4e2d");
  EXPECT_EQ(unicode::EncodeUtf8(U"\U0001F355"), "\xf0\x9f\x8d\x95");
}

}  // namespace
}  // namespace rtrec::model

// BERT uncased tokenization: the basic tokenizer (clean control characters,
// space out CJK ideographs, split on whitespace, lower-case, strip accents by
// NFD, split on punctuation) followed by greedy longest-match-first WordPiece
// with the "##" continuation prefix. Words longer than 100 code points, or
// with no match, become [UNK]. Text that looks like a special token ("[CLS]")
// is tokenized as plain text, so user input cannot inject control tokens.
//
// Thread safety: immutable after creation; all methods are const and may be
// called from any thread.
#ifndef RTREC_MODEL_WORDPIECE_TOKENIZER_H_
#define RTREC_MODEL_WORDPIECE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace rtrec::model {

// Token ids of a batch, padded to the longest sequence.
struct EncodedBatch {
  int64_t batch_size = 0;
  int64_t seq_len = 0;
  std::vector<int64_t> input_ids;       // batch_size * seq_len, row-major
  std::vector<int64_t> attention_mask;  // 1 for tokens, 0 for padding
};

class WordPieceTokenizer {
 public:
  static constexpr int64_t kMaxInputCharsPerWord = 100;

  // Reads a vocab.txt (one token a line; the id is the line number). It must
  // hold [PAD], [UNK], [CLS] and [SEP].
  static absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> FromVocabFile(
      const std::string& path);
  static absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> FromTokens(
      std::vector<std::string> tokens);

  // Basic tokenization only: the words WordPiece will split.
  std::vector<std::string> BasicTokenize(std::string_view text) const;
  // Word pieces, without [CLS]/[SEP].
  std::vector<std::string> Tokenize(std::string_view text) const;
  // Ids of [CLS] pieces... [SEP], truncated to max_length tokens in all.
  // REQUIRES: max_length >= 2.
  std::vector<int64_t> Encode(std::string_view text, int64_t max_length) const;
  // Encodes and pads a batch (pad id, attention mask 0).
  EncodedBatch EncodeBatch(const std::vector<std::string>& texts,
                           int64_t max_length) const;

  int64_t vocab_size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  const std::string& token(int64_t id) const { return tokens_[id]; }

 private:
  explicit WordPieceTokenizer(std::vector<std::string> tokens);
  void WordPiece(const std::u32string& word, std::vector<int64_t>* ids) const;
  std::vector<std::u32string> BasicTokenizeU32(std::string_view text) const;

  std::vector<std::string> tokens_;
  absl::flat_hash_map<std::string, int64_t> ids_;
  int64_t pad_id_ = 0, unk_id_ = 0, cls_id_ = 0, sep_id_ = 0;
};

}  // namespace rtrec::model

#endif  // RTREC_MODEL_WORDPIECE_TOKENIZER_H_

#include "model/wordpiece_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "model/unicode_data.h"

namespace rtrec::model {
namespace {

using unicode::Has;

bool IsSplitSpace(char32_t c) {
  return Has(c, unicode::kWhitespace) || Has(c, unicode::kSplitSpace);
}

// str.lower() on one whitespace-delimited token, then NFD and Mn removal.
std::u32string LowerStripAccents(const std::u32string& token) {
  std::u32string out;
  out.reserve(token.size());
  for (size_t i = 0; i < token.size(); ++i) {
    bool final_sigma = false;
    if (token[i] == 0x03A3) {
      // \p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased})
      size_t j = i;
      char32_t c = 0;
      bool found = false;
      while (j > 0) {
        c = token[--j];
        if (!Has(c, unicode::kCaseIgnorable)) { found = true; break; }
      }
      final_sigma = found && Has(c, unicode::kCased);
      if (final_sigma) {
        size_t k = i + 1;
        while (k < token.size() && Has(token[k], unicode::kCaseIgnorable)) ++k;
        final_sigma = k == token.size() || !Has(token[k], unicode::kCased);
      }
    }
    unicode::AppendLowerStripped(token[i], final_sigma, &out);
  }
  return out;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> tokens)
    : tokens_(std::move(tokens)) {
  for (size_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], i);
}

absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::FromTokens(
    std::vector<std::string> tokens) {
  std::unique_ptr<WordPieceTokenizer> t(new WordPieceTokenizer(std::move(tokens)));
  auto find = [&](const char* name, int64_t* id) -> absl::Status {
    auto it = t->ids_.find(name);
    if (it == t->ids_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocabulary has no ", name, " token"));
    }
    *id = it->second;
    return absl::OkStatus();
  };
  for (auto [name, id] : {std::pair{"[PAD]", &t->pad_id_}, std::pair{"[UNK]", &t->unk_id_},
                          std::pair{"[CLS]", &t->cls_id_}, std::pair{"[SEP]", &t->sep_id_}}) {
    if (auto s = find(name, id); !s.ok()) return s;
  }
  return t;
}

absl::StatusOr<std::unique_ptr<WordPieceTokenizer>> WordPieceTokenizer::FromVocabFile(
    const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open vocabulary ", path));
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
    tokens.push_back(line);
  }
  if (tokens.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty vocabulary"));
  auto t = FromTokens(std::move(tokens));
  if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", t.status().message()));
  return t;
}

std::vector<std::u32string> WordPieceTokenizer::BasicTokenizeU32(std::string_view text) const {
  // _clean_text and _tokenize_chinese_chars.
  std::u32string cleaned;
  for (char32_t c : unicode::DecodeUtf8(text)) {
    if (c == 0 || c == 0xFFFD || Has(c, unicode::kControl)) continue;
    if (Has(c, unicode::kWhitespace)) {
      cleaned.push_back(U' ');
    } else if (unicode::IsChineseChar(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }
  // Whitespace split, lower + strip accents, split on punctuation.
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < cleaned.size()) {
    while (i < cleaned.size() && IsSplitSpace(cleaned[i])) ++i;
    size_t j = i;
    while (j < cleaned.size() && !IsSplitSpace(cleaned[j])) ++j;
    if (j > i) {
      std::u32string token = LowerStripAccents(cleaned.substr(i, j - i));
      std::u32string current;
      for (char32_t c : token) {
        if (Has(c, unicode::kPunctuation)) {
          if (!current.empty()) words.push_back(std::move(current));
          current.clear();
          words.push_back(std::u32string(1, c));
        } else if (IsSplitSpace(c)) {
          if (!current.empty()) words.push_back(std::move(current));
          current.clear();
        } else {
          current.push_back(c);
        }
      }
      if (!current.empty()) words.push_back(std::move(current));
    }
    i = j;
  }
  return words;
}

std::vector<std::string> WordPieceTokenizer::BasicTokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (const auto& w : BasicTokenizeU32(text)) out.push_back(unicode::EncodeUtf8(w));
  return out;
}

void WordPieceTokenizer::WordPiece(const std::u32string& word,
                                   std::vector<int64_t>* ids) const {
  if (static_cast<int64_t>(word.size()) > kMaxInputCharsPerWord) {
    ids->push_back(unk_id_);
    return;
  }
  std::vector<int64_t> pieces;
  size_t start = 0;
  std::string candidate;
  while (start < word.size()) {
    size_t end = word.size();
    int64_t found = -1;
    while (start < end) {
      candidate.clear();
      if (start > 0) candidate = "##";
      for (size_t k = start; k < end; ++k) unicode::AppendUtf8(word[k], &candidate);
      auto it = ids_.find(candidate);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      ids->push_back(unk_id_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  ids->insert(ids->end(), pieces.begin(), pieces.end());
}

std::vector<std::string> WordPieceTokenizer::Tokenize(std::string_view text) const {
  std::vector<int64_t> ids;
  for (const auto& w : BasicTokenizeU32(text)) WordPiece(w, &ids);
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(tokens_[id]);
  return out;
}

std::vector<int64_t> WordPieceTokenizer::Encode(std::string_view text,
                                                int64_t max_length) const {
  std::vector<int64_t> ids;
  ids.push_back(cls_id_);
  for (const auto& w : BasicTokenizeU32(text)) {
    WordPiece(w, &ids);
    if (static_cast<int64_t>(ids.size()) >= max_length - 1) break;
  }
  if (static_cast<int64_t>(ids.size()) > max_length - 1) ids.resize(max_length - 1);
  ids.push_back(sep_id_);
  return ids;
}

EncodedBatch WordPieceTokenizer::EncodeBatch(const std::vector<std::string>& texts,
                                             int64_t max_length) const {
  EncodedBatch b;
  b.batch_size = static_cast<int64_t>(texts.size());
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(texts.size());
  for (const auto& t : texts) {
    rows.push_back(Encode(t, max_length));
    b.seq_len = std::max<int64_t>(b.seq_len, static_cast<int64_t>(rows.back().size()));
  }
  b.input_ids.assign(b.batch_size * b.seq_len, pad_id_);
  b.attention_mask.assign(b.batch_size * b.seq_len, 0);
  for (int64_t r = 0; r < b.batch_size; ++r) {
    for (size_t k = 0; k < rows[r].size(); ++k) {
      b.input_ids[r * b.seq_len + k] = rows[r][k];
      b.attention_mask[r * b.seq_len + k] = 1;
    }
  }
  return b;
}

}  // namespace rtrec::model

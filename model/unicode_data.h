// Unicode facts for the BERT basic tokenizer: character classes and the
// "lower-case, NFD-decompose, drop non-spacing marks" mapping, from tables
// generated out of Python's unicodedata (tools/gen_unicode_data.py), plus UTF-8
// decoding and encoding.
//
// Thread safety: pure functions over constant tables.
#ifndef RTREC_MODEL_UNICODE_DATA_H_
#define RTREC_MODEL_UNICODE_DATA_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace rtrec::model::unicode {

enum Flag : uint8_t {
  kControl = 1,         // BERT _is_control (category C*, not \t\n\r)
  kWhitespace = 2,      // BERT _is_whitespace (space, \t\n\r, Zs)
  kPunctuation = 4,     // BERT _is_punctuation (ASCII symbols, P*)
  kNonspacingMark = 8,  // category Mn (stripped as accents)
  kSplitSpace = 16,     // str.isspace(): what whitespace splitting splits on
  kCased = 32,
  kCaseIgnorable = 64,
};

uint8_t Flags(char32_t cp);
inline bool Has(char32_t cp, Flag f) { return (Flags(cp) & f) != 0; }

// BERT _is_chinese_char: the CJK Unified Ideographs blocks.
bool IsChineseChar(char32_t cp);

// Appends lower(cp), NFD-decomposed, without Mn marks. `final_sigma` selects
// ς for Σ (the caller decides the context, as str.lower() does).
void AppendLowerStripped(char32_t cp, bool final_sigma, std::u32string* out);

// Decodes UTF-8; each invalid byte becomes U+FFFD.
std::u32string DecodeUtf8(std::string_view s);
void AppendUtf8(char32_t cp, std::string* out);
std::string EncodeUtf8(std::u32string_view s);

const char* UnicodeVersion();

}  // namespace rtrec::model::unicode

#endif  // RTREC_MODEL_UNICODE_DATA_H_

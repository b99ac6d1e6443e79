#include "model/unicode_data.h"

#include <algorithm>
#include <iterator>

namespace rtrec::model::unicode {
namespace {

struct CodepointRange {
  uint32_t first;
  uint32_t last;
  uint8_t flags;
};

#include "model/unicode_data_tables.inc"

constexpr char32_t kHangulBase = 0xAC00, kHangulL = 0x1100, kHangulV = 0x1161,
                   kHangulT = 0x11A7;
constexpr int kHangulVCount = 21, kHangulTCount = 28, kHangulCount = 11172;

}  // namespace

const char* UnicodeVersion() { return kUnicodeVersion; }

uint8_t Flags(char32_t cp) {
  const auto* end = std::end(kRanges);
  const auto* it = std::upper_bound(
      std::begin(kRanges), end, static_cast<uint32_t>(cp),
      [](uint32_t v, const CodepointRange& r) { return v < r.first; });
  if (it == std::begin(kRanges)) return 0;
  --it;
  return cp <= it->last ? it->flags : 0;
}

bool IsChineseChar(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

void AppendLowerStripped(char32_t cp, bool final_sigma, std::u32string* out) {
  if (cp == 0x03A3 && final_sigma) {
    out->push_back(0x03C2);
    return;
  }
  if (cp >= kHangulBase && cp < kHangulBase + kHangulCount) {
    const int s = static_cast<int>(cp - kHangulBase);
    out->push_back(kHangulL + s / (kHangulVCount * kHangulTCount));
    out->push_back(kHangulV + (s % (kHangulVCount * kHangulTCount)) / kHangulTCount);
    if (s % kHangulTCount != 0) out->push_back(kHangulT + s % kHangulTCount);
    return;
  }
  if (Has(cp, kNonspacingMark)) return;
  const auto* end = std::end(kMapFrom);
  const auto* it = std::lower_bound(std::begin(kMapFrom), end, static_cast<uint32_t>(cp));
  if (it != end && *it == cp) {
    const size_t i = static_cast<size_t>(it - std::begin(kMapFrom));
    for (uint32_t k = kMapOffset[i]; k < kMapOffset[i + 1]; ++k) out->push_back(kMapData[k]);
    return;
  }
  out->push_back(cp);
}

std::u32string DecodeUtf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (c < 0x80) { len = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Reject overlong forms, surrogates and values past U+10FFFF.
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
               (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
               (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string EncodeUtf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t cp : s) AppendUtf8(cp, &out);
  return out;
}

}  // namespace rtrec::model::unicode

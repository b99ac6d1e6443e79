// The key layout of the state store (storage/state_store.h). One-letter
// prefixes keep each kind of record in its own contiguous range.
//
//   i/<request_id>                 ImpressionRecord: an open impression
//   f/<request_id>\0<seq>          FeedbackRecord: feedback joined to it
//   e/<seq>                        ExperienceRecord: not learned yet
//   h/<user_id>                    UserHistoryRecord
//   t/<user_id>                    UserTasteRecord
//   c/<item index>                 CatalogItemRecord
//   m/<name>                       metadata
//
// Numbers are 8 bytes big-endian, so key order is numeric order.
#ifndef RTREC_STORAGE_STATE_KEYS_H_
#define RTREC_STORAGE_STATE_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace rtrec::storage {

inline std::string EncodeUint64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

// REQUIRES: bytes.size() >= 8.
inline uint64_t DecodeUint64(std::string_view bytes) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[i]);
  return v;
}

inline constexpr char kImpressionPrefix[] = "i/";
inline constexpr char kFeedbackPrefix[] = "f/";
inline constexpr char kExperiencePrefix[] = "e/";
inline constexpr char kHistoryPrefix[] = "h/";
inline constexpr char kTastePrefix[] = "t/";
inline constexpr char kCatalogPrefix[] = "c/";

inline std::string ImpressionKey(std::string_view request_id) {
  return std::string(kImpressionPrefix).append(request_id);
}
// Every feedback key of one request starts with this.
inline std::string FeedbackKeyPrefix(std::string_view request_id) {
  std::string k = std::string(kFeedbackPrefix).append(request_id);
  k.push_back('\0');
  return k;
}
inline std::string FeedbackKey(std::string_view request_id, uint64_t seq) {
  return FeedbackKeyPrefix(request_id) + EncodeUint64(seq);
}
// The first key after every key starting with `prefix` (prefix non-empty,
// its last byte not 0xff).
inline std::string PrefixEnd(std::string prefix) {
  prefix.back() = static_cast<char>(static_cast<unsigned char>(prefix.back()) + 1);
  return prefix;
}
inline std::string ExperienceKey(uint64_t seq) {
  return std::string(kExperiencePrefix) + EncodeUint64(seq);
}
inline std::string HistoryKey(std::string_view user_id) {
  return std::string(kHistoryPrefix).append(user_id);
}
inline std::string TasteKey(std::string_view user_id) {
  return std::string(kTastePrefix).append(user_id);
}
inline std::string CatalogKey(uint64_t index) {
  return std::string(kCatalogPrefix) + EncodeUint64(index);
}

}  // namespace rtrec::storage

#endif  // RTREC_STORAGE_STATE_KEYS_H_

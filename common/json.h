// JSON parsing for the few JSON inputs rtrec reads (catalog JSONL lines, BERT
// config.json, the safetensors header). Uses protobuf's JSON parser into
// google::protobuf::Struct, so no extra dependency is needed.
//
// Thread safety: free functions, no shared state.
#ifndef RTREC_COMMON_JSON_H_
#define RTREC_COMMON_JSON_H_

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"

namespace rtrec {

// Parses `text` as one JSON object. The error says where parsing failed.
absl::StatusOr<google::protobuf::Struct> ParseJsonObject(absl::string_view text);

// Typed field access; each error names `field` (and `context` if not empty).
absl::StatusOr<std::string> JsonString(const google::protobuf::Struct& obj,
                                       const std::string& field,
                                       absl::string_view context);
// Integral number field. Refuses fractions and values outside int64.
absl::StatusOr<int64_t> JsonInt(const google::protobuf::Struct& obj,
                                 const std::string& field,
                                 absl::string_view context);
absl::StatusOr<double> JsonNumber(const google::protobuf::Struct& obj,
                                  const std::string& field,
                                  absl::string_view context);
// A list of integral numbers.
absl::StatusOr<std::vector<int64_t>> JsonIntList(
    const google::protobuf::Struct& obj, const std::string& field,
    absl::string_view context);
// A list of strings.
absl::StatusOr<std::vector<std::string>> JsonStringList(
    const google::protobuf::Struct& obj, const std::string& field,
    absl::string_view context);

// Converts a JSON number value to int64 if it is integral and in range.
absl::StatusOr<int64_t> JsonValueToInt(const google::protobuf::Value& v,
                                       absl::string_view what);

}  // namespace rtrec

#endif  // RTREC_COMMON_JSON_H_

#include "common/json.h"

#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace rtrec {
namespace {

std::string Where(absl::string_view context, const std::string& field) {
  return context.empty() ? field : absl::StrCat(context, ": ", field);
}

absl::StatusOr<const google::protobuf::Value*> Field(
    const google::protobuf::Struct& obj, const std::string& field,
    absl::string_view context) {
  auto it = obj.fields().find(field);
  if (it == obj.fields().end()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(context, field), ": missing"));
  }
  return &it->second;
}

}  // namespace

absl::StatusOr<google::protobuf::Struct> ParseJsonObject(absl::string_view text) {
  google::protobuf::Struct out;
  google::protobuf::util::JsonParseOptions options;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &out, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON object: ", std::string(status.message())));
  }
  return out;
}

absl::StatusOr<std::string> JsonString(const google::protobuf::Struct& obj,
                                       const std::string& field,
                                       absl::string_view context) {
  auto v = Field(obj, field, context);
  if (!v.ok()) return v.status();
  if (!(*v)->has_string_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(context, field), ": must be a string"));
  }
  return (*v)->string_value();
}

absl::StatusOr<int64_t> JsonValueToInt(const google::protobuf::Value& v,
                                       absl::string_view what) {
  if (!v.has_number_value()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": must be a number"));
  }
  double d = v.number_value();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": must be an integer, got ", d));
  }
  return static_cast<int64_t>(d);
}

absl::StatusOr<int64_t> JsonInt(const google::protobuf::Struct& obj,
                                 const std::string& field,
                                 absl::string_view context) {
  auto v = Field(obj, field, context);
  if (!v.ok()) return v.status();
  return JsonValueToInt(**v, Where(context, field));
}

absl::StatusOr<double> JsonNumber(const google::protobuf::Struct& obj,
                                  const std::string& field,
                                  absl::string_view context) {
  auto v = Field(obj, field, context);
  if (!v.ok()) return v.status();
  if (!(*v)->has_number_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(context, field), ": must be a number"));
  }
  return (*v)->number_value();
}

// Reads a list field, converting each element with `convert(value, what)`.
template <typename T, typename Convert>
absl::StatusOr<std::vector<T>> JsonList(const google::protobuf::Struct& obj,
                                        const std::string& field, absl::string_view context,
                                        Convert convert) {
  auto v = Field(obj, field, context);
  if (!v.ok()) return v.status();
  if (!(*v)->has_list_value()) {
    return absl::InvalidArgumentError(absl::StrCat(Where(context, field), ": must be a list"));
  }
  std::vector<T> out;
  int i = 0;
  for (const auto& e : (*v)->list_value().values()) {
    absl::StatusOr<T> item = convert(e, absl::StrCat(Where(context, field), "[", i++, "]"));
    if (!item.ok()) return item.status();
    out.push_back(*std::move(item));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> JsonIntList(const google::protobuf::Struct& obj,
                                                 const std::string& field,
                                                 absl::string_view context) {
  return JsonList<int64_t>(obj, field, context, JsonValueToInt);
}

absl::StatusOr<std::vector<std::string>> JsonStringList(const google::protobuf::Struct& obj,
                                                        const std::string& field,
                                                        absl::string_view context) {
  return JsonList<std::string>(
      obj, field, context,
      [](const google::protobuf::Value& e, const std::string& what) -> absl::StatusOr<std::string> {
        if (!e.has_string_value()) {
          return absl::InvalidArgumentError(absl::StrCat(what, ": must be a string"));
        }
        return e.string_value();
      });
}

}  // namespace rtrec

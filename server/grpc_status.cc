#include "server/grpc_status.h"

#include <string>

#include <google/protobuf/any.pb.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "common/refusal.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"

namespace rtrec::server {
namespace {

constexpr char kErrorDomain[] = "rtrec.v1";

bool IsFieldPathChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '[' ||
         c == ']';
}

}  // namespace

std::optional<std::pair<std::string, std::string>> FieldOfMessage(absl::string_view message) {
  const size_t colon = message.find(": ");
  if (colon == 0 || colon == absl::string_view::npos) return std::nullopt;
  absl::string_view field = message.substr(0, colon);
  if (!absl::ascii_isalpha(static_cast<unsigned char>(field[0]))) return std::nullopt;
  for (char c : field) {
    if (!IsFieldPathChar(c)) return std::nullopt;
  }
  return std::make_pair(std::string(field), std::string(message.substr(colon + 2)));
}

std::string ReasonOf(const absl::Status& status) {
  if (auto reason = status.GetPayload(kReasonPayload)) return std::string(*reason);
  return absl::StatusCodeToString(status.code());
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  google::rpc::Status details;
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  google::rpc::ErrorInfo info;
  info.set_reason(ReasonOf(status));
  info.set_domain(kErrorDomain);
  details.add_details()->PackFrom(info);
  int64_t retry_ms = 0;
  if (auto hint = status.GetPayload(kRetryAfterMsPayload);
      hint && absl::SimpleAtoi(std::string(*hint), &retry_ms) && retry_ms > 0) {
    google::rpc::RetryInfo retry;
    retry.mutable_retry_delay()->set_seconds(retry_ms / 1000);
    retry.mutable_retry_delay()->set_nanos(static_cast<int32_t>(retry_ms % 1000) * 1000000);
    details.add_details()->PackFrom(retry);
  }
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    if (auto field = FieldOfMessage(status.message())) {
      google::rpc::BadRequest bad;
      auto* violation = bad.add_field_violations();
      violation->set_field(field->first);
      violation->set_description(field->second);
      details.add_details()->PackFrom(bad);
    }
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      details.SerializeAsString());
}

void AddRetryHint(grpc::ServerContextBase* context, const absl::Status& status) {
  if (status.ok() || context == nullptr) return;
  if (auto hint = status.GetPayload(kRetryAfterMsPayload)) {
    context->AddTrailingMetadata("retry-after-ms", std::string(*hint));
  }
}

}  // namespace rtrec::server

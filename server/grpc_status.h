// The one place that maps absl::Status to grpc::Status. The numeric codes of
// the two agree; the message is kept as is, and every error carries a
// google.rpc.Status in its details ("grpc-status-details-bin") with:
//   - ErrorInfo{reason, domain "rtrec.v1"}: the kReasonPayload reason
//     (common/refusal.h), else the code's name;
//   - RetryInfo{retry_delay} when the refusal says a retry can succeed
//     (kRetryAfterMsPayload);
//   - BadRequest{field_violations} on INVALID_ARGUMENT whose message names
//     the field ("user_id: must not be empty" → field user_id).
#ifndef RTREC_SERVER_GRPC_STATUS_H_
#define RTREC_SERVER_GRPC_STATUS_H_

#include <optional>
#include <string>
#include <utility>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace rtrec::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

// The reason sent in ErrorInfo.
std::string ReasonOf(const absl::Status& status);

// "field.path[3]: description" → {field path, description}; nullopt when the
// message does not start with a field path.
std::optional<std::pair<std::string, std::string>> FieldOfMessage(absl::string_view message);

// Sends a refusal's retry hint (kRetryAfterMsPayload) as "retry-after-ms"
// trailing metadata, for clients that read no google.rpc details. Call before
// finishing the RPC.
void AddRetryHint(grpc::ServerContextBase* context, const absl::Status& status);

}  // namespace rtrec::server

#endif  // RTREC_SERVER_GRPC_STATUS_H_

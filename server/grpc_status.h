// The one place that maps absl::Status to grpc::Status. The numeric codes of
// the two agree; the message is kept as is.
#ifndef RTREC_SERVER_GRPC_STATUS_H_
#define RTREC_SERVER_GRPC_STATUS_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"

namespace rtrec::server {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Sends a refusal's retry hint (model::kRetryAfterMsPayload) as
// "retry-after-ms" trailing metadata. Call before finishing the RPC.
void AddRetryHint(grpc::ServerContextBase* context, const absl::Status& status);

}  // namespace rtrec::server

#endif  // RTREC_SERVER_GRPC_STATUS_H_

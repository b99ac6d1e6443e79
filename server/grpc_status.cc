#include "server/grpc_status.h"

#include <string>

#include "model/dynamic_batcher.h"

namespace rtrec::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

void AddRetryHint(grpc::ServerContextBase* context, const absl::Status& status) {
  if (status.ok() || context == nullptr) return;
  if (auto hint = status.GetPayload(model::kRetryAfterMsPayload)) {
    context->AddTrailingMetadata("retry-after-ms", std::string(*hint));
  }
}

}  // namespace rtrec::server

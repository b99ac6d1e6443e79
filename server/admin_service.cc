#include "server/admin_service.h"

#include "common/refusal.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/grpc_status.h"

namespace rtrec::server {

AdminService::AdminService(ServerMetrics* metrics, const AccessControl* access)
    : metrics_(metrics), access_(access), executor_(std::make_unique<SerialExecutor>()) {}

AdminService::~AdminService() { Stop(); }

void AdminService::SetReady(CheckpointOperations* operations) { operations_.store(operations); }

void AdminService::Stop() {
  stopping_.store(true);
  executor_.reset();  // runs what is queued (each answers UNAVAILABLE) and joins
}

grpc::ServerUnaryReactor* AdminService::Run(grpc::CallbackServerContext* context,
                                            const char* method, std::function<absl::Status()> work) {
  auto* reactor = context->DefaultReactor();
  const absl::Time started = absl::Now();
  auto finish = [this, reactor, method, started](const absl::Status& status) {
    metrics_->RecordRpc(method, static_cast<int>(status.code()),
                        absl::ToDoubleSeconds(absl::Now() - started));
    reactor->Finish(ToGrpcStatus(status));
  };
  if (auto caller = access_->Authorize(*context, Role::kAdmin); !caller.ok()) {
    finish(caller.status());
    return reactor;
  }
  if (operations_.load() == nullptr || stopping_.load() || !executor_) {
    finish(WithReason(WithRetryAfter(absl::UnavailableError("rtrec is loading or stopping; retry shortly"),
                                     absl::Seconds(1)),
                      stopping_.load() ? reason::kShuttingDown : reason::kLoading));
    return reactor;
  }
  executor_->Add([this, work = std::move(work), finish] {
    finish(stopping_.load() ? WithReason(WithRetryAfter(absl::UnavailableError("rtrec is stopping"),
                                                        absl::Seconds(1)),
                                         reason::kShuttingDown)
                            : work());
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListCheckpoints(
    grpc::CallbackServerContext* context, const rtrec::v1::ListCheckpointsRequest* /*request*/,
    rtrec::v1::ListCheckpointsResponse* response) {
  return Run(context, "ListCheckpoints", [this, response]() -> absl::Status {
    auto out = operations_.load()->ListCheckpoints();
    if (!out.ok()) return out.status();
    *response = std::move(*out);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RollbackModel(grpc::CallbackServerContext* context,
                                                      const rtrec::v1::RollbackModelRequest* request,
                                                      rtrec::v1::RollbackModelResponse* response) {
  return Run(context, "RollbackModel", [this, request, response]() -> absl::Status {
    if (request->model_version() < 1) {
      return absl::InvalidArgumentError("model_version: must be a checkpoint's version (>= 1)");
    }
    auto out = operations_.load()->RollbackModel(request->model_version());
    if (!out.ok()) return out.status();
    *response = std::move(*out);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ExportCheckpoint(
    grpc::CallbackServerContext* context, const rtrec::v1::ExportCheckpointRequest* request,
    rtrec::v1::ExportCheckpointResponse* response) {
  return Run(context, "ExportCheckpoint", [this, request, response]() -> absl::Status {
    if (request->model_version() < 1) {
      return absl::InvalidArgumentError("model_version: must be a checkpoint's version (>= 1)");
    }
    if (request->directory().empty() || request->directory()[0] != '/') {
      return absl::InvalidArgumentError("directory: must be an absolute path on the server's machine");
    }
    auto out = operations_.load()->ExportCheckpoint(request->model_version(), request->directory());
    if (!out.ok()) return out.status();
    *response = std::move(*out);
    return absl::OkStatus();
  });
}

}  // namespace rtrec::server

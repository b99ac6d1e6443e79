// rtrec.v1.Admin: the operator's calls on model checkpoints (list, roll
// back, export), answered from RtrecServer's checkpoint operations. Each
// call runs on one admin thread, one at a time, off gRPC's threads.
#ifndef RTREC_SERVER_ADMIN_SERVICE_H_
#define RTREC_SERVER_ADMIN_SERVICE_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "common/serial_executor.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "server/access_control.h"
#include "server/metrics.h"

namespace rtrec::server {

// What the admin service asks of the server (RtrecServer implements it).
class CheckpointOperations {
 public:
  virtual ~CheckpointOperations() = default;
  virtual absl::StatusOr<rtrec::v1::ListCheckpointsResponse> ListCheckpoints() = 0;
  virtual absl::StatusOr<rtrec::v1::RollbackModelResponse> RollbackModel(int64_t model_version) = 0;
  virtual absl::StatusOr<rtrec::v1::ExportCheckpointResponse> ExportCheckpoint(
      int64_t model_version, const std::string& directory) = 0;
};

class AdminService final : public rtrec::v1::Admin::CallbackService {
 public:
  // REQUIRES: both outlive the service. Until SetReady() every call answers
  // UNAVAILABLE. Every call needs role admin (server/access_control.h).
  AdminService(ServerMetrics* metrics, const AccessControl* access);
  ~AdminService() override;

  void SetReady(CheckpointOperations* operations);
  // Finishes the queued calls (with UNAVAILABLE once stopping) and stops.
  void Stop();

  grpc::ServerUnaryReactor* ListCheckpoints(grpc::CallbackServerContext* context,
                                            const rtrec::v1::ListCheckpointsRequest* request,
                                            rtrec::v1::ListCheckpointsResponse* response) override;
  grpc::ServerUnaryReactor* RollbackModel(grpc::CallbackServerContext* context,
                                          const rtrec::v1::RollbackModelRequest* request,
                                          rtrec::v1::RollbackModelResponse* response) override;
  grpc::ServerUnaryReactor* ExportCheckpoint(grpc::CallbackServerContext* context,
                                             const rtrec::v1::ExportCheckpointRequest* request,
                                             rtrec::v1::ExportCheckpointResponse* response) override;

 private:
  // Runs `work` on the admin thread and finishes the call with its status.
  grpc::ServerUnaryReactor* Run(grpc::CallbackServerContext* context, const char* method,
                                std::function<absl::Status()> work);

  ServerMetrics* const metrics_;
  const AccessControl* const access_;
  std::atomic<CheckpointOperations*> operations_{nullptr};
  std::atomic<bool> stopping_{false};
  std::unique_ptr<SerialExecutor> executor_;
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_ADMIN_SERVICE_H_

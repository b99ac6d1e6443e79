// The gRPC face of rtrec (callback API): validates requests, resolves ids to
// catalog indices, and hands work to the components. No model math here.
//
// Until SetReady() every RPC answers UNAVAILABLE. Every RPC is finished
// exactly once; no reactor callback blocks (UpsertItems encodes on a
// background thread, Recommend waits in the batcher, not in the callback).
//
// Thread safety: all RPC methods run concurrently on gRPC threads.
#ifndef RTREC_SERVER_RECOMMENDER_SERVICE_H_
#define RTREC_SERVER_RECOMMENDER_SERVICE_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/serial_executor.h"
#include "config/options.h"
#include "state/impression_log.h"
#include "learner/learner.h"
#include "model/exploration_policy.h"
#include "model/catalog.h"
#include "model/dynamic_batcher.h"
#include "model/inference_engine.h"
#include "model/model_store.h"
#include "state/user_state.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "common/logging.h"
#include "server/access_control.h"
#include "server/metrics.h"
#include "serving/serving_stack.h"
#include "tuner/online_tuner.h"

namespace rtrec::server {

// The loaded components the service talks to; owned by RtrecServer.
struct ServingComponents {
  // Catalog, users, models, engine, impressions, experiences, policy, the
  // learner and tuner (null when off), the catalog writer (UpsertItems runs
  // there), the state store (null when storage.path is empty: feedback and
  // upserts are acknowledged after its Commit()).
  serving::ServingStack* stack = nullptr;
  model::DynamicBatcher* batcher = nullptr;
};

// StreamFeedback reads raw messages, so that a message that does not parse
// ends the stream with an error that counts what was accepted before it
// (gRPC's typed reader reports it as an ordinary end of stream).
using RecommenderServiceBase = rtrec::v1::Recommender::WithRawCallbackMethod_StreamFeedback<
    rtrec::v1::Recommender::CallbackService>;

// ModelInfo's typed fields ("field" or "tuner.field") and the metric of
// CollectMetrics() each is read from.
absl::Span<const std::pair<const char*, const char*>> ModelInfoFieldMetrics();

class RecommenderService final : public RecommenderServiceBase {
 public:
  // REQUIRES: metrics, clock and access outlive the service.
  RecommenderService(const config::RtrecConfig& config, ServerMetrics* metrics, Clock* clock,
                     const AccessControl* access);
  ~RecommenderService() override;

  // Starts serving. Called once, after every component is loaded.
  void SetReady(const ServingComponents& components);
  bool ready() const { return ready_.load(std::memory_order_acquire); }

  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* context,
                                      const rtrec::v1::RecommendRequest* request,
                                      rtrec::v1::RecommendResponse* response) override;
  grpc::ServerUnaryReactor* Feedback(grpc::CallbackServerContext* context,
                                     const rtrec::v1::FeedbackRequest* request,
                                     rtrec::v1::FeedbackResponse* response) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* StreamFeedback(grpc::CallbackServerContext* context,
                                                            grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* UpsertItems(grpc::CallbackServerContext* context,
                                        const rtrec::v1::UpsertItemsRequest* request,
                                        rtrec::v1::UpsertItemsResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const rtrec::v1::GetModelInfoRequest* request,
                                         rtrec::v1::ModelInfo* response) override;

  // One feedback event: validates, joins or records it, updates history.
  absl::StatusOr<rtrec::v1::FeedbackResponse> ProcessFeedback(
      const rtrec::v1::FeedbackRequest& request);

  // Every counter and gauge of the serving components, read now: the one
  // collected set that /metrics exports and GetModelInfo returns.
  std::vector<ScrapedValue> CollectMetrics() const;
  // Fills a ModelInfo from CollectMetrics() (its `metrics` and typed fields)
  // plus the device, text tower and tuner history.
  void FillModelInfo(rtrec::v1::ModelInfo* info) const;

 private:
  class StreamFeedbackReactor;

  absl::StatusOr<std::unique_ptr<model::RecommendTask>> BuildTask(
      const rtrec::v1::RecommendRequest& request, absl::Time deadline, std::string client) const;
  // Authorizes the call for `role`, then checks that the service is ready.
  absl::StatusOr<Caller> Admit(const grpc::CallbackServerContext& context, Role role) const;
  absl::Status ValidateUpsert(const rtrec::v1::UpsertItemsRequest& request) const;
  // The request's exclusion, or the configured one when it names none.
  rtrec::v1::Exclusion ExclusionOf(const rtrec::v1::RecommendRequest& request) const;
  // Finishes a unary RPC and records its metrics; a retry hint in the
  // status goes out as "retry-after-ms" trailing metadata.
  void Finish(grpc::CallbackServerContext* context, grpc::ServerUnaryReactor* reactor,
              const char* method, absl::Time started, const absl::Status& status);

  absl::StatusOr<rtrec::v1::FeedbackResponse> JoinOrQueueFeedback(
      const rtrec::v1::FeedbackRequest& request);

  const config::RtrecConfig config_;
  // Feedback refused because the learner is behind comes in bursts: one log
  // line per 10 s at most.
  logging::RateLimitedLog feedback_refused_log_{absl::Seconds(10)};
  ServerMetrics* const metrics_;
  Clock* const clock_;
  const AccessControl* const access_;
  ServingComponents components_;
  std::atomic<bool> ready_{false};
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_RECOMMENDER_SERVICE_H_

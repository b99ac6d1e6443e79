// rtrec_trivial_server: the reference for rtrec's per-request cost. It
// implements the same rtrec.v1.Recommender service with gRPC's callback API
// and answers every Recommend at once, on the gRPC thread, with a fixed slate
// of k (≤ 10) items — no model, no batching, no logging. Feedback is
// acknowledged. bench/run_request_cost_bench.sh drives it and rtrec_server
// from the same load generator and compares server CPU per Recommend.
//
//   rtrec_trivial_server --port 0   (prints "listening on port N")
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include <unistd.h>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/command_line.h"
#include "rtrec/v1/recommender.grpc.pb.h"

ABSL_FLAG(int, port, 0, "Port on 127.0.0.1 (0: any free one)");

namespace {

class TrivialRecommender final : public rtrec::v1::Recommender::CallbackService {
 public:
  grpc::ServerUnaryReactor* Recommend(grpc::CallbackServerContext* ctx,
                                      const rtrec::v1::RecommendRequest* request,
                                      rtrec::v1::RecommendResponse* response) override {
    const int k = request->k() > 0 && request->k() < 10 ? request->k() : 10;
    response->set_request_id(absl::StrCat("trivial-", next_.fetch_add(1)));
    response->set_model_version(1);
    for (int i = 0; i < k; ++i) {
      auto* item = response->add_items();
      item->set_item_id(kItems[i]);
      item->set_score(1.0f - 0.1f * static_cast<float>(i));
      item->set_propensity(1.0);
    }
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerUnaryReactor* Feedback(grpc::CallbackServerContext* ctx, const rtrec::v1::FeedbackRequest*,
                                     rtrec::v1::FeedbackResponse* response) override {
    response->set_joined(true);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  static constexpr const char* kItems[10] = {"tea-000",     "tea-001",     "coffee-000", "coffee-001",
                                             "running-000", "running-001", "baby-000",   "baby-001",
                                             "photography-000", "photography-001"};
  std::atomic<uint64_t> next_{0};
};

std::atomic<bool> stop{false};

}  // namespace

int main(int argc, char** argv) {
  rtrec::ParseCommandLineOrExit(argc, argv, "rtrec_trivial_server [--port N]: a fixed-answer Recommender");
  TrivialRecommender service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", absl::GetFlag(FLAGS_port)),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "rtrec_trivial_server: cannot listen\n");
    return 1;
  }
  std::printf("listening on port %d\n", port);
  std::fflush(stdout);
  std::signal(SIGTERM, [](int) { stop.store(true); });
  std::signal(SIGINT, [](int) { stop.store(true); });
  while (!stop.load()) pause();
  server->Shutdown();
  return 0;
}

// libFuzzer target: arbitrary bytes as requests to a real in-process rtrec
// server (tiny BERT, demo catalog, learner on) over gRPC on 127.0.0.1.
//
// The first byte picks the method; the rest is sent as the raw request
// message, so gRPC's and protobuf's parsing, rtrec's validation and the
// handlers behind them all see it. StreamFeedback splits the rest at 0xFE
// bytes into several messages. After every input the server must still
// answer health SERVING and a well-formed Recommend; anything else aborts
// (a finding). Built with clang -fsanitize=fuzzer,address by
// tools/fuzz.sh, which runs it for a bounded time.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "server/server.h"
#include "tests/server/test_util.h"

namespace {

struct Harness {
  std::unique_ptr<rtrec::server::RtrecServer> server;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<rtrec::v1::Recommender::Stub> stub;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
  int64_t inputs = 0;
};

Harness* harness = nullptr;

const char* const kMethods[] = {
    "/rtrec.v1.Recommender/Recommend",      "/rtrec.v1.Recommender/Feedback",
    "/rtrec.v1.Recommender/StreamFeedback", "/rtrec.v1.Recommender/UpsertItems",
    "/rtrec.v1.Recommender/GetModelInfo",   "/rtrec.v1.Admin/ListCheckpoints",
    "/rtrec.v1.Admin/RollbackModel",        "/rtrec.v1.Admin/ExportCheckpoint",
};
constexpr int kNumMethods = sizeof(kMethods) / sizeof(kMethods[0]);

[[noreturn]] void Finding(const std::string& what) {
  std::fprintf(stderr, "rtrec fuzz finding: %s\n", what.c_str());
  std::abort();
}

// One call of `method` with `messages` as its raw request stream; returns
// once the server has answered (any status).
void Call(const char* method, const std::vector<std::string>& messages) {
  grpc::Status status = rtrec::testing::CallRaw(harness->channel, method, messages, nullptr,
                                                std::chrono::seconds(20));
  if (status.error_code() == grpc::StatusCode::INTERNAL || status.error_code() == grpc::StatusCode::UNKNOWN) {
    Finding(std::string(method) + " answered " + std::to_string(status.error_code()) + ": " +
            status.error_message());
  }
}

void CheckStillServing() {
  grpc::ClientContext hctx;
  hctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::health::v1::HealthCheckResponse h;
  grpc::Status hs = harness->health->Check(&hctx, grpc::health::v1::HealthCheckRequest(), &h);
  if (!hs.ok() || h.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    Finding("health is not SERVING after an input: " + hs.error_message());
  }
  grpc::ClientContext rctx;
  rctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  rtrec::v1::RecommendRequest req;
  req.set_user_id("fuzz-probe");
  req.set_k(3);
  rtrec::v1::RecommendResponse resp;
  grpc::Status rs = harness->stub->Recommend(&rctx, req, &resp);
  if (!rs.ok() || resp.items_size() == 0) Finding("a well-formed Recommend failed: " + rs.error_message());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  rtrec::config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.server.metrics_address = "";
  config.catalog.max_items = 2000;
  config.learner.enabled = true;
  config.learner.publish_interval_ms = 200;
  config.impressions.reward_wait_ms = 500;
  harness = new Harness;
  auto server = rtrec::server::RtrecServer::Start(config);
  if (!server.ok()) Finding(std::string(server.status().message()));
  harness->server = std::move(*server);
  if (auto s = harness->server->Load(); !s.ok()) Finding(std::string(s.message()));
  harness->channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(harness->server->port()),
                                         grpc::InsecureChannelCredentials());
  harness->stub = rtrec::v1::Recommender::NewStub(harness->channel);
  harness->health = grpc::health::v1::Health::NewStub(harness->channel);
  // libFuzzer ends with exit(): stop the server's threads (the learner may be
  // mid-publish) before the libraries' static objects are destroyed.
  std::atexit([] {
    if (harness && harness->server) harness->server->Shutdown();
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int method = data[0] % kNumMethods;
  std::vector<std::string> messages;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (method == 2) {
    size_t start = 0;
    for (size_t i = 0; i <= rest.size(); ++i) {
      if (i == rest.size() || static_cast<uint8_t>(rest[i]) == 0xFE) {
        messages.push_back(rest.substr(start, i - start));
        start = i + 1;
      }
    }
  } else {
    messages.push_back(rest);
  }
  // ExportCheckpoint writes where it is told: keep it inside the temp dir.
  if (method == 7) return 0;
  Call(kMethods[method], messages);
  if (++harness->inputs % 64 == 0) CheckStillServing();
  return 0;
}

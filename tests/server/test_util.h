// Helpers shared by the server tests: a test config on loopback, a plain HTTP
// GET for Prometheus scrapes, and the standard health check.
#ifndef RTREC_TESTS_SERVER_TEST_UTIL_H_
#define RTREC_TESTS_SERVER_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "config/options.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tools/grpc_client.h"

namespace rtrec::testing {

// Loopback, free ports, the tiny BERT checkpoint and the demo catalog.
inline config::RtrecConfig LoopbackConfig() {
  auto c = config::ParseConfig("", ".");
  config::RtrecConfig out = *c;
  out.server.listen_address = "127.0.0.1:0";
  out.server.metrics_address = "127.0.0.1:0";
  out.text_tower.checkpoint_dir = std::string(RTREC_SOURCE_DIR) + "/tests/data/tiny_bert";
  out.text_tower.max_seq_length = 32;
  out.model.embedding_dim = 32;
  out.catalog.max_items = 1000;
  // Tests that count experiences or drive weight swaps themselves turn the
  // learner on where they need it.
  out.learner.enabled = false;
  return out;
}

// GET http://127.0.0.1:port/path; returns the whole response, headers
// included ("" when nothing came back within 30 s).
inline std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval timeout{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  std::string out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      ssize_t n;
      while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    }
  }
  close(fd);
  return out;
}

inline grpc::health::v1::HealthCheckResponse::ServingStatus Health(
    const std::shared_ptr<grpc::Channel>& channel, grpc::Status* status = nullptr,
    const std::string& service = "") {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (status) *status = s;
  return resp.status();
}

// The google.rpc details of an error status, decoded (tools/grpc_client.h).
using ::rtrec::tools::DecodeErrorDetails;
using ::rtrec::tools::ErrorDetails;

// One call of `method` ("/package.Service/Method") with `messages` as its
// raw request stream (one message for a unary method), through gRPC's
// generic stub: bytes that need not parse. Returns the status; *response gets
// the raw answer when there is one. Stops writing when the server ends the
// call.
inline grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                            const std::vector<std::string>& messages, std::string* response = nullptr,
                            std::chrono::seconds deadline = std::chrono::seconds(30)) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  auto call = stub.PrepareCall(&ctx, method, &cq);
  intptr_t next_tag = 1;
  auto step = [&] {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  call->StartCall(reinterpret_cast<void*>(next_tag++));
  step();
  for (const std::string& m : messages) {
    grpc::Slice slice(m.data(), m.size());
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(next_tag++));
    if (!step()) break;  // the server ended the call
  }
  call->WritesDone(reinterpret_cast<void*>(next_tag++));
  step();
  grpc::ByteBuffer in;
  call->Read(&in, reinterpret_cast<void*>(next_tag++));
  const bool got = step();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(next_tag++));
  step();
  if (got && response != nullptr) {
    std::vector<grpc::Slice> slices;
    if (in.Dump(&slices).ok()) {
      response->clear();
      for (const auto& sl : slices) response->append(reinterpret_cast<const char*>(sl.begin()), sl.size());
    }
  }
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace rtrec::testing

#endif  // RTREC_TESTS_SERVER_TEST_UTIL_H_

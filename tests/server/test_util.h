// Helpers shared by the server tests: a test config on loopback, a plain HTTP
// GET for Prometheus scrapes, and the standard health check.
#ifndef RTREC_TESTS_SERVER_TEST_UTIL_H_
#define RTREC_TESTS_SERVER_TEST_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <grpcpp/grpcpp.h>

#include "config/options.h"
#include "grpc/health/v1/health.grpc.pb.h"

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
    const std::shared_ptr<grpc::Channel>& channel, grpc::Status* status = nullptr) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status s = stub->Check(&ctx, req, &resp);
  if (status) *status = s;
  return resp.status();
}

}  // namespace rtrec::testing

#endif  // RTREC_TESTS_SERVER_TEST_UTIL_H_

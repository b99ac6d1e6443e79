// A minimal HTTP/1.0 endpoint that serves GET /metrics (Prometheus text
// format) from a callback, on one background thread.
//
// Why not prometheus-cpp's Exposer: in a process that also links Debian's
// libtorch, its embedded civetweb server refuses any fixed port ("null
// context when constructing CivetServer") while binding port 0 works; and its
// shutdown takes ~2 s. A scrape endpoint needs only this much HTTP.
//
// Thread safety: Start/Stop from one thread; the callback runs on the
// server's thread.
#ifndef RTREC_SERVER_METRICS_HTTP_SERVER_H_
#define RTREC_SERVER_METRICS_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace rtrec::server {

class MetricsHttpServer {
 public:
  // Listens on `address` ("host:port", port 0 picks one) and answers
  // GET /metrics with render(). Returns the server or why it cannot listen.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::function<std::string()> render);
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer(int fd, int port, std::function<std::string()> render);
  void Serve();
  void HandleConnection(int fd);

  const int listen_fd_;
  const int port_;
  const std::function<std::string()> render_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_METRICS_HTTP_SERVER_H_

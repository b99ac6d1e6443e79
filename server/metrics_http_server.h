// The HTTP endpoint on the metrics port: GET /metrics (Prometheus text
// format) and the orchestrator probes GET /healthz (liveness: 200 while the
// process answers and is not stopping) and GET /readyz (readiness: 200 once
// the model and catalog are loaded, 503 while loading or draining), each
// from a callback.
//
// Built on cpp-httplib (Debian's libcpp-httplib): a pool of kWorkerThreads
// workers, each connection bounded by kReadTimeout per read and kWriteTimeout
// per write, keep-alive for at most kKeepAliveRequests requests. A slow or
// idle client holds one worker at most, so a scrape is still answered while
// up to kWorkerThreads - 1 such clients hang on (tests/server:
// a client that sends a byte every 0.5 s). Why not prometheus-cpp's Exposer:
// in a process that also links Debian's libtorch its embedded civetweb server
// refuses any fixed port ("null context when constructing CivetServer"),
// and its shutdown takes ~2 s.
//
// The socket is bound without SO_REUSEPORT: a second server on the same
// address fails to start, naming it.
//
// Thread safety: Start/destruction from one thread; the callback runs on
// the worker threads, concurrently.
#ifndef RTREC_SERVER_METRICS_HTTP_SERVER_H_
#define RTREC_SERVER_METRICS_HTTP_SERVER_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace rtrec::server {

// A probe's answer: 200 with `detail` when ok, 503 with it otherwise.
struct ProbeResult {
  bool ok = false;
  std::string detail;
};

struct HttpEndpointHandlers {
  std::function<std::string()> metrics;
  std::function<ProbeResult()> live;   // GET /healthz
  std::function<ProbeResult()> ready;  // GET /readyz
};

class MetricsHttpServer {
 public:
  static constexpr int kWorkerThreads = 8;
  static constexpr std::chrono::seconds kReadTimeout{2};
  static constexpr std::chrono::seconds kWriteTimeout{5};
  static constexpr int kKeepAliveRequests = 100;

  // Listens on `address` ("host:port", port 0 picks one) and answers with
  // the handlers. Returns the server or why it cannot listen.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address,
                                                                  HttpEndpointHandlers handlers);
  ~MetricsHttpServer();

  int port() const { return port_; }

 private:
  MetricsHttpServer(std::unique_ptr<httplib::Server> http, int port);

  std::unique_ptr<httplib::Server> http_;
  const int port_;
  std::thread thread_;
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_METRICS_HTTP_SERVER_H_

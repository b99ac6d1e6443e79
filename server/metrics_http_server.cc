#include "server/metrics_http_server.h"

#include <sys/socket.h>

#include <utility>

#include <httplib.h>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace rtrec::server {

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, HttpEndpointHandlers handlers) {
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.metrics_address: '", address, "' is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.empty() || host == "*") host = "0.0.0.0";
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);

  auto http = std::make_unique<httplib::Server>();
  http->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which
  // lets a second process share the port.
  http->set_socket_options([](int sock) {
    int one = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  });
  http->set_read_timeout(kReadTimeout);
  http->set_write_timeout(kWriteTimeout);
  http->set_keep_alive_max_count(kKeepAliveRequests);
  http->set_payload_max_length(8192);
  http->Get("/metrics", [render = handlers.metrics](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  for (auto [path, probe] : {std::pair{"/healthz", handlers.live}, std::pair{"/readyz", handlers.ready}}) {
    http->Get(path, [probe = probe](const httplib::Request&, httplib::Response& res) {
      const ProbeResult r = probe ? probe() : ProbeResult{true, "ok"};
      res.status = r.ok ? 200 : 503;
      res.set_content(r.detail + "\n", "text/plain");
    });
  }
  http->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 404) {
      res.set_content("rtrec serves /metrics, /healthz and /readyz here\n", "text/plain");
    } else if (res.status == 405 || (req.method != "GET" && req.method != "HEAD")) {
      res.set_content("only GET /metrics, /healthz, /readyz\n", "text/plain");
    }
  });
  int bound = port;
  if (port == 0) {
    bound = http->bind_to_any_port(host);
  } else if (!http->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound <= 0) {
    return absl::UnavailableError(absl::StrCat("server.metrics_address: cannot listen on ", address,
                                               " (in use, or not an address of this host)"));
  }
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(http), bound));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<httplib::Server> http, int port)
    : http_(std::move(http)), port_(port) {
  thread_ = std::thread([this] { http_->listen_after_bind(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  // stop() only interrupts a loop that has started.
  for (int i = 0; i < 2000 && !http_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace rtrec::server

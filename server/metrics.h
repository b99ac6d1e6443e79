// Prometheus metrics of one server: RPC counts and latency by method and
// code, batch sizes, inference latency, and gauges read from the components
// at scrape time (queue depth, model version, swaps, catalog size, impression
// join/expiry counts, pending experiences).
//
// Thread safety: all methods may be called from any thread.
#ifndef RTREC_SERVER_METRICS_H_
#define RTREC_SERVER_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/metrics_http_server.h"

namespace rtrec::server {

// A value read at scrape time: name, help, "gauge" or "counter", value.
struct ScrapedValue {
  std::string name;
  std::string help;
  bool is_counter = false;
  double value = 0;
  std::vector<std::pair<std::string, std::string>> labels = {};
};

class ServerMetrics {
 public:
  ServerMetrics();
  ~ServerMetrics();

  void RecordRpc(const std::string& method, int grpc_code, double seconds);
  void RecordBatch(int64_t batch_size, double seconds);
  // A learned snapshot reached its first Recommend this long after its step.
  void RecordStepToServed(double seconds);
  // Values computed when Prometheus scrapes.
  void SetScrapeSource(std::function<std::vector<ScrapedValue>()> source);

  // Serves /metrics, and /healthz and /readyz from the probes, on `address`
  // (host:port, port 0 picks one). Returns the bound port.
  absl::StatusOr<int> StartHttpEndpoint(const std::string& address,
                                        std::function<ProbeResult()> live,
                                        std::function<ProbeResult()> ready);
  // Stops serving /metrics (before the components it reads go away).
  void StopHttpEndpoint();

  // The text exposition of everything, as a scrape would return it.
  std::string RenderText() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_METRICS_H_

#include "server/metrics.h"

#include <map>
#include <mutex>

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "server/metrics_http_server.h"

namespace rtrec::server {
namespace {

const char* CodeName(int code) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                 "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                 "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

class ScrapeCollectable : public prometheus::Collectable {
 public:
  void SetSource(std::function<std::vector<ScrapedValue>()> source) {
    rtrec::MutexLock lock(&mu_);
    source_ = std::move(source);
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::function<std::vector<ScrapedValue>()> source;
    {
      rtrec::MutexLock lock(&mu_);
      source = source_;
    }
    std::vector<prometheus::MetricFamily> out;
    if (!source) return out;
    for (const ScrapedValue& v : source()) {
      prometheus::MetricFamily f;
      f.name = v.name;
      f.help = v.help;
      f.type = v.is_counter ? prometheus::MetricType::Counter : prometheus::MetricType::Gauge;
      prometheus::ClientMetric m;
      for (const auto& [name, value] : v.labels) m.label.push_back({name, value});
      if (v.is_counter) {
        m.counter.value = v.value;
      } else {
        m.gauge.value = v.value;
      }
      f.metric.push_back(m);
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  mutable rtrec::Mutex mu_;
  std::function<std::vector<ScrapedValue>()> source_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

struct ServerMetrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<ScrapeCollectable> scraped = std::make_shared<ScrapeCollectable>();
  prometheus::Family<prometheus::Counter>* rpc_count = nullptr;
  prometheus::Family<prometheus::Histogram>* rpc_latency = nullptr;
  prometheus::Histogram* batch_size = nullptr;
  prometheus::Histogram* inference_latency = nullptr;
  prometheus::Histogram* step_to_served = nullptr;
  std::unique_ptr<MetricsHttpServer> http;
  rtrec::Mutex mu;  // guards the per-label caches below
  std::map<std::pair<std::string, int>, prometheus::Counter*> counters ABSL_GUARDED_BY(mu);
  std::map<std::string, prometheus::Histogram*> latencies ABSL_GUARDED_BY(mu);
};

ServerMetrics::ServerMetrics() : impl_(std::make_unique<Impl>()) {
  auto& r = *impl_->registry;
  impl_->rpc_count = &prometheus::BuildCounter()
                          .Name("rtrec_rpc_requests_total")
                          .Help("RPCs finished, by method and status code")
                          .Register(r);
  impl_->rpc_latency = &prometheus::BuildHistogram()
                            .Name("rtrec_rpc_latency_seconds")
                            .Help("RPC latency from arrival to answer, by method")
                            .Register(r);
  impl_->batch_size = &prometheus::BuildHistogram()
                           .Name("rtrec_batch_size")
                           .Help("Requests per inference batch")
                           .Register(r)
                           .Add({}, prometheus::Histogram::BucketBoundaries{
                                        1, 2, 4, 8, 16, 32, 64, 128, 256});
  impl_->inference_latency = &prometheus::BuildHistogram()
                                  .Name("rtrec_inference_latency_seconds")
                                  .Help("Compute time of one inference batch")
                                  .Register(r)
                                  .Add({}, prometheus::Histogram::BucketBoundaries{
                                               0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                               0.05, 0.1, 0.2, 0.5, 1});
  impl_->step_to_served = &prometheus::BuildHistogram()
                               .Name("rtrec_learner_step_to_served_seconds")
                               .Help("From the end of a learner step to the first Recommend answered by the "
                                     "snapshot it produced (publish check and swap included)")
                               .Register(r)
                               .Add({}, prometheus::Histogram::BucketBoundaries{
                                            0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5});
}

ServerMetrics::~ServerMetrics() = default;

void ServerMetrics::RecordRpc(const std::string& method, int grpc_code, double seconds) {
  prometheus::Counter* counter;
  prometheus::Histogram* latency;
  {
    rtrec::MutexLock lock(&impl_->mu);
    auto& c = impl_->counters[{method, grpc_code}];
    if (c == nullptr) {
      c = &impl_->rpc_count->Add({{"method", method}, {"code", CodeName(grpc_code)}});
    }
    counter = c;
    auto& h = impl_->latencies[method];
    if (h == nullptr) {
      h = &impl_->rpc_latency->Add(
          {{"method", method}},
          prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.002, 0.005, 0.01, 0.02,
                                                  0.05, 0.1, 0.2, 0.5, 1, 2, 5});
    }
    latency = h;
  }
  counter->Increment();
  latency->Observe(seconds);
}

void ServerMetrics::RecordBatch(int64_t batch_size, double seconds) {
  impl_->batch_size->Observe(static_cast<double>(batch_size));
  impl_->inference_latency->Observe(seconds);
}

void ServerMetrics::RecordStepToServed(double seconds) { impl_->step_to_served->Observe(seconds); }

void ServerMetrics::SetScrapeSource(std::function<std::vector<ScrapedValue>()> source) {
  impl_->scraped->SetSource(std::move(source));
}

absl::StatusOr<int> ServerMetrics::StartHttpEndpoint(const std::string& address,
                                                     std::function<ProbeResult()> live,
                                                     std::function<ProbeResult()> ready) {
  auto http = MetricsHttpServer::Start(
      address, HttpEndpointHandlers{[this] { return RenderText(); }, std::move(live), std::move(ready)});
  if (!http.ok()) return http.status();
  impl_->http = std::move(*http);
  return impl_->http->port();
}

void ServerMetrics::StopHttpEndpoint() { impl_->http.reset(); }

std::string ServerMetrics::RenderText() const {
  auto families = impl_->registry->Collect();
  auto extra = impl_->scraped->Collect();
  families.insert(families.end(), extra.begin(), extra.end());
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace rtrec::server

// Observability against the real things: a real Prometheus server (Debian's
// `prometheus`, installed by tools/setup.sh) scrapes a running rtrec and the
// test reads the values back through Prometheus' HTTP query API; every metric
// the Grafana dashboard and the alert rules name exists in a real /metrics
// scrape; and every dashboard query is accepted by Prometheus' PromQL engine.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "server/server.h"
#include "tests/server/test_util.h"

namespace rtrec {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every rtrec_ metric name a file mentions (dashboard queries, alert rules).
std::set<std::string> MetricNamesIn(const std::string& text) {
  std::set<std::string> names;
  static const std::regex kName("rtrec_[a-z0-9_]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName); it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

// Sample names of a Prometheus text exposition.
std::set<std::string> SampleNames(const std::string& exposition) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    const size_t end = line.find_first_of("{ ");
    names.insert(std::string(line.substr(0, end)));
  }
  return names;
}

std::vector<std::string> DashboardQueries(const std::string& dashboard_json) {
  std::vector<std::string> out;
  auto dashboard = ParseJsonObject(dashboard_json);
  EXPECT_TRUE(dashboard.ok()) << dashboard.status();
  if (!dashboard.ok()) return out;
  for (const auto& panel : dashboard->fields().at("panels").list_value().values()) {
    const auto& fields = panel.struct_value().fields();
    if (!fields.count("targets")) continue;
    for (const auto& target : fields.at("targets").list_value().values()) {
      // Grafana's variables, as Grafana substitutes them: every instance, and
      // a rate window of at least four scrapes.
      out.push_back(absl::StrReplaceAll(target.struct_value().fields().at("expr").string_value(),
                                        {{"$instance", ".*"}, {"$__rate_interval", "1m"}}));
    }
  }
  return out;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// The body of an HTTP response.
std::string Body(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// A Prometheus server scraping 127.0.0.1:<target_port> every second.
class PrometheusProcess {
 public:
  PrometheusProcess(int target_port, const std::string& dir) : port_(FreeLoopbackPort()), dir_(dir) {
    const std::string config = dir + "/prometheus.yml";
    std::ofstream(config) << "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                          << "rule_files:\n  - " << RTREC_SOURCE_DIR << "/deploy/prometheus/alerts.yml\n"
                          << "scrape_configs:\n  - job_name: rtrec\n    static_configs:\n"
                          << "      - targets: [\"127.0.0.1:" << target_port << "\"]\n";
    const std::string log = dir + "/prometheus.log";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = freopen(log.c_str(), "w", stdout);
      (void)out;
      dup2(STDOUT_FILENO, STDERR_FILENO);
      const std::string config_flag = "--config.file=" + config;
      const std::string storage_flag = "--storage.tsdb.path=" + dir + "/data";
      const std::string listen_flag = "--web.listen-address=127.0.0.1:" + std::to_string(port_);
      execlp("prometheus", "prometheus", config_flag.c_str(), storage_flag.c_str(), listen_flag.c_str(),
             nullptr);
      _exit(127);
    }
  }
  ~PrometheusProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string log() const { return ReadFile(dir_ + "/prometheus.log"); }

  // GET /api/v1/query?query=...; the parsed JSON body.
  absl::StatusOr<google::protobuf::Struct> Query(const std::string& promql) const {
    const std::string body = Body(rtrec::testing::HttpGet(port_, "/api/v1/query?query=" + UrlEncode(promql)));
    return ParseJsonObject(body);
  }
  // The value of the first series of an instant query, if it has one.
  std::optional<double> Value(const std::string& promql) const {
    auto r = Query(promql);
    if (!r.ok() || r->fields().at("status").string_value() != "success") return std::nullopt;
    const auto& result = r->fields().at("data").struct_value().fields().at("result").list_value();
    if (result.values_size() == 0) return std::nullopt;
    const auto& value = result.values(0).struct_value().fields().at("value").list_value();
    return std::stod(value.values(1).string_value());
  }

 private:
  const int port_;
  const std::string dir_;
  pid_t pid_ = -1;
};

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = rtrec::testing::LoopbackConfig();
    // Learner and tuner on, so their metrics are exposed as in production.
    config.learner.enabled = true;
    config.learner.batch_size = 8;
    config.learner.max_batch_wait_ms = 1;
    config.tuner.enabled = true;
    auto server = server::RtrecServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->Load().ok());
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                       grpc::InsecureChannelCredentials());
    stub_ = v1::Recommender::NewStub(channel);
    // Traffic, so that every labelled series and histogram has samples.
    for (int i = 0; i < kRecommends; ++i) {
      v1::RecommendRequest req;
      req.set_user_id("prom-" + std::to_string(i % 3));
      req.set_k(3);
      v1::RecommendResponse resp;
      grpc::ClientContext ctx;
      ASSERT_TRUE(stub_->Recommend(&ctx, req, &resp).ok());
      v1::FeedbackRequest fb;
      fb.set_user_id(req.user_id());
      fb.set_request_id(resp.request_id());
      fb.set_item_id(resp.items(0).item_id());
      fb.set_reward(1.0);
      fb.set_event_type(v1::EVENT_TYPE_CLICK);
      v1::FeedbackResponse fr;
      grpc::ClientContext fctx;
      ASSERT_TRUE(stub_->Feedback(&fctx, fb, &fr).ok());
    }
    v1::RecommendRequest bad;  // no user_id: one INVALID_ARGUMENT
    v1::RecommendResponse resp;
    grpc::ClientContext ctx;
    ASSERT_EQ(stub_->Recommend(&ctx, bad, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static constexpr int kRecommends = 25;
  std::unique_ptr<server::RtrecServer> server_;
  std::unique_ptr<v1::Recommender::Stub> stub_;
};

TEST_F(PrometheusTest, EveryMetricOfTheDashboardAndTheAlertsIsInTheRealScrape) {
  const std::set<std::string> exposed =
      SampleNames(Body(rtrec::testing::HttpGet(server_->metrics_port(), "/metrics")));
  for (const std::string file : {"/deploy/grafana/dashboards/rtrec.json", "/deploy/prometheus/alerts.yml"}) {
    const std::set<std::string> named = MetricNamesIn(ReadFile(RTREC_SOURCE_DIR + file));
    EXPECT_GE(named.size(), 8u) << file;
    for (const auto& name : named) EXPECT_TRUE(exposed.count(name)) << file << " names " << name;
  }
  // The dashboard shows what operators need (issue list of panels).
  const std::set<std::string> dashboard =
      MetricNamesIn(ReadFile(std::string(RTREC_SOURCE_DIR) + "/deploy/grafana/dashboards/rtrec.json"));
  for (const char* needed :
       {"rtrec_rpc_requests_total", "rtrec_rpc_latency_seconds_bucket", "rtrec_batch_size_bucket",
        "rtrec_model_version", "rtrec_model_swaps_total", "rtrec_model_rejected_swaps_total",
        "rtrec_tuner_round_reward", "rtrec_tuner_learning_rate", "rtrec_tuner_exploration"}) {
    EXPECT_TRUE(dashboard.count(needed)) << needed;
  }
}

TEST_F(PrometheusTest, RealPrometheusScrapesRtrecAndAnswersQueries) {
  char dir_template[] = "/tmp/rtrec-prometheus-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  PrometheusProcess prometheus(server_->metrics_port(), dir_template);
  ASSERT_GT(prometheus.port(), 0);

  // Bounded wait for Prometheus to start and complete a scrape (it scrapes
  // every second; a cold start on a loaded 2-core machine takes a few).
  std::optional<double> recommends;
  const std::string ok_recommends = "rtrec_rpc_requests_total{job=\"rtrec\",method=\"Recommend\",code=\"OK\"}";
  for (int attempt = 0; attempt < 1200 && !recommends; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    recommends = prometheus.Value(ok_recommends);
  }
  ASSERT_TRUE(recommends.has_value()) << "Prometheus never returned the series; its log:\n"
                                      << prometheus.log();
  // Values read back through Prometheus equal what the test did.
  EXPECT_EQ(*recommends, kRecommends);
  EXPECT_EQ(prometheus.Value("rtrec_rpc_requests_total{method=\"Recommend\",code=\"INVALID_ARGUMENT\"}"), 1.0);
  EXPECT_EQ(prometheus.Value("rtrec_rpc_requests_total{method=\"Feedback\",code=\"OK\"}"), kRecommends);
  EXPECT_EQ(prometheus.Value("rtrec_impressions_joined_total"), kRecommends);
  EXPECT_EQ(prometheus.Value("up{job=\"rtrec\"}"), 1.0);
  EXPECT_EQ(prometheus.Value("rtrec_ready"), 1.0);
  EXPECT_EQ(prometheus.Value("rtrec_catalog_items"), 240.0);
  EXPECT_EQ(prometheus.Value("rtrec_rpc_latency_seconds_count{method=\"Recommend\"}"), kRecommends + 1);
  // The histogram is usable as Prometheus users will query it.
  const auto p99 = prometheus.Value(
      "histogram_quantile(0.99, sum by (le) (rtrec_rpc_latency_seconds_bucket{method=\"Recommend\"}))");
  ASSERT_TRUE(p99.has_value());
  EXPECT_GT(*p99, 0.0);
  EXPECT_LT(*p99, 60.0);
  EXPECT_GE(prometheus.Value("rtrec_model_version").value_or(0), 1.0);

  // Every dashboard query is valid PromQL for this Prometheus and, over the
  // series it has scraped, evaluates without error.
  const std::vector<std::string> queries =
      DashboardQueries(ReadFile(std::string(RTREC_SOURCE_DIR) + "/deploy/grafana/dashboards/rtrec.json"));
  ASSERT_GE(queries.size(), 10u);
  for (const auto& q : queries) {
    auto r = prometheus.Query(q);
    ASSERT_TRUE(r.ok()) << q << ": " << r.status();
    EXPECT_EQ(r->fields().at("status").string_value(), "success") << q;
  }
  // The alert rules were loaded by the real server.
  const std::string rules = Body(rtrec::testing::HttpGet(prometheus.port(), "/api/v1/rules"));
  EXPECT_THAT(rules, HasSubstr("RtrecNoModelSwap"));
  EXPECT_THAT(rules, HasSubstr("RtrecInferenceQueueNearFull"));
  EXPECT_THAT(rules, ::testing::Not(HasSubstr("\"health\":\"err\"")));
}

}  // namespace
}  // namespace rtrec

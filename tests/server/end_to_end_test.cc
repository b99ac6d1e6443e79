// End to end: the built rtrec_server binary, started with a temporary config
// file, driven over gRPC, then stopped with SIGTERM.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/str_split.h"
#include "common/json.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "tests/server/test_util.h"

namespace rtrec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A child process whose stdout+stderr we read line by line.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& config_path, std::vector<std::string> extra_args = {}) {
    int fds[2];
    if (pipe(fds) != 0) return;
    std::vector<std::string> args = {RTREC_SERVER_BINARY, "--config", config_path};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(RTREC_SERVER_BINARY, argv.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_) fclose(out_);
  }
  // Next output line, or "" at end of output.
  std::string ReadLine() {
    char buf[4096];
    if (!out_ || !fgets(buf, sizeof(buf), out_)) return "";
    std::string line(buf);
    log_ += line;
    return line;
  }
  // Reads lines until one contains `needle`; returns it ("" if output ended).
  std::string WaitFor(const std::string& needle) {
    for (std::string line = ReadLine(); !line.empty(); line = ReadLine()) {
      if (line.find(needle) != std::string::npos) return line;
    }
    return "";
  }
  int Stop(int sig) {
    kill(pid_, sig);
    return Wait();
  }
  void Signal(int sig) { kill(pid_, sig); }
  int Wait() {
    while (!ReadLine().empty()) {
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& log() const { return log_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  bool exited_ = false;
  std::string log_;
};

std::string WriteConfig(const std::string& name, const std::string& yaml) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << yaml;
  return path;
}

// A config for the binary on loopback with the tiny BERT and the demo catalog.
std::string LoopbackConfigFile(const std::string& name) {
  return WriteConfig(name, std::string(R"(
server:
  listen_address: "127.0.0.1:0"
  metrics_address: "127.0.0.1:0"
catalog:
  path: ")") + RTREC_SOURCE_DIR + R"(/data/demo_catalog.jsonl"
text_tower:
  checkpoint_dir: ")" + RTREC_SOURCE_DIR + R"(/tests/data/tiny_bert"
  max_seq_length: 32
batcher:
  max_batch_size: 8
  max_queue_delay_us: 1000
)");
}

// Starts the binary and waits for SERVING; returns the gRPC port (0 on failure).
int StartAndWaitServing(ServerProcess& server) {
  std::string listening = server.WaitFor("listening on port");
  if (listening.empty()) return 0;
  const int port = std::stoi(listening.substr(listening.find("port ") + 5));
  return server.WaitFor("SERVING model").empty() ? 0 : port;
}

TEST(EndToEndTest, BinaryServesRecommendAndFeedbackThenStopsCleanly) {
  ServerProcess server(LoopbackConfigFile("e2e.yaml"));
  const int port = StartAndWaitServing(server);
  ASSERT_GT(port, 0) << server.log();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                     grpc::InsecureChannelCredentials());
  EXPECT_EQ(testing::Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
  auto stub = v1::Recommender::NewStub(channel);
  v1::RecommendRequest req;
  req.set_user_id("e2e-user");
  req.set_query("green tea");
  req.set_k(4);
  v1::RecommendResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Recommend(&ctx, req, &resp).ok());
  }
  ASSERT_EQ(resp.items_size(), 4);
  v1::FeedbackRequest fb;
  fb.set_request_id(resp.request_id());
  fb.set_user_id("e2e-user");
  fb.set_item_id(resp.items(0).item_id());
  fb.set_reward(1.0);
  v1::FeedbackResponse fb_resp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Feedback(&ctx, fb, &fb_resp).ok());
  }
  EXPECT_TRUE(fb_resp.joined());
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Recommend(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.context_item_ids_size(), 1);
    EXPECT_EQ(resp.context_item_ids(0), fb.item_id());
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
  EXPECT_THAT(server.log(), HasSubstr("shutting down"));
  // Log lines: UTC time to the microsecond, level, component, message; the
  // start-up summary of the effective configuration.
  EXPECT_THAT(server.log(), ::testing::ContainsRegex(
                                "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z info    server: starting rtrec "));
  EXPECT_THAT(server.log(), HasSubstr("info    config: batcher: batches of 8"));
  EXPECT_THAT(server.log(), HasSubstr("info    server: stopped"));
}

TEST(EndToEndTest, LogsAreJsonLinesWhenAsked) {
  ServerProcess server(LoopbackConfigFile("json_logs.yaml"), {"--log_json"});
  ASSERT_GT(StartAndWaitServing(server), 0) << server.log();
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(server.log(), '\n', absl::SkipEmpty())) {
    auto entry = ParseJsonObject(line);
    ASSERT_TRUE(entry.ok()) << "not a JSON line: " << line;
    for (const char* key : {"time", "level", "component", "msg"}) {
      EXPECT_TRUE(entry->fields().count(key)) << line << " has no " << key;
    }
    ++lines;
  }
  EXPECT_GE(lines, 7) << server.log();  // start, 4 of config, listening, SERVING, ...
  EXPECT_THAT(server.log(), HasSubstr("\"component\":\"server\",\"msg\":\"SERVING model v1"));
}

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

CliResult RunCli(int port, const std::string& args) {
  const std::string command = std::string(RTREC_CLI_BINARY) + " --target 127.0.0.1:" + std::to_string(port) +
                              " --timeout_s 20 " + args + " 2>&1";
  CliResult r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(EndToEndTest, CliPokesTheServiceAndReportsErrors) {
  ServerProcess server(LoopbackConfigFile("cli.yaml"));
  const int port = StartAndWaitServing(server);
  ASSERT_GT(port, 0) << server.log();

  CliResult health = RunCli(port, "health");
  EXPECT_EQ(health.exit_code, 0) << health.output;
  EXPECT_EQ(health.output, "SERVING\n");

  CliResult rec = RunCli(port, "recommend --user cli-user --k 3 --query 'green tea'");
  ASSERT_EQ(rec.exit_code, 0) << rec.output;
  auto slate = ParseJsonObject(rec.output);
  ASSERT_TRUE(slate.ok()) << slate.status() << rec.output;
  const auto& items = slate->fields().at("items").list_value();
  ASSERT_EQ(items.values_size(), 3);
  const std::string request_id = slate->fields().at("request_id").string_value();
  const std::string item = items.values(1).struct_value().fields().at("item_id").string_value();

  CliResult fb = RunCli(port, "feedback --user cli-user --request_id " + request_id + " --item " + item +
                                  " --event purchase --reward 2.5");
  ASSERT_EQ(fb.exit_code, 0) << fb.output;
  EXPECT_THAT(fb.output, HasSubstr("\"joined\": true"));

  CliResult up = RunCli(port, "upsert --item_id cli-new --title 'Cold brew tower' --text 'slow drip coffee'"
                              " --tags coffee,brewing");
  ASSERT_EQ(up.exit_code, 0) << up.output;
  EXPECT_THAT(up.output, HasSubstr("\"inserted\": \"1\""));
  CliResult only_new = RunCli(port, "recommend --user cli-user --k 1 --candidates cli-new --greedy");
  ASSERT_EQ(only_new.exit_code, 0) << only_new.output;
  EXPECT_THAT(only_new.output, HasSubstr("\"item_id\": \"cli-new\""));
  // The purchase entered the user's history: the next slate's context has it.
  auto next = ParseJsonObject(only_new.output);
  ASSERT_TRUE(next.ok()) << next.status();
  auto context = JsonStringList(*next, "context_item_ids", "");
  ASSERT_TRUE(context.ok()) << context.status();
  EXPECT_THAT(*context, ::testing::ElementsAre(item));

  CliResult info = RunCli(port, "info");
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_THAT(info.output, HasSubstr("\"catalog_size\": \"241\""));
  EXPECT_THAT(info.output, HasSubstr("\"impressions_joined\": \"1\""));

  // Refusals: the server's code, its message and its details naming the
  // field; exit 1.
  CliResult bad = RunCli(port, "feedback --user u --item no-such-item");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(bad.output, HasSubstr("field item_id: unknown item 'no-such-item'"));
  EXPECT_THAT(bad.output, HasSubstr("reason: INVALID_ARGUMENT"));
  // Usage errors: exit 2 before any call.
  CliResult no_user = RunCli(port, "feedback --item " + item);
  EXPECT_EQ(no_user.exit_code, 2);
  EXPECT_THAT(no_user.output, HasSubstr("feedback needs --user and --item"));
  EXPECT_EQ(RunCli(port, "recommend --k 3").exit_code, 2);
  CliResult bad_event = RunCli(port, "feedback --user u --item " + item + " --event like");
  EXPECT_EQ(bad_event.exit_code, 2);
  EXPECT_THAT(bad_event.output, HasSubstr("--event"));
  EXPECT_EQ(RunCli(port, "teleport").exit_code, 2);
  EXPECT_EQ(RunCli(port, "--k=many recommend --user u").exit_code, 2);
  // The API's event names work as well as the short ones.
  CliResult api_event = RunCli(port, "feedback --user cli-user --item " + item + " --event EVENT_TYPE_CLICK");
  EXPECT_EQ(api_event.exit_code, 0) << api_event.output;
  // Health of the service by name (what the image's HEALTHCHECK asks).
  CliResult named = RunCli(port, "--service rtrec.v1.Recommender health");
  EXPECT_EQ(named.exit_code, 0) << named.output;
  EXPECT_EQ(named.output, "SERVING\n");
  CliResult unknown_service = RunCli(port, "--service rtrec.v1.Nothing health");
  EXPECT_EQ(unknown_service.exit_code, 1);
  EXPECT_THAT(unknown_service.output, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
  // Nothing listens any more: health fails (the HEALTHCHECK's view).
  CliResult down = RunCli(port, "--timeout_s 2 health");
  EXPECT_EQ(down.exit_code, 1) << down.output;
}

TEST(EndToEndTest, BadConfigStopsTheStartNamingTheKey) {
  const std::string config = WriteConfig("bad.yaml", "batcher:\n  max_batch_size: 0\n  colour: red\n");
  ServerProcess server(config);
  EXPECT_EQ(server.Wait(), 2);
  EXPECT_THAT(server.log(), HasSubstr("batcher.max_batch_size"));
  EXPECT_THAT(server.log(), HasSubstr("'batcher.colour': unknown key"));
}

TEST(EndToEndTest, BrokenCatalogStopsTheStartNamingTheLine) {
  const std::string catalog = WriteConfig("broken.jsonl", "{\"item_id\": \"a\", \"text\": \"x\"}\n{oops\n");
  const std::string config = WriteConfig("broken_catalog.yaml",
                                         "server:\n  listen_address: \"127.0.0.1:0\"\n"
                                         "  metrics_address: \"\"\ncatalog:\n  path: \"" +
                                             catalog + "\"\ntext_tower:\n  checkpoint_dir: \"" +
                                             RTREC_SOURCE_DIR + "/tests/data/tiny_bert\"\n"
                                             "  max_seq_length: 32\n");
  ServerProcess server(config);
  EXPECT_EQ(server.Wait(), 1);
  EXPECT_THAT(server.log(), HasSubstr("broken.jsonl:2"));
}

TEST(EndToEndTest, CheckConfigValidatesAndExits) {
  ServerProcess good(LoopbackConfigFile("check.yaml"), {"--check_config"});
  EXPECT_EQ(good.Wait(), 0) << good.log();
  EXPECT_THAT(good.log(), HasSubstr("is valid"));
  EXPECT_THAT(good.log(), Not(HasSubstr("listening")));
  ServerProcess twice(WriteConfig("twice.yaml", "policy:\n  epsilon: 0.1\npolicy:\n  epsilon: 0.9\n"),
                      {"--check_config"});
  EXPECT_EQ(twice.Wait(), 2);
  EXPECT_THAT(twice.log(), HasSubstr("'policy': appears twice"));
  ServerProcess no_tokens(WriteConfig("no_tokens.yaml", "server:\n  auth:\n    tokens_file: /nonexistent/tokens\n"),
                          {"--check_config"});
  EXPECT_EQ(no_tokens.Wait(), 2);
  EXPECT_THAT(no_tokens.log(), HasSubstr("/nonexistent/tokens"));
}

TEST(EndToEndTest, SighupReloadsTheTokensAndTheCliSendsThem) {
  const std::string tokens = WriteConfig("tokens", "ops admin first-admin-token-0123456789\n");
  std::ifstream base(LoopbackConfigFile("tokens.yaml"));
  std::stringstream yaml;
  yaml << base.rdbuf();
  std::string text = yaml.str();
  text.replace(text.find("server:\n"), 8, "server:\n  auth:\n    tokens_file: \"" + tokens + "\"\n");
  ServerProcess server(WriteConfig("tokens.yaml", text));
  const int port = StartAndWaitServing(server);
  ASSERT_GT(port, 0) << server.log();
  EXPECT_EQ(RunCli(port, "info").exit_code, 1);  // no token: UNAUTHENTICATED
  EXPECT_EQ(RunCli(port, "--token first-admin-token-0123456789 info").exit_code, 0);
  WriteConfig("tokens", "ops admin second-admin-token-0123456789\n");
  server.Signal(SIGHUP);
  EXPECT_FALSE(server.WaitFor("tokens and TLS certificates reloaded").empty()) << server.log();
  CliResult old_token = RunCli(port, "--token first-admin-token-0123456789 info");
  EXPECT_EQ(old_token.exit_code, 1);
  EXPECT_THAT(old_token.output, HasSubstr("UNAUTHENTICATED"));
  EXPECT_EQ(RunCli(port, "--token second-admin-token-0123456789 upsert --item_id hup --title 'After the reload'")
                .exit_code,
            0);
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.log();
}

// ------------------------------------------------------------- durability

// One slate of k for `user`, every shown item reported (the one at
// `clicked` with reward 1, the others 0); adds the joined reports to *joins.
void ReportSlate(v1::Recommender::Stub* stub, const std::string& user, int k, int clicked,
                 int64_t* joins) {
  v1::RecommendRequest req;
  req.set_user_id(user);
  req.set_k(k);
  v1::RecommendResponse slate;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Recommend(&ctx, req, &slate).ok());
  }
  for (int i = 0; i < slate.items_size(); ++i) {
    v1::FeedbackRequest fb;
    fb.set_request_id(slate.request_id());
    fb.set_user_id(user);
    fb.set_item_id(slate.items(i).item_id());
    fb.set_reward(i == clicked ? 1.0 : 0.0);
    v1::FeedbackResponse out;
    grpc::ClientContext ctx;
    grpc::Status st = stub->Feedback(&ctx, fb, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    if (out.joined()) ++*joins;
  }
}

// The binary on a store: a small model so checkpoints are quick, a learner
// that publishes (and so checkpoints) every second, feedback joined at once.
std::string DurableConfigFile(const std::string& name, const std::string& storage_dir,
                              const std::string& seed_from = "") {
  return WriteConfig(name, std::string(R"(
server:
  listen_address: "127.0.0.1:0"
  metrics_address: "127.0.0.1:0"
catalog:
  path: ")") + RTREC_SOURCE_DIR + R"(/data/demo_catalog.jsonl"
  max_items: 1000
text_tower:
  checkpoint_dir: ")" + RTREC_SOURCE_DIR + R"(/tests/data/tiny_bert"
  max_seq_length: 32
model:
  embedding_dim: 32
  user_buckets: 1024
batcher:
  max_batch_size: 8
  max_queue_delay_us: 1000
learner:
  batch_size: 16
  max_batch_wait_ms: 10
  publish_every: 5
  publish_interval_ms: 100
  guard_min_examples: 1000000
storage:
  path: ")" + storage_dir + R"("
  checkpoint_interval_s: 1
  seed_from: ")" + seed_from + R"("
)");
}

// The value of an unlabelled metric in a scrape; -1 when absent.
double ScrapedMetric(int metrics_port, const std::string& name) {
  const std::string body = testing::HttpGet(metrics_port, "/metrics");
  std::smatch m;
  if (!std::regex_search(body, m, std::regex("\n" + name + " ([0-9.e+-]+)"))) return -1;
  return std::stod(m[1]);
}

// The first number captured by `pattern` in `text`; -1 when it does not match.
int64_t Captured(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern))) return -1;
  return std::stoll(m[1]);
}

TEST(EndToEndTest, KillDashNineLosesNothingAcknowledged) {
  const std::string dir = ::testing::TempDir() + "/rtrec-durable-e2e";
  std::filesystem::remove_all(dir);
  const std::string config = DurableConfigFile("durable.yaml", dir);

  // Slates logged without feedback: request id and the first item shown.
  std::vector<std::pair<std::string, std::string>> open_requests;
  std::map<std::string, std::vector<std::string>> contexts;  // user → context before the kill
  int64_t acknowledged_joins = 0;
  int64_t slates_served = 0;  // each one open for feedback (impressions.reward_wait_ms: 10 min)
  int64_t catalog_size = 0;
  {
    ServerProcess a(config);
    const int port = StartAndWaitServing(a);
    ASSERT_GT(port, 0) << a.log();
    const int metrics_port = static_cast<int>(Captured(a.log(), "metrics on port ([0-9]+)"));
    ASSERT_GT(metrics_port, 0) << a.log();
    auto stub = v1::Recommender::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
    {
      v1::UpsertItemsRequest up;
      for (const char* id : {"durable-a", "durable-b"}) {
        auto* item = up.add_items();
        item->set_item_id(id);
        item->set_title(std::string("Durable ") + id);
        item->set_text("stored before the crash");
      }
      v1::UpsertItemsResponse out;
      grpc::ClientContext ctx;
      ASSERT_TRUE(stub->UpsertItems(&ctx, up, &out).ok());
      ASSERT_EQ(out.inserted(), 2);
    }
    // Slates with every shown item reported, until a checkpoint was written
    // and then some more: those are learned after it, or not yet.
    int after_checkpoint = -1;
    for (int round = 0; round < 3000 && after_checkpoint != 0; ++round) {
      ASSERT_NO_FATAL_FAILURE(ReportSlate(stub.get(), "user-" + std::to_string(round % 10), 4, round % 4,
                                          &acknowledged_joins));
      ++slates_served;
      if (after_checkpoint < 0 && round >= 100 && round % 20 == 0 &&
          ScrapedMetric(metrics_port, "rtrec_checkpoints_written_total") >= 1) {
        after_checkpoint = 40;
      } else if (after_checkpoint > 0) {
        --after_checkpoint;
      }
    }
    ASSERT_EQ(after_checkpoint, 0) << "no checkpoint was written\n" << a.log();
    for (int i = 0; i < 3; ++i) {
      v1::RecommendRequest req;
      req.set_user_id("user-open");
      req.set_k(2);
      v1::RecommendResponse slate;
      grpc::ClientContext ctx;
      ASSERT_TRUE(stub->Recommend(&ctx, req, &slate).ok());
      ++slates_served;
      ASSERT_GT(slate.items_size(), 0);
      open_requests.emplace_back(slate.request_id(), slate.items(0).item_id());
    }
    for (int u = 0; u < 10; ++u) {
      v1::RecommendRequest req;
      req.set_user_id("user-" + std::to_string(u));
      req.set_k(1);
      v1::RecommendResponse slate;
      grpc::ClientContext ctx;
      ASSERT_TRUE(stub->Recommend(&ctx, req, &slate).ok());
      ++slates_served;
      contexts[req.user_id()].assign(slate.context_item_ids().begin(), slate.context_item_ids().end());
      ASSERT_FALSE(contexts[req.user_id()].empty());
    }
    v1::ModelInfo info;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
    catalog_size = info.catalog_size();
    EXPECT_EQ(a.Stop(SIGKILL), -1);  // no shutdown step ran
  }
  // The newest checkpoint on disk, and a damaged file that claims to be newer.
  int64_t newest_checkpoint = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/checkpoints")) {
    newest_checkpoint = std::max<int64_t>(
        newest_checkpoint, Captured(e.path().filename().string(), "checkpoint-v([0-9]+)"));
  }
  ASSERT_GT(newest_checkpoint, 1);
  const std::string damaged = dir + "/checkpoints/checkpoint-v000000999999.rtrec";
  std::ofstream(damaged) << "RTRECCKP and then nothing that adds up";

  ServerProcess b(config);
  const int port = StartAndWaitServing(b);
  ASSERT_GT(port, 0) << b.log();
  EXPECT_THAT(b.log(), HasSubstr("checkpoint " + damaged + " refused"));
  const int64_t restored_version = Captured(b.log(), "starting from the checkpoint of model v([0-9]+)");
  const int64_t learned = Captured(b.log(), "model v[0-9]+ \\(([0-9]+) examples learned\\)");
  const int64_t pending = Captured(b.log(), "([0-9]+) unlearned experiences restored");
  EXPECT_EQ(restored_version, newest_checkpoint) << b.log();
  // Every acknowledged feedback is in the restored model or waits for it.
  EXPECT_GT(learned, 0) << b.log();
  EXPECT_GT(pending, 0) << b.log();
  EXPECT_EQ(learned + pending, acknowledged_joins) << b.log();
  EXPECT_EQ(Captured(b.log(), "([0-9]+) open impressions restored"), slates_served) << b.log();

  auto stub = v1::Recommender::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  v1::ModelInfo info;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
  }
  EXPECT_GE(info.model_version(), newest_checkpoint);
  EXPECT_EQ(info.catalog_size(), catalog_size);
  // Histories as they were.
  for (const auto& [user, context] : contexts) {
    v1::RecommendRequest req;
    req.set_user_id(user);
    req.set_k(1);
    v1::RecommendResponse slate;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Recommend(&ctx, req, &slate).ok());
    EXPECT_THAT(std::vector<std::string>(slate.context_item_ids().begin(), slate.context_item_ids().end()),
                ::testing::ElementsAreArray(context))
        << user;
  }
  // The upserted items are still there...
  {
    v1::RecommendRequest req;
    req.set_user_id("user-new");
    req.add_candidate_item_ids("durable-b");
    req.set_k(1);
    v1::RecommendResponse slate;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Recommend(&ctx, req, &slate).ok());
    ASSERT_EQ(slate.items_size(), 1);
    EXPECT_EQ(slate.items(0).item_id(), "durable-b");
  }
  // ... and feedback for slates served before the kill still joins.
  for (const auto& [request_id, item_id] : open_requests) {
    v1::FeedbackRequest fb;
    fb.set_request_id(request_id);
    fb.set_user_id("user-open");
    fb.set_item_id(item_id);
    fb.set_reward(1.0);
    v1::FeedbackResponse out;
    grpc::ClientContext ctx;
    grpc::Status st = stub->Feedback(&ctx, fb, &out);
    ASSERT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(out.joined()) << request_id;
  }
  EXPECT_EQ(b.Stop(SIGTERM), 0) << b.log();
  EXPECT_THAT(b.log(), HasSubstr("checkpoint of model v"));
}

// Slates for `rounds` rounds, every shown item reported (the first clicked).
void DriveTraffic(v1::Recommender::Stub* stub, int rounds) {
  int64_t joins = 0;
  for (int round = 0; round < rounds; ++round) {
    ASSERT_NO_FATAL_FAILURE(ReportSlate(stub, "user-" + std::to_string(round % 7), 3, 0, &joins));
  }
}

TEST(EndToEndTest, OperatorListsRollsBackAndExportsCheckpointsAndSeedsANewDeployment) {
  const std::string dir = ::testing::TempDir() + "/rtrec-admin-e2e";
  const std::string seeded_dir = ::testing::TempDir() + "/rtrec-admin-e2e-seeded";
  const std::string export_dir = ::testing::TempDir() + "/rtrec-admin-e2e-export";
  for (const auto& d : {dir, seeded_dir, export_dir}) std::filesystem::remove_all(d);
  int64_t exported_version = 0;
  int64_t catalog_size = 0;
  {
    ServerProcess a(DurableConfigFile("admin.yaml", dir));
    const int port = StartAndWaitServing(a);
    ASSERT_GT(port, 0) << a.log();
    const int metrics_port = static_cast<int>(Captured(a.log(), "metrics on port ([0-9]+)"));
    auto stub = v1::Recommender::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
    for (int i = 0; i < 100 && ScrapedMetric(metrics_port, "rtrec_checkpoints_written_total") < 2; ++i) {
      DriveTraffic(stub.get(), 20);
    }
    ASSERT_GE(ScrapedMetric(metrics_port, "rtrec_checkpoints_written_total"), 2) << a.log();

    CliResult list = RunCli(port, "model list");
    ASSERT_EQ(list.exit_code, 0) << list.output;
    auto listed = ParseJsonObject(list.output);
    ASSERT_TRUE(listed.ok()) << listed.status() << list.output;
    const auto& checkpoints = listed->fields().at("checkpoints").list_value();
    ASSERT_GE(checkpoints.values_size(), 2);
    auto version_of = [](const google::protobuf::Value& v) {
      return std::stoll(v.struct_value().fields().at("model_version").string_value());
    };
    const int64_t newest = version_of(checkpoints.values(0));
    const int64_t oldest = version_of(checkpoints.values(checkpoints.values_size() - 1));
    ASSERT_LT(oldest, newest);
    EXPECT_EQ(checkpoints.values(0).struct_value().fields().at("error").string_value(), "");

    // Roll back to the oldest: served under a new number, checkpointed at once.
    CliResult rollback = RunCli(port, "model rollback " + std::to_string(oldest));
    ASSERT_EQ(rollback.exit_code, 0) << rollback.output;
    auto rolled = ParseJsonObject(rollback.output);
    ASSERT_TRUE(rolled.ok()) << rollback.output;
    const int64_t serving = std::stoll(rolled->fields().at("serving_version").string_value());
    EXPECT_GT(serving, newest);
    EXPECT_EQ(rolled->fields().at("restored_from_version").string_value(), std::to_string(oldest));
    CliResult after = RunCli(port, "model list");
    auto relisted = ParseJsonObject(after.output);
    ASSERT_TRUE(relisted.ok()) << after.output;
    EXPECT_GE(version_of(relisted->fields().at("checkpoints").list_value().values(0)), serving);
    auto info_now = ParseJsonObject(RunCli(port, "info").output);
    ASSERT_TRUE(info_now.ok());
    EXPECT_GE(std::stoll(info_now->fields().at("model_version").string_value()), serving);

    // Refusals name what is wrong; exit 1 (server) or 2 (usage).
    CliResult missing = RunCli(port, "model rollback 999999");
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_THAT(missing.output, HasSubstr("NOT_FOUND"));
    EXPECT_THAT(missing.output, HasSubstr("model_version"));
    EXPECT_EQ(RunCli(port, "model rollback latest").exit_code, 2);

    exported_version = newest;
    CliResult exported = RunCli(port, "model export " + std::to_string(newest) + " " + export_dir);
    ASSERT_EQ(exported.exit_code, 0) << exported.output;
    EXPECT_TRUE(std::filesystem::exists(export_dir + "/checkpoint.rtrec"));
    EXPECT_TRUE(std::filesystem::exists(export_dir + "/catalog.jsonl"));
    CliResult again = RunCli(port, "model export " + std::to_string(newest) + " " + export_dir);
    EXPECT_EQ(again.exit_code, 1);
    EXPECT_THAT(again.output, HasSubstr("ALREADY_EXISTS"));
    v1::ModelInfo info;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
    catalog_size = info.catalog_size();
    EXPECT_EQ(a.Stop(SIGTERM), 0) << a.log();
  }
  // A new deployment, an empty store, seeded from the export.
  ServerProcess c(DurableConfigFile("seeded.yaml", seeded_dir, export_dir));
  const int port = StartAndWaitServing(c);
  ASSERT_GT(port, 0) << c.log();
  EXPECT_THAT(c.log(), HasSubstr("seeded from " + export_dir));
  auto stub = v1::Recommender::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  v1::ModelInfo info;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.model_version(), exported_version);
  EXPECT_EQ(info.catalog_size(), catalog_size);
  EXPECT_EQ(c.Stop(SIGTERM), 0) << c.log();
}

}  // namespace
}  // namespace rtrec

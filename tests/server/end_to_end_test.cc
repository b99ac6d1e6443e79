// End to end: the built rtrec_server binary, started with a temporary config
// file, driven over gRPC, then stopped with SIGTERM.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/json.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "tests/server/test_util.h"

namespace rtrec {
namespace {

using ::testing::HasSubstr;

// A child process whose stdout+stderr we read line by line.
class ServerProcess {
 public:
  explicit ServerProcess(const std::string& config_path) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      execl(RTREC_SERVER_BINARY, RTREC_SERVER_BINARY, "--config", config_path.c_str(), nullptr);
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
  return server.WaitFor("rtrec: SERVING").empty() ? 0 : port;
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

  // Refusals: the server's code and its message naming the field; exit 1.
  CliResult bad = RunCli(port, "feedback --item " + item);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.output, HasSubstr("INVALID_ARGUMENT"));
  EXPECT_THAT(bad.output, HasSubstr("user_id"));
  CliResult bad_event = RunCli(port, "feedback --user u --item " + item + " --event like");
  EXPECT_EQ(bad_event.exit_code, 2);
  EXPECT_THAT(bad_event.output, HasSubstr("--event"));
  EXPECT_EQ(RunCli(port, "teleport").exit_code, 2);
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

}  // namespace
}  // namespace rtrec

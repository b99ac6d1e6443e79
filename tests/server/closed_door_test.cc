// Serving under pressure with a closed door, on real servers on 127.0.0.1:
// bearer tokens and roles, admin calls on an exposed listener, TLS and mutual
// TLS with certificates made here by openssl, reloads, message limits, a
// second server on a taken port, StreamFeedback with an unreadable message,
// fairness and refusals with retry hints, and a slow /metrics client.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "server/grpc_status.h"
#include "server/server.h"
#include "tests/server/test_util.h"

namespace rtrec::server {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr char kServeToken[] = "serve-token-0123456789abcdef";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path dir = fs::path(base ? base : fs::temp_directory_path().string()) /
                 absl::StrCat("rtrec_", name, "_", getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Calls with an optional bearer token and a deadline.
class Client {
 public:
  explicit Client(std::shared_ptr<grpc::Channel> channel, std::string token = "")
      : stub_(v1::Recommender::NewStub(channel)),
        admin_(v1::Admin::NewStub(channel)),
        token_(std::move(token)) {}

  void Prepare(grpc::ClientContext* ctx, int seconds = 20) const {
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
    if (!token_.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  }
  grpc::Status Recommend(const std::string& user, v1::RecommendResponse* out = nullptr) {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::RecommendRequest req;
    req.set_user_id(user);
    v1::RecommendResponse ignored;
    return stub_->Recommend(&ctx, req, out ? out : &ignored);
  }
  grpc::Status Upsert(const std::string& item_id, const std::string& text = "a new item") {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::UpsertItemsRequest req;
    auto* item = req.add_items();
    item->set_item_id(item_id);
    item->set_title(text);
    v1::UpsertItemsResponse resp;
    return stub_->UpsertItems(&ctx, req, &resp);
  }
  grpc::Status ListCheckpoints() {
    grpc::ClientContext ctx;
    Prepare(&ctx);
    v1::ListCheckpointsResponse resp;
    return admin_->ListCheckpoints(&ctx, v1::ListCheckpointsRequest(), &resp);
  }
  v1::Recommender::Stub* stub() { return stub_.get(); }

 private:
  std::unique_ptr<v1::Recommender::Stub> stub_;
  std::unique_ptr<v1::Admin::Stub> admin_;
  std::string token_;
};

std::unique_ptr<RtrecServer> StartLoaded(const config::RtrecConfig& config, Clock* clock = RealClock::Get()) {
  auto server = RtrecServer::Start(config, clock);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  EXPECT_TRUE((*server)->Load().ok());
  return std::move(*server);
}

// Each channel its own connection (gRPC shares one between channels of
// equal arguments otherwise): two channels are two peers, as two client
// processes would be.
std::shared_ptr<grpc::Channel> Plain(int port) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials(),
                                   args);
}

// ------------------------------------------------------------------ tokens

TEST(AccessTest, TokensNoneWrongWrongRoleAndRightAndReloadedOnRequest) {
  const std::string dir = TempDir("tokens");
  const std::string tokens = dir + "/tokens";
  WriteFile(tokens, absl::StrCat("# name role token\nshop serve ", kServeToken, "\nops admin ",
                                 kAdminToken, "\n"));
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.server.auth.tokens_file = tokens;
  auto server = StartLoaded(config);
  ASSERT_NE(server, nullptr);
  auto channel = Plain(server->port());

  Client anonymous(channel), wrong(channel, "not-a-known-token-at-all"), serve(channel, kServeToken),
      admin(channel, kAdminToken);
  grpc::Status s = anonymous.Recommend("u1");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("authorization"));
  EXPECT_EQ(wrong.Recommend("u1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(serve.Recommend("u1").ok());
  EXPECT_TRUE(admin.Recommend("u1").ok());  // admin may also serve
  s = serve.Upsert("new-item");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("'shop' has role serve"));
  EXPECT_EQ(serve.ListCheckpoints().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(anonymous.ListCheckpoints().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(admin.Upsert("new-item").ok());
  // Admin passes the door; this server keeps no checkpoints.
  EXPECT_EQ(admin.ListCheckpoints().error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // Health and /metrics stay open.
  EXPECT_EQ(rtrec::testing::Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_THAT(rtrec::testing::HttpGet(server->metrics_port(), "/metrics"), HasSubstr("200 OK"));

  // SIGHUP's reload: the serve token is replaced.
  const std::string rotated = "rotated-serve-token-0123456789";
  WriteFile(tokens, absl::StrCat("shop serve ", rotated, "\nops admin ", kAdminToken, "\n"));
  ASSERT_TRUE(server->ReloadSecrets().ok());
  EXPECT_EQ(serve.Recommend("u1").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Client(channel, rotated).Recommend("u1").ok());
  // A file that does not parse is refused, naming the line; the tokens stay.
  WriteFile(tokens, "shop serve short\n");
  absl::Status reload = server->ReloadSecrets();
  EXPECT_THAT(std::string(reload.message()), HasSubstr(tokens + ":1"));
  EXPECT_TRUE(Client(channel, rotated).Recommend("u1").ok());
  server->Shutdown();
}

TEST(AccessTest, AnExposedServerWithoutTokensRefusesAdminCallsButServes) {
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.server.listen_address = "0.0.0.0:0";
  auto server = StartLoaded(config);
  ASSERT_NE(server, nullptr);
  Client anonymous(Plain(server->port()));
  EXPECT_TRUE(anonymous.Recommend("u1").ok());
  grpc::Status s = anonymous.Upsert("new-item");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("server.auth.tokens_file"));
  EXPECT_EQ(anonymous.ListCheckpoints().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  server->Shutdown();

  // On loopback the same calls pass (the demo's case).
  auto local = StartLoaded(rtrec::testing::LoopbackConfig());
  ASSERT_NE(local, nullptr);
  EXPECT_TRUE(Client(Plain(local->port())).Upsert("new-item").ok());
  local->Shutdown();
}

TEST(AccessTest, TokensFileParsingNamesWhatIsWrong) {
  EXPECT_TRUE(ParseTokens(absl::StrCat("a serve ", kServeToken, "  # comment\n\n"), "f").ok());
  EXPECT_THAT(std::string(ParseTokens("a serve\n", "f").status().message()), HasSubstr("f:1"));
  EXPECT_THAT(std::string(ParseTokens(absl::StrCat("a root ", kServeToken), "f").status().message()),
              HasSubstr("role must be serve or admin"));
  EXPECT_THAT(std::string(ParseTokens("a serve short", "f").status().message()),
              HasSubstr("shorter than 16"));
  EXPECT_THAT(std::string(ParseTokens(absl::StrCat("a serve ", kServeToken, "\nb admin ", kServeToken),
                                      "f").status().message()),
              HasSubstr("also the token of 'a'"));
  EXPECT_THAT(std::string(ParseTokens("# only comments\n", "f").status().message()),
              HasSubstr("holds no token"));
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50051"));
  EXPECT_TRUE(IsLoopbackAddress("127.8.9.1:0"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50051"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:1"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50051"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50051"));
  EXPECT_FALSE(IsLoopbackAddress("10.1.2.3:50051"));
}

// --------------------------------------------------------------------- TLS

// A CA, a server certificate for 127.0.0.1/localhost and a client
// certificate signed by it, and a second CA with its own client: made by
// openssl in `dir`.
void MakeCertificates(const std::string& dir) {
  const std::string script = absl::StrCat(
      "set -e; cd '", dir, "'\n",
      "for ca in ca other_ca; do\n"
      "  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=$ca -keyout $ca.key -out $ca.pem 2>/dev/null\n"
      "done\n"
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext\n"
      "sign() {  # name ca [ext]\n"
      "  openssl req -newkey rsa:2048 -nodes -subj /CN=$1 -keyout $1.key -out $1.csr 2>/dev/null\n"
      "  openssl x509 -req -in $1.csr -CA $2.pem -CAkey $2.key -CAcreateserial -days 2 $3 -out $1.pem 2>/dev/null\n"
      "}\n"
      "sign server ca '-extfile san.ext'\n"
      "sign server2 other_ca '-extfile san.ext'\n"
      "sign client ca\n"
      "sign stranger other_ca\n");
  ASSERT_EQ(std::system(("bash -c \"$(cat <<'EOF'\n" + script + "\nEOF\n)\"").c_str()), 0)
      << "openssl could not make the test certificates";
}

std::shared_ptr<grpc::Channel> Tls(int port, const std::string& dir, const std::string& ca,
                                   const std::string& client = "") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(dir + "/" + ca + ".pem");
  if (!client.empty()) {
    ssl.pem_cert_chain = ReadFile(dir + "/" + client + ".pem");
    ssl.pem_private_key = ReadFile(dir + "/" + client + ".key");
  }
  grpc::ChannelArguments args;
  args.SetInt("grpc.testing.fixed_reconnect_backoff_ms", 100);
  return grpc::CreateCustomChannel(absl::StrCat("localhost:", port), grpc::SslCredentials(ssl), args);
}

// A loopback config serving dir/server.pem with dir/<key>.key.
config::RtrecConfig TlsConfig(const std::string& dir, const std::string& key) {
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.server.tls.cert_chain = dir + "/server.pem";
  config.server.tls.private_key = dir + "/" + key + ".key";
  return config;
}

TEST(TlsTest, MutualTlsAcceptsTheSignedClientAndRefusesTheRest) {
  const std::string dir = TempDir("tls");
  MakeCertificates(dir);
  config::RtrecConfig config = TlsConfig(dir, "server");
  config.server.tls.client_ca = dir + "/ca.pem";
  auto server = StartLoaded(config);
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  EXPECT_TRUE(Client(Tls(port, dir, "ca", "client")).Recommend("u1").ok());
  // The server's certificate is not signed by the CA the client trusts.
  EXPECT_EQ(Client(Tls(port, dir, "other_ca", "client")).Recommend("u1").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // No client certificate, or one the client CA did not sign.
  EXPECT_EQ(Client(Tls(port, dir, "ca")).Recommend("u1").error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Client(Tls(port, dir, "ca", "stranger")).Recommend("u1").error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // Plaintext cannot talk to it.
  EXPECT_EQ(Client(Plain(port)).Recommend("u1").error_code(), grpc::StatusCode::UNAVAILABLE);

  // A key that does not match the certificate is refused on reload, naming
  // the file; the old pair keeps serving.
  fs::copy_file(dir + "/server2.key", dir + "/server.key", fs::copy_options::overwrite_existing);
  absl::Status reload = server->ReloadSecrets();
  EXPECT_THAT(std::string(reload.message()), HasSubstr("does not match the certificate"));
  EXPECT_TRUE(Client(Tls(port, dir, "ca", "client")).Recommend("u2").ok());

  // The certificate is replaced by one from the other CA: after the reload
  // new connections see it (within TlsCredentials::kRefreshSeconds).
  fs::copy_file(dir + "/server2.pem", dir + "/server.pem", fs::copy_options::overwrite_existing);
  ASSERT_TRUE(server->ReloadSecrets().ok());
  bool switched = false;
  for (int attempt = 0; attempt < 100 && !switched; ++attempt) {
    switched = Client(Tls(port, dir, "other_ca", "client")).Recommend("u3").ok();
    if (!switched) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(switched) << "the reloaded certificate was not served within 10 s";
  server->Shutdown();
}

TEST(TlsTest, StartRefusesUnreadableOrMismatchedMaterialNamingIt) {
  const std::string dir = TempDir("tls_bad");
  MakeCertificates(dir);
  config::RtrecConfig config = TlsConfig(dir, "client");
  auto s = RtrecServer::Start(config);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("server.tls.private_key"));
  config.server.tls.private_key = dir + "/missing.key";
  s = RtrecServer::Start(config);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("missing.key"));
}

// ------------------------------------------------------------------ limits

TEST(LimitsTest, RequestsWithinTheConfiguredLimitsFitGrpcsMessageLimit) {
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.server.max_item_text_bytes = 6 << 20;
  config.server.max_upsert_items = 2;
  auto server = StartLoaded(config);
  ASSERT_NE(server, nullptr);
  Client client(Plain(server->port()));
  // 5 MB of text: over gRPC's 4 MiB default, within the config.
  grpc::Status s = client.Upsert("long-item", std::string(5 << 20, 'a'));
  EXPECT_TRUE(s.ok()) << s.error_message();
  // Beyond the derived limit gRPC refuses before reading.
  grpc::ClientContext ctx;
  client.Prepare(&ctx);
  v1::UpsertItemsRequest req;
  for (int i = 0; i < 3; ++i) {
    auto* item = req.add_items();
    item->set_item_id(absl::StrCat("big", i));
    item->set_title(std::string(6 << 20, 'b'));
  }
  v1::UpsertItemsResponse resp;
  EXPECT_EQ(client.stub()->UpsertItems(&ctx, req, &resp).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  server->Shutdown();
}

TEST(LimitsTest, ASecondServerOnATakenPortFailsNamingTheAddress) {
  auto first = StartLoaded(rtrec::testing::LoopbackConfig());
  ASSERT_NE(first, nullptr);
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.server.listen_address = absl::StrCat("127.0.0.1:", first->port());
  auto second = RtrecServer::Start(config);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("cannot listen on 127.0.0.1:", first->port())));
  config = rtrec::testing::LoopbackConfig();
  config.server.metrics_address = absl::StrCat("127.0.0.1:", first->metrics_port());
  second = RtrecServer::Start(config);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("server.metrics_address"));
  first->Shutdown();
}

// ----------------------------------------------------------- StreamFeedback

// Sends raw messages on one StreamFeedback call; returns its status and,
// when OK, the decoded response.
grpc::Status StreamRaw(const std::shared_ptr<grpc::Channel>& channel, const std::vector<std::string>& messages,
                       v1::StreamFeedbackResponse* response) {
  std::string bytes;
  grpc::Status status =
      rtrec::testing::CallRaw(channel, "/rtrec.v1.Recommender/StreamFeedback", messages, &bytes);
  if (status.ok()) EXPECT_TRUE(response->ParseFromString(bytes));
  return status;
}

std::string OrganicEvent(int i) {
  v1::FeedbackRequest f;
  f.set_user_id(absl::StrCat("stream-user-", i));
  f.set_item_id("running-000");
  f.set_reward(1.0);
  f.set_event_type(v1::EVENT_TYPE_CLICK);
  return f.SerializeAsString();
}

TEST(StreamFeedbackTest, AnUnreadableMessageEndsTheStreamStatingWhatWasAccepted) {
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  auto server = StartLoaded(config);
  ASSERT_NE(server, nullptr);
  auto channel = Plain(server->port());
  std::vector<std::string> messages;
  for (int i = 0; i < 101; ++i) messages.push_back(OrganicEvent(i));
  messages[10] = std::string("\xff\xff\xff\xff", 4);  // not a FeedbackRequest
  v1::StreamFeedbackResponse response;
  grpc::Status s = StreamRaw(channel, messages, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("message 10 of the stream is not a readable FeedbackRequest"));
  EXPECT_THAT(s.error_message(), HasSubstr("10 accepted and 0 refused before it"));
  // What came before it was kept: the first ten users have a history.
  v1::ModelInfo info;
  server->service()->FillModelInfo(&info);
  EXPECT_EQ(info.experiences_pending(), 10);
  server->Shutdown();
}

TEST(StreamFeedbackTest, EveryRefusedMessageIsCountedBeyondTheListedHundred) {
  auto server = StartLoaded(rtrec::testing::LoopbackConfig());
  ASSERT_NE(server, nullptr);
  std::vector<std::string> messages;
  for (int i = 0; i < 150; ++i) {
    v1::FeedbackRequest f;  // no user_id: refused
    f.set_item_id("running-000");
    messages.push_back(f.SerializeAsString());
  }
  messages.push_back(OrganicEvent(1));
  v1::StreamFeedbackResponse response;
  grpc::Status s = StreamRaw(Plain(server->port()), messages, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.accepted(), 1);
  EXPECT_EQ(response.rejected(), 150);
  EXPECT_EQ(response.errors_size(), 100);
  EXPECT_EQ(response.errors_omitted(), 50);
  EXPECT_EQ(response.errors(0).index(), 0);
  EXPECT_THAT(response.errors(0).message(), HasSubstr("user_id"));
  server->Shutdown();
}

// ---------------------------------------------------------------- fairness

// The queue is held still by an injected clock (a batch closes only when
// max_queue_delay passes on it), so what each client gets is decided by
// admission alone.
TEST(FairnessTest, AFloodingClientIsBoundedAndThePoliteOneIsServed) {
  FakeClock clock;
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.batcher.max_batch_size = 1000;
  config.batcher.max_queue_delay_us = 10'000'000;
  config.batcher.max_queued_per_client = 8;
  auto server = StartLoaded(config, &clock);
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // Two connections: two clients (no tokens, so each is its peer).
  Client flood(Plain(port)), polite(Plain(port));

  // The flood: 40 requests at once on one connection.
  grpc::CompletionQueue cq;
  struct Call {
    grpc::ClientContext ctx;
    v1::RecommendResponse resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::RecommendResponse>> reader;
  };
  std::vector<std::unique_ptr<Call>> calls;
  // n Recommends of `client` at once, answered on `queue`.
  auto send = [&calls](Client& client, const std::string& user, int n, grpc::CompletionQueue* queue) {
    for (int i = 0; i < n; ++i) {
      auto c = std::make_unique<Call>();
      client.Prepare(&c->ctx);
      v1::RecommendRequest req;
      req.set_user_id(absl::StrCat(user, i));
      c->reader = client.stub()->AsyncRecommend(&c->ctx, req, queue);
      c->reader->Finish(&c->resp, &c->status, c.get());
      calls.push_back(std::move(c));
    }
  };
  send(flood, "flood-", 40, &cq);
  // 32 are refused at once; 8 wait in the queue (answered below).
  int refused = 0;
  std::string retry_hint;
  for (int i = 0; i < 32; ++i) {
    void* tag;
    bool ok;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    Call* c = static_cast<Call*>(tag);
    EXPECT_EQ(c->status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << c->status.error_message();
    EXPECT_THAT(c->status.error_message(), HasSubstr("batcher.max_queued_per_client"));
    auto hint = c->ctx.GetServerTrailingMetadata().find("retry-after-ms");
    if (hint != c->ctx.GetServerTrailingMetadata().end()) retry_hint = std::string(hint->second.data(), hint->second.size());
    // The same facts as google.rpc details: why, and after how long.
    const rtrec::testing::ErrorDetails details = rtrec::testing::DecodeErrorDetails(c->status);
    EXPECT_EQ(details.reason, "CLIENT_LIMIT");
    EXPECT_EQ(details.domain, "rtrec.v1");
    EXPECT_EQ(absl::StrCat(details.retry_ms), retry_hint);
    ++refused;
  }
  EXPECT_EQ(refused, 32);
  EXPECT_FALSE(retry_hint.empty()) << "RESOURCE_EXHAUSTED without a retry-after-ms hint";

  // The polite client is admitted while the flood holds its share.
  grpc::CompletionQueue polite_cq;
  send(polite, "polite-", 5, &polite_cq);
  // Wait (bounded) until all 13 are queued, then let the batch run.
  for (int i = 0; i < 10000 && server->batcher()->stats().queue_depth < 13; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(server->batcher()->stats().queue_depth, 13);
  EXPECT_EQ(server->batcher()->stats().refused_client_limit, 32);
  clock.Advance(absl::Seconds(11));
  server->batcher()->Poke();
  for (int i = 0; i < 5; ++i) {
    void* tag;
    bool ok;
    ASSERT_TRUE(polite_cq.Next(&tag, &ok));
    EXPECT_TRUE(static_cast<Call*>(tag)->status.ok()) << static_cast<Call*>(tag)->status.error_message();
  }
  for (int i = 0; i < 8; ++i) {
    void* tag;
    bool ok;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_TRUE(static_cast<Call*>(tag)->status.ok()) << static_cast<Call*>(tag)->status.error_message();
  }
  for (grpc::CompletionQueue* q : {&cq, &polite_cq}) {
    q->Shutdown();
    void* tag;
    bool ok;
    while (q->Next(&tag, &ok)) {
    }
  }
  server->Shutdown();
}

// ---------------------------------------------------------------- /metrics

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(MetricsEndpointTest, SlowAndIdleClientsDoNotBlockAScrape) {
  auto server = StartLoaded(rtrec::testing::LoopbackConfig());
  ASSERT_NE(server, nullptr);
  const int port = server->metrics_port();
  // One connection that never sends, one that trickles a request a byte at
  // a time, all through the scrapes below.
  const int idle = Connect(port);
  const int slow = Connect(port);
  ASSERT_GE(idle, 0);
  ASSERT_GE(slow, 0);
  std::atomic<bool> done{false};
  std::thread trickle([&] {
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    size_t i = 0;
    while (!done.load()) {
      const char c = i < request.size() ? request[i++] : 'x';
      if (send(slow, &c, 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  for (int i = 0; i < 3; ++i) {
    const std::string scrape = rtrec::testing::HttpGet(port, "/metrics");
    EXPECT_THAT(scrape, HasSubstr("200 OK"));
    EXPECT_THAT(scrape, HasSubstr("rtrec_ready 1"));
  }
  done = true;
  trickle.join();
  close(idle);
  close(slow);
  server->Shutdown();
}

// ----------------------------------- what a platform expects: error details,
// probes, one set of counters behind GetModelInfo and /metrics

TEST(ErrorDetailsTest, BadRequestsNameTheFieldAndRefusalsSayWhetherToRetry) {
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.catalog.max_items = 240;  // the demo catalog fills it
  auto server = StartLoaded(config);
  ASSERT_NE(server, nullptr);
  Client client(Plain(server->port()));

  grpc::Status empty_user = client.Recommend("");
  ASSERT_EQ(empty_user.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  rtrec::testing::ErrorDetails d = rtrec::testing::DecodeErrorDetails(empty_user);
  EXPECT_TRUE(d.present);
  EXPECT_EQ(d.reason, "INVALID_ARGUMENT");
  EXPECT_EQ(d.retry_ms, -1) << "a bad request must not invite a retry";
  EXPECT_THAT(d.violations, ::testing::ElementsAre(std::make_pair(std::string("user_id"),
                                                                  std::string("must not be empty"))));

  grpc::ClientContext ctx;
  client.Prepare(&ctx);
  v1::RecommendRequest req;
  req.set_user_id("u");
  req.add_candidate_item_ids("tea-001");
  req.add_candidate_item_ids("no-such-item");
  v1::RecommendResponse resp;
  grpc::Status unknown = client.stub()->Recommend(&ctx, req, &resp);
  ASSERT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << unknown.error_message();
  d = rtrec::testing::DecodeErrorDetails(unknown);
  ASSERT_EQ(d.violations.size(), 1u);
  EXPECT_EQ(d.violations[0].first, "candidate_item_ids[1]");
  EXPECT_THAT(d.violations[0].second, HasSubstr("unknown item 'no-such-item'"));

  // A full catalog is not "retry soon": FAILED_PRECONDITION, no RetryInfo.
  grpc::Status full = client.Upsert("one-too-many");
  ASSERT_EQ(full.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << full.error_message();
  d = rtrec::testing::DecodeErrorDetails(full);
  EXPECT_EQ(d.reason, "CATALOG_FULL");
  EXPECT_EQ(d.retry_ms, -1);
  EXPECT_TRUE(d.violations.empty());
  server->Shutdown();

  // Loading: UNAVAILABLE with a reason and when to come back.
  auto loading = RtrecServer::Start(rtrec::testing::LoopbackConfig());
  ASSERT_TRUE(loading.ok()) << loading.status();
  Client early(Plain((*loading)->port()));
  grpc::Status not_ready = early.Recommend("u");
  ASSERT_EQ(not_ready.error_code(), grpc::StatusCode::UNAVAILABLE);
  d = rtrec::testing::DecodeErrorDetails(not_ready);
  EXPECT_EQ(d.reason, "LOADING");
  EXPECT_EQ(d.retry_ms, 1000);
  grpc::Status admin_not_ready = early.ListCheckpoints();
  ASSERT_EQ(admin_not_ready.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(rtrec::testing::DecodeErrorDetails(admin_not_ready).reason, "LOADING");
}

TEST(ErrorDetailsTest, FieldPathsAreReadFromTheMessage) {
  EXPECT_EQ(FieldOfMessage("items[3].item_id: 'x' appears twice"),
            std::make_pair(std::string("items[3].item_id"), std::string("'x' appears twice")));
  EXPECT_EQ(FieldOfMessage("k: must not be negative, got -1"),
            std::make_pair(std::string("k"), std::string("must not be negative, got -1")));
  EXPECT_EQ(FieldOfMessage("message 10 of the stream is not readable: x"), std::nullopt);
  EXPECT_EQ(FieldOfMessage(": nothing"), std::nullopt);
  EXPECT_EQ(FieldOfMessage("no colon at all"), std::nullopt);
}

TEST(ProbesTest, ReadinessAndHealthFollowLoadingLivenessDoesNot) {
  auto started = RtrecServer::Start(rtrec::testing::LoopbackConfig());
  ASSERT_TRUE(started.ok()) << started.status();
  RtrecServer& server = **started;
  auto channel = Plain(server.port());
  const int http = server.metrics_port();
  // Loading: alive, not ready, NOT_SERVING under both names.
  EXPECT_THAT(rtrec::testing::HttpGet(http, "/healthz"), HasSubstr("HTTP/1.1 200"));
  const std::string loading = rtrec::testing::HttpGet(http, "/readyz");
  EXPECT_THAT(loading, HasSubstr("HTTP/1.1 503"));
  EXPECT_THAT(loading, HasSubstr("loading the model and catalog"));
  EXPECT_EQ(rtrec::testing::Health(channel, nullptr, "rtrec.v1.Recommender"),
            grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  ASSERT_TRUE(server.Load().ok());
  EXPECT_THAT(rtrec::testing::HttpGet(http, "/readyz"), HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(rtrec::testing::HttpGet(http, "/healthz"), HasSubstr("HTTP/1.1 200"));
  EXPECT_EQ(rtrec::testing::Health(channel), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(rtrec::testing::Health(channel, nullptr, "rtrec.v1.Recommender"),
            grpc::health::v1::HealthCheckResponse::SERVING);
  grpc::Status unknown;
  rtrec::testing::Health(channel, &unknown, "rtrec.v1.Nothing");
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  server.Shutdown();
  grpc::Status after;
  rtrec::testing::Health(channel, &after);
  EXPECT_FALSE(after.ok()) << "nothing answers after shutdown";
  EXPECT_TRUE(rtrec::testing::HttpGet(http, "/healthz").empty());
}

TEST(ProbesTest, ReadinessSaysDrainingWhileCallsInFlightFinishAtShutdown) {
  // An injected clock holds one Recommend in the queue, so the call is still
  // in flight when Shutdown begins: gRPC waits for it and the probes keep
  // answering meanwhile.
  FakeClock clock;
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.batcher.max_batch_size = 1000;
  config.batcher.max_queue_delay_us = 10'000'000;
  auto server = StartLoaded(config, &clock);
  ASSERT_NE(server, nullptr);
  const int http = server->metrics_port();
  Client client(Plain(server->port()));
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  client.Prepare(&ctx);
  v1::RecommendRequest req;
  req.set_user_id("in-flight");
  v1::RecommendResponse resp;
  grpc::Status status;
  auto reader = client.stub()->AsyncRecommend(&ctx, req, &cq);
  reader->Finish(&resp, &status, nullptr);
  for (int i = 0; i < 10000 && server->batcher()->stats().queue_depth < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(server->batcher()->stats().queue_depth, 1);
  EXPECT_THAT(rtrec::testing::HttpGet(http, "/readyz"), HasSubstr("HTTP/1.1 200"));

  std::thread stopping([&] { server->Shutdown(); });
  std::string readyz;
  for (int i = 0; i < 10000; ++i) {
    readyz = rtrec::testing::HttpGet(http, "/readyz");
    if (readyz.find("HTTP/1.1 503") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_THAT(readyz, HasSubstr("HTTP/1.1 503"));
  EXPECT_THAT(readyz, HasSubstr("draining: shutting down"));
  // The held call completes (gRPC's shutdown waits for it), then the stop
  // goes on.
  clock.Advance(absl::Seconds(11));
  server->batcher()->Poke();
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_TRUE(status.ok()) << status.error_message();
  stopping.join();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// The value of `name` in a /metrics text ("" when absent).
std::string ScrapedValueOf(const std::string& text, const std::string& name) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StartsWith(line, name + " ")) return std::string(line.substr(name.size() + 1));
  }
  return "";
}

TEST(ModelInfoTest, GetModelInfoAndMetricsRenderOneCollectedSet) {
  config::RtrecConfig config = rtrec::testing::LoopbackConfig();
  config.learner.enabled = true;
  config.tuner.enabled = true;
  auto server = StartLoaded(config);
  ASSERT_NE(server, nullptr);
  Client client(Plain(server->port()));
  v1::RecommendResponse slate;
  ASSERT_TRUE(client.Recommend("u", &slate).ok());
  // Quiet: no learner step or publish runs between the two reads.
  server->learner()->Stop();

  v1::ModelInfo info;
  {
    grpc::ClientContext ctx;
    client.Prepare(&ctx);
    ASSERT_TRUE(client.stub()->GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
  }
  const std::string scraped = rtrec::testing::HttpGet(server->metrics_port(), "/metrics");
  ASSERT_GE(info.metrics_size(), 40);
  std::map<std::string, double> values;
  for (const auto& m : info.metrics()) {
    values[m.name()] = m.value();
    const std::string text = ScrapedValueOf(scraped, m.name());
    ASSERT_FALSE(text.empty()) << m.name() << " is in GetModelInfo but not on /metrics";
    if (m.name() != "rtrec_request_cost_seconds" && m.name() != "rtrec_model_published_timestamp_seconds") {
      EXPECT_DOUBLE_EQ(std::stod(text), m.value()) << m.name();
    }
    EXPECT_THAT(scraped, HasSubstr(absl::StrCat("# TYPE ", m.name(), m.counter() ? " counter" : " gauge")));
  }
  EXPECT_EQ(values["rtrec_impressions_logged_total"], 1.0);
  // Every typed field is one of the collected values.
  for (const auto& [field, metric] : ModelInfoFieldMetrics()) {
    ASSERT_TRUE(values.count(metric)) << field << " reads " << metric << ", which is not collected";
    const google::protobuf::Message* message = &info;
    std::string name = field;
    if (size_t dot = name.find('.'); dot != std::string::npos) {
      message = &info.GetReflection()->GetMessage(info, info.GetDescriptor()->FindFieldByName(name.substr(0, dot)));
      name = name.substr(dot + 1);
    }
    const auto* f = message->GetDescriptor()->FindFieldByName(name);
    ASSERT_NE(f, nullptr) << field;
    const auto* r = message->GetReflection();
    double typed = f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_INT64 ? r->GetInt64(*message, f)
                   : f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL ? r->GetBool(*message, f)
                                                                                     : r->GetDouble(*message, f);
    EXPECT_NEAR(typed, values[metric], 0.5) << field;
  }
  EXPECT_EQ(info.catalog_size(), 240);
  EXPECT_TRUE(info.learner_enabled());
  server->Shutdown();
}

}  // namespace
}  // namespace rtrec::server

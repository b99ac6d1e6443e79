// rtrec-cli: a small command-line client for poking a running rtrec server.
//
//   rtrec-cli [--target HOST:PORT] [--timeout_s S] COMMAND [flags]
//
//   health [--service NAME]                   grpc.health.v1 check; exit 0 iff SERVING
//   recommend --user U [--query Q] [--k N] [--candidates a,b] [--context a,b]
//             [--greedy] [--allow_recent]
//   feedback  --user U --item I [--request_id R] [--reward X] [--event click|EVENT_TYPE_CLICK]
//   upsert    --items FILE.jsonl | --item_id ID --title T [--text X] [--tags a,b]
//   info                                      GetModelInfo
//   model list                                the model checkpoints (Admin)
//   model rollback VERSION                    serve a checkpoint's weights again
//   model export VERSION DIR                  checkpoint + catalog into DIR (on the
//                                             server's machine), for --seed_from
//
// Answers are printed as JSON (the API's messages, proto3 JSON mapping), so
// scripts can read them. Exit status: 0 ok, 1 the server refused or could
// not be reached (the gRPC code and message go to stderr), 2 bad usage.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <tuple>
#include <cstdio>
#include <string>
#include <vector>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/command_line.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "model/catalog.h"
#include "rtrec/v1/recommender.grpc.pb.h"
#include "tools/grpc_client.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "rtrec server address");
ABSL_FLAG(double, timeout_s, 10, "Deadline of each call in seconds");
ABSL_FLAG(std::string, token, "",
          "Bearer token sent as \"authorization: Bearer <token>\" (default: $RTREC_TOKEN)");
ABSL_FLAG(std::string, tls_ca, "", "TLS: PEM CA that signed the server's certificate (turns on TLS)");
ABSL_FLAG(std::string, tls_cert, "", "mutual TLS: this client's PEM certificate chain");
ABSL_FLAG(std::string, tls_key, "", "mutual TLS: this client's PEM private key");
ABSL_FLAG(std::string, user, "", "recommend/feedback: user id");
ABSL_FLAG(std::string, query, "", "recommend: search query text");
ABSL_FLAG(int, k, 10, "recommend: slate size");
ABSL_FLAG(std::string, candidates, "", "recommend: comma-separated item ids to rank (default: all)");
ABSL_FLAG(std::string, context, "", "recommend: comma-separated behaviour context item ids");
ABSL_FLAG(bool, greedy, false, "recommend: no exploration (top-k by score)");
ABSL_FLAG(bool, allow_recent, false, "recommend: allow items of the user's recent history");
ABSL_FLAG(std::string, item, "", "feedback: item id");
ABSL_FLAG(std::string, request_id, "", "feedback: request_id of the slate (empty: organic event)");
ABSL_FLAG(double, reward, 1.0, "feedback: reward");
ABSL_FLAG(std::string, event, "click",
          "feedback: view|click|purchase|dwell|dismiss (or the API's EVENT_TYPE_CLICK etc.)");
ABSL_FLAG(std::string, service, "",
          "health: the service name to check (\"\" the whole server, or rtrec.v1.Recommender)");
ABSL_FLAG(std::string, items, "", "upsert: JSONL file of items ({item_id,title,text,tags} a line)");
ABSL_FLAG(std::string, item_id, "", "upsert: one item's id");
ABSL_FLAG(std::string, title, "", "upsert: one item's title");
ABSL_FLAG(std::string, text, "", "upsert: one item's text");
ABSL_FLAG(std::string, tags, "", "upsert: one item's comma-separated tags");

namespace {

constexpr int kUsageError = rtrec::kUsageErrorExit;

int Usage(const std::string& why) {
  fprintf(stderr, "rtrec-cli: %s\n%s\n", why.c_str(), std::string(absl::ProgramUsageMessage()).c_str());
  return kUsageError;
}

std::vector<std::string> SplitList(const std::string& s) {
  return absl::StrSplit(s, ',', absl::SkipWhitespace());
}

std::string CodeName(const grpc::Status& status) {
  // gRPC's and absl's code numbers are the same.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code()));
}

std::string Token() {
  std::string token = absl::GetFlag(FLAGS_token);
  if (token.empty()) {
    if (const char* env = std::getenv("RTREC_TOKEN")) token = env;
  }
  return token;
}

// Every call's deadline and, when given, its bearer token.
void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(absl::GetFlag(FLAGS_timeout_s) * 1000)));
  if (const std::string token = Token(); !token.empty()) {
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// Plaintext, or TLS when --tls_ca is given (with a client certificate when
// --tls_cert/--tls_key are). Null with a usage error printed.
std::shared_ptr<grpc::ChannelCredentials> Credentials() {
  if (absl::GetFlag(FLAGS_tls_ca).empty()) {
    if (!absl::GetFlag(FLAGS_tls_cert).empty() || !absl::GetFlag(FLAGS_tls_key).empty()) {
      Usage("--tls_cert and --tls_key need --tls_ca");
      return nullptr;
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  for (auto [flag, path, out] : {std::tuple{"--tls_ca", absl::GetFlag(FLAGS_tls_ca), &ssl.pem_root_certs},
                                 std::tuple{"--tls_cert", absl::GetFlag(FLAGS_tls_cert), &ssl.pem_cert_chain},
                                 std::tuple{"--tls_key", absl::GetFlag(FLAGS_tls_key), &ssl.pem_private_key}}) {
    if (!path.empty() && !ReadFile(path, out)) {
      Usage(absl::StrCat(flag, ": cannot read ", path));
      return nullptr;
    }
  }
  return grpc::SslCredentials(ssl);
}

// The refusal's google.rpc details, as one line each: the reason, when a
// retry can succeed, and which fields are wrong.
void PrintErrorDetails(const grpc::Status& status) {
  const rtrec::tools::ErrorDetails details = rtrec::tools::DecodeErrorDetails(status);
  if (!details.reason.empty()) fprintf(stderr, "  reason: %s\n", details.reason.c_str());
  if (details.retry_ms >= 0) fprintf(stderr, "  retry after: %.3f s\n", details.retry_ms / 1000.0);
  for (const auto& [field, description] : details.violations) {
    fprintf(stderr, "  field %s: %s\n", field.c_str(), description.c_str());
  }
}

int PrintOrFail(const grpc::Status& status, const google::protobuf::Message& response) {
  if (!status.ok()) {
    fprintf(stderr, "rtrec-cli: %s: %s\n", CodeName(status).c_str(),
            status.error_message().c_str());
    PrintErrorDetails(status);
    return 1;
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(response, &json, options);
  printf("%s", json.c_str());
  return 0;
}

int Health(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  grpc::health::v1::HealthCheckResponse response;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(absl::GetFlag(FLAGS_service));
  grpc::Status status = stub->Check(&ctx, request, &response);
  if (!status.ok()) {
    fprintf(stderr, "rtrec-cli: %s: %s\n", CodeName(status).c_str(),
            status.error_message().c_str());
    return 1;
  }
  printf("%s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status()).c_str());
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

int Recommend(rtrec::v1::Recommender::Stub* stub) {
  if (absl::GetFlag(FLAGS_user).empty()) return Usage("recommend needs --user");
  rtrec::v1::RecommendRequest request;
  request.set_user_id(absl::GetFlag(FLAGS_user));
  request.set_query(absl::GetFlag(FLAGS_query));
  request.set_k(absl::GetFlag(FLAGS_k));
  for (const auto& id : SplitList(absl::GetFlag(FLAGS_candidates))) request.add_candidate_item_ids(id);
  for (const auto& id : SplitList(absl::GetFlag(FLAGS_context))) request.add_context_item_ids(id);
  if (absl::GetFlag(FLAGS_greedy)) request.set_exploration(false);
  request.set_allow_recent_items(absl::GetFlag(FLAGS_allow_recent));
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  rtrec::v1::RecommendResponse response;
  return PrintOrFail(stub->Recommend(&ctx, request, &response), response);
}

int Feedback(rtrec::v1::Recommender::Stub* stub) {
  if (absl::GetFlag(FLAGS_user).empty() || absl::GetFlag(FLAGS_item).empty()) {
    return Usage("feedback needs --user and --item");
  }
  rtrec::v1::FeedbackRequest request;
  request.set_request_id(absl::GetFlag(FLAGS_request_id));
  request.set_user_id(absl::GetFlag(FLAGS_user));
  request.set_item_id(absl::GetFlag(FLAGS_item));
  request.set_reward(absl::GetFlag(FLAGS_reward));
  rtrec::v1::EventType type;
  // The API's name (EVENT_TYPE_CLICK) or its short form (click).
  std::string name = absl::AsciiStrToUpper(absl::GetFlag(FLAGS_event));
  if (!absl::StartsWith(name, "EVENT_TYPE_")) name = "EVENT_TYPE_" + name;
  if (!rtrec::v1::EventType_Parse(name, &type) || type == rtrec::v1::EVENT_TYPE_UNSPECIFIED) {
    return Usage(absl::StrCat("--event: unknown event type '", absl::GetFlag(FLAGS_event),
                              "' (view, click, purchase, dwell, dismiss, or EVENT_TYPE_CLICK etc.)"));
  }
  request.set_event_type(type);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  rtrec::v1::FeedbackResponse response;
  return PrintOrFail(stub->Feedback(&ctx, request, &response), response);
}

int Upsert(rtrec::v1::Recommender::Stub* stub) {
  rtrec::v1::UpsertItemsRequest request;
  if (!absl::GetFlag(FLAGS_items).empty()) {
    auto items = rtrec::model::ReadCatalogJsonl(absl::GetFlag(FLAGS_items), 1 << 20);
    if (!items.ok()) return Usage(absl::StrCat("--items: ", items.status().message()));
    for (const auto& item : *items) {
      auto* out = request.add_items();
      out->set_item_id(item.item_id);
      out->set_title(item.title);
      out->set_text(item.text);
      for (const auto& tag : item.tags) out->add_tags(tag);
    }
  } else if (!absl::GetFlag(FLAGS_item_id).empty()) {
    auto* out = request.add_items();
    out->set_item_id(absl::GetFlag(FLAGS_item_id));
    out->set_title(absl::GetFlag(FLAGS_title));
    out->set_text(absl::GetFlag(FLAGS_text));
    for (const auto& tag : SplitList(absl::GetFlag(FLAGS_tags))) out->add_tags(tag);
  } else {
    return Usage("upsert needs --items FILE or --item_id");
  }
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  rtrec::v1::UpsertItemsResponse response;
  return PrintOrFail(stub->UpsertItems(&ctx, request, &response), response);
}

// model list | rollback VERSION | export VERSION DIR
int Model(const std::shared_ptr<grpc::Channel>& channel, const std::vector<char*>& args) {
  auto admin = rtrec::v1::Admin::NewStub(channel);
  const std::string verb = args.size() > 2 ? args[2] : "";
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  int64_t version = 0;
  if ((verb == "rollback" || verb == "export") &&
      (args.size() < 4 || !absl::SimpleAtoi(args[3], &version) || version < 1)) {
    return Usage(absl::StrCat("model ", verb, ": VERSION must be a checkpoint's model version"));
  }
  if (verb == "list" && args.size() == 3) {
    rtrec::v1::ListCheckpointsResponse response;
    return PrintOrFail(admin->ListCheckpoints(&ctx, rtrec::v1::ListCheckpointsRequest(), &response),
                       response);
  }
  if (verb == "rollback" && args.size() == 4) {
    rtrec::v1::RollbackModelRequest request;
    request.set_model_version(version);
    rtrec::v1::RollbackModelResponse response;
    return PrintOrFail(admin->RollbackModel(&ctx, request, &response), response);
  }
  if (verb == "export" && args.size() == 5) {
    rtrec::v1::ExportCheckpointRequest request;
    request.set_model_version(version);
    request.set_directory(args[4]);
    rtrec::v1::ExportCheckpointResponse response;
    return PrintOrFail(admin->ExportCheckpoint(&ctx, request, &response), response);
  }
  return Usage("model: expected `model list`, `model rollback VERSION` or `model export VERSION DIR`");
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args = rtrec::ParseCommandLineOrExit(
      argc, argv,
      "rtrec-cli [--target HOST:PORT] [--timeout_s S] [--token T] [--tls_ca CA.pem "
      "[--tls_cert C.pem --tls_key K.pem]] health|recommend|feedback|upsert|info [flags]\n"
      "  recommend --user U [--query Q] [--k N] [--candidates a,b] [--context a,b] [--greedy] "
      "[--allow_recent]\n"
      "  feedback --user U --item I [--request_id R] [--reward X] [--event click]\n"
      "  upsert --items FILE.jsonl | --item_id ID --title T [--text X] [--tags a,b]\n"
      "  model list | model rollback VERSION | model export VERSION DIR\n"
      "Exit status: 0 ok (health: SERVING), 1 the server refused or could not be reached, "
      "2 bad usage");
  if (args.size() < 2) return Usage("expected a command");
  const std::string command = args[1];
  auto credentials = Credentials();
  if (!credentials) return kUsageError;
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_target), credentials);
  if (command == "model") return Model(channel, args);
  if (args.size() != 2) return Usage("expected exactly one command");
  if (command == "health") return Health(channel);
  auto stub = rtrec::v1::Recommender::NewStub(channel);
  if (command == "recommend") return Recommend(stub.get());
  if (command == "feedback") return Feedback(stub.get());
  if (command == "upsert") return Upsert(stub.get());
  if (command == "info") {
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    rtrec::v1::ModelInfo info;
    return PrintOrFail(stub->GetModelInfo(&ctx, rtrec::v1::GetModelInfoRequest(), &info), info);
  }
  return Usage(absl::StrCat("unknown command '", command, "'"));
}

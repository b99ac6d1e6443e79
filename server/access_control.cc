#include "server/access_control.h"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace rtrec::server {
namespace {

constexpr size_t kMinTokenBytes = 16;
constexpr char kBearer[] = "Bearer ";
constexpr size_t kBearerBytes = sizeof(kBearer) - 1;

// Equal in time that depends only on the lengths: no early exit on the first
// differing byte.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  const absl::string_view against = a.size() == b.size() ? b : a;
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = diff | static_cast<unsigned char>(a[i] ^ against[i]);
  }
  return diff == 0;
}

const char* RoleName(Role role) { return role == Role::kAdmin ? "admin" : "serve"; }

}  // namespace

absl::StatusOr<std::vector<BearerToken>> ParseTokens(absl::string_view text,
                                                     const std::string& source) {
  std::vector<BearerToken> tokens;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
      if (const size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    const std::string where = absl::StrCat(source, ":", line_no);
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": expected \"<name> <role> <token>\", got ", fields.size(), " fields"));
    }
    BearerToken t;
    t.name = std::string(fields[0]);
    if (fields[1] == "serve") {
      t.role = Role::kServe;
    } else if (fields[1] == "admin") {
      t.role = Role::kAdmin;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": role must be serve or admin, got '", fields[1], "'"));
    }
    t.token = std::string(fields[2]);
    if (t.token.size() < kMinTokenBytes) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": token of '", t.name, "' is shorter than ",
                                                     kMinTokenBytes, " characters"));
    }
    for (const BearerToken& other : tokens) {
      if (other.name == t.name) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": name '", t.name, "' appears twice"));
      }
      if (other.token == t.token) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": the token of '", t.name, "' is also the token of '", other.name, "'"));
      }
    }
    tokens.push_back(std::move(t));
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": holds no token"));
  }
  return tokens;
}

bool IsLoopbackAddress(const std::string& listen_address) {
  std::string host = listen_address;
  if (absl::StartsWith(host, "unix:")) return true;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    host = close == std::string::npos ? host : host.substr(1, close - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

AccessControl::AccessControl(std::string tokens_file, bool loopback_listener)
    : tokens_file_(std::move(tokens_file)), loopback_listener_(loopback_listener) {}

absl::StatusOr<std::unique_ptr<AccessControl>> AccessControl::Create(const std::string& tokens_file,
                                                                     bool loopback_listener) {
  std::unique_ptr<AccessControl> a(new AccessControl(tokens_file, loopback_listener));
  if (!tokens_file.empty()) {
    if (auto s = a->Reload(); !s.ok()) return s;
  }
  return a;
}

absl::Status AccessControl::Reload() {
  if (tokens_file_.empty()) return absl::OkStatus();
  std::ifstream in(tokens_file_);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("server.auth.tokens_file: cannot read ", tokens_file_));
  }
  std::stringstream text;
  text << in.rdbuf();
  auto tokens = ParseTokens(text.str(), tokens_file_);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.auth.tokens_file: ", tokens.status().message()));
  }
  auto fresh = std::make_shared<const std::vector<BearerToken>>(std::move(*tokens));
  rtrec::MutexLock lock(&mu_);
  tokens_ = std::move(fresh);
  return absl::OkStatus();
}

size_t AccessControl::num_tokens() const {
  rtrec::MutexLock lock(&mu_);
  return tokens_ ? tokens_->size() : 0;
}

absl::StatusOr<Caller> AccessControl::Authorize(const grpc::ServerContextBase& context,
                                                Role role) const {
  absl::string_view authorization;
  const auto& metadata = context.client_metadata();
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  return Check(authorization, role);
}

std::string Caller::FairnessKey(const grpc::ServerContextBase& context) const {
  return token_name.empty() ? absl::StrCat("peer:", context.peer()) : token_name;
}

absl::StatusOr<Caller> AccessControl::Check(absl::string_view authorization, Role role) const {
  std::shared_ptr<const std::vector<BearerToken>> tokens;
  {
    rtrec::MutexLock lock(&mu_);
    tokens = tokens_;
  }
  if (!tokens) {
    if (role == Role::kAdmin && !loopback_listener_) {
      return absl::PermissionDeniedError(
          "admin calls (UpsertItems, rtrec.v1.Admin) need server.auth.tokens_file when "
          "server.listen_address is not loopback");
    }
    return Caller{};
  }
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "authorization: missing; send \"authorization: Bearer <token>\" metadata");
  }
  if (!absl::StartsWith(authorization, kBearer)) {
    return absl::UnauthenticatedError("authorization: must be \"Bearer <token>\"");
  }
  const absl::string_view presented = authorization.substr(kBearerBytes);
  const BearerToken* match = nullptr;
  for (const BearerToken& t : *tokens) {
    if (ConstantTimeEquals(presented, t.token) && match == nullptr) match = &t;
  }
  if (match == nullptr) return absl::UnauthenticatedError("authorization: unknown token");
  if (role == Role::kAdmin && match->role != Role::kAdmin) {
    return absl::PermissionDeniedError(absl::StrCat("authorization: the token of '", match->name,
                                                    "' has role ", RoleName(match->role),
                                                    "; this call needs role admin"));
  }
  return Caller{match->name};
}

}  // namespace rtrec::server

// Who may call what: bearer tokens with roles, and the name of the client
// that fairness counts a call against.
//
// Tokens come from server.auth.tokens_file, one "<name> <role> <token>" a
// line; role "serve" may call Recommend, Feedback, StreamFeedback and
// GetModelInfo, role "admin" may call those and UpsertItems and every
// rtrec.v1.Admin call. A call presents "authorization: Bearer <token>".
//
//   tokens configured      no token or an unknown one: UNAUTHENTICATED;
//                          a serve token on an admin call: PERMISSION_DENIED
//   no tokens configured   serve calls are open; admin calls are refused
//                          (PERMISSION_DENIED) unless the gRPC listener is
//                          loopback only (secure by default when exposed)
//
// Tokens are compared in constant time (every configured token is compared
// in full whichever matches). Reload() re-reads the file (SIGHUP); a file
// that does not parse leaves the old tokens in force.
//
// Thread safety: Authorize and Reload may run concurrently.
#ifndef RTREC_SERVER_ACCESS_CONTROL_H_
#define RTREC_SERVER_ACCESS_CONTROL_H_

#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "common/mutex.h"

namespace rtrec::server {

enum class Role { kServe, kAdmin };

struct BearerToken {
  std::string name;
  Role role = Role::kServe;
  std::string token;
};

// Parses a tokens file's text; errors name the line. `source` names the file.
absl::StatusOr<std::vector<BearerToken>> ParseTokens(absl::string_view text,
                                                     const std::string& source);

// True when host:port names only this machine (127.0.0.0/8, ::1, localhost).
bool IsLoopbackAddress(const std::string& listen_address);

// The caller of one call.
struct Caller {
  // The token's name; empty for an open call (no tokens configured).
  std::string token_name;

  // The key per-client limits (batcher.max_queued_per_client) count
  // against: the token's name, else the call's connection ("peer:<peer>").
  std::string FairnessKey(const grpc::ServerContextBase& context) const;
};

class AccessControl {
 public:
  // tokens_file empty: no tokens. Fails when the file cannot be read or
  // parsed, naming it.
  static absl::StatusOr<std::unique_ptr<AccessControl>> Create(const std::string& tokens_file,
                                                               bool loopback_listener);

  // Re-reads tokens_file. On error the tokens in force stay.
  absl::Status Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // May this call run with `role`? The caller, or UNAUTHENTICATED /
  // PERMISSION_DENIED naming what is missing.
  absl::StatusOr<Caller> Authorize(const grpc::ServerContextBase& context, Role role) const;
  // The same from the call's "authorization" value (empty when absent).
  absl::StatusOr<Caller> Check(absl::string_view authorization, Role role) const
      ABSL_LOCKS_EXCLUDED(mu_);

  size_t num_tokens() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  AccessControl(std::string tokens_file, bool loopback_listener);

  const std::string tokens_file_;
  const bool loopback_listener_;
  mutable rtrec::Mutex mu_;
  std::shared_ptr<const std::vector<BearerToken>> tokens_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rtrec::server

#endif  // RTREC_SERVER_ACCESS_CONTROL_H_

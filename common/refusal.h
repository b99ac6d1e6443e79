// The machine-readable facts a refusal carries beside its code and message,
// as absl::Status payloads: why (a stable reason a client can switch on) and,
// where a retry can succeed, after how long. The server sends them as
// google.rpc.ErrorInfo and google.rpc.RetryInfo details (and the
// "retry-after-ms" trailer); server/grpc_status.cc. README "Errors" lists
// every reason.
#ifndef RTREC_COMMON_REFUSAL_H_
#define RTREC_COMMON_REFUSAL_H_

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace rtrec {

inline constexpr char kReasonPayload[] = "rtrec.v1/reason";
inline constexpr char kRetryAfterMsPayload[] = "rtrec.v1/retry-after-ms";

// The reasons rtrec gives (google.rpc.ErrorInfo.reason, domain "rtrec.v1").
namespace reason {
inline constexpr char kQueueFull[] = "QUEUE_FULL";
inline constexpr char kOverloaded[] = "OVERLOADED";
inline constexpr char kClientLimit[] = "CLIENT_LIMIT";
inline constexpr char kLearnerBehind[] = "LEARNER_BEHIND";
inline constexpr char kCatalogFull[] = "CATALOG_FULL";
inline constexpr char kLoading[] = "LOADING";
inline constexpr char kShuttingDown[] = "SHUTTING_DOWN";
inline constexpr char kDeadlineTooShort[] = "DEADLINE_TOO_SHORT";
inline constexpr char kDeadlineExpired[] = "DEADLINE_EXPIRED";
}  // namespace reason

inline absl::Status WithReason(absl::Status status, absl::string_view why) {
  status.SetPayload(kReasonPayload, absl::Cord(why));
  return status;
}

// Whole milliseconds, at least 1.
inline absl::Status WithRetryAfter(absl::Status status, absl::Duration after) {
  const int64_t ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(absl::Ceil(after, absl::Milliseconds(1))));
  status.SetPayload(kRetryAfterMsPayload, absl::Cord(absl::StrCat(ms)));
  return status;
}

}  // namespace rtrec

#endif  // RTREC_COMMON_REFUSAL_H_

// rtrec's log: one line per event with a UTC timestamp, a level and the
// component that wrote it, as text or as JSON lines (--log_json), on stderr.
// Built on spdlog (Debian's libspdlog); the flags --log_level and --log_json
// exist in every rtrec binary (common/command_line.h applies them). gRPC's
// own messages are routed here too (server/server.cc), as component "grpc".
//
//   logging::Info("learner", absl::StrCat("published v", version));
//
// Thread safety: every function may be called from any thread.
#ifndef RTREC_COMMON_LOGGING_H_
#define RTREC_COMMON_LOGGING_H_

#include <cstdint>
#include <ostream>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace rtrec::logging {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

// "debug", "info", "warning" (or "warn"), "error", "off".
absl::StatusOr<Level> ParseLevel(absl::string_view name);

// Sets the threshold and the format. `out` (for tests) replaces stderr.
void Configure(Level level, bool json, std::ostream* out = nullptr);
// Applies --log_level / --log_json; an unknown level names the flag.
absl::Status ConfigureFromFlags();

bool Enabled(Level level);
void Log(Level level, absl::string_view component, absl::string_view message);
inline void Debug(absl::string_view c, absl::string_view m) { Log(Level::kDebug, c, m); }
inline void Info(absl::string_view c, absl::string_view m) { Log(Level::kInfo, c, m); }
inline void Warning(absl::string_view c, absl::string_view m) { Log(Level::kWarning, c, m); }
inline void Error(absl::string_view c, absl::string_view m) { Log(Level::kError, c, m); }

// Bounds a repeated event to one line per `period` (a burst of refused
// feedback must not become a burst of log lines). The line that is written
// says how many were left out since the previous one.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(absl::Duration period) : period_(period) {}

  // Writes `message` (+ " (N more since the last such line)") if the last
  // line was at least `period` before `now`; otherwise only counts it.
  // Returns whether a line was written.
  bool Log(Level level, absl::string_view component, absl::string_view message, absl::Time now);

 private:
  const absl::Duration period_;
  rtrec::Mutex mu_;
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t suppressed_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rtrec::logging

#endif  // RTREC_COMMON_LOGGING_H_

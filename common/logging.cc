#include "common/logging.h"

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <utility>

#include <spdlog/logger.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

ABSL_FLAG(std::string, log_level, "info", "Least severe log level written: debug, info, warning, error or off");
ABSL_FLAG(bool, log_json, false,
          "Write log lines as JSON objects {time, level, component, msg} instead of text");

namespace rtrec::logging {
namespace {

struct State {
  rtrec::Mutex mu;
  std::shared_ptr<spdlog::logger> logger ABSL_GUARDED_BY(mu);
  bool json ABSL_GUARDED_BY(mu) = false;
  std::atomic<int> level{static_cast<int>(Level::kInfo)};
};

State& GetState() {
  static State* state = new State();  // never destroyed: threads may log at exit
  return *state;
}

std::shared_ptr<spdlog::logger> MakeLogger(bool json, std::ostream* out) {
  spdlog::sink_ptr sink;
  if (out != nullptr) {
    sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*out, /*force_flush=*/true);
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("rtrec", std::move(sink));
  // The component and message are formatted by Log(): as "component: msg"
  // in text, as JSON members in JSON lines.
  const char* pattern = json ? R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})"
                             : "%Y-%m-%dT%H:%M:%S.%fZ %-7l %v";
  logger->set_formatter(
      std::make_unique<spdlog::pattern_formatter>(pattern, spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::trace);  // the threshold is ours (Enabled)
  logger->flush_on(spdlog::level::trace);
  return logger;
}

spdlog::level::level_enum ToSpdlog(Level level) {
  switch (level) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarning: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: break;
  }
  return spdlog::level::off;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

}  // namespace

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  const std::string n = absl::AsciiStrToLower(name);
  if (n == "debug") return Level::kDebug;
  if (n == "info") return Level::kInfo;
  if (n == "warning" || n == "warn") return Level::kWarning;
  if (n == "error") return Level::kError;
  if (n == "off") return Level::kOff;
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not a log level (debug, info, warning, error, off)"));
}

void Configure(Level level, bool json, std::ostream* out) {
  State& state = GetState();
  auto logger = MakeLogger(json, out);
  rtrec::MutexLock lock(&state.mu);
  state.logger = std::move(logger);
  state.json = json;
  state.level.store(static_cast<int>(level), std::memory_order_relaxed);
}

absl::Status ConfigureFromFlags() {
  auto level = ParseLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) return absl::InvalidArgumentError(absl::StrCat("--log_level: ", level.status().message()));
  Configure(*level, absl::GetFlag(FLAGS_log_json));
  return absl::OkStatus();
}

bool Enabled(Level level) {
  return level != Level::kOff &&
         static_cast<int>(level) >= GetState().level.load(std::memory_order_relaxed);
}

void Log(Level level, absl::string_view component, absl::string_view message) {
  if (!Enabled(level)) return;
  State& state = GetState();
  std::shared_ptr<spdlog::logger> logger;
  bool json;
  {
    rtrec::MutexLock lock(&state.mu);
    if (!state.logger) state.logger = MakeLogger(false, nullptr);
    logger = state.logger;
    json = state.json;
  }
  std::string line;
  if (json) {
    line = "\"component\":";
    AppendJsonString(component, &line);
    line += ",\"msg\":";
    AppendJsonString(message, &line);
  } else {
    line = absl::StrCat(component, ": ", message);
  }
  logger->log(ToSpdlog(level), "{}", line);
}

bool RateLimitedLog::Log(Level level, absl::string_view component, absl::string_view message,
                         absl::Time now) {
  int64_t suppressed;
  {
    rtrec::MutexLock lock(&mu_);
    if (now - last_ < period_) {
      ++suppressed_;
      return false;
    }
    last_ = now;
    suppressed = std::exchange(suppressed_, 0);
  }
  if (suppressed == 0) {
    logging::Log(level, component, message);
  } else {
    logging::Log(level, component,
                 absl::StrCat(message, " (", suppressed, " more since the last such line)"));
  }
  return true;
}

}  // namespace rtrec::logging

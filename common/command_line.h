// The command line of every rtrec binary: its flags (Abseil flags) parsed with
// the conventions a user expects.
//
//   --help, -h       the usage line and every flag with its type, default and
//                    help; exit 0
//   --version        "rtrec_server 0.15.0 (git 1a2b3c4d5e6f, Release build)"; exit 0
//   --flag=value, --flag value, --bool_flag, --nobool_flag, -- (the rest are
//                    arguments)
//   an unknown flag or a bad value: one line naming the flag, exit 2
//
// Every binary also has --log_level and --log_json (common/logging.h), which
// are applied here.
#ifndef RTREC_COMMON_COMMAND_LINE_H_
#define RTREC_COMMON_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace rtrec {

// Exit status of a usage error (an unknown flag, a bad value, a missing
// argument), as the binaries document.
inline constexpr int kUsageErrorExit = 2;

// Parses argv. Returns the program name followed by the arguments that are not
// flags (as absl::ParseCommandLine does). `usage` is the text after "Usage: ".
// Exits for --help, --version and usage errors.
std::vector<char*> ParseCommandLineOrExit(int argc, char** argv, absl::string_view usage);

// The --help text (exposed for tests).
std::string HelpText(absl::string_view program);

}  // namespace rtrec

#endif  // RTREC_COMMON_COMMAND_LINE_H_

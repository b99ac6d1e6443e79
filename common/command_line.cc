#include "common/command_line.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/build_info.h"
#include "common/logging.h"

namespace rtrec {
namespace {

std::string Basename(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == absl::string_view::npos ? path : path.substr(slash + 1));
}

const char* TypeName(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<bool>()) return "bool";
  if (flag.IsOfType<int32_t>() || flag.IsOfType<int64_t>()) return "int";
  if (flag.IsOfType<uint32_t>() || flag.IsOfType<uint64_t>()) return "uint";
  if (flag.IsOfType<double>() || flag.IsOfType<float>()) return "number";
  if (flag.IsOfType<std::string>()) return "string";
  return "value";
}

// rtrec's own flags: Abseil's built-in ones (--flagfile, --fromenv, ...) are
// not offered; the binary documents what it reads.
bool IsRtrecFlag(const absl::CommandLineFlag& flag) {
  return !flag.IsRetired() && !absl::StrContains(flag.Filename(), "absl/");
}

[[noreturn]] void UsageError(absl::string_view program, absl::string_view why) {
  std::fprintf(stderr, "%s: %s (see %s --help)\n", std::string(program).c_str(),
               std::string(why).c_str(), std::string(program).c_str());
  std::exit(kUsageErrorExit);
}

}  // namespace

std::string HelpText(absl::string_view program) {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsRtrecFlag(*flag)) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](const auto* a, const auto* b) { return a->Name() < b->Name(); });
  std::string out = absl::StrCat("Usage: ", absl::ProgramUsageMessage(), "\n\nFlags:\n");
  for (const absl::CommandLineFlag* flag : flags) {
    const std::string def = flag->DefaultValue();
    absl::StrAppend(&out, "  --", flag->Name(), "=<", TypeName(*flag), ">  (default ",
                    flag->IsOfType<std::string>() ? absl::StrCat("\"", def, "\"") : def, ")\n      ",
                    flag->Help(), "\n");
  }
  absl::StrAppend(&out, "  --help, -h\n      Print this help and exit\n",
                  "  --version\n      Print the version and the git revision built from, and exit\n",
                  "\nExit status 2: a usage error (an unknown flag, a bad value). ", Basename(program),
                  " is part of ", VersionLine(), ".\n");
  return out;
}

std::vector<char*> ParseCommandLineOrExit(int argc, char** argv, absl::string_view usage) {
  const std::string program = Basename(argc > 0 ? argv[0] : "rtrec");
  absl::SetProgramUsageMessage(usage);
  std::vector<char*> positional;
  positional.push_back(argc > 0 ? argv[0] : const_cast<char*>("rtrec"));
  bool only_positional = false;
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (only_positional || arg.size() < 2 || arg[0] != '-') {
      positional.push_back(argv[i]);
      continue;
    }
    if (arg == "--") {
      only_positional = true;
      continue;
    }
    absl::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
    absl::string_view name = body;
    absl::string_view value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != absl::string_view::npos) {
      name = body.substr(0, eq);
      value = body.substr(eq + 1);
      has_value = true;
    }
    if (name == "help" || name == "h" || name == "helpfull" || name == "?") {
      std::fputs(HelpText(program).c_str(), stdout);
      std::exit(0);
    }
    if (name == "version") {
      std::printf("%s %s (git %s, %s build)\n", program.c_str(), GetBuildInfo().version,
                  GetBuildInfo().revision, GetBuildInfo().build_type);
      std::exit(0);
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag != nullptr && !IsRtrecFlag(*flag)) flag = nullptr;
    if (flag == nullptr && absl::StartsWith(name, "no") && !has_value) {
      absl::CommandLineFlag* negated = absl::FindCommandLineFlag(name.substr(2));
      if (negated != nullptr && IsRtrecFlag(*negated) && negated->IsOfType<bool>()) {
        flag = negated;
        value = "false";
        has_value = true;
      }
    }
    if (flag == nullptr) UsageError(program, absl::StrCat("unknown flag --", name));
    std::string owned;
    if (!has_value) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        owned = argv[++i];
        value = owned;
      } else {
        UsageError(program, absl::StrCat("--", name, " needs a value"));
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      UsageError(program, absl::StrCat("--", name, ": '", value, "' is not a valid ",
                                       TypeName(*flag), " (", error, ")"));
    }
  }
  if (auto s = logging::ConfigureFromFlags(); !s.ok()) UsageError(program, s.message());
  return positional;
}

}  // namespace rtrec

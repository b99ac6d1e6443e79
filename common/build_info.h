// What this binary is: rtrec's version (CMakeLists.txt's project VERSION, the
// one place it is set), the git revision it was built from and the build
// type. Printed by --version, logged at start-up and exported on /metrics as
// rtrec_build_info.
#ifndef RTREC_COMMON_BUILD_INFO_H_
#define RTREC_COMMON_BUILD_INFO_H_

#include <string>

namespace rtrec {

struct BuildInfo {
  const char* version;     // "0.16.0"
  const char* revision;    // short git hash, "-dirty" when built from changes; "unknown" without git
  const char* build_type;  // "Release", "Debug", ...
};

const BuildInfo& GetBuildInfo();

// "rtrec 0.16.0 (git 1a2b3c4d5e6f, Release build)".
std::string VersionLine();

}  // namespace rtrec

#endif  // RTREC_COMMON_BUILD_INFO_H_

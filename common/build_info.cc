#include "common/build_info.h"

#include "absl/strings/str_cat.h"

namespace rtrec {
namespace build_info_internal {
extern const char kGitRevision[];  // the generated rtrec_git_revision.cc
}  // namespace build_info_internal

const BuildInfo& GetBuildInfo() {
  static const BuildInfo info{RTREC_VERSION, build_info_internal::kGitRevision, RTREC_BUILD_TYPE};
  return info;
}

std::string VersionLine() {
  const BuildInfo& b = GetBuildInfo();
  return absl::StrCat("rtrec ", b.version, " (git ", b.revision, ", ", b.build_type, " build)");
}

}  // namespace rtrec

#pragma once
// What this binary is: version, git commit and build type, fixed at build time.
#include <string_view>

namespace orderbridge::core {

struct BuildInfo {
    std::string_view version;
    std::string_view git_sha;
    std::string_view build_type;
};

const BuildInfo& GetBuildInfo();

}  // namespace orderbridge::core

#include "orderbridge/core/build_info.hpp"

namespace orderbridge::core {

extern const char* const kGitSha;  // generated at build time (cmake/GitSha.cmake)

const BuildInfo& GetBuildInfo() {
    static const BuildInfo info{ORDERBRIDGE_VERSION, kGitSha, ORDERBRIDGE_BUILD_TYPE};
    return info;
}

}  // namespace orderbridge::core

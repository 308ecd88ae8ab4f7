#include "orderbridge/core/build_info.hpp"

namespace orderbridge::core {

const BuildInfo& GetBuildInfo() {
    static const BuildInfo info{ORDERBRIDGE_VERSION, ORDERBRIDGE_GIT_SHA, ORDERBRIDGE_BUILD_TYPE};
    return info;
}

}  // namespace orderbridge::core

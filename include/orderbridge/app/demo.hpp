#pragma once
// `orderbridge demo`: sends a running daemon a handful of realistic, signed WooCommerce order
// webhooks (a sample order compiled into the binary, with new ids, a few statuses and shipping
// countries), so a new installation can be watched end to end in the console.
#include <string>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::app {

struct DemoOptions {
    int orders = 10;
    std::string store;  ///< default: the first configured store
    std::string url;    ///< default: from server.listen
};

/// Exit code: 0 all sent and answered 2xx, 1 the daemon refused or could not be reached, 2 usage.
int RunDemo(const DemoOptions& options, const config::Settings& settings);

}  // namespace orderbridge::app

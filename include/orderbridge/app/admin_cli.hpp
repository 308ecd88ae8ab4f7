#pragma once
// `orderbridge dlq list|show|replay` and `orderbridge replay`: thin clients of the admin API of a
// running daemon (the address from server.listen, or --url; the token from --token,
// $ORDERBRIDGE_TOKEN, or the first fitting token in the configuration).
#include <optional>
#include <string>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::app {

struct AdminCommand {
    enum class Kind { kDlqList, kDlqShow, kDlqReplay, kReplay } kind = Kind::kDlqList;
    std::string url;    ///< empty: from server.listen
    std::string token;  ///< empty: $ORDERBRIDGE_TOKEN, then the configuration
    std::string id;     ///< dlq show / dlq replay ID
    std::string connector, error_class, entity, from, to, reason;
    int limit = 50;
    bool json = false;  ///< print the API's JSON instead of a table
};

/// The daemon's base URL: `url` when given, else from server.listen (a wildcard host becomes 127.0.0.1).
std::string DaemonUrl(const std::string& url, const config::Settings& settings);

/// Exit code: 0 done, 1 the daemon refused or could not be reached (message on stderr), 2 usage.
int RunAdmin(const AdminCommand& command, const config::Settings& settings);

}  // namespace orderbridge::app

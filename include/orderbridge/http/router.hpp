#pragma once
// Routing table: method + path pattern with `{name}` segments (and a trailing `*` for a prefix
// match, used by static assets). Built before the server starts; read-only afterwards, so lookups
// are lock-free and thread-safe.
#include <string>
#include <vector>

#include "orderbridge/http/message.hpp"

namespace orderbridge::http {

class Router {
  public:
    void Add(std::string method, std::string pattern, Handler handler);

    enum class MatchKind { kFound, kNotFound, kMethodNotAllowed };
    struct Match {
        MatchKind kind = MatchKind::kNotFound;
        const Handler* handler = nullptr;
        std::size_t route_index = 0;
        std::string allow;  ///< for 405: methods allowed on this path
    };
    /// Fills request.path_params and request.route on success.
    Match Find(Request& request) const;

    std::size_t Size() const { return routes_.size(); }
    const std::string& Pattern(std::size_t index) const { return routes_[index].pattern; }

  private:
    struct Route {
        std::string method;
        std::string pattern;
        std::vector<std::string> segments;
        bool prefix = false;
        Handler handler;
    };
    static bool MatchSegments(const Route& route, const std::vector<std::string_view>& parts,
                              std::vector<std::pair<std::string, std::string>>* params);
    std::vector<Route> routes_;
};

}  // namespace orderbridge::http

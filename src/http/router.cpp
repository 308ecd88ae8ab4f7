#include "orderbridge/http/router.hpp"

#include <stdexcept>

namespace orderbridge::http {
namespace {
std::vector<std::string_view> Split(std::string_view path) {
    std::vector<std::string_view> parts;
    std::size_t i = 0;
    while (i < path.size()) {
        if (path[i] == '/') {
            ++i;
            continue;
        }
        const std::size_t next = path.find('/', i);
        parts.push_back(path.substr(i, next == std::string_view::npos ? std::string_view::npos : next - i));
        if (next == std::string_view::npos) break;
        i = next;
    }
    return parts;
}
}  // namespace

void Router::Add(std::string method, std::string pattern, Handler handler) {
    if (pattern.empty() || pattern.front() != '/') throw std::invalid_argument("route must start with '/': " + pattern);
    Route r;
    r.method = std::move(method);
    r.pattern = pattern;
    std::string_view p = pattern;
    if (p.ends_with("/*")) {
        r.prefix = true;
        p.remove_suffix(2);
    }
    for (auto part : Split(p))
        r.segments.emplace_back(part);
    r.handler = std::move(handler);
    routes_.push_back(std::move(r));
}

bool Router::MatchSegments(const Route& route, const std::vector<std::string_view>& parts,
                           std::vector<std::pair<std::string, std::string>>* params) {
    if (route.prefix ? parts.size() < route.segments.size() : parts.size() != route.segments.size()) return false;
    for (std::size_t i = 0; i < route.segments.size(); ++i) {
        const std::string& seg = route.segments[i];
        if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
            if (parts[i].empty()) return false;
            if (params) params->emplace_back(seg.substr(1, seg.size() - 2), std::string(parts[i]));
        } else if (seg != parts[i]) {
            return false;
        }
    }
    return true;
}

Router::Match Router::Find(Request& request) const {
    const auto parts = Split(request.path);
    Match match;
    for (std::size_t i = 0; i < routes_.size(); ++i) {
        const Route& r = routes_[i];
        if (!MatchSegments(r, parts, nullptr)) continue;
        if (r.method == request.method || (request.method == "HEAD" && r.method == "GET")) {
            request.path_params.clear();
            MatchSegments(r, parts, &request.path_params);
            request.route = r.pattern;
            request.route_index = i;
            match.kind = MatchKind::kFound;
            match.handler = &r.handler;
            match.route_index = i;
            return match;
        }
        match.kind = MatchKind::kMethodNotAllowed;
        if (match.allow.find(r.method) == std::string::npos) {
            if (!match.allow.empty()) match.allow += ", ";
            match.allow += r.method;
        }
    }
    return match;
}

}  // namespace orderbridge::http

#include "orderbridge/dispatch/router.hpp"

#include <algorithm>

namespace orderbridge::dispatch {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

bool Matches(const config::RoutingFilter& when, const RouteFacts& f) {
    if (!when.store.empty() && !f.store.empty() && !Contains(when.store, f.store)) return false;
    if (!when.canonical_status.empty() && f.canonical_status && !Contains(when.canonical_status, *f.canonical_status))
        return false;
    if (!when.shipping_country.empty() && f.shipping_country && !Contains(when.shipping_country, *f.shipping_country))
        return false;
    if (!when.sku_prefix.empty() && f.skus) {
        const bool any = std::any_of(f.skus->begin(), f.skus->end(), [&](const std::string& sku) {
            return std::any_of(when.sku_prefix.begin(), when.sku_prefix.end(),
                               [&](const std::string& prefix) { return sku.rfind(prefix, 0) == 0; });
        });
        if (!any) return false;
    }
    if (!when.warehouse.empty() && f.warehouses) {
        const bool any = std::any_of(f.warehouses->begin(), f.warehouses->end(),
                                     [&](const std::string& w) { return Contains(when.warehouse, w); });
        if (!any) return false;
    }
    return true;
}

}  // namespace

bool Subscribes(const std::vector<std::string>& subscribe, std::string_view type) {
    return std::any_of(subscribe.begin(), subscribe.end(), [&](const std::string& s) {
        if (s == type || s == "*") return true;
        // "order.*" matches "order.created", "order.updated", ...
        return s.size() > 2 && s.ends_with(".*") &&
               type.substr(0, s.size() - 1) == std::string_view(s).substr(0, s.size() - 1);
    });
}

Router::Router(const std::vector<config::ConnectorSettings>& connectors) {
    for (const auto& c : connectors)
        lanes_.push_back(Lane{c.name, c.subscribe, c.when});
}

std::vector<std::string> Router::Route(std::string_view type, const RouteFacts& facts) const {
    std::vector<std::string> out;
    for (const auto& lane : lanes_) {
        if (Subscribes(lane.subscribe, type) && Matches(lane.when, facts)) out.push_back(lane.name);
    }
    return out;
}

}  // namespace orderbridge::dispatch

#include "orderbridge/config/settings.hpp"

#include <algorithm>
#include <cmath>

namespace orderbridge::config {

std::string_view ToString(ConnectorKind kind) {
    switch (kind) {
        case ConnectorKind::kErpnext:
            return "erpnext";
        case ConnectorKind::kOdoo:
            return "odoo";
        case ConnectorKind::kShipstation:
            return "shipstation";
        case ConnectorKind::kShipbob:
            return "shipbob";
        case ConnectorKind::kHttp:
            return "http";
        case ConnectorKind::kWoocommerce:
            return "woocommerce";
    }
    return "http";
}

std::string WooLaneName(const std::string& store_id) {
    return "woo:" + store_id;
}

void AddImplicitLanes(Settings& settings) {
    for (const auto& st : settings.stores) {
        if (!st.api) continue;
        ConnectorSettings c;
        c.name = WooLaneName(st.id);
        c.kind = ConnectorKind::kWoocommerce;
        c.base_url = st.url;
        c.store = st.id;
        c.auth.api_key = st.api->consumer_key;
        c.auth.api_secret = st.api->consumer_secret;
        c.subscribe = {"shipment.created", "shipment.updated", "inventory.updated"};
        c.when.store = {st.id};
        c.rate_limit.per_second = st.api->rate_per_second;
        c.rate_limit.burst = std::max(1, static_cast<int>(std::ceil(st.api->rate_per_second)));
        c.rate_limit.max_in_flight = st.api->max_in_flight;
        c.retry = st.api->retry;
        c.timeout = st.api->timeout;
        c.oauth_signature_method = st.api->oauth_signature_method;
        settings.connectors.push_back(std::move(c));
    }
}

std::string_view ToString(Role role) {
    return role == Role::kOperator ? "operator" : "viewer";
}

}  // namespace orderbridge::config

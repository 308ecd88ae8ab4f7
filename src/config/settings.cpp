#include "orderbridge/config/settings.hpp"

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

std::string_view ToString(Role role) {
    return role == Role::kOperator ? "operator" : "viewer";
}

}  // namespace orderbridge::config

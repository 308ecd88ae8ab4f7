#pragma once
// Which connectors an event goes to: the connector's `subscribe` list (event types; `order.*`
// matches every order event) and its optional `when` filter. Decided once, when the event is
// committed, so a delivery's lanes never change afterwards.
//
// A `when` condition only applies to events that carry its field: `shipping_country` and
// `sku_prefix` to orders and their refunds, `warehouse` to inventory and shipment events,
// `canonical_status` to orders and products; `store` to every event of a store (inventory levels
// belong to none and reach every store's lane). An event that does not carry
// the field is not held back by that condition. Thread-safety: immutable after construction.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::dispatch {

struct RouteFacts {
    std::string store;  ///< empty: the event belongs to no one store (inventory levels)
    std::optional<std::string> canonical_status;
    std::optional<std::string> shipping_country;  ///< shipping address, else billing address
    std::optional<std::vector<std::string>> skus;
    std::optional<std::vector<std::string>> warehouses;
};

class Router {
  public:
    explicit Router(const std::vector<config::ConnectorSettings>& connectors);
    /// The names of the connectors that deliver an event of `type` with these facts, in config order.
    std::vector<std::string> Route(std::string_view type, const RouteFacts& facts) const;
    bool Empty() const { return lanes_.empty(); }

  private:
    struct Lane {
        std::string name;
        std::vector<std::string> subscribe;
        config::RoutingFilter when;
    };
    std::vector<Lane> lanes_;
};

bool Subscribes(const std::vector<std::string>& subscribe, std::string_view type);

}  // namespace orderbridge::dispatch

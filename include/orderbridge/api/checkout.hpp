#pragma once
// POST /v1/checkout/validate (DESIGN section 3): a cart gets per-line availability in milliseconds,
// answered on the io thread from `StockView`, an in-memory view of the inventory cache.
//
// Where a line's availability comes from, in this order:
//   1. inventory levels from ERPs and 3PLs (POST /v1/inventory, connector webhooks): the sum of
//      `available` over every location;
//   2. the store's own product (WooCommerce product webhooks): `stock_quantity` when it manages
//      stock, else its `stock_status`;
//   3. neither: `unknown_sku`.
// With `checkout.live_check` naming an erpnext connector, the ERP's Bin levels of the cart's SKUs
// are asked for live within `checkout.budget`, behind a circuit breaker; when the budget runs out
// (or the breaker is open) the answer comes from the view, marked `stale: true`.
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "orderbridge/api/auth.hpp"
#include "orderbridge/config/settings.hpp"
#include "orderbridge/http/router.hpp"
#include "orderbridge/store/store.hpp"

namespace prometheus {
class Registry;
}

namespace orderbridge::api {

/// Thread-safe: many readers (io threads), few writers (the inventory intake, webhook completions).
class StockView {
  public:
    struct Availability {
        bool known = false;
        std::optional<std::int64_t> quantity;  ///< nullopt: in stock without a count (not managed)
        std::string source;                    ///< levels | store
    };
    /// Loads the cached levels and the stores' products (at start, off the io threads).
    void Load(store::Session& session);
    /// The summed level of a SKU over its locations.
    void SetLevel(const std::string& sku, std::int64_t available);
    /// A store's product or variation as its webhook told it.
    void SetProduct(const std::string& store, const std::string& sku, bool manages_stock,
                    std::optional<std::int64_t> stock_quantity, const std::string& stock_status);
    Availability Get(const std::string& store, const std::string& sku) const;
    /// Every SKU with levels and its sum (the poller compares them with the shop's stock).
    std::vector<std::pair<std::string, std::int64_t>> Levels() const;

  private:
    struct Product {
        bool manages_stock = false;
        std::optional<std::int64_t> quantity;
        std::string status;
    };
    mutable std::shared_mutex mu_;
    std::map<std::string, std::int64_t, std::less<>> levels_;
    std::map<std::string, Product, std::less<>> products_;  ///< key: store + '\n' + sku
};

namespace checkout {

struct Line {
    std::string sku;
    std::int64_t quantity = 0;
};

struct Cart {
    std::string store;
    std::vector<Line> lines;
    std::string shipping_country;
    std::string customer_email;
};

/// The cart of a request body; every problem is listed.
std::optional<Cart> ParseCart(const nlohmann::json& body, std::vector<std::string>& problems);

/// The verdict: `{"ok", "stale", "lines": [{"sku", "quantity", "available", "available_quantity",
/// "reason"}]}`. `live` (SKU -> available) overrides the view for the SKUs it has.
nlohmann::json Verdict(const Cart& cart, const StockView& view, const std::vector<std::string>& shipping_countries,
                       const std::map<std::string, std::int64_t>* live, bool stale);

}  // namespace checkout

class Checkout;
std::shared_ptr<Checkout> AddCheckoutRoutes(http::Router& router, const config::Settings& settings,
                                            const Authenticator& auth, const StockView& view,
                                            prometheus::Registry& registry);
void StopCheckout(Checkout& checkout);

}  // namespace orderbridge::api

#pragma once
// What flows back from ERPs and 3PLs (DESIGN section 2, "ERP / 3PL events"):
//   POST /webhooks/{connector}  a connector's own events: ShipStation SHIP_NOTIFY (the shipments are
//                               fetched from `resource_url`, only on the connector's own host),
//                               ERPNext Bin documents (stock levels, X-Frappe-Webhook-Signature)
//   POST /v1/inventory          canonical inventory levels from any system (operator token)
// Shipments become canonical Shipment entities (children of their order), levels go into the
// inventory cache and become one `inventory.updated` event per SKU (the sum over its locations),
// levels of one SKU arriving within `inventory.coalesce_window` coalesced into one. Everything is
// committed with its outbox rows through the ingest queue; fetching and store reads run on the
// inbound workers, never on an io thread.
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orderbridge/api/auth.hpp"
#include "orderbridge/config/settings.hpp"
#include "orderbridge/http/router.hpp"
#include "orderbridge/model/canonical.hpp"
#include "orderbridge/store/ingest_queue.hpp"
#include "orderbridge/store/session_pool.hpp"

namespace prometheus {
class Registry;
}
namespace orderbridge::dispatch {
class Router;
}

namespace orderbridge::api {

class StockView;  // checkout.hpp

/// Registers /webhooks/{connector} and /v1/inventory. `pool` runs the blocking work.
class Inbound;
std::shared_ptr<Inbound> AddInboundRoutes(http::Router& router, const config::Settings& settings,
                                          const Authenticator& auth, store::Store& store, store::SessionPool& pool,
                                          store::IngestQueue& queue, const dispatch::Router& lanes,
                                          prometheus::Registry& registry, StockView* view = nullptr);
/// Commits what the inventory intake still holds and stops its thread.
void StopInbound(Inbound& inbound);
/// Hands levels read elsewhere (the stock poller) to the inventory intake; `done` runs once they are
/// committed (true) or could not be (false, why).
void SubmitLevels(Inbound& inbound, std::vector<store::StockLevel> levels,
                  std::function<void(bool, const std::string&)> done);
/// Writes these SKUs' cached sums to the stores again (the poller found the shop's stock drifted).
void ResyncStock(Inbound& inbound, std::vector<std::string> skus);

namespace inbound {

/// A ShipStation V1 shipment (GET /shipments item) as a canonical Shipment; nullopt when its
/// orderKey is not one of ours (`wc:<store>:<n>`). `connector` names the entity id.
std::optional<model::Shipment> FromShipStation(const nlohmann::json& shipment, const std::string& connector);

/// A ShipBob webhook (research/erp_3pl.md 5.4: `{"event_time", "order_id", "reference_id",
/// "shipment_id", "status", "tracking": {...}}`, topic from `x-webhook-topic`) as a canonical
/// Shipment; nullopt when the topic is not a shipment event or the order is not one of ours.
std::optional<model::Shipment> FromShipBob(const nlohmann::json& event, const std::string& topic,
                                           const std::string& connector, const std::string& webhook_id);

/// The Standard Webhooks signature ShipBob uses: `webhook-signature` holds space-separated
/// `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` with the key the base64 after `whsec_`;
/// the timestamp must be within 5 minutes of `now_s`.
bool VerifyStandardWebhook(const std::string& secret, const std::string& id, const std::string& timestamp,
                           const std::string& signatures, std::string_view body, std::int64_t now_s);

/// Whether, with `shipment`, every line of `order` (canonical order data) has shipped: quantities
/// of the non-voided shipments (`earlier`, the same shipment replaced by its newer state) per
/// line id, or per SKU when a shipment line has no id.
bool CompletesOrder(const nlohmann::json& order, const std::vector<model::Shipment>& earlier,
                    const model::Shipment& shipment);

/// An ERPNext Bin document as an inventory level: on_hand = actual_qty, reserved = reserved_qty,
/// available = actual_qty - reserved_qty, as_of = `modified` (read as UTC). Empty `error` on success.
std::optional<store::StockLevel> FromErpNextBin(const nlohmann::json& bin, const std::string& source,
                                                std::string& error);

/// The levels of a POST /v1/inventory body; every problem listed in `problems`.
std::vector<store::StockLevel> ParseLevels(const nlohmann::json& body, std::vector<std::string>& problems);

/// The sum over locations of one SKU's cached levels, as the canonical level of `inventory.updated`
/// (location "" = every location; as_of the newest; reserved null when no location reports it).
model::InventoryLevel Aggregate(const std::string& sku, const std::vector<store::StockLevel>& levels);

}  // namespace inbound
}  // namespace orderbridge::api

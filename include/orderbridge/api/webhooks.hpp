#pragma once
// POST /webhooks/woocommerce/{store}: verify, normalize, hand to the ingest queue, and answer only
// after the commit (DESIGN section 3): ping 200; accepted or held 202; repeat or stale 200;
// signed but unusable 200 (archived as rejected, so WooCommerce does not disable the webhook);
// bad or missing signature 401; unknown store 404; store down 503 with Retry-After.
#include <memory>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/http/router.hpp"
#include "orderbridge/store/ingest_queue.hpp"
#include "orderbridge/woo/normalize.hpp"

namespace prometheus {
class Registry;
}

namespace orderbridge::model {
class SchemaValidator;
}
namespace orderbridge::dispatch {
class Router;
}

namespace orderbridge::api {

class StockView;  // checkout.hpp

/// Normalizes a WooCommerce body (a webhook's, or an order the poller read) and builds the record
/// the ingest queue commits: entities, their events and the lanes each goes to. `n` says whether the
/// body was usable; an unusable one gives a record with `reject_reason` and no entities. The body is
/// not copied into the record.
store::IngestRecord PrepareWooRecord(const config::StoreSettings& store, const std::string& topic,
                                     const std::string& body, const std::string& trace_id,
                                     const dispatch::Router& router, bool relay,
                                     const model::SchemaValidator* validator, woo::Normalized& n);

/// Registers the webhook route. `validator` may be null (model.validate_events off); `lanes`
/// decides which connectors each event is delivered to.
void AddWebhookRoutes(http::Router& router, const config::Settings& settings, store::IngestQueue& queue,
                      prometheus::Registry& registry, const model::SchemaValidator* validator,
                      const dispatch::Router& lanes, StockView* view = nullptr);

}  // namespace orderbridge::api

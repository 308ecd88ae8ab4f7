#pragma once
// WooCommerce REST v3 webhook bodies to canonical events (model v1).
//
// Stateless and deterministic: the same body always gives the same entity, version and event ids,
// so repeats and stale deliveries are recognised later by the store. Business rules of the store
// (config `stores[].rules`) turn into findings; a `hold` finding parks an order.
// Thread-safe: plain functions over their inputs.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/model/canonical.hpp"

namespace orderbridge::woo {

struct Finding {
    std::string rule;     ///< line_without_sku, currency_not_configured, totals_mismatch, ...
    std::string action;   ///< "warn" or "hold"
    std::string message;  ///< for people: what is wrong and where
};

struct NormalizeInput {
    std::string store;
    std::string topic;  ///< X-WC-Webhook-Topic, e.g. "order.updated"
    std::string_view body;
    std::string received_at;  ///< RFC 3339 UTC
    std::string trace_id;     ///< 32 hex
    config::RuleSettings rules;
    std::vector<std::string> currencies;  ///< empty: any
};

struct Normalized {
    bool usable = false;
    std::string error;       ///< why the body is unusable (not JSON, error object, wrong shape, ...)
    std::string error_code;  ///< unsupported_topic, not_json, error_object or bad_shape (bounded, for metrics)

    std::string entity_kind;  ///< order, product, customer
    std::string entity_id;
    std::string version;
    std::string source_id;    ///< WooCommerce id of the resource
    std::string entity_text;  ///< canonical entity as stored (serialised once; also the version's hash input)
    /// Events of the primary entity (`entity_id`) leave `data` null: their data is `entity_text`,
    /// which is spliced into the stored envelope (no tree is built on the webhook path).
    /// `EventJson` gives an event whole. Refund events carry their own data.
    std::vector<model::Event> events;
    std::vector<Finding> findings;
    std::optional<model::Order> order;
    std::optional<model::Product> product;
    std::vector<model::Refund> refunds;

    bool Held() const;
    model::Json EventJson(const model::Event& e) const;  ///< the event with its data filled in
};

Normalized Normalize(const NormalizeInput& input);

/// The X-WC-* headers of a delivery as the JSON object archived with its body: names in byte order,
/// the last of a repeated name kept. Throws nlohmann's type_error for a value that is not UTF-8.
std::string ArchivedHeaders(const std::vector<std::pair<std::string, std::string>>& headers);

/// WordPress-style HTML entity decoding (`&amp;`, `&ndash;`, `&#039;`, `&#x2013;`, ...).
std::string DecodeHtmlEntities(std::string_view text);

}  // namespace orderbridge::woo

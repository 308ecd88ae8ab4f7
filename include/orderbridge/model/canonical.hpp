#pragma once
// Canonical model v1: the contract between every system orderbridge connects.
// JSON Schemas in schemas/canonical/v1/ describe exactly what `ToJson` below produces; a field
// named `x` here is the JSON member `x`. Every member is always present in JSON; optional ones
// are `null` when absent.
//
// Money: int64 minor units of the order's currency (`currency_exponent` from ISO 4217). Amounts
// that WooCommerce gives with more precision than the currency keep their exact decimal string in
// a sibling `*_raw`. Times: UTC, RFC 3339 with `Z`. Plain values; no thread-safety concerns.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderbridge::model {

inline constexpr int kSchemaVersion = 1;

using Json = nlohmann::json;
using Minor = std::int64_t;  ///< money in minor units

/// JSON carried through untouched (WooCommerce meta_data), kept as the text nlohmann's dump()
/// writes for it (compact, members in name order): it is only ever copied into the canonical
/// JSON, so no tree is built for it on the webhook path. Converts to and from `Json`.
struct RawJson {
    std::string text = "[]";
    bool operator==(const RawJson&) const = default;
};

struct ExternalRef {
    std::string id;
    std::string number;     ///< display number (WooCommerce `number`), empty when none
    std::string order_key;  ///< WooCommerce `order_key`, empty when none
};
using ExternalRefs = std::map<std::string, ExternalRef>;  ///< system -> reference

struct Address {
    std::string first_name;
    std::string last_name;
    std::string company;
    std::string line1;
    std::string line2;
    std::string city;
    std::string region_code;  ///< state/province code as the source gives it ("NY", "JP13")
    std::string postal_code;
    std::optional<std::string> country_code;  ///< ISO 3166-1 alpha-2; null when empty
    std::string phone;
    std::string email;  ///< lower-cased; billing only
};

struct Customer {
    std::string id;  ///< wc:<store>:customer:<n> or wc:<store>:guest:<hash>
    std::string idempotency_key;
    std::string email;  ///< lower-cased match key; may be empty
    std::string first_name;
    std::string last_name;
    std::string company;
    std::string phone;
    bool is_guest = false;
    ExternalRefs external_refs;
};

struct TaxAmount {
    std::int64_t rate_id = 0;
    Minor amount = 0;  ///< after discounts
    std::string amount_raw;
    Minor subtotal_amount = 0;  ///< before discounts
    std::string subtotal_amount_raw;
};

struct OrderLine {
    std::string line_id;
    std::optional<std::string> sku;  ///< null when the product no longer exists; "" when none set
    std::string product_ref;
    std::optional<std::string> variation_ref;
    std::string name;  ///< HTML entities decoded
    std::optional<std::string> parent_name;
    std::int64_t quantity = 0;
    Minor unit_price_excl = 0;  ///< line_total / quantity, rounded half up
    Minor unit_price_incl = 0;  ///< (line_total + line_tax) / quantity, rounded half up
    std::string price_raw;      ///< WooCommerce `price` number as written
    Minor line_subtotal = 0;    ///< before discounts, tax exclusive
    Minor line_subtotal_tax = 0;
    Minor line_discount = 0;  ///< line_subtotal - line_total
    Minor line_total = 0;     ///< after discounts, tax exclusive
    Minor line_tax = 0;
    std::vector<TaxAmount> taxes;
    std::string gtin;
    RawJson meta;  ///< WooCommerce meta_data, untouched
};

struct TaxLine {
    std::int64_t rate_id = 0;
    std::string code;
    std::string label;
    bool compound = false;
    std::string rate_percent;  ///< decimal string, e.g. "8.875"
    Minor amount = 0;          ///< items and fees
    Minor shipping_amount = 0;
};

struct ShippingLine {
    std::string line_id;
    std::string method_id;
    std::string instance_id;
    std::string title;
    Minor amount = 0;
    Minor tax_amount = 0;
    std::vector<TaxAmount> taxes;
    RawJson meta;
};

struct FeeLine {
    std::string line_id;
    std::string name;
    std::string tax_status;
    Minor amount = 0;        ///< WooCommerce `total`
    std::string amount_raw;  ///< WooCommerce `amount` (raw, may carry more decimals)
    Minor tax_amount = 0;
    std::vector<TaxAmount> taxes;
};

struct Discount {
    std::string code;
    Minor amount = 0;
    std::string amount_raw;
    Minor tax_amount = 0;
    std::string tax_amount_raw;
    std::string discount_type;
    bool free_shipping = false;
};

struct RefundSummary {
    std::string refund_ref;  ///< entity id of the refund
    std::string source_refund_id;
    Minor amount = 0;  ///< positive
    std::string amount_raw;
    std::string reason;
};

struct Totals {
    Minor subtotal = 0;        ///< sum of line_subtotal
    Minor discount_total = 0;  ///< WooCommerce discount_total (tax exclusive)
    Minor discount_tax = 0;
    Minor shipping_total = 0;
    Minor shipping_tax = 0;
    Minor fee_total = 0;
    Minor tax_total = 0;  ///< WooCommerce total_tax
    Minor grand_total = 0;
    /// grand_total - (subtotal - discount_total + shipping_total + fee_total + tax_total)
    Minor rounding_adjustment = 0;
};

struct PaymentMethod {
    std::string code;
    std::string title;
    std::string transaction_id;
};

struct Order {
    std::string id;  ///< wc:<store>:<woocommerce order id>
    std::string idempotency_key;
    std::string store;
    std::string source_status;
    std::string canonical_status;
    std::string currency;
    int currency_exponent = 2;
    bool prices_include_tax = false;
    std::string created_at;
    std::string modified_at;
    std::optional<std::string> paid_at;
    std::optional<std::string> completed_at;
    Customer customer;
    Address billing_address;
    std::optional<Address> shipping_address;  ///< null when WooCommerce's is empty
    std::string customer_note;
    PaymentMethod payment_method;
    std::string created_via;
    std::vector<OrderLine> lines;
    std::vector<ShippingLine> shipping_lines;
    std::vector<FeeLine> fee_lines;
    std::vector<Discount> discounts;
    std::vector<TaxLine> tax_lines;
    std::vector<RefundSummary> refunds;
    Totals totals;
    ExternalRefs external_refs;
    RawJson meta;
};

struct Refund {
    std::string id;  ///< wc:<store>:refund:<n>
    std::string idempotency_key;
    std::string order_ref;
    std::string source_refund_id;
    Minor amount = 0;  ///< positive
    std::string amount_raw;
    std::string currency;
    int currency_exponent = 2;
    std::string reason;
    bool full = false;  ///< the refunds so far cover the whole order total
};

struct Product {
    std::string id;  ///< wc:<store>:product:<n>
    std::string idempotency_key;
    std::string product_ref;
    std::optional<std::string> parent_ref;
    std::string type;  ///< simple|variable|variation|grouped|external
    std::string name;
    std::string sku;
    std::string status;                    ///< publish, draft, ... or "deleted"
    std::optional<std::string> price_raw;  ///< store currency, decimal string; null when unset
    std::optional<std::string> regular_price_raw;
    std::optional<std::string> sale_price_raw;
    Json manage_stock = false;  ///< true, false or "parent"
    std::optional<std::int64_t> stock_quantity;
    std::string stock_status;
    std::string backorders;
    std::vector<std::string> variation_refs;
    std::string modified_at;
    RawJson meta;
};

struct InventoryLevel {
    std::string sku;
    std::string location;
    std::int64_t on_hand = 0;
    std::int64_t available = 0;
    std::optional<std::int64_t> reserved;
    std::string as_of;
    std::string source;
};

struct ShipmentLine {
    std::string line_id;
    std::string sku;
    std::int64_t quantity = 0;
};

struct Shipment {
    std::string id;
    std::string order_ref;
    std::string status;  ///< label_created|shipped|in_transit|delivered|exception|on_hold|cancelled|voided
    std::string carrier_code;
    std::string service_code;
    std::string tracking_number;
    std::string tracking_url;
    std::optional<std::string> ship_date;
    std::optional<std::string> delivered_at;
    std::vector<ShipmentLine> lines;
    std::string warehouse_id;
    bool is_return_label = false;
    std::string event_time;
    std::string source_event_id;
    ExternalRefs external_refs;
    /// With this shipment every line of the order has shipped (voided labels left out); null: unknown.
    std::optional<bool> completes_order;
};

struct DeletedEntity {
    std::string id;
    std::string source_id;
};

struct EventSource {
    std::string system;  ///< woocommerce, erpnext, odoo, shipstation, shipbob, http, orderbridge
    std::optional<std::string> store;
};

/// The envelope every event travels in.
struct Event {
    std::string id;  ///< deterministic: the same entity version and type always has the same id
    std::string type;
    int schema_version = kSchemaVersion;
    EventSource source;
    std::string occurred_at;
    std::string received_at;
    std::string trace_id;  ///< 32 lowercase hex (W3C trace id)
    std::string idempotency_key;
    std::string entity_id;
    std::string version;
    Json data;
};

void to_json(Json& j, const RawJson& v);
void to_json(Json& j, const ExternalRef& v);
void to_json(Json& j, const Address& v);
void to_json(Json& j, const Customer& v);
void to_json(Json& j, const TaxAmount& v);
void to_json(Json& j, const OrderLine& v);
void to_json(Json& j, const TaxLine& v);
void to_json(Json& j, const ShippingLine& v);
void to_json(Json& j, const FeeLine& v);
void to_json(Json& j, const Discount& v);
void to_json(Json& j, const RefundSummary& v);
void to_json(Json& j, const Totals& v);
void to_json(Json& j, const PaymentMethod& v);
void to_json(Json& j, const Order& v);
void to_json(Json& j, const Refund& v);
void to_json(Json& j, const Product& v);
void to_json(Json& j, const InventoryLevel& v);
void to_json(Json& j, const ShipmentLine& v);
void to_json(Json& j, const Shipment& v);
void to_json(Json& j, const DeletedEntity& v);
void to_json(Json& j, const EventSource& v);
void to_json(Json& j, const Event& v);

void from_json(const Json& j, RawJson& v);
void from_json(const Json& j, ExternalRef& v);
void from_json(const Json& j, Address& v);
void from_json(const Json& j, Customer& v);
void from_json(const Json& j, TaxAmount& v);
void from_json(const Json& j, OrderLine& v);
void from_json(const Json& j, TaxLine& v);
void from_json(const Json& j, ShippingLine& v);
void from_json(const Json& j, FeeLine& v);
void from_json(const Json& j, Discount& v);
void from_json(const Json& j, RefundSummary& v);
void from_json(const Json& j, Totals& v);
void from_json(const Json& j, PaymentMethod& v);
void from_json(const Json& j, Order& v);
void from_json(const Json& j, Refund& v);
void from_json(const Json& j, Product& v);
void from_json(const Json& j, InventoryLevel& v);
void from_json(const Json& j, ShipmentLine& v);
void from_json(const Json& j, Shipment& v);
void from_json(const Json& j, DeletedEntity& v);
void from_json(const Json& j, EventSource& v);
void from_json(const Json& j, Event& v);

/// Compact JSON text of a canonical value, byte for byte what `Json(v).dump()` gives (members in
/// name order, nlohmann's escaping and UTF-8 check), written without building the tree.
std::string ToJsonText(const Customer& v);
std::string ToJsonText(const Order& v);
std::string ToJsonText(const Refund& v);
std::string ToJsonText(const Product& v);
std::string ToJsonText(const InventoryLevel& v);
std::string ToJsonText(const Shipment& v);
std::string ToJsonText(const DeletedEntity& v);
std::string ToJsonText(const Event& v);
/// Appends `s` as a JSON string, escaped as nlohmann's dump() does it (throws its type_error on
/// invalid UTF-8).
void AppendJsonString(std::string& out, std::string_view s);
/// `ToJsonText(e)` with the JSON text `data_text` as its data (`e.data` is not read); `data_at`,
/// when given, receives the byte offset of `data_text` in the result.
std::string EnvelopeText(const Event& e, std::string_view data_text, std::size_t* data_at = nullptr);

/// WooCommerce status -> canonical status (research/erp_3pl.md 7.3); unknown ones become
/// `custom:<slug>`.
std::string CanonicalStatus(std::string_view woo_status);

}  // namespace orderbridge::model

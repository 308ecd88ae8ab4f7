#include "orderbridge/model/canonical.hpp"

#include <cctype>

namespace nlohmann {
template <class T>
struct adl_serializer<std::optional<T>> {
    static void to_json(json& j, const std::optional<T>& v) {
        if (v) {
            j = *v;
        } else {
            j = nullptr;
        }
    }
    static void from_json(const json& j, std::optional<T>& v) {
        if (j.is_null()) {
            v.reset();
        } else {
            v = j.get<T>();
        }
    }
};
}  // namespace nlohmann

// Non-inline to_json/from_json pairs (declared in the header), member name == JSON name.
#define OB_JSON(Type, ...)                                                         \
    void to_json(Json& nlohmann_json_j, const Type& nlohmann_json_t) {             \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))   \
    }                                                                              \
    void from_json(const Json& nlohmann_json_j, Type& nlohmann_json_t) {           \
        NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM, __VA_ARGS__)) \
    }

namespace orderbridge::model {

OB_JSON(ExternalRef, id, number, order_key)
OB_JSON(Address, first_name, last_name, company, line1, line2, city, region_code, postal_code, country_code, phone,
        email)
OB_JSON(Customer, id, idempotency_key, email, first_name, last_name, company, phone, is_guest, external_refs)
OB_JSON(TaxAmount, rate_id, amount, amount_raw, subtotal_amount, subtotal_amount_raw)
OB_JSON(OrderLine, line_id, sku, product_ref, variation_ref, name, parent_name, quantity, unit_price_excl,
        unit_price_incl, price_raw, line_subtotal, line_subtotal_tax, line_discount, line_total, line_tax, taxes, gtin,
        meta)
OB_JSON(TaxLine, rate_id, code, label, compound, rate_percent, amount, shipping_amount)
OB_JSON(ShippingLine, line_id, method_id, instance_id, title, amount, tax_amount, taxes, meta)
OB_JSON(FeeLine, line_id, name, tax_status, amount, amount_raw, tax_amount, taxes)
OB_JSON(Discount, code, amount, amount_raw, tax_amount, tax_amount_raw, discount_type, free_shipping)
OB_JSON(RefundSummary, refund_ref, source_refund_id, amount, amount_raw, reason)
OB_JSON(Totals, subtotal, discount_total, discount_tax, shipping_total, shipping_tax, fee_total, tax_total, grand_total,
        rounding_adjustment)
OB_JSON(PaymentMethod, code, title, transaction_id)
OB_JSON(Order, id, idempotency_key, store, source_status, canonical_status, currency, currency_exponent,
        prices_include_tax, created_at, modified_at, paid_at, completed_at, customer, billing_address, shipping_address,
        customer_note, payment_method, created_via, lines, shipping_lines, fee_lines, discounts, tax_lines, refunds,
        totals, external_refs, meta)
OB_JSON(Refund, id, idempotency_key, order_ref, source_refund_id, amount, amount_raw, currency, currency_exponent,
        reason, full)
OB_JSON(Product, id, idempotency_key, product_ref, parent_ref, type, name, sku, status, price_raw, regular_price_raw,
        sale_price_raw, manage_stock, stock_quantity, stock_status, backorders, variation_refs, modified_at, meta)
OB_JSON(InventoryLevel, sku, location, on_hand, available, reserved, as_of, source)
OB_JSON(ShipmentLine, line_id, sku, quantity)
OB_JSON(Shipment, id, order_ref, status, carrier_code, service_code, tracking_number, tracking_url, ship_date,
        delivered_at, lines, warehouse_id, is_return_label, event_time, source_event_id, external_refs, completes_order)
OB_JSON(DeletedEntity, id, source_id)
OB_JSON(EventSource, system, store)
OB_JSON(Event, id, type, schema_version, source, occurred_at, received_at, trace_id, idempotency_key, entity_id,
        version, data)

std::string CanonicalStatus(std::string_view s) {
    if (s == "pending" || s == "checkout-draft") return "awaiting_payment";
    if (s == "on-hold") return "on_hold";
    if (s == "processing") return "ready_to_fulfil";
    if (s == "completed") return "completed";
    if (s == "cancelled") return "cancelled";
    if (s == "refunded") return "refunded";
    if (s == "failed") return "payment_failed";
    std::string slug;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u)) {
            slug.push_back(static_cast<char>(std::tolower(u)));
        } else if (c == '-' || c == '_') {
            slug.push_back(c);
        } else {
            slug.push_back('-');
        }
    }
    if (slug.rfind("wc-", 0) == 0) slug.erase(0, 3);
    if (slug.empty()) slug = "unknown";
    return "custom:" + slug;
}

}  // namespace orderbridge::model

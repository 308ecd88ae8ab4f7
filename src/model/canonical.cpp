#include "orderbridge/model/canonical.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

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

void AppendJsonString(std::string& o, std::string_view v) {
    for (const char c : v) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') {
            o += Json(std::string(v)).dump();
            return;
        }
    }
    o += '"';
    o += v;
    o += '"';
}

void to_json(Json& j, const RawJson& v) {
    j = Json::parse(v.text);
}
void from_json(const Json& j, RawJson& v) {
    v.text = j.dump();
}

namespace {

// ---- compact JSON text without a tree: the same bytes as Json(v).dump() -------------------------------
// nlohmann keeps object members in a std::map, so dump() writes them in name order; the writer
// below sorts each struct's member list once and keeps that order. Strings that are plain printable
// ASCII are copied as they are; anything else goes through nlohmann itself (escaping, UTF-8 check).

void Put(std::string& o, const std::string& v) {
    AppendJsonString(o, v);
}
void Put(std::string& o, const RawJson& v) {
    o += v.text;
}
void Put(std::string& o, bool v) {
    o += v ? "true" : "false";
}
void Put(std::string& o, std::int64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    o.append(buf, r.ptr);
}
void Put(std::string& o, int v) {
    Put(o, static_cast<std::int64_t>(v));
}
void Put(std::string& o, const Json& v) {
    if (v.is_array() && v.empty()) {
        o += "[]";
    } else {
        o += v.dump();
    }
}
#define OB_DECLARE_PUT(Type) void Put(std::string& o, const Type& v);
OB_DECLARE_PUT(ExternalRef)
OB_DECLARE_PUT(Address)
OB_DECLARE_PUT(Customer)
OB_DECLARE_PUT(TaxAmount)
OB_DECLARE_PUT(OrderLine)
OB_DECLARE_PUT(TaxLine)
OB_DECLARE_PUT(ShippingLine)
OB_DECLARE_PUT(FeeLine)
OB_DECLARE_PUT(Discount)
OB_DECLARE_PUT(RefundSummary)
OB_DECLARE_PUT(Totals)
OB_DECLARE_PUT(PaymentMethod)
OB_DECLARE_PUT(Order)
OB_DECLARE_PUT(Refund)
OB_DECLARE_PUT(Product)
OB_DECLARE_PUT(InventoryLevel)
OB_DECLARE_PUT(ShipmentLine)
OB_DECLARE_PUT(Shipment)
OB_DECLARE_PUT(DeletedEntity)
OB_DECLARE_PUT(EventSource)
OB_DECLARE_PUT(Event)
#undef OB_DECLARE_PUT

template <class T>
void Put(std::string& o, const std::optional<T>& v) {
    if (v) {
        Put(o, *v);
    } else {
        o += "null";
    }
}
template <class T>
void Put(std::string& o, const std::vector<T>& v) {
    o += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i) o += ',';
        Put(o, v[i]);
    }
    o += ']';
}
template <class T>
void Put(std::string& o, const std::map<std::string, T>& v) {  // std::map: already in key order
    o += '{';
    bool first = true;
    for (const auto& [k, x] : v) {
        if (!first) o += ',';
        first = false;
        Put(o, k);
        o += ':';
        Put(o, x);
    }
    o += '}';
}

template <class T>
struct Field {
    std::string_view name;
    void (*put)(std::string&, const T&);
};
template <class T, std::size_t N>
std::array<Field<T>, N> ByName(std::array<Field<T>, N> fields) {
    std::sort(fields.begin(), fields.end(), [](const Field<T>& a, const Field<T>& b) { return a.name < b.name; });
    return fields;
}
/// `{"a":...,"b":...}`; the member called `raw_name`, if any, is written as the JSON text `raw`.
template <class T, std::size_t N>
void PutObject(std::string& o, const T& v, const std::array<Field<T>, N>& fields, std::string_view raw_name = {},
               std::string_view raw = {}, std::size_t* raw_at = nullptr) {
    o += '{';
    for (std::size_t i = 0; i < N; ++i) {
        if (i) o += ',';
        o += '"';
        o += fields[i].name;
        o += "\":";
        if (fields[i].name == raw_name) {
            if (raw_at) *raw_at = o.size();
            o += raw;
        } else {
            fields[i].put(o, v);
        }
    }
    o += '}';
}

#define OB_FIELD(m) Field<Self>{#m, [](std::string& o, const Self& t) { Put(o, t.m); }},
#define OB_FIELDS(Type, ...)                                                                                        \
    const auto& FieldsOf(const Type*) {                                                                             \
        using Self = Type;                                                                                          \
        static const auto fields =                                                                                  \
            ByName(std::to_array<Field<Self>>({NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(OB_FIELD, __VA_ARGS__))})); \
        return fields;                                                                                              \
    }                                                                                                               \
    void Put(std::string& o, const Type& v) {                                                                       \
        PutObject(o, v, FieldsOf(static_cast<const Type*>(nullptr)));                                               \
    }

}  // namespace

// Every canonical type: its to_json/from_json pair and its tree-free writer, from one member list.
#define OB_TYPE(Type, ...)       \
    OB_JSON(Type, __VA_ARGS__)   \
    namespace {                  \
    OB_FIELDS(Type, __VA_ARGS__) \
    }

OB_TYPE(ExternalRef, id, number, order_key)
OB_TYPE(Address, first_name, last_name, company, line1, line2, city, region_code, postal_code, country_code, phone,
        email)
OB_TYPE(Customer, id, idempotency_key, email, first_name, last_name, company, phone, is_guest, external_refs)
OB_TYPE(TaxAmount, rate_id, amount, amount_raw, subtotal_amount, subtotal_amount_raw)
OB_TYPE(OrderLine, line_id, sku, product_ref, variation_ref, name, parent_name, quantity, unit_price_excl,
        unit_price_incl, price_raw, line_subtotal, line_subtotal_tax, line_discount, line_total, line_tax, taxes, gtin,
        meta)
OB_TYPE(TaxLine, rate_id, code, label, compound, rate_percent, amount, shipping_amount)
OB_TYPE(ShippingLine, line_id, method_id, instance_id, title, amount, tax_amount, taxes, meta)
OB_TYPE(FeeLine, line_id, name, tax_status, amount, amount_raw, tax_amount, taxes)
OB_TYPE(Discount, code, amount, amount_raw, tax_amount, tax_amount_raw, discount_type, free_shipping)
OB_TYPE(RefundSummary, refund_ref, source_refund_id, amount, amount_raw, reason)
OB_TYPE(Totals, subtotal, discount_total, discount_tax, shipping_total, shipping_tax, fee_total, tax_total, grand_total,
        rounding_adjustment)
OB_TYPE(PaymentMethod, code, title, transaction_id)
OB_TYPE(Order, id, idempotency_key, store, source_status, canonical_status, currency, currency_exponent,
        prices_include_tax, created_at, modified_at, paid_at, completed_at, customer, billing_address, shipping_address,
        customer_note, payment_method, created_via, lines, shipping_lines, fee_lines, discounts, tax_lines, refunds,
        totals, external_refs, meta)
OB_TYPE(Refund, id, idempotency_key, order_ref, source_refund_id, amount, amount_raw, currency, currency_exponent,
        reason, full)
OB_TYPE(Product, id, idempotency_key, product_ref, parent_ref, type, name, sku, status, price_raw, regular_price_raw,
        sale_price_raw, manage_stock, stock_quantity, stock_status, backorders, variation_refs, modified_at, meta)
OB_TYPE(InventoryLevel, sku, location, on_hand, available, reserved, as_of, source)
OB_TYPE(ShipmentLine, line_id, sku, quantity)
OB_TYPE(Shipment, id, order_ref, status, carrier_code, service_code, tracking_number, tracking_url, ship_date,
        delivered_at, lines, warehouse_id, is_return_label, event_time, source_event_id, external_refs, completes_order)
OB_TYPE(DeletedEntity, id, source_id)
OB_TYPE(EventSource, system, store)
OB_TYPE(Event, id, type, schema_version, source, occurred_at, received_at, trace_id, idempotency_key, entity_id,
        version, data)

#define OB_TEXT(Type)                       \
    std::string ToJsonText(const Type& v) { \
        std::string out;                    \
        out.reserve(1024);                  \
        Put(out, v);                        \
        return out;                         \
    }
OB_TEXT(Customer)
OB_TEXT(Order)
OB_TEXT(Refund)
OB_TEXT(Product)
OB_TEXT(InventoryLevel)
OB_TEXT(Shipment)
OB_TEXT(DeletedEntity)
OB_TEXT(Event)
#undef OB_TEXT

std::string EnvelopeText(const Event& e, std::string_view data_text, std::size_t* data_at) {
    std::string out;
    out.reserve(data_text.size() + 512);
    PutObject(out, e, FieldsOf(static_cast<const Event*>(nullptr)), "data", data_text, data_at);
    return out;
}

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

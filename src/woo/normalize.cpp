#include "orderbridge/woo/normalize.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>

#include "orderbridge/model/identity.hpp"
#include "orderbridge/model/money.hpp"

namespace orderbridge::woo {
namespace {

using model::Json;
using model::Minor;

// A body whose shape is not what WooCommerce sends: the whole delivery is unusable.
struct ShapeError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Read-only view of a parsed WooCommerce body (simdjson DOM: parsing a 5 KB order takes a few
// microseconds instead of the tens a general-purpose DOM needs). An absent member is "null".
class In {
  public:
    In() = default;
    explicit In(simdjson::dom::element e) : e_(e), valid_(true) {}

    In operator[](const char* key) const {
        if (!is_object()) return {};
        simdjson::dom::object object;
        simdjson::dom::element child;
        if (e_.get_object().get(object) != simdjson::SUCCESS || object[key].get(child) != simdjson::SUCCESS) return {};
        return In(child);
    }
    bool is_null() const { return !valid_ || e_.is_null(); }
    bool is_object() const { return valid_ && e_.is_object(); }
    bool is_array() const { return valid_ && e_.is_array(); }
    bool is_string() const { return valid_ && e_.is_string(); }
    bool is_boolean() const { return valid_ && e_.is_bool(); }
    bool is_number_integer() const { return valid_ && (e_.is_int64() || e_.is_uint64()); }
    bool is_number_float() const { return valid_ && e_.is_double() && !e_.is_int64() && !e_.is_uint64(); }
    std::string String() const { return std::string(std::string_view(e_.get_string().value_unsafe())); }
    std::int64_t Int() const {
        if (e_.is_int64()) return e_.get_int64().value_unsafe();
        const std::uint64_t u = e_.get_uint64().value_unsafe();
        if (u > static_cast<std::uint64_t>(INT64_MAX)) throw std::out_of_range("integer out of range");
        return static_cast<std::int64_t>(u);
    }
    double Double() const { return e_.get_double().value_unsafe(); }
    bool Bool() const { return e_.get_bool().value_unsafe(); }
    std::vector<In> Items() const {
        std::vector<In> out;
        if (!is_array()) return out;
        simdjson::dom::array array;
        if (e_.get_array().get(array) != simdjson::SUCCESS) return out;
        for (simdjson::dom::element child : array)
            out.emplace_back(child);
        return out;
    }
    bool Has(const char* key) const { return is_object() && !(*this)[key].Missing(); }
    bool Missing() const { return !valid_; }
    simdjson::dom::element Element() const { return e_; }

  private:
    simdjson::dom::element e_;
    bool valid_ = false;
};

In Member(const In& obj, const char* key) {
    return obj[key];
}

std::string Str(const In& obj, const char* key) {
    const In v = Member(obj, key);
    if (v.is_string()) return v.String();
    if (v.is_number_integer()) return std::to_string(v.Int());
    return {};
}

std::string Decoded(const In& obj, const char* key) {
    return DecodeHtmlEntities(Str(obj, key));
}

std::int64_t Int(const In& obj, const char* key, const std::string& where) {
    const In v = Member(obj, key);
    if (v.is_number_integer()) return v.Int();
    if (v.is_string()) {
        const std::string s = v.String();
        if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            return std::stoll(s);
        }
    }
    if (v.is_null()) return 0;
    throw ShapeError(where + "." + key + " is not an integer");
}

bool Bool(const In& obj, const char* key) {
    const In v = Member(obj, key);
    return v.is_boolean() && v.Bool();
}

// Text of a JSON number as PHP's json_encode wrote it (shortest round trip).
std::string NumberText(const In& v) {
    if (v.is_number_integer()) return std::to_string(v.Int());
    if (v.is_number_float()) return model::ShortestDouble(v.Double());
    if (v.is_string()) return v.String();
    return "0";
}

std::vector<In> Array(const In& obj, const char* key, const std::string& where) {
    const In v = Member(obj, key);
    if (v.is_null()) return {};
    if (!v.is_array()) throw ShapeError(where + "." + key + " is not a list");
    return v.Items();
}

// A parsed value as the text nlohmann's dump() gives for it once converted member by member with
// emplace (as meta_data always was): compact, object members in name order, the first of repeated
// names kept, the same escapes and number forms. Stored versions hash this text, so it must not drift.
void AppendDumpText(std::string& o, simdjson::dom::element e) {
    switch (e.type()) {
        case simdjson::dom::element_type::ARRAY: {
            o += '[';
            bool first = true;
            for (simdjson::dom::element child : simdjson::dom::array(e)) {
                if (!first) o += ',';
                first = false;
                AppendDumpText(o, child);
            }
            o += ']';
            return;
        }
        case simdjson::dom::element_type::OBJECT: {
            const simdjson::dom::object object(e);
            bool first = true;
            const auto member = [&](std::string_view name, simdjson::dom::element value) {
                if (!first) o += ',';
                first = false;
                model::AppendJsonString(o, name);
                o += ':';
                AppendDumpText(o, value);
            };
            // Members already in strictly ascending name order, as WooCommerce's {"id","key","value"}
            // entries are, are written as they come, without a sorted copy.
            bool ordered = true;
            std::optional<std::string_view> previous;
            for (auto field : object) {
                if (previous && !(*previous < field.key)) {
                    ordered = false;
                    break;
                }
                previous = field.key;
            }
            o += '{';
            if (ordered) {
                for (auto field : object)
                    member(field.key, field.value);
            } else {
                std::vector<std::pair<std::string_view, simdjson::dom::element>> fields;
                for (auto field : object)
                    fields.emplace_back(field.key, field.value);
                std::stable_sort(fields.begin(), fields.end(),
                                 [](const auto& a, const auto& b) { return a.first < b.first; });
                for (std::size_t i = 0; i < fields.size(); ++i) {
                    if (i > 0 && fields[i - 1].first == fields[i].first) continue;  // stable: the first stays first
                    member(fields[i].first, fields[i].second);
                }
            }
            o += '}';
            return;
        }
        case simdjson::dom::element_type::INT64:
            o += std::to_string(std::int64_t(e));
            return;
        case simdjson::dom::element_type::UINT64:
            o += std::to_string(std::uint64_t(e));
            return;
        case simdjson::dom::element_type::DOUBLE:
            o += Json(double(e)).dump();  // nlohmann's shortest form ("1.0", "1e+20")
            return;
        case simdjson::dom::element_type::STRING:
            model::AppendJsonString(o, std::string_view(e));
            return;
        case simdjson::dom::element_type::BOOL:
            o += bool(e) ? "true" : "false";
            return;
        case simdjson::dom::element_type::NULL_VALUE:
            o += "null";
            return;
    }
}

// WooCommerce meta_data, carried through untouched.
model::RawJson Meta(const In& obj) {
    const In v = Member(obj, "meta_data");
    model::RawJson out;
    if (v.is_array()) {
        out.text.clear();
        AppendDumpText(out.text, v.Element());
    }
    return out;
}

class MoneyReader {
  public:
    explicit MoneyReader(int exponent) : exponent_(exponent) {}
    // A WooCommerce money string ("29.35", "0.576875", "" = 0) in minor units.
    Minor operator()(const In& obj, const char* key, const std::string& where) const {
        const In v = Member(obj, key);
        if (v.is_null()) return 0;
        const std::string text = v.is_string() ? v.String() : NumberText(v);
        if (text.empty()) return 0;
        auto minor = model::ParseMinor(text, exponent_);
        if (!minor) throw ShapeError(where + "." + key + " is not a decimal amount: '" + text + "'");
        return *minor;
    }
    std::string Raw(const In& obj, const char* key) const {
        const In v = Member(obj, key);
        std::string text = v.is_string() ? v.String() : (v.is_null() ? "" : NumberText(v));
        return text.empty() ? "0" : text;
    }

  private:
    int exponent_;
};

std::string Lower(std::string s) {
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string Trim(std::string s) {
    const auto b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return {};
    const auto e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

std::optional<std::string> GmtTime(const In& obj, const char* key, const std::string& where, bool required) {
    const In v = Member(obj, key);
    if (v.is_null() || (v.is_string() && v.String().empty())) {
        if (required) throw ShapeError(where + "." + key + " is missing");
        return std::nullopt;
    }
    if (!v.is_string()) throw ShapeError(where + "." + key + " is not a date");
    auto ms = model::ParseWooGmt(v.String());
    if (!ms) throw ShapeError(where + "." + key + " is not a date: '" + v.String() + "'");
    return model::FormatUtc(*ms);
}

std::int64_t GmtMillis(const In& obj, const char* key) {
    const In v = Member(obj, key);
    if (!v.is_string()) return 0;
    return model::ParseWooGmt(v.String()).value_or(0);
}

model::Address ReadAddress(const In& a, bool with_email) {
    model::Address addr;
    addr.first_name = DecodeHtmlEntities(Str(a, "first_name"));
    addr.last_name = DecodeHtmlEntities(Str(a, "last_name"));
    addr.company = DecodeHtmlEntities(Str(a, "company"));
    addr.line1 = DecodeHtmlEntities(Str(a, "address_1"));
    addr.line2 = DecodeHtmlEntities(Str(a, "address_2"));
    addr.city = DecodeHtmlEntities(Str(a, "city"));
    addr.region_code = Str(a, "state");
    addr.postal_code = Str(a, "postcode");
    const std::string country = Trim(Str(a, "country"));
    if (!country.empty()) addr.country_code = country;
    addr.phone = Str(a, "phone");
    if (with_email) addr.email = Lower(Trim(Str(a, "email")));
    return addr;
}

bool IsEmpty(const model::Address& a) {
    return a.line1.empty() && a.city.empty() && !a.country_code && a.first_name.empty() && a.last_name.empty() &&
           a.postal_code.empty();
}

std::vector<model::TaxAmount> ReadTaxes(const In& item, const MoneyReader& money, const std::string& where) {
    std::vector<model::TaxAmount> out;
    for (const In& t : Array(item, "taxes", where)) {
        model::TaxAmount ta;
        ta.rate_id = Int(t, "id", where + ".taxes[]");
        ta.amount = money(t, "total", where + ".taxes[]");
        ta.amount_raw = money.Raw(t, "total");
        ta.subtotal_amount = money(t, "subtotal", where + ".taxes[]");
        ta.subtotal_amount_raw = money.Raw(t, "subtotal");
        out.push_back(std::move(ta));
    }
    return out;
}

class FindingSink {
  public:
    explicit FindingSink(std::vector<Finding>& out) : out_(out) {}
    void Add(config::RuleAction action, std::string rule, std::string message) {
        if (action == config::RuleAction::kOff) return;
        out_.push_back(
            Finding{std::move(rule), action == config::RuleAction::kHold ? "hold" : "warn", std::move(message)});
    }

  private:
    std::vector<Finding>& out_;
};

std::string IdKey(const std::string& store, const std::string& tag, const std::string& id) {
    return "wc:" + store + ":" + tag + id;
}

model::Event MakeEvent(const NormalizeInput& in, std::string type, const std::string& entity_id, const std::string& key,
                       const std::string& version, const std::string& occurred_at, Json data) {
    model::Event e;
    e.type = std::move(type);
    e.id = model::EventId(entity_id, e.type, version);
    e.source = model::EventSource{"woocommerce", in.store};
    e.occurred_at = occurred_at;
    e.received_at = in.received_at;
    e.trace_id = in.trace_id;
    e.idempotency_key = key;
    e.entity_id = entity_id;
    e.version = version;
    e.data = std::move(data);
    return e;
}

void NormalizeOrder(const NormalizeInput& in, const In& j, const std::string& event, Normalized& out) {
    const std::string where = "order";
    const std::string source_id = std::to_string(Int(j, "id", where));
    model::Order o;
    o.id = "wc:" + in.store + ":" + source_id;
    o.idempotency_key = o.id;
    o.store = in.store;
    o.source_status = Str(j, "status");
    o.canonical_status = model::CanonicalStatus(o.source_status);
    o.currency = Str(j, "currency");
    FindingSink findings(out.findings);
    if (auto exp = model::CurrencyExponent(o.currency)) {
        o.currency_exponent = *exp;
    } else {
        o.currency_exponent = 2;
        findings.Add(config::RuleAction::kHold, "unknown_currency",
                     "currency '" + o.currency + "' is not an ISO 4217 code; amounts were read with 2 decimals");
    }
    const MoneyReader money(o.currency_exponent);
    o.prices_include_tax = Bool(j, "prices_include_tax");
    o.created_at = *GmtTime(j, "date_created_gmt", where, true);
    o.modified_at = *GmtTime(j, "date_modified_gmt", where, true);
    o.paid_at = GmtTime(j, "date_paid_gmt", where, false);
    o.completed_at = GmtTime(j, "date_completed_gmt", where, false);
    o.customer_note = Str(j, "customer_note");
    o.payment_method = model::PaymentMethod{
        Str(j, "payment_method"), DecodeHtmlEntities(Str(j, "payment_method_title")), Str(j, "transaction_id")};
    o.created_via = Str(j, "created_via");

    o.billing_address = ReadAddress(Member(j, "billing"), true);
    model::Address shipping = ReadAddress(Member(j, "shipping"), false);
    if (!IsEmpty(shipping)) o.shipping_address = shipping;

    // Customer: registered customers by WooCommerce id, guests by a hash of their e-mail.
    const std::int64_t customer_id = Int(j, "customer_id", where);
    model::Customer& c = o.customer;
    c.email = o.billing_address.email;
    c.first_name = o.billing_address.first_name;
    c.last_name = o.billing_address.last_name;
    c.company = o.billing_address.company;
    c.phone = o.billing_address.phone;
    c.is_guest = customer_id == 0;
    if (!c.is_guest) {
        c.id = "wc:" + in.store + ":customer:" + std::to_string(customer_id);
        c.idempotency_key = IdKey(in.store, "c", std::to_string(customer_id));
        c.external_refs["woocommerce"] = model::ExternalRef{std::to_string(customer_id), "", ""};
    } else if (!c.email.empty()) {
        const std::string hash = model::Sha256Hex(c.email).substr(0, 16);
        c.id = "wc:" + in.store + ":guest:" + hash;
        c.idempotency_key = IdKey(in.store, "g", hash.substr(0, 10));
    } else {
        c.id = "wc:" + in.store + ":guest:order-" + source_id;
        c.idempotency_key = IdKey(in.store, "go", source_id);
    }

    for (const In& item : Array(j, "line_items", where)) {
        const std::string lw = "line_items[" + Str(item, "id") + "]";
        model::OrderLine l;
        l.line_id = Str(item, "id");
        const In sku = Member(item, "sku");
        if (sku.is_string()) l.sku = sku.String();
        l.product_ref = "wc:" + in.store + ":product:" + std::to_string(Int(item, "product_id", lw));
        const std::int64_t variation = Int(item, "variation_id", lw);
        if (variation != 0) l.variation_ref = "wc:" + in.store + ":product:" + std::to_string(variation);
        l.name = Decoded(item, "name");
        if (Member(item, "parent_name").is_string()) l.parent_name = Decoded(item, "parent_name");
        l.quantity = Int(item, "quantity", lw);
        l.line_subtotal = money(item, "subtotal", lw);
        l.line_subtotal_tax = money(item, "subtotal_tax", lw);
        l.line_total = money(item, "total", lw);
        l.line_tax = money(item, "total_tax", lw);
        l.line_discount = l.line_subtotal - l.line_total;
        l.price_raw = NumberText(Member(item, "price"));
        if (l.quantity > 0) {
            l.unit_price_excl = model::DivRoundHalfUp(l.line_total, l.quantity);
            l.unit_price_incl = model::DivRoundHalfUp(l.line_total + l.line_tax, l.quantity);
        }
        l.taxes = ReadTaxes(item, money, lw);
        l.gtin = Str(item, "global_unique_id");
        l.meta = Meta(item);
        o.totals.subtotal += l.line_subtotal;
        o.lines.push_back(std::move(l));
    }
    for (const In& t : Array(j, "tax_lines", where)) {
        model::TaxLine tl;
        tl.rate_id = Int(t, "rate_id", "tax_lines[]");
        tl.code = Str(t, "rate_code");
        tl.label = Decoded(t, "label");
        tl.compound = Bool(t, "compound");
        tl.rate_percent = NumberText(Member(t, "rate_percent"));
        tl.amount = money(t, "tax_total", "tax_lines[]");
        tl.shipping_amount = money(t, "shipping_tax_total", "tax_lines[]");
        o.tax_lines.push_back(std::move(tl));
    }
    for (const In& s : Array(j, "shipping_lines", where)) {
        model::ShippingLine sl;
        sl.line_id = Str(s, "id");
        sl.method_id = Str(s, "method_id");
        sl.instance_id = Str(s, "instance_id");
        sl.title = Decoded(s, "method_title");
        sl.amount = money(s, "total", "shipping_lines[]");
        sl.tax_amount = money(s, "total_tax", "shipping_lines[]");
        sl.taxes = ReadTaxes(s, money, "shipping_lines[]");
        sl.meta = Meta(s);
        o.shipping_lines.push_back(std::move(sl));
    }
    for (const In& f : Array(j, "fee_lines", where)) {
        model::FeeLine fl;
        fl.line_id = Str(f, "id");
        fl.name = Decoded(f, "name");
        fl.tax_status = Str(f, "tax_status");
        fl.amount = money(f, "total", "fee_lines[]");
        fl.amount_raw = money.Raw(f, "amount");
        fl.tax_amount = money(f, "total_tax", "fee_lines[]");
        fl.taxes = ReadTaxes(f, money, "fee_lines[]");
        o.totals.fee_total += fl.amount;
        o.fee_lines.push_back(std::move(fl));
    }
    for (const In& cl : Array(j, "coupon_lines", where)) {
        model::Discount d;
        d.code = Decoded(cl, "code");
        d.amount = money(cl, "discount", "coupon_lines[]");
        d.amount_raw = money.Raw(cl, "discount");
        d.tax_amount = money(cl, "discount_tax", "coupon_lines[]");
        d.tax_amount_raw = money.Raw(cl, "discount_tax");
        d.discount_type = Str(cl, "discount_type");
        d.free_shipping = Bool(cl, "free_shipping");
        o.discounts.push_back(std::move(d));
    }
    Minor refunded = 0;
    for (const In& r : Array(j, "refunds", where)) {
        model::RefundSummary rs;
        rs.source_refund_id = Str(r, "id");
        rs.refund_ref = "wc:" + in.store + ":refund:" + rs.source_refund_id;
        std::string raw = money.Raw(r, "total");
        if (!raw.empty() && raw.front() == '-') raw.erase(0, 1);
        rs.amount_raw = raw;
        rs.amount = -money(r, "total", "refunds[]");
        rs.reason = Decoded(r, "reason");
        refunded += rs.amount;
        o.refunds.push_back(std::move(rs));
    }
    model::Totals& t = o.totals;
    t.discount_total = money(j, "discount_total", where);
    t.discount_tax = money(j, "discount_tax", where);
    t.shipping_total = money(j, "shipping_total", where);
    t.shipping_tax = money(j, "shipping_tax", where);
    t.tax_total = money(j, "total_tax", where);
    t.grand_total = money(j, "total", where);
    t.rounding_adjustment =
        t.grand_total - (t.subtotal - t.discount_total + t.shipping_total + t.fee_total + t.tax_total);
    o.external_refs["woocommerce"] = model::ExternalRef{source_id, Str(j, "number"), Str(j, "order_key")};
    o.meta = Meta(j);

    // Business rules.
    const auto& rules = in.rules;
    for (const auto& l : o.lines) {
        if (!l.sku || l.sku->empty()) {
            findings.Add(rules.line_without_sku, "line_without_sku",
                         "line " + l.line_id + " (" + l.name + ") has no SKU");
        }
        if (l.quantity <= 0) {
            findings.Add(rules.non_positive_quantity, "non_positive_quantity",
                         "line " + l.line_id + " (" + l.name + ") has quantity " + std::to_string(l.quantity));
        }
    }
    if (!in.currencies.empty() &&
        std::find(in.currencies.begin(), in.currencies.end(), o.currency) == in.currencies.end()) {
        findings.Add(rules.currency_not_configured, "currency_not_configured",
                     "currency " + o.currency + " is not configured for store " + in.store);
    }
    const Minor tolerance =
        std::max<Minor>(1, static_cast<Minor>(o.lines.size() + o.shipping_lines.size() + o.fee_lines.size()));
    if (std::abs(t.rounding_adjustment) > tolerance) {
        findings.Add(rules.totals_mismatch, "totals_mismatch",
                     "lines, shipping, fees, discounts and taxes add up to " +
                         model::FormatMinor(t.grand_total - t.rounding_adjustment, o.currency_exponent) +
                         " but the order total is " + model::FormatMinor(t.grand_total, o.currency_exponent));
    }
    if (!o.shipping_lines.empty() && !o.shipping_address) {
        findings.Add(rules.missing_shipping_address, "missing_shipping_address",
                     "the order has shipping lines but no shipping address");
    }
    for (const auto* addr : {&o.billing_address, o.shipping_address ? &*o.shipping_address : nullptr}) {
        if (addr && addr->country_code && !model::IsCountryCode(*addr->country_code)) {
            findings.Add(rules.unknown_country, "unknown_country",
                         "country code '" + *addr->country_code + "' is not ISO 3166-1 alpha-2");
        }
    }

    out.entity_kind = "order";
    out.entity_id = o.id;
    out.source_id = source_id;
    out.entity_text = model::ToJsonText(o);
    out.version = model::MakeVersion(GmtMillis(j, "date_modified_gmt"), out.entity_text);
    std::string type = "order.updated";
    if (event == "created") type = "order.created";
    if (event != "created" && o.source_status == "cancelled") type = "order.cancelled";
    out.events.push_back(MakeEvent(in, type, o.id, o.idempotency_key, out.version, o.modified_at, nullptr));

    for (const auto& rs : o.refunds) {
        model::Refund r;
        r.id = rs.refund_ref;
        r.idempotency_key = IdKey(in.store, "r", rs.source_refund_id);
        r.order_ref = o.id;
        r.source_refund_id = rs.source_refund_id;
        r.amount = rs.amount;
        r.amount_raw = rs.amount_raw;
        r.currency = o.currency;
        r.currency_exponent = o.currency_exponent;
        r.reason = rs.reason;
        r.full = refunded >= t.grand_total && t.grand_total > 0;
        Json data = r;
        // A refund never changes once made: its version is its own content (not `full`, which
        // depends on the other refunds), so repeats are recognised as such.
        Json own = data;
        own.erase("full");
        const std::string version = model::MakeVersion(0, own.dump());
        out.events.push_back(MakeEvent(in, "refund.created", r.id, r.idempotency_key, version, o.modified_at, data));
        out.refunds.push_back(std::move(r));
    }
    out.order = std::move(o);
}

std::optional<std::string> PriceOrNull(const In& obj, const char* key) {
    const std::string s = Str(obj, key);
    if (s.empty() || s.front() == '+' || !model::IsDecimal(s)) return std::nullopt;
    return s;
}

void NormalizeProduct(const NormalizeInput& in, const In& j, const std::string& event, Normalized& out) {
    const std::string where = "product";
    const std::string source_id = std::to_string(Int(j, "id", where));
    model::Product p;
    p.id = "wc:" + in.store + ":product:" + source_id;
    p.idempotency_key = IdKey(in.store, "p", source_id);
    p.product_ref = p.id;
    std::int64_t modified_ms = GmtMillis(j, "date_modified_gmt");
    if (event == "deleted") {
        p.type = "unknown";
        p.status = "deleted";
        p.modified_at = in.received_at;
        modified_ms = model::ParseWooGmt(in.received_at).value_or(0);
    } else {
        const std::int64_t parent = Int(j, "parent_id", where);
        if (parent != 0) p.parent_ref = "wc:" + in.store + ":product:" + std::to_string(parent);
        p.type = Str(j, "type");
        if (p.type.empty()) p.type = parent != 0 ? "variation" : "simple";
        p.name = Decoded(j, "name");
        p.sku = Str(j, "sku");
        p.status = Str(j, "status");
        p.price_raw = PriceOrNull(j, "price");
        p.regular_price_raw = PriceOrNull(j, "regular_price");
        p.sale_price_raw = PriceOrNull(j, "sale_price");
        const In ms = Member(j, "manage_stock");
        p.manage_stock =
            ms.is_string() && ms.String() == "parent" ? Json("parent") : Json(ms.is_boolean() && ms.Bool());
        const In q = Member(j, "stock_quantity");
        if (q.is_number_integer()) p.stock_quantity = q.Int();
        if (q.is_number_float()) p.stock_quantity = static_cast<std::int64_t>(q.Double());
        p.stock_status = Str(j, "stock_status");
        p.backorders = Str(j, "backorders");
        for (const In& v : Array(j, "variations", where)) {
            if (v.is_number_integer())
                p.variation_refs.push_back("wc:" + in.store + ":product:" + std::to_string(v.Int()));
        }
        p.modified_at = GmtTime(j, "date_modified_gmt", where, false).value_or(in.received_at);
        p.meta = Meta(j);
    }
    out.entity_kind = "product";
    out.entity_id = p.id;
    out.source_id = source_id;
    out.entity_text = model::ToJsonText(p);
    out.version = model::MakeVersion(modified_ms, out.entity_text);
    out.events.push_back(
        MakeEvent(in, "product.updated", p.id, p.idempotency_key, out.version, p.modified_at, nullptr));
    out.product = std::move(p);
}

void NormalizeCustomer(const NormalizeInput& in, const In& j, const std::string& event, Normalized& out) {
    const std::string source_id = std::to_string(Int(j, "id", "customer"));
    model::Customer c;
    c.id = "wc:" + in.store + ":customer:" + source_id;
    c.idempotency_key = IdKey(in.store, "c", source_id);
    c.external_refs["woocommerce"] = model::ExternalRef{source_id, "", ""};
    out.entity_kind = "customer";
    out.entity_id = c.id;
    out.source_id = source_id;
    if (event == "deleted") {
        // Recorded, not propagated: ERPs keep customers that placed orders.
        model::DeletedEntity d{c.id, source_id};
        out.entity_text = model::ToJsonText(d);
        out.version = model::MakeVersion(model::ParseWooGmt(in.received_at).value_or(0), out.entity_text);
        return;
    }
    const In billing = Member(j, "billing");
    c.email = Lower(Trim(Str(j, "email")));
    c.first_name = Decoded(j, "first_name");
    c.last_name = Decoded(j, "last_name");
    c.company = Decoded(billing, "company");
    c.phone = Str(billing, "phone");
    c.is_guest = false;
    out.entity_text = model::ToJsonText(c);
    out.version = model::MakeVersion(GmtMillis(j, "date_modified_gmt"), out.entity_text);
    const std::string occurred = GmtTime(j, "date_modified_gmt", "customer", false).value_or(in.received_at);
    out.events.push_back(MakeEvent(in, "customer.updated", c.id, c.idempotency_key, out.version, occurred, nullptr));
}

}  // namespace

model::Json Normalized::EventJson(const model::Event& e) const {
    model::Json j = e;
    if (e.entity_id == entity_id && e.data.is_null()) j["data"] = model::Json::parse(entity_text);
    return j;
}

bool Normalized::Held() const {
    return std::any_of(findings.begin(), findings.end(), [](const Finding& f) { return f.action == "hold"; });
}

Normalized Normalize(const NormalizeInput& in) {
    Normalized out;
    const std::size_t dot = in.topic.find('.');
    const std::string resource = in.topic.substr(0, dot);
    const std::string event = dot == std::string::npos ? "" : in.topic.substr(dot + 1);
    static const std::vector<std::string> kEvents = {"created", "updated", "deleted", "restored"};
    if ((resource != "order" && resource != "product" && resource != "customer") ||
        std::find(kEvents.begin(), kEvents.end(), event) == kEvents.end()) {
        out.error = "topic '" + in.topic + "' is not handled (order.*, product.* and customer.* are)";
        out.error_code = "unsupported_topic";
        return out;
    }
    // One parser per thread: simdjson reuses its buffers across documents.
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto error = parser.parse(in.body.data(), in.body.size()).get(root); error != simdjson::SUCCESS) {
        out.error = std::string("the body is not JSON: ") + simdjson::error_message(error);
        out.error_code = "not_json";
        return out;
    }
    const In j(root);
    if (!j.is_object()) {
        out.error = "the body is not a JSON object";
        out.error_code = "bad_shape";
        return out;
    }
    if (!j.Has("id") && j.Has("code") && j.Has("message")) {
        out.error = "WooCommerce sent an error object instead of the " + resource + ": " + Str(j, "code") + ": " +
                    Str(j, "message");
        out.error_code = "error_object";
        return out;
    }
    if (!Member(j, "id").is_number_integer() || Member(j, "id").Int() <= 0) {
        out.error = "the body has no positive integer \"id\"";
        out.error_code = "bad_shape";
        return out;
    }
    try {
        if (resource == "order" && event == "deleted") {
            const std::string source_id = std::to_string(Member(j, "id").Int());
            model::DeletedEntity d{"wc:" + in.store + ":" + source_id, source_id};
            out.entity_kind = "order";
            out.entity_id = d.id;
            out.source_id = source_id;
            out.entity_text = model::ToJsonText(d);
            out.version = model::MakeVersion(model::ParseWooGmt(in.received_at).value_or(0), out.entity_text);
            out.events.push_back(MakeEvent(in, "order.deleted", d.id, d.id, out.version, in.received_at, nullptr));
        } else if (resource == "order") {
            NormalizeOrder(in, j, event, out);
        } else if (resource == "product") {
            NormalizeProduct(in, j, event, out);
        } else {
            NormalizeCustomer(in, j, event, out);
        }
    } catch (const ShapeError& e) {
        out = Normalized{};
        out.error = std::string("unexpected shape: ") + e.what();
        out.error_code = "bad_shape";
        return out;
    } catch (const std::exception& e) {  // simdjson and nlohmann errors on odd shapes
        out = Normalized{};
        out.error = std::string("unexpected shape: ") + e.what();
        out.error_code = "bad_shape";
        return out;
    }
    out.usable = true;
    return out;
}

std::string ArchivedHeaders(const std::vector<std::pair<std::string, std::string>>& headers) {
    std::vector<const std::pair<std::string, std::string>*> kept;
    for (const auto& h : headers) {
        if (h.first.size() > 5 && (h.first.rfind("X-WC-", 0) == 0 || h.first.rfind("x-wc-", 0) == 0))
            kept.push_back(&h);
    }
    std::stable_sort(kept.begin(), kept.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
    std::string out = "{";
    for (std::size_t i = 0; i < kept.size(); ++i) {
        if (i + 1 < kept.size() && kept[i + 1]->first == kept[i]->first) continue;  // a later one wins
        if (out.size() > 1) out += ',';
        model::AppendJsonString(out, kept[i]->first);
        out += ':';
        model::AppendJsonString(out, kept[i]->second);
    }
    out += '}';
    return out;
}

}  // namespace orderbridge::woo

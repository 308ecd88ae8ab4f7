// WooCommerce fixtures (byte-exact bodies, tests/fixtures/woocommerce) against hand-computed
// expectations (expected/*.json), plus schema validation of every event produced.
#include "orderbridge/woo/normalize.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "orderbridge/model/identity.hpp"
#include "orderbridge/model/schema.hpp"

namespace orderbridge::woo {
namespace {

using model::Json;

std::string FixtureDir() {
    return std::string(ORDERBRIDGE_SOURCE_DIR) + "/tests/fixtures/woocommerce/";
}

std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in.good()) << path;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Normalized NormalizeFixture(const std::string& fixture, const std::string& topic, config::RuleSettings rules = {},
                            std::vector<std::string> currencies = {}, std::string body_override = {}) {
    const std::string body = body_override.empty() ? ReadFile(FixtureDir() + fixture) : body_override;
    NormalizeInput in;
    in.store = "main";
    in.topic = topic;
    in.body = body;
    in.received_at = "2026-11-26T12:00:00.000Z";
    in.trace_id = "0af7651916cd43dd8448eb211c80319c";
    in.rules = rules;
    in.currencies = std::move(currencies);
    return Normalize(in);
}

const model::SchemaValidator& Validator() {
    static const model::SchemaValidator v;
    return v;
}

// Every event is schema-valid, and the texts written without a tree (entity and envelope) are byte
// for byte what nlohmann's dump() gives for the same values: the entity text is also the version's
// hash input, so a change of form would make a repeat look like a new version.
void ExpectValidEvents(const Normalized& n) {
    if (n.order) {
        EXPECT_EQ(n.entity_text, Json(*n.order).dump());
    }
    if (n.product) {
        EXPECT_EQ(n.entity_text, Json(*n.product).dump());
    }
    for (const auto& e : n.events) {
        const Json whole = n.EventJson(e);
        const auto errors = Validator().Validate(whole);
        EXPECT_TRUE(errors.empty()) << e.type << " " << e.entity_id << ":\n" << ::testing::PrintToString(errors);
        EXPECT_FALSE(whole["data"].is_null()) << e.type;
        if (e.entity_id == n.entity_id) {
            EXPECT_TRUE(e.data.is_null()) << "the primary entity's data is its entity_text";
            EXPECT_EQ(model::EnvelopeText(e, n.entity_text), whole.dump());
        } else {
            EXPECT_EQ(model::ToJsonText(e), whole.dump());
        }
    }
    for (const auto& r : n.refunds)
        EXPECT_EQ(model::ToJsonText(r), Json(r).dump());
}

struct FixtureCase {
    const char* file;
    const char* topic;
};

class OrderFixtureTest : public ::testing::TestWithParam<FixtureCase> {};

TEST_P(OrderFixtureTest, MatchesHandComputedExpectations) {
    const FixtureCase fc = GetParam();
    const std::string name = std::string(fc.file).substr(0, std::string(fc.file).size() - 5);
    const Json expected = Json::parse(ReadFile(FixtureDir() + "expected/" + name + ".json"));
    const Normalized n = NormalizeFixture(fc.file, fc.topic);
    ASSERT_TRUE(n.usable) << n.error;
    ExpectValidEvents(n);
    ASSERT_FALSE(n.events.empty());
    EXPECT_EQ(n.entity_id, expected["entity_id"]);
    EXPECT_EQ(n.events[0].type, expected["type"]);
    EXPECT_EQ(n.events[0].entity_id, expected["entity_id"]);
    if (expected["type"] == "order.deleted") {
        EXPECT_EQ(n.EventJson(n.events[0])["data"]["source_id"], "4109");
        EXPECT_EQ(n.entity_text, R"({"id":"wc:main:4109","source_id":"4109"})");
        return;
    }
    ASSERT_TRUE(n.order.has_value());
    const model::Order& o = *n.order;
    EXPECT_TRUE(n.findings.empty()) << n.findings[0].rule << ": " << n.findings[0].message;
    EXPECT_EQ(o.currency, expected["currency"]);
    EXPECT_EQ(o.currency_exponent, expected["currency_exponent"]);
    EXPECT_EQ(o.source_status, expected["source_status"]);
    EXPECT_EQ(o.canonical_status, expected["canonical_status"]);
    EXPECT_EQ(o.customer.is_guest, expected["is_guest"]);
    EXPECT_EQ(o.customer.email, expected["customer_email"]);
    EXPECT_EQ(o.created_at, expected["created_at"]);
    EXPECT_EQ(o.modified_at, expected["modified_at"]);
    const Json& t = expected["totals"];
    EXPECT_EQ(o.totals.subtotal, t["subtotal"]);
    EXPECT_EQ(o.totals.discount_total, t["discount_total"]);
    EXPECT_EQ(o.totals.shipping_total, t["shipping_total"]);
    EXPECT_EQ(o.totals.fee_total, t["fee_total"]);
    EXPECT_EQ(o.totals.tax_total, t["tax_total"]);
    EXPECT_EQ(o.totals.grand_total, t["grand_total"]);
    // Totals reconcile: lines, discounts, shipping, fees and taxes add up to the grand total within
    // WooCommerce's own rounding (one minor unit per taxed item at most).
    const auto items = static_cast<std::int64_t>(o.lines.size() + o.shipping_lines.size() + o.fee_lines.size());
    EXPECT_LE(std::abs(o.totals.rounding_adjustment), items);
    EXPECT_EQ(o.totals.subtotal - o.totals.discount_total + o.totals.shipping_total + o.totals.fee_total +
                  o.totals.tax_total + o.totals.rounding_adjustment,
              o.totals.grand_total);
    std::int64_t line_sum = 0;
    for (const auto& l : o.lines)
        line_sum += l.line_total + l.line_tax;
    for (const auto& s : o.shipping_lines)
        line_sum += s.amount + s.tax_amount;
    for (const auto& f : o.fee_lines)
        line_sum += f.amount + f.tax_amount;
    EXPECT_LE(std::abs(o.totals.grand_total - line_sum), items);

    ASSERT_EQ(o.lines.size(), expected["lines"].size());
    for (std::size_t i = 0; i < o.lines.size(); ++i) {
        const Json& el = expected["lines"][i];
        const model::OrderLine& l = o.lines[i];
        EXPECT_EQ(l.line_id, el["line_id"]);
        EXPECT_EQ(l.sku.value_or("<null>"), el["sku"]);
        EXPECT_EQ(l.name, el["name"]);
        EXPECT_EQ(l.quantity, el["quantity"]);
        EXPECT_EQ(l.line_subtotal, el["line_subtotal"]);
        EXPECT_EQ(l.line_total, el["line_total"]);
        EXPECT_EQ(l.line_tax, el["line_tax"]);
        EXPECT_EQ(l.unit_price_excl, el["unit_price_excl"]);
    }
    ASSERT_EQ(o.tax_lines.size(), expected["tax_lines"].size());
    for (std::size_t i = 0; i < o.tax_lines.size(); ++i) {
        EXPECT_EQ(o.tax_lines[i].rate_id, expected["tax_lines"][i]["rate_id"]);
        EXPECT_EQ(o.tax_lines[i].amount, expected["tax_lines"][i]["amount"]);
        EXPECT_EQ(o.tax_lines[i].shipping_amount, expected["tax_lines"][i]["shipping_amount"]);
    }
    ASSERT_EQ(o.refunds.size(), expected["refunds"].size());
    for (std::size_t i = 0; i < o.refunds.size(); ++i) {
        EXPECT_EQ(o.refunds[i].source_refund_id, expected["refunds"][i]["source_refund_id"]);
        EXPECT_EQ(o.refunds[i].amount, expected["refunds"][i]["amount"]);
        EXPECT_EQ(o.refunds[i].reason, expected["refunds"][i]["reason"]);
    }
    EXPECT_EQ(n.events.size(), 1 + o.refunds.size());
    ASSERT_TRUE(o.shipping_address.has_value());
    EXPECT_EQ(o.shipping_address->country_code.value_or(""), expected["shipping_country"]);
    // The WooCommerce meta_data is carried through untouched.
    const Json raw = Json::parse(ReadFile(FixtureDir() + fc.file));
    EXPECT_EQ(Json(o.meta), raw["meta_data"]);
    EXPECT_EQ(o.meta.text, raw["meta_data"].dump());
    // Same body, same version and event ids: repeats are recognisable.
    const Normalized again = NormalizeFixture(fc.file, fc.topic);
    EXPECT_EQ(again.version, n.version);
    EXPECT_EQ(again.events[0].id, n.events[0].id);
}

INSTANTIATE_TEST_SUITE_P(Woo, OrderFixtureTest,
                         ::testing::Values(FixtureCase{"order_simple.json", "order.created"},
                                           FixtureCase{"order_variation.json", "order.created"},
                                           FixtureCase{"order_coupon_fees.json", "order.created"},
                                           FixtureCase{"order_tax_inclusive.json", "order.created"},
                                           FixtureCase{"order_gbp.json", "order.created"},
                                           FixtureCase{"order_jpy.json", "order.created"},
                                           FixtureCase{"order_unicode.json", "order.created"},
                                           FixtureCase{"order_guest.json", "order.created"},
                                           FixtureCase{"order_cancelled.json", "order.updated"},
                                           FixtureCase{"order_refunds.json", "order.updated"},
                                           FixtureCase{"order_deleted.json", "order.deleted"}),
                         [](const auto& info) {
                             std::string n = info.param.file;
                             return n.substr(0, n.size() - 5);
                         });

class ProductFixtureTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ProductFixtureTest, MatchesHandComputedExpectations) {
    const std::string file = GetParam();
    const Json expected = Json::parse(ReadFile(FixtureDir() + "expected/" + file.substr(0, file.size() - 5) + ".json"));
    const Normalized n = NormalizeFixture(file, "product.updated");
    ASSERT_TRUE(n.usable) << n.error;
    ExpectValidEvents(n);
    ASSERT_TRUE(n.product.has_value());
    EXPECT_EQ(n.entity_id, expected["entity_id"]);
    EXPECT_EQ(n.events.at(0).type, expected["type"]);
    EXPECT_EQ(n.product->sku, expected["sku"]);
    EXPECT_EQ(n.product->type, expected["product_type"]);
    EXPECT_EQ(n.product->manage_stock, expected["manage_stock"]);
    EXPECT_EQ(n.product->stock_quantity.has_value() ? Json(*n.product->stock_quantity) : Json(nullptr),
              expected["stock_quantity"]);
    EXPECT_EQ(n.product->price_raw.has_value() ? Json(*n.product->price_raw) : Json(nullptr), expected["price_raw"]);
}

INSTANTIATE_TEST_SUITE_P(Woo, ProductFixtureTest,
                         ::testing::Values("product_simple.json", "product_variable.json", "product_variation.json"),
                         [](const auto& info) {
                             std::string n = info.param;
                             return n.substr(0, n.size() - 5);
                         });

TEST(NormalizeTest, SpecificShapes) {
    const Normalized variation = NormalizeFixture("order_variation.json", "order.created");
    ASSERT_TRUE(variation.order);
    EXPECT_EQ(variation.order->lines[0].variation_ref, "wc:main:product:243");
    EXPECT_EQ(variation.order->lines[0].product_ref, "wc:main:product:240");
    EXPECT_TRUE(variation.order->lines[0].parent_name.has_value());
    EXPECT_EQ(variation.order->lines[0].price_raw, "38");

    const Normalized simple = NormalizeFixture("order_simple.json", "order.created");
    EXPECT_EQ(simple.order->lines[0].price_raw, "24.5");
    EXPECT_EQ(simple.order->customer.id, "wc:main:customer:57");
    EXPECT_EQ(simple.order->customer.idempotency_key, "wc:main:c57");
    EXPECT_EQ(simple.order->idempotency_key, "wc:main:4101");
    EXPECT_EQ(simple.order->external_refs.at("woocommerce").order_key, "wc_order_Qm7tZp2LxV9aR");
    // Raw tax strings with more precision than the currency are kept exactly.
    EXPECT_EQ(simple.order->lines[0].taxes[0].amount_raw, "4.34875");
    EXPECT_EQ(simple.order->lines[0].taxes[0].amount, 435);

    const Normalized fees = NormalizeFixture("order_coupon_fees.json", "order.created");
    ASSERT_EQ(fees.order->discounts.size(), 1u);
    EXPECT_EQ(fees.order->discounts[0].code, "fall15");
    EXPECT_EQ(fees.order->discounts[0].amount_raw, "4.5");
    EXPECT_EQ(fees.order->discounts[0].tax_amount_raw, "0.399375");
    ASSERT_EQ(fees.order->fee_lines.size(), 2u);
    EXPECT_LT(fees.order->fee_lines[1].amount, 0);

    const Normalized unicode = NormalizeFixture("order_unicode.json", "order.created");
    bool decoded = false;
    for (const auto& l : unicode.order->lines)
        decoded = decoded || l.name.find("Mug & Saucer") != std::string::npos;
    EXPECT_TRUE(decoded);
    EXPECT_NE(unicode.order->customer_note.find("\xF0\x9F\x8E\x81"), std::string::npos);  // the gift emoji

    const Normalized guest = NormalizeFixture("order_guest.json", "order.created");
    EXPECT_TRUE(guest.order->customer.is_guest);
    EXPECT_EQ(guest.order->customer.id, "wc:main:guest:" + model::Sha256Hex(guest.order->customer.email).substr(0, 16));
    EXPECT_LE(guest.order->customer.idempotency_key.size(), 35u);
    EXPECT_FALSE(guest.order->paid_at.has_value());
}

std::string Mutate(const std::string& fixture, const std::string& from, const std::string& to) {
    std::string body = ReadFile(FixtureDir() + fixture);
    const auto pos = body.find(from);
    EXPECT_NE(pos, std::string::npos) << from;
    body.replace(pos, from.size(), to);
    return body;
}

TEST(NormalizeTest, CancellationIsANewerVersion) {
    const Normalized created = NormalizeFixture("order_simple.json", "order.created");
    const Normalized cancelled = NormalizeFixture("order_cancelled.json", "order.updated");
    EXPECT_EQ(created.entity_id, cancelled.entity_id);
    EXPECT_EQ(cancelled.events[0].type, "order.cancelled");
    EXPECT_GT(model::CompareVersions(cancelled.version, created.version), 0);
}

TEST(NormalizeTest, RefundsBecomeRefundEventsWithStableVersions) {
    const Normalized n = NormalizeFixture("order_refunds.json", "order.updated");
    ASSERT_EQ(n.refunds.size(), 2u);
    EXPECT_EQ(n.refunds[0].id, "wc:main:refund:4112");
    EXPECT_EQ(n.refunds[0].idempotency_key, "wc:main:r4112");
    EXPECT_EQ(n.refunds[0].order_ref, "wc:main:4110");
    EXPECT_FALSE(n.refunds[0].full);
    EXPECT_EQ(n.events[1].type, "refund.created");
    // A later delivery of the same order lists the same refunds: same refund versions and ids.
    const std::string body = Mutate("order_refunds.json", "\"date_modified_gmt\":\"2025-11-12T14:55:02\"",
                                    "\"date_modified_gmt\":\"2025-11-13T09:00:00\"");
    const Normalized later = NormalizeFixture("", "order.updated", {}, {}, body);
    ASSERT_TRUE(later.usable) << later.error;
    EXPECT_GT(model::CompareVersions(later.version, n.version), 0);
    EXPECT_EQ(later.events[1].id, n.events[1].id);
    EXPECT_EQ(later.events[2].id, n.events[2].id);
    // A refund that makes the order fully refunded changes `full` on the others, not their versions.
    const std::string all = Mutate("order_refunds.json", "\"refunds\":[",
                                   "\"refunds\":[{\"id\":4199,\"reason\":\"\",\"total\":\"-200.00\"},");
    const Normalized full = NormalizeFixture("", "order.updated", {}, {}, all);
    ASSERT_TRUE(full.usable) << full.error;
    ASSERT_EQ(full.refunds.size(), 3u);
    EXPECT_TRUE(full.refunds[1].full);
    EXPECT_EQ(full.events[2].version, n.events[1].version);
    EXPECT_EQ(full.events[2].id, n.events[1].id);
}

TEST(NormalizeTest, UnusableBodiesAreReported) {
    const Normalized err = NormalizeFixture("error_object.json", "order.created");
    EXPECT_FALSE(err.usable);
    EXPECT_NE(err.error.find("error object"), std::string::npos);
    EXPECT_NE(err.error.find("woocommerce_rest_cannot_view"), std::string::npos);
    EXPECT_EQ(err.error_code, "error_object");
    EXPECT_EQ(NormalizeFixture("", "order.created", {}, {}, "{not json").error_code, "not_json");
    EXPECT_FALSE(NormalizeFixture("", "order.created", {}, {}, "{not json").usable);
    EXPECT_FALSE(NormalizeFixture("", "order.created", {}, {}, "[1,2]").usable);
    EXPECT_FALSE(NormalizeFixture("", "order.created", {}, {}, "{\"id\":\"x\"}").usable);
    const Normalized wrong = NormalizeFixture("", "order.created", {}, {},
                                              R"({"id":5,"date_created_gmt":"2025-01-01T00:00:00",)"
                                              R"("date_modified_gmt":"2025-01-01T00:00:00","total":"abc"})");
    EXPECT_FALSE(wrong.usable);
    EXPECT_NE(wrong.error.find("order.total is not a decimal amount"), std::string::npos) << wrong.error;
    const Normalized coupon = NormalizeFixture("order_simple.json", "coupon.created");
    EXPECT_FALSE(coupon.usable);
    EXPECT_NE(coupon.error.find("not handled"), std::string::npos);
    EXPECT_EQ(coupon.error_code, "unsupported_topic");
    EXPECT_EQ(wrong.error_code, "bad_shape");
}

bool HasFinding(const Normalized& n, const std::string& rule, const std::string& action) {
    for (const auto& f : n.findings) {
        if (f.rule == rule && f.action == action) return true;
    }
    return false;
}

TEST(BusinessRulesTest, EachRuleHoldsWarnsOrIsOff) {
    config::RuleSettings hold;
    const std::string no_sku = Mutate("order_simple.json", "\"sku\":\"POD-CER-WHT\"", "\"sku\":\"\"");
    EXPECT_TRUE(HasFinding(NormalizeFixture("", "order.created", hold, {}, no_sku), "line_without_sku", "hold"));
    EXPECT_TRUE(NormalizeFixture("", "order.created", hold, {}, no_sku).Held());
    config::RuleSettings warn;
    warn.line_without_sku = config::RuleAction::kWarn;
    const Normalized warned = NormalizeFixture("", "order.created", warn, {}, no_sku);
    EXPECT_TRUE(HasFinding(warned, "line_without_sku", "warn"));
    EXPECT_FALSE(warned.Held());
    config::RuleSettings off;
    off.line_without_sku = config::RuleAction::kOff;
    EXPECT_TRUE(NormalizeFixture("", "order.created", off, {}, no_sku).findings.empty());

    EXPECT_TRUE(HasFinding(NormalizeFixture("order_simple.json", "order.created", hold, {"EUR", "GBP"}),
                           "currency_not_configured", "hold"));
    EXPECT_TRUE(NormalizeFixture("order_simple.json", "order.created", hold, {"USD"}).findings.empty());

    const std::string bad_total = Mutate("order_simple.json", "\"total\":\"69.09\"", "\"total\":\"79.09\"");
    const Normalized mismatch = NormalizeFixture("", "order.created", hold, {}, bad_total);
    EXPECT_TRUE(HasFinding(mismatch, "totals_mismatch", "hold"));
    EXPECT_EQ(mismatch.order->totals.rounding_adjustment, 1000);

    const std::string no_ship = Mutate(
        "order_simple.json",
        R"("shipping":{"first_name":"Dana","last_name":"Whitfield","company":"","address_1":"142 W 57th St","address_2":"Apt 5B","city":"New York","state":"NY","postcode":"10019","country":"US","phone":"+1 212-555-0147"})",
        R"("shipping":{"first_name":"","last_name":"","company":"","address_1":"","address_2":"","city":"","state":"","postcode":"","country":"","phone":""})");
    EXPECT_TRUE(
        HasFinding(NormalizeFixture("", "order.created", hold, {}, no_ship), "missing_shipping_address", "hold"));

    const std::string bad_country = Mutate("order_simple.json", "\"country\":\"US\"", "\"country\":\"UK\"");
    EXPECT_TRUE(HasFinding(NormalizeFixture("", "order.created", hold, {}, bad_country), "unknown_country", "hold"));

    const std::string zero_qty = Mutate("order_simple.json", "\"quantity\":2", "\"quantity\":0");
    EXPECT_TRUE(HasFinding(NormalizeFixture("", "order.created", hold, {}, zero_qty), "non_positive_quantity", "hold"));

    const std::string odd_currency = Mutate("order_simple.json", "\"currency\":\"USD\"", "\"currency\":\"XYZ\"");
    EXPECT_TRUE(HasFinding(NormalizeFixture("", "order.created", off, {}, odd_currency), "unknown_currency", "hold"));
}

// Property: random canonical orders survive a JSON round trip unchanged and stay schema-valid.
TEST(CanonicalPropertyTest, RandomOrdersRoundTrip) {
    std::mt19937_64 rng(42);
    auto money = [&] { return static_cast<std::int64_t>(rng() % 2'000'000) - 1'000'000; };
    auto text = [&](std::size_t n) {
        static const std::vector<std::string> kChars = {"a",
                                                        "Z",
                                                        " ",
                                                        "0",
                                                        "-",
                                                        "/",
                                                        "\\",
                                                        "\"",
                                                        "'",
                                                        "&",
                                                        "<",
                                                        "\xC3\xA9",
                                                        "\xE6\x97\xA5",
                                                        "\xF0\x9F\x8E\x81",
                                                        "\n",
                                                        "\t",
                                                        "\x01",
                                                        "\x1F",
                                                        "\x7F"};
        std::string s;
        for (std::size_t i = 0; i < n; ++i)
            s += kChars[rng() % kChars.size()];
        return s;
    };
    const model::SchemaValidator order_schema("order.schema.json");
    for (int iter = 0; iter < 200; ++iter) {
        model::Order o;
        o.id = "wc:main:" + std::to_string(rng() % 1'000'000 + 1);
        o.idempotency_key = o.id;
        o.store = "main";
        o.source_status = "processing";
        o.canonical_status = "ready_to_fulfil";
        o.currency = "USD";
        o.created_at = "2025-10-14T13:41:07Z";
        o.modified_at = "2025-10-14T13:41:15Z";
        if (rng() % 2) o.paid_at = "2025-10-14T13:41:12Z";
        o.customer.id = "wc:main:customer:" + std::to_string(rng() % 1000);
        o.customer.idempotency_key = "wc:main:c1";
        o.customer.email = "x@example.com";
        o.customer_note = text(rng() % 40);
        o.billing_address.city = text(8);
        if (rng() % 2) {
            o.shipping_address = model::Address{};
            o.shipping_address->country_code = "DE";
        }
        const int lines = static_cast<int>(rng() % 5);
        for (int i = 0; i < lines; ++i) {
            model::OrderLine l;
            l.line_id = std::to_string(i + 1);
            if (rng() % 3) l.sku = text(6);
            l.product_ref = "wc:main:product:" + std::to_string(i);
            l.name = text(12);
            l.quantity = static_cast<std::int64_t>(rng() % 9) + 1;
            l.line_total = money();
            l.price_raw = "1.5";
            l.taxes.push_back(model::TaxAmount{1, money(), "0.576875", money(), "1"});
            l.meta = Json::array({{{"id", 1}, {"key", "k"}, {"value", {{"nested", {1, 2}}}}}}).get<model::RawJson>();
            o.lines.push_back(l);
        }
        o.totals.grand_total = money();
        o.external_refs["woocommerce"] = model::ExternalRef{"1", "1", "wc_order_x"};
        const Json j = o;
        EXPECT_EQ(model::ToJsonText(o), j.dump());  // the tree-free writer gives the same bytes
        const auto back = j.get<model::Order>();
        EXPECT_EQ(Json(back), j);
        EXPECT_EQ(Json::parse(j.dump()).get<model::Order>().customer_note, o.customer_note);
        const auto errors = order_schema.Validate(j);
        ASSERT_TRUE(errors.empty()) << ::testing::PrintToString(errors);
    }
}

// meta_data is carried as text, written straight from the parsed body: it must read exactly as
// nlohmann writes the same value (names in order, escapes, numbers) and keep the first of a repeated
// name, as the member-by-member conversion before it did: stored versions hash this text.
TEST(CanonicalTextTest, MetaDataIsWrittenAsNlohmannWritesIt) {
    const std::string odd =
        Mutate("order_simple.json", "\"meta_data\":[",
               R"("meta_data":[{"z":1,"a":"first","n":[1.5,1e20,18446744073709551615,-3,0.1],"a":"last",)"
               R"("m":{"y":null,"b":true,"B":false},"u":"\u00e9\n\"q\"","":{}},)"
               R"({"id":7,"key":"k","value":{"z":[{"b":1,"a":2}],"a":"x"}},{"a":1,"b":2,"a":3},)"
               R"({"a":1,"a":2},{"\u00e9":1,"z":2},{"z":1,"\u00e9":2},)");
    const Normalized n = NormalizeFixture("", "order.created", {}, {}, odd);
    ASSERT_TRUE(n.usable) << n.error;
    EXPECT_EQ(n.entity_text, Json(*n.order).dump());
    const std::string first =
        R"([{"":{},"a":"first","m":{"B":false,"b":true,"y":null},"n":[1.5,1e+20,18446744073709551615,-3,0.1],)"
        "\"u\":\"\xC3\xA9\\n\\\"q\\\"\",\"z\":1},"
        R"({"id":7,"key":"k","value":{"a":"x","z":[{"a":2,"b":1}]}},{"a":1,"b":2},{"a":1},)"
        "{\"z\":2,\"\xC3\xA9\":1},{\"z\":1,\"\xC3\xA9\":2},";
    EXPECT_EQ(n.order->meta.text.substr(0, first.size()), first);
}

// The archive has always held the X-WC-* headers as the text of a nlohmann object built header by
// header: names in byte order, a repeated name's last value.
TEST(CanonicalTextTest, ArchivedHeadersReadAsTheObjectTheyReplaced) {
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"X-WC-Webhook-Topic", "order.created"},
        {"Content-Type", "application/json"},
        {"X-WC-Webhook-Source", "https://shop.example.com/caf\xC3\xA9?a=\"b\""},
        {"x-wc-webhook-id", "42"},
        {"X-WC-", "too short to count"},
        {"X-Wc-Webhook-Event", "created"},
        {"X-WC-Webhook-Delivery-ID", "first"},
        {"X-WC-Webhook-Delivery-ID", "second"},
    };
    Json expected = Json::object();
    for (const auto& [k, v] : headers) {
        if (k.size() > 5 && (k.rfind("X-WC-", 0) == 0 || k.rfind("x-wc-", 0) == 0)) expected[k] = v;
    }
    EXPECT_EQ(ArchivedHeaders(headers), expected.dump());
    EXPECT_EQ(ArchivedHeaders(headers),
              R"({"X-WC-Webhook-Delivery-ID":"second","X-WC-Webhook-Source":"https://shop.example.com/caf)"
              "\xC3\xA9"
              R"(?a=\"b\"","X-WC-Webhook-Topic":"order.created","x-wc-webhook-id":"42"})");
    EXPECT_EQ(ArchivedHeaders({}), "{}");
    EXPECT_THROW((void)ArchivedHeaders({{"X-WC-Webhook-Source", "broken \xC3"}}), Json::type_error);
}

TEST(CanonicalTextTest, InvalidUtf8IsRefusedLikeNlohmann) {
    model::Customer c;
    c.first_name = "broken \xC3";
    EXPECT_THROW((void)Json(c).dump(), Json::type_error);
    EXPECT_THROW((void)model::ToJsonText(c), Json::type_error);
    c.first_name = "ok \xC3\xA9";
    EXPECT_EQ(model::ToJsonText(c), Json(c).dump());
}

}  // namespace
}  // namespace orderbridge::woo

// Mapping what ERPs and 3PLs send back (research/erp_3pl.md 1.7, 1.10, 4.5) into the canonical model.
#include "orderbridge/api/inbound.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace orderbridge::api::inbound {
namespace {

using nlohmann::json;

// A ShipStation V1 shipment as GET /shipments lists it (fields of the fact sheet, section 4.5).
json ShipStationShipment(bool voided) {
    json s = json::parse(R"({
      "shipmentId": 200000001, "orderId": 100000001, "orderKey": "wc:main:41001", "orderNumber": "41001",
      "createDate": "2026-11-20T08:15:30.1230000", "shipDate": "2026-11-20", "shipmentCost": 7.5,
      "trackingNumber": "1Z999AA10123456784", "isReturnLabel": false, "carrierCode": "ups",
      "serviceCode": "ups_ground", "warehouseId": 55, "voided": false, "voidDate": null,
      "shipmentItems": [{"lineItemKey": "l1", "sku": "POD-CER-WHT", "quantity": 2},
                        {"lineItemKey": "l2", "sku": "FLT-2-100", "quantity": 1}]})");
    if (voided) {
        s["voided"] = true;
        s["voidDate"] = "2026-11-21T09:00:00.0000000";
    }
    return s;
}

json Order() {
    return json::parse(R"({"lines": [{"line_id": "l1", "sku": "POD-CER-WHT", "quantity": 2},
                                     {"line_id": "l2", "sku": "FLT-2-100", "quantity": 1}]})");
}

TEST(InboundTest, AShipStationShipmentBecomesACanonicalShipment) {
    const auto s = FromShipStation(ShipStationShipment(false), "3pl");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->id, "3pl:shipment:200000001");
    EXPECT_EQ(s->order_ref, "wc:main:41001");
    EXPECT_EQ(s->status, "shipped");
    EXPECT_EQ(s->carrier_code, "ups");
    EXPECT_EQ(s->tracking_number, "1Z999AA10123456784");
    EXPECT_EQ(s->ship_date, std::optional<std::string>("2026-11-20T00:00:00Z"));
    EXPECT_EQ(s->event_time, "2026-11-20T08:15:30.123Z");
    EXPECT_EQ(s->warehouse_id, "55");
    ASSERT_EQ(s->lines.size(), 2u);
    EXPECT_EQ(s->lines[0].line_id, "l1");
    EXPECT_EQ(s->lines[0].quantity, 2);
    EXPECT_EQ(s->external_refs.at("shipstation").id, "200000001");

    const auto v = FromShipStation(ShipStationShipment(true), "3pl");
    ASSERT_TRUE(v);
    EXPECT_EQ(v->status, "voided");
    EXPECT_EQ(v->event_time, "2026-11-21T09:00:00Z");  // the void is newer than the label
    EXPECT_EQ(v->source_event_id, "200000001:voided");

    // Orders that did not come from orderbridge are not ours to report.
    json foreign = ShipStationShipment(false);
    foreign["orderKey"] = "6f1e-uuid";
    EXPECT_FALSE(FromShipStation(foreign, "3pl"));
}

TEST(InboundTest, AnOrderIsCompleteWhenItsNonVoidedShipmentsCoverEveryLine) {
    auto whole = *FromShipStation(ShipStationShipment(false), "3pl");
    EXPECT_TRUE(CompletesOrder(Order(), {}, whole));

    auto part = whole;
    part.id = "3pl:shipment:2";
    part.lines = {{"l1", "POD-CER-WHT", 2}};
    EXPECT_FALSE(CompletesOrder(Order(), {}, part));
    auto rest = whole;
    rest.id = "3pl:shipment:3";
    rest.lines = {{"", "FLT-2-100", 1}};  // matched by SKU when the line id is missing
    EXPECT_TRUE(CompletesOrder(Order(), {part}, rest));

    auto voided = part;
    voided.status = "voided";
    EXPECT_FALSE(CompletesOrder(Order(), {voided}, rest));
    // The earlier state of the same shipment is replaced by the new one, not counted twice.
    auto half = part;
    half.lines = {{"l1", "POD-CER-WHT", 1}};
    EXPECT_FALSE(CompletesOrder(Order(), {part}, half));
    EXPECT_FALSE(CompletesOrder(json::object(), {}, whole));
}

TEST(InboundTest, StandardWebhooksSignaturesAreChecked) {
    // The example of the Standard Webhooks specification (github.com/standard-webhooks).
    const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const std::string body = R"({"test": 2432232314})";
    const std::string id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const std::string good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    EXPECT_TRUE(VerifyStandardWebhook(secret, id, "1614265330", good, body, 1614265330));
    EXPECT_TRUE(VerifyStandardWebhook(secret, id, "1614265330", "v1,bm90IGl0 " + good, body, 1614265400));
    EXPECT_FALSE(VerifyStandardWebhook(secret, id, "1614265330", good, body + " ", 1614265330));
    EXPECT_FALSE(VerifyStandardWebhook(secret, "msg_other", "1614265330", good, body, 1614265330));
    EXPECT_FALSE(VerifyStandardWebhook(secret, id, "1614265330", good, body, 1614265330 + 301));  // too old
    EXPECT_FALSE(VerifyStandardWebhook(secret, id, "1614265330", "v2," + good.substr(3), body, 1614265330));
    EXPECT_FALSE(VerifyStandardWebhook("not-whsec", id, "1614265330", good, body, 1614265330));
}

TEST(InboundTest, AShipBobEventIsAShipmentOfItsOrder) {
    const json e = json::parse(R"({"event_time": "2026-11-20T10:00:00.1234567Z", "order_id": 100001,
        "reference_id": "wc:main:41001", "shipment_id": 200001, "status": "Completed",
        "tracking": {"carrier": "USPS", "carrier_service": "Priority", "tracking_id": "9400111899223",
                     "tracking_url": "https://tools.usps.com/?tLabels=9400111899223"}})");
    const auto s = FromShipBob(e, "order.shipped", "fulfil", "msg_1");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->id, "fulfil:shipment:200001");
    EXPECT_EQ(s->status, "shipped");
    EXPECT_EQ(s->tracking_number, "9400111899223");
    EXPECT_EQ(s->service_code, "Priority");
    EXPECT_EQ(s->event_time, "2026-11-20T10:00:00.123Z");
    EXPECT_EQ(s->source_event_id, "msg_1");
    EXPECT_TRUE(s->lines.empty());
    EXPECT_EQ(FromShipBob(e, "order.shipment.delivered", "fulfil", "msg_2")->status, "delivered");
    EXPECT_EQ(FromShipBob(e, "order.shipment.cancelled", "fulfil", "msg_3")->status, "cancelled");
    EXPECT_FALSE(FromShipBob(e, "return.created", "fulfil", "msg_4"));
    json foreign = e;
    foreign["reference_id"] = "SO-1";
    EXPECT_FALSE(FromShipBob(foreign, "order.shipped", "fulfil", "msg_5"));
}

TEST(InboundTest, AnErpNextBinIsAStockLevel) {
    std::string error;
    const auto l =
        FromErpNextBin(json::parse(R"({"doctype": "Bin", "item_code": "MUG-RED", "warehouse": "Stores - ACME",
        "actual_qty": 20.0, "reserved_qty": 4.0, "projected_qty": 16.0, "modified": "2026-11-20 10:00:00.250000"})"),
                       "erp", error);
    ASSERT_TRUE(l) << error;
    EXPECT_EQ(l->sku, "MUG-RED");
    EXPECT_EQ(l->location, "Stores - ACME");
    EXPECT_EQ(l->on_hand, 20);
    EXPECT_EQ(l->reserved, std::optional<std::int64_t>(4));
    EXPECT_EQ(l->available, 16);
    EXPECT_EQ(l->as_of, "2026-11-20T10:00:00.250Z");
    EXPECT_EQ(l->source, "erp");
    EXPECT_FALSE(FromErpNextBin(json::parse(R"({"doctype": "Item", "name": "x"})"), "erp", error));
    EXPECT_FALSE(error.empty());
}

TEST(InboundTest, LevelsAreCheckedAndEveryProblemIsNamed) {
    std::vector<std::string> problems;
    const auto ok = ParseLevels(json::parse(R"({"levels": [{"sku": "A", "location": "east", "on_hand": 3,
        "available": 2, "reserved": null, "as_of": "2026-11-20T10:00:00Z", "source": "wms"}]})"),
                                problems);
    EXPECT_TRUE(problems.empty());
    ASSERT_EQ(ok.size(), 1u);
    EXPECT_EQ(ok[0].as_of_ms, 1795168800000);  // 2026-11-20T10:00:00Z

    const auto bad = ParseLevels(json::parse(R"({"levels": [{"sku": "", "on_hand": "3", "available": 1.5,
        "as_of": "2026-11-20T10:00:00+02:00", "source": ""}, 7]})"),
                                 problems);
    EXPECT_TRUE(bad.empty());
    const std::vector<std::string> expected = {"levels[0].sku: a string of 1 to 200 characters",
                                               "levels[0].on_hand: an integer is needed",
                                               "levels[0].available: an integer is needed",
                                               "levels[0].as_of: an RFC 3339 UTC time such as 2025-10-14T13:41:07Z",
                                               "levels[0].source: who reported the level is needed",
                                               "levels[1]: must be an object"};
    EXPECT_EQ(problems, expected);
    problems.clear();
    ParseLevels(json::parse(R"({"items": []})"), problems);
    EXPECT_EQ(problems.size(), 1u);
}

TEST(InboundTest, TheLevelOfASkuIsTheSumOverItsLocations) {
    store::StockLevel east{"A", "east", 7, 5, 2, "2026-11-20T10:00:00Z", 1000, "wms", ""};
    store::StockLevel west{"A", "west", 3, 3, std::nullopt, "2026-11-20T10:00:01Z", 2000, "erp", ""};
    const auto sum = Aggregate("A", {east, west});
    EXPECT_EQ(sum.on_hand, 10);
    EXPECT_EQ(sum.available, 8);
    EXPECT_EQ(sum.reserved, std::optional<std::int64_t>(2));
    EXPECT_EQ(sum.location, "");
    EXPECT_EQ(sum.as_of, "1970-01-01T00:00:02Z");
    EXPECT_FALSE(Aggregate("B", {west}).reserved.has_value());
}

}  // namespace
}  // namespace orderbridge::api::inbound

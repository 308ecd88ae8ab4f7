// The `shipstation` connector (research/erp_3pl.md section 4, ShipStation V1): WooCommerce orders
// become ShipStation orders through `POST /orders/createorder`, an upsert keyed by `orderKey`
// (= the order's idempotency key), so a retry is safe without a lookup.
//
//   paid / unpaid / on hold    the whole order is sent (ShipStation takes no partial updates)
//   cancelled / deleted        sent again with orderStatus "cancelled" while it is still open
//   shipped or cancelled in ShipStation: not updated (ShipStation refuses it), counted as done
//   shipped / completed in WooCommerce without a ShipStation order: not sent (fulfilled elsewhere)
// Every answer carries X-Rate-Limit-Remaining/-Reset (40 requests a minute per key pair): when the
// window is used up the lane waits for the reset before the next call, so 429s stay rare.
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>

#include "json_api.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/woo/signature.hpp"

namespace orderbridge::dispatch {
namespace {

using nlohmann::json;

using detail::Str;

json Address(const json& a, const std::string& fallback_name) {
    std::string name = Str(a, "first_name") + " " + Str(a, "last_name");
    while (!name.empty() && name.front() == ' ')
        name.erase(name.begin());
    while (!name.empty() && name.back() == ' ')
        name.pop_back();
    if (name.empty()) name = fallback_name;
    auto opt = [&](const char* key) { return Str(a, key).empty() ? json(nullptr) : json(Str(a, key)); };
    return {{"name", name},
            {"company", opt("company")},
            {"street1", Str(a, "line1")},
            {"street2", opt("line2")},
            {"city", Str(a, "city")},
            {"state", Str(a, "region_code")},
            {"postalCode", Str(a, "postal_code")},
            {"country", Str(a, "country_code")},
            {"phone", opt("phone")}};
}

/// ShipStation's validation texts: `Message`/`message` and every `ModelState` entry.
std::string Messages(const std::string& body) {
    return detail::ErrorTexts(body, {"Message", "message", "ExceptionMessage"}, "ModelState");
}

class ShipStationConnector final : public Connector {
  public:
    explicit ShipStationConnector(config::ConnectorSettings s)
        : s_(std::move(s)), api_(s_.base_url, "Basic " + woo::Base64(s_.auth.api_key + ":" + s_.auth.api_secret)) {}
    const std::string& Name() const override { return s_.name; }
    int MaxCallsPerDelivery() const override { return 2; }  // look up, then upsert

    DeliveryResult Deliver(const store::DeliveryTask& task, HttpClient& client) override {
        json env;
        if (auto bad = detail::ParseEnvelope(task.payload, env)) return *bad;
        const json& order = env["data"];
        const std::string key = Str(env, "idempotency_key");
        const std::string id = Str(order, "id");
        const std::string number = id.substr(id.rfind(':') + 1);
        const std::string status = Str(order, "canonical_status");
        std::string wanted;
        if (detail::ThreePlCancels(task.type, order)) {
            wanted = "cancelled";
        } else if (status == "awaiting_payment") {
            wanted = "awaiting_payment";
        } else if (status == "ready_to_fulfil") {
            wanted = "awaiting_shipment";
        } else if (status == "on_hold") {
            wanted = "on_hold";
        }

        json existing;
        DeliveryResult looked;
        if (!FindOrder(client, number, key, existing, looked)) return looked;
        if (!existing.is_null()) {
            const std::string there = Str(existing, "orderStatus");
            if (there == "shipped" || there == "cancelled") {
                DeliveryResult r;
                r.error_class = core::ErrorClass::kDuplicate;
                r.external_id = existing.contains("orderId") ? existing["orderId"].dump() : "";
                r.reason = "ShipStation order is " + there + "; it is not updated";
                r.retry_after = looked.retry_after;
                return r;
            }
        }
        if (wanted.empty() || (wanted == "cancelled" && existing.is_null())) {
            DeliveryResult r;
            r.reason = existing.is_null() ? "not sent: the order is " + status + " and ShipStation does not have it"
                                          : "not sent: status " + status + " has no ShipStation equivalent";
            r.retry_after = looked.retry_after;
            return r;
        }
        if (looked.retry_after) {
            // The lookup used up the rate window: wait for its reset instead of provoking a 429.
            DeliveryResult r;
            r.error_class = core::ErrorClass::kThrottled;
            r.retry_after = looked.retry_after;
            r.reason = "rate window used up (X-Rate-Limit-Remaining 0); sending after the reset";
            return r;
        }
        const json body = Build(order, key, number, wanted);
        const auto a = Call(client, "POST", "/orders/createorder", &body);
        DeliveryResult r = Classify(a, "createorder");
        if (r.Succeeded()) {
            const json j = json::parse(a.body, nullptr, false);
            if (j.is_object() && j.contains("orderId")) r.external_id = j["orderId"].dump();
            r.reason = wanted == "cancelled" ? "cancelled in ShipStation" : "";
        }
        return r;
    }

  private:
    HttpAnswer Call(HttpClient& client, const std::string& method, const std::string& path,
                    const json* body = nullptr) {
        return api_.Call(client, method, path, body);
    }

    // The answer in the taxonomy; a used-up rate window makes the lane wait (also after a success).
    static DeliveryResult Classify(const HttpAnswer& a, const std::string& step) {
        DeliveryResult r = ClassifyAnswer(a);
        if (a.transport == HttpAnswer::Transport::kAnswered && !r.Succeeded()) {
            const std::string said = Messages(a.body);
            r.reason = step + ": HTTP " + std::to_string(a.status) + (said.empty() ? "" : ":" + said);
        } else if (!r.Succeeded()) {
            r.reason = step + ": " + r.reason;
        }
        if (a.transport == HttpAnswer::Transport::kAnswered && a.Header("x-rate-limit-remaining") == "0") {
            r.retry_after = RetryAfterOf(a, std::chrono::system_clock::now());
        }
        return r;
    }

    // False with `result` set when the lookup failed; `found` is null when there is no such order.
    bool FindOrder(HttpClient& client, const std::string& number, const std::string& key, json& found,
                   DeliveryResult& result) {
        const auto a = Call(client, "GET", "/orders?orderNumber=" + UrlEncode(number) + "&pageSize=500");
        result = Classify(a, "find order by orderNumber");
        if (!result.Succeeded()) return false;
        found = nullptr;
        const json j = json::parse(a.body, nullptr, false);
        if (j.is_object() && j.contains("orders") && j["orders"].is_array()) {
            for (const auto& o : j["orders"]) {
                if (Str(o, "orderKey") == key) found = o;
            }
        }
        return true;
    }

    json Build(const json& order, const std::string& key, const std::string& number, const std::string& status) {
        const int exp = order.value("currency_exponent", 2);
        const json customer = order.value("customer", json::object());
        const json billing = order.value("billing_address", json::object());
        const json shipping = order.contains("shipping_address") && order["shipping_address"].is_object()
                                  ? order["shipping_address"]
                                  : billing;
        const std::string email = Str(customer, "email");
        json items = json::array();
        for (const auto& line : order.value("lines", json::array())) {
            items.push_back({{"lineItemKey", Str(line, "line_id")},
                             {"sku", Str(line, "sku")},
                             {"name", Str(line, "name")},
                             {"quantity", line.value("quantity", 0)},
                             {"unitPrice", detail::MajorUnits(line.value("unit_price_excl", std::int64_t{0}), exp)},
                             {"taxAmount", detail::MajorUnits(line.value("line_tax", std::int64_t{0}), exp)}});
        }
        const json totals = order.value("totals", json::object());
        json body = {{"orderNumber", number.substr(0, 50)},
                     {"orderKey", key},
                     {"orderDate", Str(order, "created_at")},
                     {"orderStatus", status},
                     {"customerEmail", email.empty() ? json(nullptr) : json(email)},
                     {"billTo", Address(billing, email)},
                     {"shipTo", Address(shipping, email)},
                     {"items", items},
                     {"amountPaid", detail::MajorUnits(totals.value("grand_total", std::int64_t{0}), exp)},
                     {"taxAmount", detail::MajorUnits(totals.value("tax_total", std::int64_t{0}), exp)},
                     {"shippingAmount", detail::MajorUnits(totals.value("shipping_total", std::int64_t{0}), exp)}};
        if (!Str(order, "paid_at").empty()) body["paymentDate"] = Str(order, "paid_at");
        const auto shipping_lines = order.value("shipping_lines", json::array());
        if (!shipping_lines.empty()) body["requestedShippingService"] = Str(shipping_lines[0], "title");
        json advanced = {{"customField1", key}};
        if (s_.store_id > 0) advanced["storeId"] = s_.store_id;
        body["advancedOptions"] = advanced;
        return body;
    }

    config::ConnectorSettings s_;
    detail::JsonApi api_;
};

}  // namespace

std::unique_ptr<Connector> MakeShipStationConnector(const config::ConnectorSettings& settings) {
    return std::make_unique<ShipStationConnector>(settings);
}

}  // namespace orderbridge::dispatch

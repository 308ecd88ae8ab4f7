// The `shipbob` connector (research/erp_3pl.md section 5): WooCommerce orders become ShipBob orders
// through `POST /order` (base_url carries the API version, e.g. https://api.shipbob.com/2025-07).
//
//   paid / processing        the order is created with reference_id = the order's idempotency key;
//                            422 "Duplicate reference ID" means it exists (counted as duplicate)
//   cancelled / deleted /    the ShipBob order is found by reference_id and cancelled while none of
//   refunded                 its shipments has left; a shipped one is a dead letter for a person
//   unpaid / on hold         not sent; shipped or completed in WooCommerce: not sent (fulfilled elsewhere)
// Bearer token (a PAT) on every call, `shipbob_channel_id` on writes. 150 calls a minute: a 429
// carries x-retry-after, which the lane waits out. After an ambiguous failure Lookup asks for the
// reference_id before anything is sent again.
#include <nlohmann/json.hpp>

#include "json_api.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/stock_source.hpp"
#include "orderbridge/model/identity.hpp"

namespace orderbridge::dispatch {
namespace {

using nlohmann::json;

using detail::Str;

/// ShipBob's error texts: `message`, `title`, `detail` and every `errors` entry.
std::string Messages(const std::string& body) {
    return detail::ErrorTexts(body, {"message", "title", "detail"}, "errors");
}

class ShipBobConnector final : public Connector {
  public:
    explicit ShipBobConnector(config::ConnectorSettings s)
        : s_(std::move(s)), api_(s_.base_url, "Bearer " + s_.auth.token) {
        base_ = s_.base_url;
        while (!base_.empty() && base_.back() == '/')
            base_.pop_back();
        legacy_ = base_.ends_with("/1.0") || base_.ends_with("/2.0");
    }
    const std::string& Name() const override { return s_.name; }
    int MaxCallsPerDelivery() const override { return 2; }  // find, then create or cancel

    DeliveryResult Deliver(const store::DeliveryTask& task, HttpClient& client) override {
        json env;
        if (auto bad = detail::ParseEnvelope(task.payload, env)) return *bad;
        const json& order = env["data"];
        const std::string key = Str(env, "idempotency_key");
        if (detail::ThreePlCancels(task.type, order)) return Cancel(client, key);
        if (Str(order, "canonical_status") != "ready_to_fulfil") return detail::NotSent(order);
        const json body = Build(order, key);
        const HttpAnswer a = Write(client, "POST", "/order", body);
        if (a.transport == HttpAnswer::Transport::kAnswered && a.status == 422 &&
            Messages(a.body).find("uplicate") != std::string::npos) {
            json existing;
            DeliveryResult r;
            r.error_class = core::ErrorClass::kDuplicate;
            r.reason = "ShipBob has an order with reference_id " + key;
            if (!Find(client, key, existing) && existing.is_object() && existing.contains("id"))
                r.external_id = existing["id"].dump();
            return r;
        }
        DeliveryResult r = Classify(a, "create order");
        if (r.Succeeded()) {
            const json j = json::parse(a.body, nullptr, false);
            if (j.is_object() && j.contains("id")) r.external_id = j["id"].dump();
        }
        return r;
    }

    std::optional<DeliveryResult> Lookup(const store::DeliveryTask& task, HttpClient& client) override {
        const json env = json::parse(task.payload, nullptr, false);
        json existing;
        if (!env.is_object() || Find(client, Str(env, "idempotency_key"), existing)) return std::nullopt;
        if (existing.is_null() || task.type == "order.cancelled" || task.type == "order.deleted") return std::nullopt;
        DeliveryResult r;
        r.error_class = core::ErrorClass::kDuplicate;
        r.reason = "the order arrived in ShipBob before the answer was lost";
        if (existing.contains("id")) r.external_id = existing["id"].dump();
        return r;
    }

  private:
    HttpAnswer Write(HttpClient& client, const std::string& method, const std::string& path, const json& body) {
        HttpCall call;
        call.method = method;
        call.url = base_ + path;
        call.headers = {{"Authorization", "Bearer " + s_.auth.token},
                        {"Accept", "application/json"},
                        {"Content-Type", "application/json"},
                        {"shipbob_channel_id", std::to_string(s_.channel_id)},
                        {"User-Agent", "orderbridge"}};
        call.body = body.dump();
        return client.Send(call);
    }

    static DeliveryResult Classify(const HttpAnswer& a, const std::string& step) {
        DeliveryResult r = ClassifyAnswer(a);
        if (r.Succeeded()) return r;
        r.reason = step + ": " +
                   (a.transport == HttpAnswer::Transport::kAnswered
                        ? "HTTP " + std::to_string(a.status) + " " + Messages(a.body)
                        : r.reason);
        return r;
    }

    /// The ShipBob order with this reference_id (null when none); a failed call is returned.
    std::optional<DeliveryResult> Find(HttpClient& client, const std::string& key, json& out) {
        const HttpAnswer a = api_.Call(client, "GET", "/order?ReferenceIds=" + UrlEncode(key));
        DeliveryResult r = Classify(a, "find order by reference_id");
        if (!r.Succeeded()) return r;
        out = nullptr;
        const json j = json::parse(a.body, nullptr, false);
        if (j.is_array()) {
            for (const auto& o : j) {
                if (Str(o, "reference_id") == key) out = o;
            }
        }
        return std::nullopt;
    }

    DeliveryResult Cancel(HttpClient& client, const std::string& key) {
        json existing;
        if (auto err = Find(client, key, existing)) return *err;
        DeliveryResult r;
        if (existing.is_null()) {
            r.reason = "no ShipBob order to cancel";
            return r;
        }
        if (Str(existing, "status") == "Cancelled") {
            r.error_class = core::ErrorClass::kDuplicate;
            r.reason = "the ShipBob order is already cancelled";
            return r;
        }
        const std::string id = existing.contains("id") ? existing["id"].dump() : "";
        r.external_id = id;
        const HttpAnswer a =
            Write(client, "POST", legacy_ ? "/order/" + id + "/cancel" : "/order/" + id + ":cancel", json::object());
        r = Classify(a, "cancel order " + id);
        r.external_id = id;
        if (!r.Succeeded()) return r;
        const json j = json::parse(a.body, nullptr, false);
        std::string refused;
        for (const auto& res : j.is_object() ? j.value("canceled_shipment_results", json::array()) : json::array()) {
            if (!res.value("is_success", false))
                refused += (refused.empty() ? "" : "; ") + res.value("reason", std::string("not cancellable"));
        }
        if (!refused.empty()) {
            return detail::Permanent("ShipBob did not cancel order " + id + ": " + refused +
                                     " (a shipment has left: a return is a person's call)");
        }
        r.reason = "cancelled in ShipBob";
        return r;
    }

    json Build(const json& order, const std::string& key) const {
        const int exp = order.value("currency_exponent", 2);
        const json customer = order.value("customer", json::object());
        const json shipping = order.contains("shipping_address") && order["shipping_address"].is_object()
                                  ? order["shipping_address"]
                                  : order.value("billing_address", json::object());
        std::string name = Str(shipping, "first_name") + " " + Str(shipping, "last_name");
        if (name == " ") name = Str(customer, "first_name") + " " + Str(customer, "last_name");
        while (!name.empty() && name.front() == ' ')
            name.erase(name.begin());
        while (!name.empty() && name.back() == ' ')
            name.pop_back();
        json address = {{"address1", Str(shipping, "line1")},
                        {"address2", Str(shipping, "line2")},
                        {"city", Str(shipping, "city")},
                        {"state", Str(shipping, "region_code")},
                        {"zip_code", Str(shipping, "postal_code")},
                        {"country", Str(shipping, "country_code")}};
        if (!Str(shipping, "company").empty()) address["company_name"] = Str(shipping, "company");
        json recipient = {{"name", name.empty() ? Str(customer, "email") : name}, {"address", address}};
        if (!Str(customer, "email").empty()) recipient["email"] = Str(customer, "email");
        if (!Str(shipping, "phone").empty()) recipient["phone_number"] = Str(shipping, "phone");
        json products = json::array();
        for (const auto& line : order.value("lines", json::array())) {
            json product = {{"reference_id", Str(line, "sku")},
                            {"name", Str(line, "name")},
                            {"quantity", line.value("quantity", 0)},
                            {"unit_price", detail::MajorUnits(line.value("unit_price_excl", std::int64_t{0}), exp)}};
            // WooCommerce's line item id, an integer for ShipBob.
            const std::string line_id = Str(line, "line_id");
            if (!line_id.empty() && line_id.size() < 16 && line_id.find_first_not_of("0123456789") == std::string::npos)
                product["external_line_id"] = std::stoll(line_id);
            products.push_back(std::move(product));
        }
        const std::string id = Str(order, "id");
        json body = {
            {"reference_id", key},
            {"order_number", id.substr(id.rfind(':') + 1)},
            {"type", "DTC"},
            {"shipping_method", s_.shipping_method},
            {"recipient", recipient},
            {"products", products},
            {"financials",
             {{"total_price",
               detail::MajorUnits(order.value("totals", json::object()).value("grand_total", std::int64_t{0}), exp)}}}};
        if (!Str(order, "created_at").empty()) body["purchase_date"] = Str(order, "created_at");
        return body;
    }

    config::ConnectorSettings s_;
    detail::JsonApi api_;
    std::string base_;
    bool legacy_ = false;  ///< versions 1.0/2.0 cancel with /order/{id}/cancel
};

/// ShipBob's inventory levels (research/erp_3pl.md 5.5: `GET /inventory-level`, 250 a page by `Page` and
/// `Limit`), one level per SKU at the location named after the connector: on hand as ShipBob counts it,
/// available = `total_sellable_quantity` (on hand minus committed and exceptions; the fulfillable
/// quantity when an older API version has no sellable one). The levels carry no time of their own, so
/// every poll reads them all, stamped with the poll's time; unchanged sums change nothing downstream.
class ShipBobStock final : public StockSource {
  public:
    explicit ShipBobStock(const config::ConnectorSettings& s)
        : name_(s.name), api_(s.base_url, "Bearer " + s.auth.token) {}

    StockPoll Poll(HttpClient& client, const std::string& since, const std::function<bool()>& stopping) override {
        StockPoll out;
        out.watermark = since;
        const std::string now = model::FormatUtc(core::ToUnixMillis(std::chrono::system_clock::now()));
        constexpr int kLimit = 250;
        std::string path = "/inventory-level?Page=1&Limit=" + std::to_string(kLimit);
        std::string previous_first;  // a server that ignores Page would answer the first page forever
        for (int page = 1; page <= 400 && !path.empty(); ++page) {
            if (stopping()) return Stopped();
            const HttpAnswer a = api_.Call(client, "GET", path);
            if (a.transport != HttpAnswer::Transport::kAnswered || a.status != 200) {
                DeliveryResult r = ClassifyAnswer(a);
                r.reason = "list inventory-level: " + (a.transport == HttpAnswer::Transport::kAnswered
                                                           ? "HTTP " + std::to_string(a.status) + " " + Messages(a.body)
                                                           : r.reason);
                out.levels.clear();
                out.error = r;
                return out;
            }
            const json j = json::parse(a.body, nullptr, false);
            // The classic answer is a list paged by Page/Limit; newer API versions answer an envelope
            // {"items", "next"} whose `next` is followed while it stays under base_url.
            const bool envelope = j.is_object() && j.contains("items") && j["items"].is_array();
            const json rows = j.is_array() ? j : envelope ? j["items"] : json::array();
            const std::string first = rows.empty() ? "" : rows[0].dump();
            if (page > 1 && first == previous_first) break;
            previous_first = first;
            for (const auto& item : rows) {
                const auto on_hand = detail::Number(item, "total_on_hand_quantity");
                if (!on_hand) continue;
                const double sellable =
                    detail::Number(item, "total_sellable_quantity")
                        .value_or(detail::Number(item, "total_fulfillable_quantity").value_or(*on_hand));
                if (auto level = SourceLevel(Str(item, "sku"), name_, *on_hand, *on_hand - sellable, now, name_))
                    out.levels.push_back(std::move(*level));
            }
            if (envelope) {
                const std::string next = Str(j, "next");
                path = next.rfind(api_.Base(), 0) == 0 ? next.substr(api_.Base().size()) : std::string();
            } else {
                path = static_cast<int>(rows.size()) < kLimit
                           ? std::string()
                           : "/inventory-level?Page=" + std::to_string(page + 1) + "&Limit=" + std::to_string(kLimit);
            }
        }
        return out;
    }

  private:
    std::string name_;
    detail::JsonApi api_;
};

}  // namespace

std::unique_ptr<StockSource> MakeShipBobStockSource(const config::ConnectorSettings& settings) {
    return std::make_unique<ShipBobStock>(settings);
}

std::unique_ptr<Connector> MakeShipBobConnector(const config::ConnectorSettings& settings) {
    return std::make_unique<ShipBobConnector>(settings);
}

}  // namespace orderbridge::dispatch

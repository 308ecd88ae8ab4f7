// The `woocommerce` connector: the implicit `woo:<store>` lane that writes back into a store through
// the REST API v3 (research/woocommerce.md section 3).
//
//   inventory.updated   stock_quantity (with manage_stock true, never alone) through the products and
//                       variations batch endpoints, at most 100 items a request; the products are
//                       found by SKU (`GET /products?sku=A,B` covers variations too); per-item errors
//                       inside the 200 fail only their delivery
//   shipment.*          a customer note with carrier and tracking number (posted once: the notes are
//                       read first), then the order `completed` when the shipment completes it; a
//                       voided label gets a private note and puts a completed order back to processing
// Authentication is WooRest's (Basic over https, OAuth 1.0a over plain http).
#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "json_api.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/woo_rest.hpp"
#include "orderbridge/model/identity.hpp"
#include "orderbridge/woo/signature.hpp"

namespace orderbridge::dispatch {
namespace {

using nlohmann::json;

using detail::Str;

struct Found {
    std::int64_t id = 0;
    std::int64_t parent_id = 0;  ///< variations only
};

class WooCommerceConnector final : public Connector {
  public:
    explicit WooCommerceConnector(config::ConnectorSettings s)
        : s_(std::move(s)), rest_(s_.base_url, s_.auth.api_key, s_.auth.api_secret, s_.oauth_signature_method) {}
    const std::string& Name() const override { return s_.name; }
    int MaxCallsPerDelivery() const override { return 4; }
    int MaxBatch() const override { return 100; }
    bool Batchable(const store::DeliveryTask& first, const store::DeliveryTask& task) const override {
        return first.type == "inventory.updated" && task.type == "inventory.updated";
    }

    DeliveryResult Deliver(const store::DeliveryTask& task, HttpClient& client) override {
        if (task.type == "inventory.updated") return DeliverBatch({task}, client).front();
        if (task.type.rfind("shipment.", 0) == 0) return Shipment(task, client);
        DeliveryResult r;
        r.reason = "not sent: " + task.type + " is not written to WooCommerce";
        return r;
    }

    std::vector<DeliveryResult> DeliverBatch(const std::vector<store::DeliveryTask>& tasks,
                                             HttpClient& client) override {
        std::vector<DeliveryResult> results(tasks.size());
        // sku -> indexes of the tasks (the newest level of a SKU wins inside one batch)
        std::map<std::string, std::vector<std::size_t>> by_sku;
        std::vector<std::int64_t> quantity(tasks.size(), 0);
        for (std::size_t i = 0; i < tasks.size(); ++i) {
            const json env = json::parse(tasks[i].payload, nullptr, false);
            const json data = env.is_object() ? env.value("data", json()) : json();
            const std::string sku = Str(data, "sku");
            if (sku.empty() || !data.contains("available") || !data["available"].is_number_integer()) {
                results[i] = detail::Permanent("the event is not an inventory level with sku and available");
                continue;
            }
            quantity[i] = data["available"].get<std::int64_t>();
            const std::string as_of = Str(data, "as_of");
            results[i].source_ms = model::ParseWooGmt(as_of);
            by_sku[sku].push_back(i);
        }
        if (by_sku.empty()) return results;

        // Find the products and variations of these SKUs.
        std::string skus;
        for (const auto& [sku, idx] : by_sku)
            skus += (skus.empty() ? "" : ",") + sku;
        const HttpAnswer found_answer = Call(client, "GET", "/products", {{"sku", skus}, {"per_page", "100"}}, nullptr);
        DeliveryResult lookup = Classify(found_answer, "find products by SKU");
        if (!lookup.Succeeded()) {
            for (const auto& [sku, idx] : by_sku)
                for (std::size_t i : idx)
                    results[i] = WithSource(lookup, results[i]);
            return results;
        }
        std::map<std::string, Found> products;
        const json list = json::parse(found_answer.body, nullptr, false);
        if (list.is_array()) {
            for (const auto& p : list) {
                const std::string sku = Str(p, "sku");
                if (sku.empty() || !by_sku.contains(sku) || !p.contains("id") || !p["id"].is_number_integer()) continue;
                Found f;
                f.id = p["id"].get<std::int64_t>();
                if (Str(p, "type") == "variation" && p.contains("parent_id") && p["parent_id"].is_number_integer())
                    f.parent_id = p["parent_id"].get<std::int64_t>();
                products[sku] = f;
            }
        }

        // One batch request per endpoint: the products, and the variations of each parent.
        std::map<std::int64_t, std::vector<std::string>> groups;  // parent id (0: products) -> skus
        for (const auto& [sku, idx] : by_sku) {
            auto it = products.find(sku);
            if (it == products.end()) {
                for (std::size_t i : idx) {
                    results[i].reason = "not sent: the store has no product or variation with SKU " + sku;
                }
                continue;
            }
            groups[it->second.parent_id].push_back(sku);
        }
        for (const auto& [parent, group_skus] : groups) {
            json update = json::array();
            std::map<std::int64_t, std::string> sku_of;
            for (const auto& sku : group_skus) {
                const Found& f = products[sku];
                sku_of[f.id] = sku;
                update.push_back(
                    {{"id", f.id}, {"manage_stock", true}, {"stock_quantity", quantity[by_sku[sku].back()]}});
            }
            const json body = {{"update", update}};
            const std::string path =
                parent == 0 ? "/products/batch" : "/products/" + std::to_string(parent) + "/variations/batch";
            const HttpAnswer a = Call(client, "POST", path, {}, &body);
            const DeliveryResult call = Classify(a, "stock batch " + path);
            std::map<std::string, DeliveryResult> per_sku;
            if (call.Succeeded()) {
                const json answer = json::parse(a.body, nullptr, false);
                const json items = answer.is_object() ? answer.value("update", json::array()) : json::array();
                for (const auto& item : items) {
                    if (!item.contains("id") || !item["id"].is_number_integer()) continue;
                    auto s = sku_of.find(item["id"].get<std::int64_t>());
                    if (s == sku_of.end()) continue;
                    DeliveryResult r;
                    if (item.contains("error")) {
                        const json& e = item["error"];
                        const int status =
                            e.contains("data") && e["data"].is_object() ? e["data"].value("status", 400) : 400;
                        r.error_class = status >= 500 ? core::ErrorClass::kTransient : core::ErrorClass::kPermanent;
                        r.http_status = status;
                        r.reason = "stock of " + s->second + " refused: " + WooRestError(e.dump());
                    } else {
                        r.http_status = a.status;
                        r.external_id = item["id"].dump();
                        r.reason = "stock_quantity " + std::to_string(quantity[by_sku[s->second].back()]);
                    }
                    per_sku[s->second] = r;
                }
            }
            for (const auto& sku : group_skus) {
                DeliveryResult r = call;
                if (call.Succeeded()) {
                    auto it = per_sku.find(sku);
                    if (it != per_sku.end()) {
                        r = it->second;
                    } else {
                        r.error_class = core::ErrorClass::kTransient;
                        r.reason = "the batch answer has no item for SKU " + sku;
                    }
                }
                const auto& idx = by_sku[sku];
                for (std::size_t k = 0; k < idx.size(); ++k) {
                    DeliveryResult mine = WithSource(r, results[idx[k]]);
                    if (k + 1 < idx.size() && mine.Succeeded())
                        mine.reason = "overtaken by a newer level in the same batch";
                    results[idx[k]] = mine;
                }
            }
        }
        return results;
    }

  private:
    // A result that keeps the source time of the level it answers for (the sync-delay metric).
    static DeliveryResult WithSource(DeliveryResult r, const DeliveryResult& from) {
        r.source_ms = from.source_ms;
        return r;
    }

    DeliveryResult Shipment(const store::DeliveryTask& task, HttpClient& client) {
        const json env = json::parse(task.payload, nullptr, false);
        const json data = env.is_object() ? env.value("data", json()) : json();
        const std::string order_ref = Str(data, "order_ref");
        const std::string prefix = "wc:" + s_.store + ":";
        if (order_ref.rfind(prefix, 0) != 0)
            return detail::Permanent("the shipment's order " + order_ref + " is not an order of store " + s_.store);
        const std::string number = order_ref.substr(prefix.size());
        const std::string order_path = "/orders/" + UrlEncode(number);
        const std::string status = Str(data, "status");
        const bool voided = status == "voided" || status == "cancelled";
        const bool shipped = status == "shipped" || status == "in_transit" || status == "delivered";
        if (!voided && !shipped) {
            DeliveryResult r;
            r.reason = "not written: shipment status " + status;
            return r;
        }

        const HttpAnswer order_answer = Call(client, "GET", order_path, {}, nullptr);
        DeliveryResult r = Classify(order_answer, "read order");
        if (!r.Succeeded()) return r;
        const std::string woo_status = Str(json::parse(order_answer.body, nullptr, false), "status");

        const std::string note = NoteText(data, voided);
        const HttpAnswer notes_answer = Call(client, "GET", order_path + "/notes", {}, nullptr);
        r = Classify(notes_answer, "read order notes");
        if (!r.Succeeded()) return r;
        bool noted = false;
        for (const auto& n : json::parse(notes_answer.body, nullptr, false)) {
            if (Str(n, "note") == note) noted = true;
        }
        if (!noted) {
            const json body = {{"note", note}, {"customer_note", !voided}};
            r = Classify(Call(client, "POST", order_path + "/notes", {}, &body), "add order note");
            if (!r.Succeeded()) return r;
        }

        std::string target;
        if (shipped && data.value("completes_order", json()) == json(true) && woo_status != "completed") {
            target = "completed";
        } else if (voided && woo_status == "completed") {
            target = "processing";
        }
        if (!target.empty()) {
            const json body = {{"status", target}};
            r = Classify(Call(client, "PUT", order_path, {}, &body), "set order status");
            if (!r.Succeeded()) return r;
        }
        r.external_id = number;
        r.reason = target.empty() ? (noted ? "note already there; status " + woo_status + " kept"
                                           : "note added; status " + woo_status + " kept")
                                  : "note added; status " + woo_status + " -> " + target;
        return r;
    }

    static std::string NoteText(const json& s, bool voided) {
        std::string carrier = Str(s, "carrier_code");
        const std::string service = Str(s, "service_code");
        const std::string tracking = Str(s, "tracking_number");
        const std::string url = Str(s, "tracking_url");
        if (voided) {
            return "The shipping label " + (tracking.empty() ? std::string() : tracking + " ") + "(" + carrier +
                   ") was voided; the shipment is cancelled.";
        }
        std::string text = IsPartial(s) ? "Part of your order has shipped" : "Your order has shipped";
        if (!carrier.empty()) text += " via " + carrier + (service.empty() ? "" : " (" + service + ")");
        if (!tracking.empty()) text += ". Tracking number: " + tracking;
        if (!url.empty()) text += " " + url;
        return text + ".";
    }

    static bool IsPartial(const json& s) { return s.value("completes_order", json()) == json(false); }

    HttpAnswer Call(HttpClient& client, const std::string& method, const std::string& path,
                    std::vector<std::pair<std::string, std::string>> query, const json* body) {
        return rest_.Call(client, method, path, std::move(query), body ? body->dump() : std::string{});
    }

    static DeliveryResult Classify(const HttpAnswer& a, const std::string& step) {
        DeliveryResult r = ClassifyAnswer(a);
        if (r.Succeeded()) return r;
        if (a.transport == HttpAnswer::Transport::kAnswered) {
            const std::string said = WooRestError(a.body);
            r.reason = step + ": HTTP " + std::to_string(a.status) + (said.empty() ? "" : " " + said);
        } else {
            r.reason = step + ": " + r.reason;
        }
        return r;
    }

    config::ConnectorSettings s_;
    WooRest rest_;
};

}  // namespace

std::unique_ptr<Connector> MakeWooCommerceConnector(const config::ConnectorSettings& settings) {
    return std::make_unique<WooCommerceConnector>(settings);
}

}  // namespace orderbridge::dispatch

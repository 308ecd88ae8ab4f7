// The `erpnext` connector (research/erp_3pl.md section 1): WooCommerce orders become submitted
// Sales Orders through the Frappe REST API.
//
//   order paid (created/updated)  find the Sales Order by po_no (= the order's idempotency key);
//                                 none: find the Customer by email, else create it (never blind:
//                                 ERPNext renames duplicate customer names silently), create the
//                                 Sales Order, submit it (docstatus 1). A draft left by an earlier
//                                 attempt is submitted; a submitted one is the same order (success).
//   order cancelled / deleted     cancel the Sales Order while nothing has been delivered
//   order not paid yet            nothing is sent (success, with the reason recorded)
//   refund.created                a money-only credit note: a Sales Invoice with is_return 1,
//                                 update_stock 0, one line of the configured `refund_item` at minus
//                                 the refunded amount, po_no = the refund's idempotency key (found
//                                 by it before it is created again), the customer of the order's
//                                 Sales Order; submitted in the insert
// After an ambiguous failure (timeout, reset) Lookup finds the order by po_no before any retry.
// Frappe's validation errors are HTTP 417 with the text in `_server_messages`, a JSON string of
// JSON strings: parsed twice, HTML stripped. Submitted orders are locked in ERPNext: later changes
// of a WooCommerce order are not propagated (docs/connectors.md).
#include <charconv>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "json_api.hpp"
#include "orderbridge/dispatch/connector.hpp"

namespace orderbridge::dispatch {
namespace {

using nlohmann::json;

std::string StripHtml(const std::string& in) {
    std::string out;
    bool tag = false;
    for (char c : in) {
        if (c == '<')
            tag = true;
        else if (c == '>')
            tag = false;
        else if (!tag)
            out += c;
    }
    return out;
}

/// The human messages of a Frappe answer: `_server_messages` (a JSON string holding a list of JSON
/// strings), else `exception`, else `message`.
std::string FrappeMessages(const std::string& body) {
    const json j = json::parse(body, nullptr, false);
    if (!j.is_object()) return {};
    std::string out;
    if (j.contains("_server_messages") && j["_server_messages"].is_string()) {
        const json list = json::parse(j["_server_messages"].get<std::string>(), nullptr, false);
        if (list.is_array()) {
            for (const auto& item : list) {
                const json m = item.is_string() ? json::parse(item.get<std::string>(), nullptr, false) : item;
                std::string text;
                if (m.is_object() && m.contains("message") && m["message"].is_string())
                    text = m["message"];
                else if (item.is_string())
                    text = item.get<std::string>();
                if (!text.empty()) out += (out.empty() ? "" : "; ") + StripHtml(text);
            }
        }
    }
    if (out.empty() && j.contains("exception") && j["exception"].is_string()) out = j["exception"];
    if (out.empty() && j.contains("message") && j["message"].is_string()) out = j["message"];
    return out;
}

std::string AddDays(const std::string& date, int days) {
    int y = 0, m = 0, d = 0;
    if (date.size() < 10 || std::sscanf(date.c_str(), "%d-%d-%d", &y, &m, &d) != 3) return date;
    using namespace std::chrono;
    const sys_days day =
        year_month_day{year{y}, month{static_cast<unsigned>(m)}, ::std::chrono::day{static_cast<unsigned>(d)}};
    const year_month_day out{day + ::std::chrono::days{days}};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(out.year()), static_cast<unsigned>(out.month()),
                  static_cast<unsigned>(out.day()));
    return buf;
}

class ErpNextConnector final : public Connector {
  public:
    explicit ErpNextConnector(config::ConnectorSettings s)
        : s_(std::move(s)), api_(s_.base_url, "token " + s_.auth.api_key + ":" + s_.auth.api_secret) {}
    const std::string& Name() const override { return s_.name; }
    // find order, find customer, create customer, create order, (find again,) submit
    int MaxCallsPerDelivery() const override { return 6; }

    DeliveryResult Deliver(const store::DeliveryTask& task, HttpClient& client) override {
        const json env = json::parse(task.payload, nullptr, false);
        if (!env.is_object() || !env.contains("data") || !env["data"].is_object())
            return detail::Permanent("the event is not an order envelope");
        const json& order = env["data"];
        const std::string key = env.value("idempotency_key", "");
        if (task.type == "refund.created") return CreditNote(client, key, order, env.value("occurred_at", ""));
        const std::string status = order.value("canonical_status", "");
        if (task.type == "order.cancelled" || task.type == "order.deleted" || status == "cancelled")
            return Cancel(client, key);
        if (status == "awaiting_payment" || status == "payment_failed") {
            DeliveryResult r;
            r.reason = "not sent: the order is " + status;
            return r;
        }
        return CreateOrSubmit(client, key, order);
    }

    std::optional<DeliveryResult> Lookup(const store::DeliveryTask& task, HttpClient& client) override {
        if (task.type == "order.cancelled" || task.type == "order.deleted") return std::nullopt;
        const json env = json::parse(task.payload, nullptr, false);
        if (!env.is_object()) return std::nullopt;
        if (task.type == "refund.created") {
            json note;
            if (FindCreditNote(client, env.value("idempotency_key", ""), note) || note.is_null()) return std::nullopt;
            return ExistingCreditNote(client, note);
        }
        json so;
        if (auto err = FindSalesOrder(client, env.value("idempotency_key", ""), so)) return std::nullopt;
        if (so.is_null()) return std::nullopt;  // it did not arrive: creating it again is safe
        return Existing(client, so);
    }

  private:
    HttpAnswer Call(HttpClient& client, const std::string& method, const std::string& path,
                    const json* body = nullptr) {
        return api_.Call(client, method, path, body);
    }

    // A failed answer in the taxonomy, with ERPNext's own words.
    static DeliveryResult Failure(const HttpAnswer& a, const std::string& step) {
        DeliveryResult r = ClassifyAnswer(a);
        if (a.transport == HttpAnswer::Transport::kAnswered) {
            if (a.status == 417) r.error_class = core::ErrorClass::kPermanent;  // ValidationError
            if (a.status == 508) r.error_class = core::ErrorClass::kTransient;  // deadlock or lock timeout
            const std::string said = FrappeMessages(a.body);
            r.reason = step + ": HTTP " + std::to_string(a.status) + (said.empty() ? "" : ": " + said);
        } else {
            r.reason = step + ": " + r.reason;
        }
        return r;
    }

    static bool Ok(const HttpAnswer& a) {
        return a.transport == HttpAnswer::Transport::kAnswered && a.status >= 200 && a.status < 300;
    }

    std::optional<DeliveryResult> FindSalesOrder(HttpClient& client, const std::string& key, json& out) {
        const json filters = json::array({json::array({"po_no", "=", key}), json::array({"docstatus", "<", 2})});
        const json fields = json::array({"name", "docstatus", "status", "delivery_status", "customer", "currency"});
        const auto a = Call(
            client, "GET",
            "/api/resource/Sales%20Order?filters=" + UrlEncode(filters.dump()) + "&fields=" + UrlEncode(fields.dump()));
        if (!Ok(a)) return Failure(a, "find Sales Order by po_no");
        const json j = json::parse(a.body, nullptr, false);
        out = nullptr;
        if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty()) out = j["data"][0];
        return std::nullopt;
    }

    DeliveryResult Submit(HttpClient& client, const std::string& name) {
        const json body = {{"docstatus", 1}};
        const auto a = Call(client, "PUT", "/api/resource/Sales%20Order/" + UrlEncode(name), &body);
        if (!Ok(a)) return Failure(a, "submit Sales Order " + name);
        DeliveryResult r;
        r.external_id = name;
        return r;
    }

    // A Sales Order for this WooCommerce order already exists.
    DeliveryResult Existing(HttpClient& client, const json& so) {
        const std::string name = so.value("name", "");
        if (so.value("docstatus", 0) == 0) return Submit(client, name);  // a draft left by an earlier attempt
        DeliveryResult r;
        r.error_class = core::ErrorClass::kDuplicate;
        r.external_id = name;
        r.reason = "Sales Order " + name + " exists and is submitted (ERPNext locks submitted orders)";
        return r;
    }

    std::optional<DeliveryResult> EnsureCustomer(HttpClient& client, const json& order, std::string& name) {
        const json& c = order.contains("customer") ? order["customer"] : json::object();
        const std::string email = c.value("email", "");
        if (!email.empty()) {
            const json filters = json::array({json::array({"email_id", "=", email})});
            const auto a = Call(
                client, "GET",
                "/api/resource/Customer?filters=" + UrlEncode(filters.dump()) + "&fields=" + UrlEncode(R"(["name"])"));
            if (!Ok(a)) return Failure(a, "find Customer by email");
            const json j = json::parse(a.body, nullptr, false);
            if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty()) {
                name = j["data"][0].value("name", "");
                return std::nullopt;
            }
        }
        std::string full = c.value("first_name", "") + " " + c.value("last_name", "");
        while (!full.empty() && full.front() == ' ')
            full.erase(full.begin());
        while (!full.empty() && full.back() == ' ')
            full.pop_back();
        if (full.empty()) full = email.empty() ? "WooCommerce customer" : email;
        json body = {{"customer_name", full},
                     {"customer_type", c.value("company", "").empty() ? "Individual" : "Company"},
                     {"customer_group", s_.customer_group},
                     {"territory", s_.territory}};
        if (!email.empty()) body["email_id"] = email;
        const auto a = Call(client, "POST", "/api/resource/Customer", &body);
        if (!Ok(a)) return Failure(a, "create Customer");
        const json j = json::parse(a.body, nullptr, false);
        name = j.is_object() && j.contains("data") ? j["data"].value("name", "") : "";
        if (name.empty()) return detail::Permanent("create Customer: the answer names no customer");
        return std::nullopt;
    }

    std::optional<DeliveryResult> BuildSalesOrder(const json& order, const std::string& customer,
                                                  const std::string& key, json& body) {
        const int exp = order.value("currency_exponent", 2);
        const std::string date = order.value("created_at", "").substr(0, 10);
        json items = json::array();
        for (const auto& line : order.value("lines", json::array())) {
            const std::string sku =
                line.contains("sku") && line["sku"].is_string() ? line["sku"].get<std::string>() : "";
            if (sku.empty())
                return detail::Permanent("line " + line.value("line_id", "?") + " has no SKU to use as item_code");
            items.push_back({{"item_code", sku},
                             {"qty", line.value("quantity", 0)},
                             {"rate", detail::MajorUnits(line.value("unit_price_excl", std::int64_t{0}), exp)}});
        }
        if (items.empty()) return detail::Permanent("the order has no lines");
        const json totals = order.value("totals", json::object());
        json taxes = json::array();
        if (!s_.shipping_account.empty() && totals.value("shipping_total", std::int64_t{0}) != 0) {
            taxes.push_back({{"charge_type", "Actual"},
                             {"account_head", s_.shipping_account},
                             {"description", "Shipping"},
                             {"tax_amount", detail::MajorUnits(totals.value("shipping_total", std::int64_t{0}), exp)}});
        }
        if (!s_.tax_account.empty() && totals.value("tax_total", std::int64_t{0}) != 0) {
            taxes.push_back({{"charge_type", "Actual"},
                             {"account_head", s_.tax_account},
                             {"description", "Tax (WooCommerce)"},
                             {"tax_amount", detail::MajorUnits(totals.value("tax_total", std::int64_t{0}), exp)}});
        }
        body = {{"customer", customer},
                {"company", s_.company},
                {"transaction_date", date},
                {"delivery_date", AddDays(date, s_.delivery_days)},
                {"po_no", key},
                {"currency", order.value("currency", "")},
                {"set_warehouse", s_.warehouse},
                {"items", items}};
        if (!taxes.empty()) body["taxes"] = taxes;
        if (const auto discount = totals.value("discount_total", std::int64_t{0}); discount != 0) {
            body["apply_discount_on"] = "Net Total";
            body["discount_amount"] = detail::MajorUnits(discount, exp);
        }
        return std::nullopt;
    }

    DeliveryResult CreateOrSubmit(HttpClient& client, const std::string& key, const json& order) {
        json so;
        if (auto err = FindSalesOrder(client, key, so)) return *err;
        if (!so.is_null()) return Existing(client, so);
        std::string customer;
        if (auto err = EnsureCustomer(client, order, customer)) return *err;
        json body;
        if (auto err = BuildSalesOrder(order, customer, key, body)) return *err;
        const auto a = Call(client, "POST", "/api/resource/Sales%20Order", &body);
        if (!Ok(a)) {
            DeliveryResult r = Failure(a, "create Sales Order");
            // Someone (an earlier attempt) created it meanwhile: po_no is ERPNext's own dedupe key.
            if (a.status == 409 || (a.status == 417 && r.reason.find("already exists") != std::string::npos)) {
                if (!FindSalesOrder(client, key, so) && !so.is_null()) return Existing(client, so);
            }
            return r;
        }
        const json j = json::parse(a.body, nullptr, false);
        const std::string name = j.is_object() && j.contains("data") ? j["data"].value("name", "") : "";
        if (name.empty()) return detail::Permanent("create Sales Order: the answer names no order");
        return Submit(client, name);
    }

    DeliveryResult Cancel(HttpClient& client, const std::string& key) {
        json so;
        if (auto err = FindSalesOrder(client, key, so)) return *err;
        DeliveryResult r;
        if (so.is_null()) {
            r.reason = "no open Sales Order to cancel";
            return r;
        }
        const std::string name = so.value("name", "");
        r.external_id = name;
        if (so.value("docstatus", 0) == 0)
            return detail::Permanent("Sales Order " + name + " is a draft: delete it in ERPNext");
        const std::string delivered = so.value("delivery_status", "Not Delivered");
        if (delivered != "Not Delivered" && delivered != "Not Applicable") {
            return detail::Permanent(
                "Sales Order " + name + " is " + delivered +
                ": goods have left, so it is not cancelled automatically (a return is a person's call)");
        }
        const json body = {{"doctype", "Sales Order"}, {"name", name}};
        const auto a = Call(client, "POST", "/api/method/frappe.client.cancel", &body);
        if (!Ok(a)) return Failure(a, "cancel Sales Order " + name);
        r.reason = "Sales Order " + name + " cancelled";
        return r;
    }

    std::optional<DeliveryResult> FindCreditNote(HttpClient& client, const std::string& key, json& out) {
        const json filters = json::array(
            {json::array({"po_no", "=", key}), json::array({"is_return", "=", 1}), json::array({"docstatus", "<", 2})});
        const auto a = Call(client, "GET",
                            "/api/resource/Sales%20Invoice?filters=" + UrlEncode(filters.dump()) +
                                "&fields=" + UrlEncode(R"(["name","docstatus"])"));
        if (!Ok(a)) return Failure(a, "find credit note by po_no");
        const json j = json::parse(a.body, nullptr, false);
        out = nullptr;
        if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty()) out = j["data"][0];
        return std::nullopt;
    }

    DeliveryResult ExistingCreditNote(HttpClient& client, const json& note) {
        const std::string name = note.value("name", "");
        if (note.value("docstatus", 0) == 0) {
            const json body = {{"docstatus", 1}};
            const auto a = Call(client, "PUT", "/api/resource/Sales%20Invoice/" + UrlEncode(name), &body);
            if (!Ok(a)) return Failure(a, "submit credit note " + name);
            DeliveryResult r;
            r.external_id = name;
            r.reason = "credit note " + name + " submitted";
            return r;
        }
        DeliveryResult r;
        r.error_class = core::ErrorClass::kDuplicate;
        r.external_id = name;
        r.reason = "credit note " + name + " exists";
        return r;
    }

    DeliveryResult CreditNote(HttpClient& client, const std::string& key, const json& refund,
                              const std::string& occurred_at) {
        if (s_.refund_item.empty())
            return detail::Permanent("refunds need connectors[].refund_item (a non-stock Item for credit notes)");
        json note;
        if (auto err = FindCreditNote(client, key, note)) return *err;
        if (!note.is_null()) return ExistingCreditNote(client, note);
        const std::string order_ref = refund.value("order_ref", "");
        json so;
        if (auto err = FindSalesOrder(client, order_ref, so)) return *err;
        if (so.is_null()) {
            // The order may still be on its way (or was never sent): try again later.
            DeliveryResult r;
            r.error_class = core::ErrorClass::kTransient;
            r.reason = "no Sales Order with po_no " + order_ref + " yet: the refund waits for its order";
            return r;
        }
        const int exp = refund.value("currency_exponent", 2);
        std::string remarks = "WooCommerce refund " + refund.value("source_refund_id", "") + " of order " + order_ref;
        if (!refund.value("reason", "").empty()) remarks += ": " + refund.value("reason", "");
        const json body = {
            {"customer", so.value("customer", "")},
            {"company", s_.company},
            {"posting_date", occurred_at.substr(0, 10)},
            {"set_posting_time", 1},  // else ERPNext posts it today, not on the refund's date
            {"is_return", 1},
            {"update_stock", 0},
            {"po_no", key},
            {"currency", refund.value("currency", so.value("currency", ""))},
            {"remarks", remarks},
            {"items", json::array({{{"item_code", s_.refund_item},
                                    {"qty", -1},
                                    {"rate", detail::MajorUnits(refund.value("amount", std::int64_t{0}), exp)}}})},
            {"docstatus", 1}};
        const auto a = Call(client, "POST", "/api/resource/Sales%20Invoice", &body);
        if (!Ok(a)) return Failure(a, "create credit note");
        const json j = json::parse(a.body, nullptr, false);
        DeliveryResult r;
        r.external_id = j.is_object() && j.contains("data") ? j["data"].value("name", "") : "";
        r.reason = "credit note " + r.external_id + " against Sales Order " + so.value("name", "");
        return r;
    }

    config::ConnectorSettings s_;
    detail::JsonApi api_;
};

}  // namespace

std::unique_ptr<Connector> MakeErpNextConnector(const config::ConnectorSettings& settings) {
    return std::make_unique<ErpNextConnector>(settings);
}

}  // namespace orderbridge::dispatch

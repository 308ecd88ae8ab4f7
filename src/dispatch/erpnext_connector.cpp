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
//   shipment.* (from a 3PL)       shipped / in transit / delivered: a submitted Delivery Note made by
//                                 ERPNext's make_delivery_note from the Sales Order, trimmed to the
//                                 shipment's SKUs and quantities, lr_no = tracking number (found by
//                                 po_no + lr_no before it is made again); voided: that note cancelled
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
#include <map>
#include <nlohmann/json.hpp>

#include "json_api.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/stock_source.hpp"

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

// A failed answer in the taxonomy, with ERPNext's own words.
DeliveryResult Failure(const HttpAnswer& a, const std::string& step) {
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

bool Ok(const HttpAnswer& a) {
    return a.transport == HttpAnswer::Transport::kAnswered && a.status >= 200 && a.status < 300;
}

detail::JsonApi FrappeApi(const config::ConnectorSettings& s) {
    return detail::JsonApi(s.base_url, "token " + s.auth.api_key + ":" + s.auth.api_secret);
}

class ErpNextConnector final : public Connector {
  public:
    explicit ErpNextConnector(config::ConnectorSettings s) : s_(std::move(s)), api_(FrappeApi(s_)) {}
    const std::string& Name() const override { return s_.name; }
    // find order, find customer, create customer, create order, (find again,) submit
    int MaxCallsPerDelivery() const override { return 6; }

    DeliveryResult Deliver(const store::DeliveryTask& task, HttpClient& client) override {
        json env;
        if (auto bad = detail::ParseEnvelope(task.payload, env)) return *bad;
        const json& order = env["data"];
        const std::string key = env.value("idempotency_key", "");
        if (task.type.rfind("shipment.", 0) == 0) return ShipmentNote(client, order);
        if (task.type == "refund.created") return CreditNote(client, key, order, env.value("occurred_at", ""));
        switch (detail::ErpStepOf(task.type, order)) {
            case detail::ErpOrderStep::kCancel:
                return Cancel(client, key);
            case detail::ErpOrderStep::kNotYet:
                return detail::NotSent(order);
            case detail::ErpOrderStep::kCreate:
                break;
        }
        return CreateOrSubmit(client, key, order);
    }

    std::optional<DeliveryResult> Lookup(const store::DeliveryTask& task, HttpClient& client) override {
        if (task.type == "order.cancelled" || task.type == "order.deleted") return std::nullopt;
        const json env = json::parse(task.payload, nullptr, false);
        if (!env.is_object()) return std::nullopt;
        if (task.type.rfind("shipment.", 0) == 0) {
            const json& shipment = env.contains("data") ? env["data"] : json();
            // A void that may not have gone through is simply tried again (Deliver cancels what is there).
            const std::string status = detail::Str(shipment, "status");
            if (status == "voided" || status == "cancelled") return std::nullopt;
            json dn;
            if (FindDeliveryNote(client, shipment, dn) || dn.is_null()) return std::nullopt;
            return ExistingDeliveryNote(client, dn);
        }
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

    // --- shipments from a 3PL: Delivery Notes against the Sales Order -------------------------------

    /// What identifies the shipment's Delivery Note besides its po_no: the tracking number (Transport
    /// Receipt No), else the shipment's id.
    static std::string TransportNo(const json& shipment) {
        const std::string tracking = detail::Str(shipment, "tracking_number");
        return tracking.empty() ? detail::Str(shipment, "id") : tracking;
    }

    std::optional<DeliveryResult> FindDeliveryNote(HttpClient& client, const json& shipment, json& out) {
        const json filters =
            json::array({json::array({"po_no", "=", detail::Str(shipment, "order_ref")}),
                         json::array({"lr_no", "=", TransportNo(shipment)}), json::array({"docstatus", "<", 2})});
        const auto a = Call(client, "GET",
                            "/api/resource/Delivery%20Note?filters=" + UrlEncode(filters.dump()) +
                                "&fields=" + UrlEncode(R"(["name","docstatus"])"));
        if (!Ok(a)) return Failure(a, "find Delivery Note by po_no and lr_no");
        const json j = json::parse(a.body, nullptr, false);
        out = nullptr;
        if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty()) out = j["data"][0];
        return std::nullopt;
    }

    DeliveryResult ExistingDeliveryNote(HttpClient& client, const json& dn) {
        const std::string name = dn.value("name", "");
        DeliveryResult r;
        r.external_id = name;
        if (dn.value("docstatus", 0) == 0) {
            const json body = {{"docstatus", 1}};
            const auto a = Call(client, "PUT", "/api/resource/Delivery%20Note/" + UrlEncode(name), &body);
            if (!Ok(a)) return Failure(a, "submit Delivery Note " + name);
            r.reason = "Delivery Note " + name + " submitted";
            return r;
        }
        r.error_class = core::ErrorClass::kDuplicate;
        r.reason = "Delivery Note " + name + " exists";
        return r;
    }

    DeliveryResult CancelDeliveryNote(HttpClient& client, const json& shipment) {
        json dn;
        if (auto err = FindDeliveryNote(client, shipment, dn)) return *err;
        DeliveryResult r;
        if (dn.is_null()) {
            r.reason = "no Delivery Note for this shipment";
            return r;
        }
        const std::string name = dn.value("name", "");
        r.external_id = name;
        HttpAnswer a;
        if (dn.value("docstatus", 0) == 0) {
            a = Call(client, "DELETE", "/api/resource/Delivery%20Note/" + UrlEncode(name));
        } else {
            const json body = {{"doctype", "Delivery Note"}, {"name", name}};
            a = Call(client, "POST", "/api/method/frappe.client.cancel", &body);
        }
        if (!Ok(a)) return Failure(a, "cancel Delivery Note " + name);
        r.reason = "Delivery Note " + name + (dn.value("docstatus", 0) == 0 ? " (draft) deleted" : " cancelled");
        return r;
    }

    // A shipped (in transit, delivered) shipment becomes a submitted Delivery Note made from the Sales
    // Order with ERPNext's own mapper, trimmed to the shipment's lines; a voided one cancels it.
    DeliveryResult ShipmentNote(HttpClient& client, const json& shipment) {
        const std::string status = detail::Str(shipment, "status");
        if (status == "voided" || status == "cancelled") return CancelDeliveryNote(client, shipment);
        if (status != "shipped" && status != "in_transit" && status != "delivered") {
            DeliveryResult r;
            r.reason = "not recorded: shipment status " + status;
            return r;
        }
        json dn;
        if (auto err = FindDeliveryNote(client, shipment, dn)) return *err;
        if (!dn.is_null()) return ExistingDeliveryNote(client, dn);
        const std::string order_ref = detail::Str(shipment, "order_ref");
        json so;
        if (auto err = FindSalesOrder(client, order_ref, so)) return *err;
        if (so.is_null() || so.value("docstatus", 0) != 1) {
            DeliveryResult r;
            r.error_class = core::ErrorClass::kTransient;
            r.reason = "no submitted Sales Order with po_no " + order_ref + " yet: the shipment waits for its order";
            return r;
        }
        const std::string so_name = so.value("name", "");
        const json source = {{"source_name", so_name}};
        const auto mapped = Call(
            client, "POST", "/api/method/erpnext.selling.doctype.sales_order.sales_order.make_delivery_note", &source);
        if (!Ok(mapped)) return Failure(mapped, "make Delivery Note from " + so_name);
        json doc = json::parse(mapped.body, nullptr, false);
        doc = doc.is_object() && doc.contains("message") && doc["message"].is_object() ? doc["message"] : json();
        if (doc.is_null()) return detail::Permanent("make Delivery Note from " + so_name + ": no document answered");

        // Trim the mapped rows (what is left to deliver) to what this shipment carries, by SKU; a
        // shipment without lines (a 3PL that ships orders whole) takes everything left.
        const json lines = shipment.value("lines", json::array());
        std::map<std::string, std::int64_t> shipped;
        for (const auto& l : lines)
            shipped[detail::Str(l, "sku")] += l.value("quantity", std::int64_t{0});
        json items = json::array();
        for (auto item : doc.value("items", json::array())) {
            if (!lines.empty()) {
                auto it = shipped.find(detail::Str(item, "item_code"));
                if (it == shipped.end() || it->second <= 0) continue;
                const double left = item.value("qty", 0.0);
                const double take = std::min<double>(left, static_cast<double>(it->second));
                it->second -= static_cast<std::int64_t>(take);
                item["qty"] = take;
                if (item.contains("stock_qty") && left > 0)
                    item["stock_qty"] = item.value("stock_qty", 0.0) * take / left;
            }
            items.push_back(std::move(item));
        }
        if (items.empty()) {
            DeliveryResult r;
            r.error_class = core::ErrorClass::kDuplicate;
            r.external_id = so_name;
            r.reason = "nothing of this shipment is left to deliver on Sales Order " + so_name;
            return r;
        }
        for (auto it = doc.begin(); it != doc.end();) {
            if (it.key().rfind("__", 0) == 0)
                it = doc.erase(it);
            else
                ++it;
        }
        doc["items"] = items;
        doc["lr_no"] = TransportNo(shipment);
        std::string instructions = "Shipped";
        if (!detail::Str(shipment, "carrier_code").empty())
            instructions += " via " + detail::Str(shipment, "carrier_code");
        if (!detail::Str(shipment, "tracking_number").empty())
            instructions += ", tracking " + detail::Str(shipment, "tracking_number");
        if (!detail::Str(shipment, "tracking_url").empty()) instructions += " " + detail::Str(shipment, "tracking_url");
        doc["instructions"] = instructions + " (" + detail::Str(shipment, "id") + ")";
        const std::string ship_date = detail::Str(shipment, "ship_date");
        if (ship_date.size() >= 10) {
            doc["lr_date"] = ship_date.substr(0, 10);
            doc["posting_date"] = ship_date.substr(0, 10);
            doc["set_posting_time"] = 1;  // booked on the day it left, not the day it was reported
        }
        doc["docstatus"] = 1;
        const auto a = Call(client, "POST", "/api/resource/Delivery%20Note", &doc);
        if (!Ok(a)) return Failure(a, "create Delivery Note");
        const json j = json::parse(a.body, nullptr, false);
        DeliveryResult r;
        r.external_id = j.is_object() && j.contains("data") ? j["data"].value("name", "") : "";
        r.reason = "Delivery Note " + r.external_id + " against Sales Order " + so_name;
        return r;
    }

    config::ConnectorSettings s_;
    detail::JsonApi api_;
};

/// ERPNext's `Bin` documents by `modified` (research/erp_3pl.md 1.7 and 1.10: "poll Bin by modified"),
/// 500 a page, oldest first.
class ErpNextStock final : public StockSource {
  public:
    explicit ErpNextStock(const config::ConnectorSettings& s) : name_(s.name), api_(FrappeApi(s)) {}

    StockPoll Poll(HttpClient& client, const std::string& since, const std::function<bool()>& stopping) override {
        StockPoll out;
        out.watermark = since;
        const json filters =
            since.empty() ? json::array() : json::array({json::array({"modified", ">=", QueryFrom(since)})});
        const std::string fields = R"(["name","item_code","warehouse","actual_qty","reserved_qty","modified"])";
        constexpr int kPage = 500;
        for (int start = 0; start < kPage * 400; start += kPage) {
            if (stopping()) return Stopped();
            const auto a =
                api_.Call(client, "GET",
                          "/api/resource/Bin?filters=" + UrlEncode(filters.dump()) + "&fields=" + UrlEncode(fields) +
                              "&order_by=" + UrlEncode("modified asc") + "&limit_start=" + std::to_string(start) +
                              "&limit_page_length=" + std::to_string(kPage));
            if (!Ok(a)) {
                out.error = Failure(a, "list Bin by modified");
                return out;
            }
            const json j = json::parse(a.body, nullptr, false);
            const json rows = j.is_object() && j.contains("data") && j["data"].is_array() ? j["data"] : json::array();
            for (const auto& bin : rows) {
                if (auto level = BinLevel(bin, name_)) {
                    out.levels.push_back(std::move(*level));
                    out.watermark = std::max(out.watermark, detail::Str(bin, "modified"));
                }
            }
            if (static_cast<int>(rows.size()) < kPage) break;
        }
        return out;
    }

  private:
    std::string name_;
    detail::JsonApi api_;
};

}  // namespace

std::unique_ptr<StockSource> MakeErpNextStockSource(const config::ConnectorSettings& settings) {
    return std::make_unique<ErpNextStock>(settings);
}

std::unique_ptr<Connector> MakeErpNextConnector(const config::ConnectorSettings& settings) {
    return std::make_unique<ErpNextConnector>(settings);
}

}  // namespace orderbridge::dispatch

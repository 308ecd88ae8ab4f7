// The `odoo` connector (research/erp_3pl.md section 2): WooCommerce orders become confirmed
// sale.orders, refunds posted credit notes, over either of Odoo's external APIs:
//
//   transport json2    POST /json/2/<model>/<method> (Odoo 19+), `Authorization: bearer <api key>`,
//                      named arguments; failures have real status codes (422 UserError/
//                      ValidationError, 403 AccessError, 404 MissingError, 409 LockError, 500)
//   transport jsonrpc  POST /jsonrpc, common.authenticate once (the uid is kept), then
//                      object.execute_kw; every failure comes back as HTTP 200 with an `error` member
//
//   order paid (created/updated)  sale.order found by client_order_ref (= the order's idempotency
//                                 key; Odoo does not keep it unique, so it is always searched first);
//                                 none: res.partner by email (top-level contacts), else created with
//                                 the billing address; a delivery child partner for a different
//                                 shipping address (searched, then created); products by default_code
//                                 = SKU in one search; sale.order created with [0, 0, vals] lines,
//                                 then action_confirm. A draft left by an earlier attempt is confirmed.
//   order cancelled / deleted     action_cancel while nothing has been delivered
//   order not paid yet            nothing is sent
//   refund.created                an out_refund account.move (ref = the refund's idempotency key,
//                                 found by it first), one line of the refunded amount, posted
// After an ambiguous failure Lookup searches client_order_ref (or the credit note's ref).
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "json_api.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/stock_source.hpp"
#include "orderbridge/model/identity.hpp"

namespace orderbridge::dispatch {
namespace {

using detail::Str;
using nlohmann::json;

std::string Trimmed(std::string s) {
    while (!s.empty() && s.front() == ' ')
        s.erase(s.begin());
    while (!s.empty() && s.back() == ' ')
        s.pop_back();
    return s;
}

/// A canonical time ("2025-01-10T09:15:00Z", always UTC) as Odoo's "2025-01-10 09:15:00" (Odoo
/// stores datetimes in UTC and refuses a "T").
std::string OdooDateTime(const std::string& iso) {
    const auto ms = model::ParseWooGmt(iso);
    if (!ms) return iso;
    std::string out = model::FormatUtc(*ms / 1000 * 1000).substr(0, 19);
    out[10] = ' ';
    return out;
}

/// The id of a Many2one as search_read answers it: `[id, "name"]`, or a plain id.
std::int64_t Many2oneId(const json& v) {
    if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<std::int64_t>();
    if (v.is_number_integer()) return v.get<std::int64_t>();
    return 0;
}

/// `odoo.exceptions.ValidationError: text` from an Odoo error object (`name`, `message`).
std::string OdooErrorText(const json& e) {
    if (!e.is_object()) return {};
    std::string name = Str(e, "name");
    if (auto dot = name.rfind('.'); dot != std::string::npos) name = name.substr(dot + 1);
    const std::string message = Str(e, "message");
    if (name.empty()) return message;
    return message.empty() ? name : name + ": " + message;
}

/// The taxonomy class of an Odoo exception, by its Python class name.
core::ErrorClass ClassOfException(const std::string& name) {
    auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
    if (has("AccessDenied") || has("AccessError")) return core::ErrorClass::kAuth;
    if (has("LockError") || has("ConcurrencyError") || has("SerializationFailure") || has("OperationalError"))
        return core::ErrorClass::kTransient;
    if (has("ValidationError") || has("UserError") || has("MissingError") || has("RedirectWarning"))
        return core::ErrorClass::kPermanent;
    // Any other server exception (a bug in a custom module, a broken database): retried with
    // backoff until retry.max_attempts, then dead-lettered with Odoo's text.
    return core::ErrorClass::kTransient;
}

/// One Odoo database over one of its two external APIs. A call names a model, a method and the
/// method's arguments by name (`ids` for record methods).
class OdooApi {
  public:
    explicit OdooApi(const config::ConnectorSettings& s) : s_(s), json2_(s.transport != "jsonrpc"), base_(s.base_url) {
        while (!base_.empty() && base_.back() == '/')
            base_.pop_back();
    }

    struct Answer {
        std::optional<DeliveryResult> error;
        json value;
    };

    Answer Call(HttpClient& client, const std::string& model, const std::string& method, const json& args,
                const std::string& step) {
        return json2_ ? CallJson2(client, model, method, args, step) : CallJsonRpc(client, model, method, args, step);
    }

  private:
    HttpAnswer Post(HttpClient& client, const std::string& path, const json& body, bool bearer) const {
        HttpCall call;
        call.method = "POST";
        call.url = base_ + path;
        call.headers = {
            {"Content-Type", "application/json"}, {"Accept", "application/json"}, {"User-Agent", "orderbridge"}};
        if (bearer) call.headers.emplace_back("Authorization", "bearer " + s_.auth.api_key);
        if (bearer && !s_.database.empty()) call.headers.emplace_back("X-Odoo-Database", s_.database);
        call.body = body.dump();
        return client.Send(call);
    }

    static DeliveryResult Transport(const HttpAnswer& a, const std::string& step) {
        DeliveryResult r = ClassifyAnswer(a);
        r.reason = step + ": " +
                   (a.transport == HttpAnswer::Transport::kAnswered
                        ? "HTTP " + std::to_string(a.status) + " " + CleanText(a.body, 200)
                        : r.reason);
        return r;
    }

    Answer CallJson2(HttpClient& client, const std::string& model, const std::string& method, const json& args,
                     const std::string& step) {
        const auto a = Post(client, "/json/2/" + model + "/" + method, args, true);
        Answer out;
        if (a.transport == HttpAnswer::Transport::kAnswered && a.status == 200) {
            out.value = json::parse(a.body, nullptr, false);
            if (out.value.is_discarded()) out.error = detail::Permanent(step + ": the answer is not JSON");
            return out;
        }
        const json body =
            a.transport == HttpAnswer::Transport::kAnswered ? json::parse(a.body, nullptr, false) : json();
        if (!body.is_object() || !body.contains("name")) {  // a proxy's answer, a timeout, a reset
            out.error = Transport(a, step);
            return out;
        }
        DeliveryResult r = ClassifyAnswer(a);
        // Odoo's own answer: the class decides (a 409 is a LockError, to retry, not a duplicate).
        if (a.status != 429 && a.status != 401) r.error_class = ClassOfException(Str(body, "name"));
        r.reason = step + ": HTTP " + std::to_string(a.status) + ": " + CleanText(OdooErrorText(body), 400);
        out.error = r;
        return out;
    }

    /// The uid of the API user (common.authenticate), asked once and kept.
    std::optional<DeliveryResult> EnsureUid(HttpClient& client, std::int64_t& uid) {
        {
            std::lock_guard lock(mu_);
            if (uid_) {
                uid = *uid_;
                return std::nullopt;
            }
        }
        const json req = {{"jsonrpc", "2.0"},
                          {"method", "call"},
                          {"id", 1},
                          {"params",
                           {{"service", "common"},
                            {"method", "authenticate"},
                            {"args", json::array({s_.database, s_.auth.username, s_.auth.api_key, json::object()})}}}};
        Answer a = Decode(Post(client, "/jsonrpc", req, false), "authenticate");
        if (a.error) return a.error;
        if (!a.value.is_number_integer()) {
            DeliveryResult r;
            r.error_class = core::ErrorClass::kAuth;
            r.reason = "authenticate: Odoo refused login '" + s_.auth.username + "' on database '" + s_.database +
                       "' (wrong login, API key or database)";
            return r;
        }
        uid = a.value.get<std::int64_t>();
        std::lock_guard lock(mu_);
        uid_ = uid;
        return std::nullopt;
    }

    /// A JSON-RPC answer: `result`, or the `error` member that arrives with HTTP 200.
    Answer Decode(const HttpAnswer& a, const std::string& step) {
        Answer out;
        if (a.transport != HttpAnswer::Transport::kAnswered || a.status != 200) {
            out.error = Transport(a, step);
            return out;
        }
        const json body = json::parse(a.body, nullptr, false);
        if (!body.is_object()) {
            out.error = detail::Permanent(step + ": the answer is not JSON-RPC");
            return out;
        }
        if (body.contains("error")) {
            const json& e = body["error"];
            const json data = e.is_object() && e.contains("data") ? e["data"] : json::object();
            DeliveryResult r;
            r.http_status = 200;
            if (e.is_object() && e.value("code", 0) == 100) {  // "Odoo Session Expired"
                std::lock_guard lock(mu_);
                uid_.reset();
                r.error_class = core::ErrorClass::kTransient;
            } else {
                r.error_class = ClassOfException(Str(data, "name"));
                if (r.error_class == core::ErrorClass::kAuth) {
                    std::lock_guard lock(mu_);
                    uid_.reset();  // a rotated key: the next attempt authenticates again
                }
            }
            std::string text = OdooErrorText(data);
            if (text.empty()) text = Str(e, "message");
            r.reason = step + ": " + CleanText(text, 400) + " (error inside HTTP 200)";
            out.error = r;
            return out;
        }
        out.value = body.contains("result") ? body["result"] : json();
        return out;
    }

    Answer CallJsonRpc(HttpClient& client, const std::string& model, const std::string& method, const json& args,
                       const std::string& step) {
        std::int64_t uid = 0;
        if (auto err = EnsureUid(client, uid)) return {err, json()};
        // Record methods take the ids as their first positional argument (then `write` its vals), and
        // `create` its vals_list (Odoo's call_kw reads args[0] after creating: by name it fails); the rest
        // go by name. (nlohmann keeps members sorted: ids, vals, vals_list is the positional order.)
        json positional = json::array();
        json kwargs = json::object();
        for (const auto& [k, v] : args.items()) {
            if (k == "ids" || k == "vals" || k == "vals_list")
                positional.push_back(v);
            else
                kwargs[k] = v;
        }
        const json req = {
            {"jsonrpc", "2.0"},
            {"method", "call"},
            {"id", 2},
            {"params",
             {{"service", "object"},
              {"method", "execute_kw"},
              {"args", json::array({s_.database, uid, s_.auth.api_key, model, method, positional, kwargs})}}}};
        return Decode(Post(client, "/jsonrpc", req, false), step);
    }

    const config::ConnectorSettings& s_;
    bool json2_;
    std::string base_;
    std::mutex mu_;
    std::optional<std::int64_t> uid_;
};

class OdooConnector final : public Connector {
  public:
    explicit OdooConnector(config::ConnectorSettings s) : s_(std::move(s)), api_(s_) {}
    const std::string& Name() const override { return s_.name; }
    // order, partner, country, create partner, delivery partner (find, country, create), products,
    // create, confirm, read its name; a shipment: order, pickings, moves, products, move writes,
    // picking write, validate
    int MaxCallsPerDelivery() const override { return 20; }

    DeliveryResult Deliver(const store::DeliveryTask& task, HttpClient& client) override {
        json env;
        if (auto bad = detail::ParseEnvelope(task.payload, env)) return *bad;
        const json& data = env["data"];
        const std::string key = Str(env, "idempotency_key");
        if (task.type.rfind("shipment.", 0) == 0) return Shipment(client, data);
        if (task.type == "refund.created") return CreditNote(client, key, data, Str(env, "occurred_at"));
        switch (detail::ErpStepOf(task.type, data)) {
            case detail::ErpOrderStep::kCancel:
                return Cancel(client, key);
            case detail::ErpOrderStep::kNotYet:
                return detail::NotSent(data);
            case detail::ErpOrderStep::kCreate:
                break;
        }
        return CreateOrConfirm(client, key, data);
    }

    std::optional<DeliveryResult> Lookup(const store::DeliveryTask& task, HttpClient& client) override {
        if (task.type == "order.cancelled" || task.type == "order.deleted") return std::nullopt;
        const json env = json::parse(task.payload, nullptr, false);
        if (!env.is_object()) return std::nullopt;
        json found;
        if (task.type.rfind("shipment.", 0) == 0) return std::nullopt;  // Shipment finds its own picking first
        if (task.type == "refund.created") {
            if (FindCreditNote(client, Str(env, "idempotency_key"), found) || found.is_null()) return std::nullopt;
            return ExistingCreditNote(client, found);
        }
        if (FindOrder(client, Str(env, "idempotency_key"), found) || found.is_null()) return std::nullopt;
        return ExistingOrder(client, found);
    }

  private:
    using Answer = OdooApi::Answer;

    /// The first record of a search_read, or null.
    std::optional<DeliveryResult> SearchOne(HttpClient& client, const std::string& model, const json& domain,
                                            const json& fields, const std::string& step, json& out) {
        Answer a =
            api_.Call(client, model, "search_read", {{"domain", domain}, {"fields", fields}, {"limit", 1}}, step);
        if (a.error) return a.error;
        out = a.value.is_array() && !a.value.empty() ? a.value[0] : json();
        return std::nullopt;
    }

    /// The id `create` answered (a list of ids for vals_list).
    std::optional<DeliveryResult> Create(HttpClient& client, const std::string& model, const json& vals,
                                         const std::string& step, std::int64_t& id) {
        Answer a = api_.Call(client, model, "create", {{"vals_list", json::array({vals})}}, step);
        if (a.error) return a.error;
        id = a.value.is_array() && !a.value.empty() ? Many2oneId(a.value[0]) : Many2oneId(a.value);
        if (id <= 0) return detail::Permanent(step + ": the answer names no id");
        return std::nullopt;
    }

    std::optional<DeliveryResult> Action(HttpClient& client, const std::string& model, const std::string& method,
                                         std::int64_t id, const std::string& step, json context = nullptr) {
        json args = {{"ids", json::array({id})}};
        if (!context.is_null()) args["context"] = std::move(context);
        Answer a = api_.Call(client, model, method, args, step);
        if (a.error) return a.error;
        // A window action instead of true/false/null means Odoo wants a person to confirm in a wizard:
        // nothing was done.
        if (a.value.is_object())
            return detail::Permanent(step + ": Odoo answered a wizard (" + Str(a.value, "name") + ")");
        return std::nullopt;
    }

    // Cancelled sale orders are not ours any more: a restored WooCommerce order gets a new one.
    // (Fields of optional modules, such as sale_stock's delivery_status, are not asked for here:
    // Odoo refuses a read of a field it does not have.)
    std::optional<DeliveryResult> FindOrder(HttpClient& client, const std::string& key, json& out) {
        return SearchOne(
            client, "sale.order",
            json::array({json::array({"client_order_ref", "=", key}), json::array({"state", "!=", "cancel"})}),
            json::array({"id", "name", "state", "partner_id"}), "find sale.order by client_order_ref", out);
    }

    DeliveryResult Done(const json& so, std::string reason = {}) {
        DeliveryResult r;
        r.external_id = Str(so, "name");
        r.reason = std::move(reason);
        return r;
    }

    // A sale.order for this WooCommerce order exists already.
    DeliveryResult ExistingOrder(HttpClient& client, const json& so) {
        const std::string state = Str(so, "state");
        const std::string name = Str(so, "name");
        if (state == "draft" || state == "sent") {  // left by an earlier attempt before its confirmation
            if (auto err = Action(client, "sale.order", "action_confirm", so.value("id", std::int64_t{0}),
                                  "confirm sale.order " + name))
                return *err;
            return Done(so, "sale.order " + name + " confirmed");
        }
        DeliveryResult r = Done(so, "sale.order " + name + " exists (" + state + ")");
        r.error_class = core::ErrorClass::kDuplicate;
        return r;
    }

    std::optional<DeliveryResult> CountryId(HttpClient& client, const std::string& code, json& id) {
        id = false;
        if (code.empty()) return std::nullopt;
        json c;
        if (auto err = SearchOne(client, "res.country", json::array({json::array({"code", "=", code})}),
                                 json::array({"id"}), "find res.country " + code, c))
            return err;
        if (c.is_null()) return detail::Permanent("Odoo has no country with code " + code);
        id = c.value("id", std::int64_t{0});
        return std::nullopt;
    }

    json PartnerVals(const json& a, const std::string& name, const json& country_id) {
        return {{"name", name},
                {"street", Str(a, "line1")},
                {"street2", Str(a, "line2")},
                {"city", Str(a, "city")},
                {"zip", Str(a, "postal_code")},
                {"phone", Str(a, "phone")},
                {"country_id", country_id}};
    }

    static std::string NameOf(const json& a, const std::string& fallback) {
        std::string n = Trimmed(Str(a, "first_name") + " " + Str(a, "last_name"));
        if (n.empty()) n = Str(a, "company");
        return n.empty() ? fallback : n;
    }

    // The customer (found by email among top-level contacts, else created) and the delivery address.
    std::optional<DeliveryResult> EnsurePartners(HttpClient& client, const json& order, std::int64_t& partner,
                                                 std::int64_t& shipping) {
        const json customer = order.value("customer", json::object());
        const json billing = order.value("billing_address", json::object());
        const std::string email = Str(customer, "email");
        json found;
        if (!email.empty()) {
            if (auto err =
                    SearchOne(client, "res.partner",
                              json::array({json::array({"email", "=", email}), json::array({"parent_id", "=", false})}),
                              json::array({"id", "street", "zip"}), "find res.partner by email", found))
                return err;
        }
        if (email.empty() && !Str(customer, "id").empty()) {  // no email: the ref it was created with
            if (auto err = SearchOne(client, "res.partner",
                                     json::array({json::array({"ref", "=", Str(customer, "id")}),
                                                  json::array({"parent_id", "=", false})}),
                                     json::array({"id", "street", "zip"}), "find res.partner by ref", found))
                return err;
        }
        std::string street, zip;  // the contact's own address
        if (!found.is_null()) {
            partner = found.value("id", std::int64_t{0});
            street = Str(found, "street");
            zip = Str(found, "zip");
        } else {
            json country;
            if (auto err = CountryId(client, Str(billing, "country_code"), country)) return err;
            const std::string name = NameOf(customer, NameOf(billing, email.empty() ? "WooCommerce customer" : email));
            json vals = PartnerVals(billing, name, country);
            vals["email"] = email;
            if (!Str(customer, "phone").empty()) vals["phone"] = Str(customer, "phone");
            if (!Str(customer, "company").empty()) vals["company_name"] = Str(customer, "company");
            if (!Str(customer, "id").empty()) vals["ref"] = Str(customer, "id");
            if (auto err = Create(client, "res.partner", vals, "create res.partner", partner)) return err;
            street = Str(billing, "line1");
            zip = Str(billing, "postal_code");
        }
        shipping = partner;
        const json ship = order.value("shipping_address", json());
        if (!ship.is_object() || Str(ship, "line1").empty()) return std::nullopt;
        if (Str(ship, "line1") == street && Str(ship, "postal_code") == zip)
            return std::nullopt;  // ships to the contact
        json child;
        if (auto err =
                SearchOne(client, "res.partner",
                          json::array({json::array({"parent_id", "=", partner}), json::array({"type", "=", "delivery"}),
                                       json::array({"street", "=", Str(ship, "line1")}),
                                       json::array({"zip", "=", Str(ship, "postal_code")})}),
                          json::array({"id"}), "find delivery address", child))
            return err;
        if (!child.is_null()) {
            shipping = child.value("id", std::int64_t{0});
            return std::nullopt;
        }
        json country;
        if (auto err = CountryId(client, Str(ship, "country_code"), country)) return err;
        json vals = PartnerVals(ship, NameOf(ship, "Delivery address"), country);
        vals["parent_id"] = partner;
        vals["type"] = "delivery";
        return Create(client, "res.partner", vals, "create delivery address", shipping);
    }

    // default_code -> product.product id, for every SKU in one search.
    std::optional<DeliveryResult> Products(HttpClient& client, const std::set<std::string>& skus,
                                           std::map<std::string, std::int64_t>& ids) {
        Answer a = api_.Call(client, "product.product", "search_read",
                             {{"domain", json::array({json::array({"default_code", "in", skus})})},
                              {"fields", json::array({"id", "default_code"})}},
                             "find product.product by default_code");
        if (a.error) return a.error;
        for (const auto& p : a.value.is_array() ? a.value : json::array())
            ids[Str(p, "default_code")] = p.value("id", std::int64_t{0});
        std::string missing;
        for (const auto& sku : skus)
            if (!ids.count(sku)) missing += (missing.empty() ? "" : ", ") + sku;
        if (!missing.empty()) return detail::Permanent("Odoo has no product with default_code " + missing);
        return std::nullopt;
    }

    DeliveryResult CreateOrConfirm(HttpClient& client, const std::string& key, const json& order) {
        json so;
        if (auto err = FindOrder(client, key, so)) return *err;
        if (!so.is_null()) return ExistingOrder(client, so);

        const json lines = order.value("lines", json::array());
        if (lines.empty()) return detail::Permanent("the order has no lines");
        std::set<std::string> skus;
        for (const auto& line : lines) {
            if (Str(line, "sku").empty())
                return detail::Permanent("line " + Str(line, "line_id") + " has no SKU to find its product by");
            skus.insert(Str(line, "sku"));
        }
        const json totals = order.value("totals", json::object());
        const std::int64_t shipping_total = totals.value("shipping_total", std::int64_t{0});
        const bool ship_line = !s_.shipping_product.empty() && shipping_total != 0;
        if (ship_line) skus.insert(s_.shipping_product);

        std::int64_t partner = 0, shipping = 0;
        if (auto err = EnsurePartners(client, order, partner, shipping)) return *err;
        std::map<std::string, std::int64_t> products;
        if (auto err = Products(client, skus, products)) return *err;

        const int exp = order.value("currency_exponent", 2);
        json order_lines = json::array();
        for (const auto& line : lines) {
            order_lines.push_back(json::array(
                {0,
                 0,
                 {{"product_id", products[Str(line, "sku")]},
                  {"product_uom_qty", line.value("quantity", 0)},
                  {"price_unit", detail::MajorUnits(line.value("unit_price_excl", std::int64_t{0}), exp)}}}));
        }
        if (ship_line) {
            order_lines.push_back(json::array({0,
                                               0,
                                               {{"product_id", products[s_.shipping_product]},
                                                {"product_uom_qty", 1},
                                                {"price_unit", detail::MajorUnits(shipping_total, exp)}}}));
        }
        const std::string id = Str(order, "id");
        const json vals = {{"partner_id", partner},
                           {"partner_invoice_id", partner},
                           {"partner_shipping_id", shipping},
                           {"client_order_ref", key},
                           {"origin", "WooCommerce #" + id.substr(id.rfind(':') + 1)},
                           {"date_order", OdooDateTime(Str(order, "created_at"))},
                           {"order_line", order_lines}};
        std::int64_t created = 0;
        if (auto err = Create(client, "sale.order", vals, "create sale.order", created)) return *err;
        if (auto err = Action(client, "sale.order", "action_confirm", created, "confirm sale.order")) return *err;
        return Posted(client, "sale.order", created, {});
    }

    // Done: the record's name (S00042, RINV/2025/00001) as its external id when it can be read,
    // else its id (the work is done either way).
    DeliveryResult Posted(HttpClient& client, const std::string& model, std::int64_t id, std::string reason) {
        json named;
        if (!SearchOne(client, model, json::array({json::array({"id", "=", id})}), json::array({"name"}),
                       "read " + model, named) &&
            !named.is_null())
            return Done(named, std::move(reason));
        DeliveryResult r;
        r.external_id = std::to_string(id);
        r.reason = std::move(reason);
        return r;
    }

    DeliveryResult Cancel(HttpClient& client, const std::string& key) {
        json so;
        if (auto err = FindOrder(client, key, so)) return *err;
        if (so.is_null()) {
            DeliveryResult r;
            r.reason = "no sale.order to cancel";
            return r;
        }
        const std::string name = Str(so, "name");
        const std::string state = Str(so, "state");
        if (state == "cancel") {
            DeliveryResult r = Done(so, "sale.order " + name + " is cancelled already");
            r.error_class = core::ErrorClass::kDuplicate;
            return r;
        }
        // delivery_status comes with sale_stock (Odoo 17+); a database without it has nothing delivered
        // to speak of, and Odoo refuses the read of a field it does not have ("Invalid field").
        json status;
        if (auto err = SearchOne(client, "sale.order",
                                 json::array({json::array({"id", "=", so.value("id", std::int64_t{0})})}),
                                 json::array({"delivery_status"}), "read delivery_status of " + name, status)) {
            if (err->reason.find("Invalid field") == std::string::npos) return *err;
        }
        const std::string delivered = Str(status, "delivery_status");
        if (delivered == "partial" || delivered == "full") {
            return detail::Permanent("sale.order " + name + " is " + delivered +
                                     "ly delivered: goods have left, so it is not cancelled automatically "
                                     "(a return is a person's call)");
        }
        // Without disable_cancel_warning Odoo 17+ answers the "Cancel Sales Order" wizard and cancels nothing.
        if (auto err = Action(client, "sale.order", "action_cancel", so.value("id", std::int64_t{0}),
                              "cancel sale.order " + name, {{"disable_cancel_warning", true}}))
            return *err;
        return Done(so, "sale.order " + name + " cancelled");
    }

    // --- shipments from a 3PL: the sale order's delivery picking, validated --------------------------

    /// Every record of a search_read.
    std::optional<DeliveryResult> SearchAll(HttpClient& client, const std::string& model, const json& domain,
                                            const json& fields, const std::string& step, json& out) {
        Answer a = api_.Call(client, model, "search_read", {{"domain", domain}, {"fields", fields}}, step);
        if (a.error) return a.error;
        out = a.value.is_array() ? a.value : json::array();
        return std::nullopt;
    }

    /// What marks the picking of this shipment: the tracking number, else the shipment's id.
    static std::string TrackingOf(const json& shipment) {
        return Str(shipment, "tracking_number").empty() ? Str(shipment, "id") : Str(shipment, "tracking_number");
    }

    std::optional<DeliveryResult> Pickings(HttpClient& client, std::int64_t so_id, json& out) {
        return SearchAll(
            client, "stock.picking",
            json::array({json::array({"sale_id", "=", so_id}), json::array({"picking_type_code", "=", "outgoing"})}),
            json::array({"id", "name", "state", "carrier_tracking_ref"}), "find the order's delivery pickings", out);
    }

    // A shipped (in transit, delivered) shipment validates the open delivery picking with the shipped
    // quantities (the rest stays on a backorder); a voided one is taken off a picking not yet validated.
    DeliveryResult Shipment(HttpClient& client, const json& shipment) {
        // Two shipments of one order would write the same open picking's moves: one at a time.
        std::lock_guard lock(shipments_mu_);
        const std::string status = Str(shipment, "status");
        const bool voided = status == "voided" || status == "cancelled";
        if (!voided && status != "shipped" && status != "in_transit" && status != "delivered") {
            DeliveryResult r;
            r.reason = "not recorded: shipment status " + status;
            return r;
        }
        const std::string order_ref = Str(shipment, "order_ref");
        const std::string tracking = TrackingOf(shipment);
        json so;
        if (auto err = FindOrder(client, order_ref, so)) return *err;
        if (so.is_null() || Str(so, "state") == "draft" || Str(so, "state") == "sent") {
            if (voided) return detail::NotSent({{"canonical_status", "not in Odoo"}});
            DeliveryResult r;
            r.error_class = core::ErrorClass::kTransient;
            r.reason = "no confirmed sale.order with client_order_ref " + order_ref + " yet: the shipment waits";
            return r;
        }
        json pickings;
        if (auto err = Pickings(client, so.value("id", std::int64_t{0}), pickings)) return *err;
        const json* open = nullptr;
        for (const auto& p : pickings) {
            const bool ours = Str(p, "carrier_tracking_ref") == tracking;
            const std::string state = Str(p, "state");
            if (ours && state == "done") {
                if (voided) {
                    return detail::Permanent("picking " + Str(p, "name") + " was validated with " + tracking +
                                             ": the goods are booked as gone; a voided label needs a return in Odoo "
                                             "(a person's call)");
                }
                DeliveryResult r = Done(p, "picking " + Str(p, "name") + " is validated already");
                r.error_class = core::ErrorClass::kDuplicate;
                return r;
            }
            if (voided && ours && state != "cancel") {
                if (auto err = Write(client, "stock.picking", {p.value("id", std::int64_t{0})},
                                     {{"carrier_tracking_ref", false}}, "take the tracking off " + Str(p, "name")))
                    return *err;
                return Done(p, "tracking " + tracking + " taken off picking " + Str(p, "name"));
            }
            if (!open && (state == "assigned" || state == "confirmed" || state == "waiting")) open = &p;
        }
        if (voided) {
            DeliveryResult r;
            r.reason = "no picking carries " + tracking;
            return r;
        }
        if (!open) {
            DeliveryResult r = Done(so, "nothing of sale.order " + Str(so, "name") + " is left to deliver");
            r.error_class = core::ErrorClass::kDuplicate;
            return r;
        }
        const std::int64_t picking = open->value("id", std::int64_t{0});
        const std::string name = Str(*open, "name");
        json moves;
        if (auto err =
                SearchAll(client, "stock.move", json::array({json::array({"picking_id", "=", picking})}),
                          json::array({"id", "product_id", "product_uom_qty"}), "read the moves of " + name, moves))
            return *err;
        std::set<std::int64_t> product_ids;
        for (const auto& m : moves)
            product_ids.insert(Many2oneId(m.value("product_id", json())));
        json codes;
        if (auto err = SearchAll(client, "product.product", json::array({json::array({"id", "in", json(product_ids)})}),
                                 json::array({"id", "default_code"}), "read the moves' products", codes))
            return *err;
        std::map<std::int64_t, std::string> sku;
        for (const auto& p : codes)
            sku[p.value("id", std::int64_t{0})] = Str(p, "default_code");

        // Quantities per move: what the shipment carries of its SKU (everything when it lists no lines).
        const json lines = shipment.value("lines", json::array());
        std::map<std::string, double> left;
        for (const auto& l : lines)
            left[Str(l, "sku")] += l.value("quantity", 0.0);
        std::map<double, std::vector<std::int64_t>> by_quantity;
        double total = 0;
        for (const auto& m : moves) {
            const double demand = m.value("product_uom_qty", 0.0);
            double take = demand;
            if (!lines.empty()) {
                double& l = left[sku[Many2oneId(m.value("product_id", json()))]];
                take = std::min(demand, l);
                l -= take;
            }
            total += take;
            by_quantity[take].push_back(m.value("id", std::int64_t{0}));
        }
        if (total <= 0)
            return detail::Permanent("none of the shipment's SKUs is open on picking " + name + " of sale.order " +
                                     Str(so, "name"));
        for (const auto& [quantity, ids] : by_quantity) {
            if (auto err = Write(client, "stock.move", ids, {{"quantity", quantity}, {"picked", quantity > 0}},
                                 "set the shipped quantities on " + name))
                return *err;
        }
        if (auto err = Write(client, "stock.picking", {picking}, {{"carrier_tracking_ref", tracking}},
                             "set the tracking number on " + name))
            return *err;
        // skip_backorder: validate what shipped and keep the rest on a backorder, without the wizard.
        if (auto err = Action(client, "stock.picking", "button_validate", picking, "validate " + name,
                              {{"skip_backorder", true}}))
            return *err;
        return Done(*open, "picking " + name + " validated with " + tracking);
    }

    std::optional<DeliveryResult> Write(HttpClient& client, const std::string& model,
                                        const std::vector<std::int64_t>& ids, const json& vals,
                                        const std::string& step) {
        return api_.Call(client, model, "write", {{"ids", ids}, {"vals", vals}}, step).error;
    }

    std::optional<DeliveryResult> FindCreditNote(HttpClient& client, const std::string& key, json& out) {
        return SearchOne(client, "account.move",
                         json::array({json::array({"ref", "=", key}), json::array({"move_type", "=", "out_refund"})}),
                         json::array({"id", "name", "state"}), "find credit note by ref", out);
    }

    DeliveryResult ExistingCreditNote(HttpClient& client, const json& move) {
        if (Str(move, "state") == "draft") {
            if (auto err = Action(client, "account.move", "action_post", move.value("id", std::int64_t{0}),
                                  "post credit note"))
                return *err;
            return Done(move, "credit note posted");
        }
        DeliveryResult r = Done(move, "credit note " + Str(move, "name") + " exists (" + Str(move, "state") + ")");
        r.error_class = core::ErrorClass::kDuplicate;
        return r;
    }

    DeliveryResult CreditNote(HttpClient& client, const std::string& key, const json& refund,
                              const std::string& occurred_at) {
        json move;
        if (auto err = FindCreditNote(client, key, move)) return *err;
        if (!move.is_null()) return ExistingCreditNote(client, move);
        const std::string order_ref = Str(refund, "order_ref");
        json so;
        if (auto err = FindOrder(client, order_ref, so)) return *err;
        if (so.is_null()) {
            DeliveryResult r;
            r.error_class = core::ErrorClass::kTransient;
            r.reason = "no sale.order with client_order_ref " + order_ref + " yet: the refund waits for its order";
            return r;
        }
        const int exp = refund.value("currency_exponent", 2);
        std::string text = "WooCommerce refund " + Str(refund, "source_refund_id") + " of order " + order_ref;
        if (!Str(refund, "reason").empty()) text += ": " + Str(refund, "reason");
        json line = {{"name", text},
                     {"quantity", 1},
                     {"price_unit", detail::MajorUnits(refund.value("amount", std::int64_t{0}), exp)}};
        if (!s_.refund_item.empty()) {
            std::map<std::string, std::int64_t> ids;
            if (auto err = Products(client, {s_.refund_item}, ids)) return *err;
            line["product_id"] = ids[s_.refund_item];
        }
        const json vals = {{"move_type", "out_refund"},
                           {"partner_id", Many2oneId(so.value("partner_id", json()))},
                           {"ref", key},
                           {"invoice_origin", Str(so, "name")},
                           {"invoice_date", occurred_at.substr(0, 10)},
                           {"narration", text},
                           {"invoice_line_ids", json::array({json::array({0, 0, line})})}};
        std::int64_t id = 0;
        if (auto err = Create(client, "account.move", vals, "create credit note", id)) return *err;
        if (auto err = Action(client, "account.move", "action_post", id, "post credit note")) return *err;
        return Posted(client, "account.move", id, "credit note posted against sale.order " + Str(so, "name"));
    }

    config::ConnectorSettings s_;
    OdooApi api_;
    std::mutex shipments_mu_;
};

/// Odoo's `stock.quant`s by `write_date` (research/erp_3pl.md 2.5 and 2.8: "poll by write_date"):
/// the products whose quants changed, then every internal quant of those products summed per
/// location (a location can hold several quants: lots, packages), named by `default_code`.
class OdooStock final : public StockSource {
  public:
    explicit OdooStock(config::ConnectorSettings s) : s_(std::move(s)), api_(s_) {}

    StockPoll Poll(HttpClient& client, const std::string& since, const std::function<bool()>& stopping) override {
        StockPoll out;
        out.watermark = since;
        const json changed_domain =
            since.empty() ? json::array() : json::array({json::array({"write_date", ">=", QueryFrom(since)})});
        std::set<std::int64_t> products;
        constexpr int kPage = 1000;
        for (int offset = 0; offset < kPage * 200; offset += kPage) {
            if (stopping()) return Stopped();
            auto a = api_.Call(client, "stock.quant", "search_read",
                               {{"domain", changed_domain},
                                {"fields", json::array({"product_id", "write_date"})},
                                {"order", "write_date asc, id asc"},
                                {"offset", offset},
                                {"limit", kPage}},
                               "list stock.quant by write_date");
            if (a.error) return Failed(out, *a.error);
            const json rows = a.value.is_array() ? a.value : json::array();
            for (const auto& q : rows) {
                if (const auto id = Many2oneId(q.value("product_id", json())); id > 0) products.insert(id);
                if (Str(q, "write_date") > out.watermark) out.watermark = Str(q, "write_date");
            }
            if (static_cast<int>(rows.size()) < kPage) break;
        }
        if (products.empty()) return out;
        if (stopping()) return Stopped();

        const json ids(products);
        auto codes = api_.Call(client, "product.product", "search_read",
                               {{"domain", json::array({json::array({"id", "in", ids})})},
                                {"fields", json::array({"id", "default_code"})}},
                               "read product.product default_code");
        if (codes.error) return Failed(out, *codes.error);
        std::map<std::int64_t, std::string> sku;
        for (const auto& p : codes.value.is_array() ? codes.value : json::array())
            if (!Str(p, "default_code").empty()) sku[p.value("id", std::int64_t{0})] = Str(p, "default_code");

        auto quants = api_.Call(
            client, "stock.quant", "search_read",
            {{"domain", json::array({json::array({"product_id", "in", ids}),
                                     json::array({"location_id.usage", "=", "internal"})})},
             {"fields", json::array({"product_id", "location_id", "quantity", "reserved_quantity", "write_date"})}},
            "read stock.quant of the changed products");
        if (quants.error) return Failed(out, *quants.error);
        struct Sum {
            double on_hand = 0, reserved = 0;
            std::string modified;
        };
        std::map<std::pair<std::int64_t, std::string>, Sum> sums;
        for (const auto& q : quants.value.is_array() ? quants.value : json::array()) {
            const json location = q.value("location_id", json());
            const std::string where = location.is_array() && location.size() > 1 && location[1].is_string()
                                          ? location[1].get<std::string>()
                                          : std::to_string(Many2oneId(location));
            Sum& sum = sums[{Many2oneId(q.value("product_id", json())), where}];
            sum.on_hand += q.value("quantity", 0.0);
            sum.reserved += q.value("reserved_quantity", 0.0);
            sum.modified = std::max(sum.modified, Str(q, "write_date"));
        }
        for (const auto& [key, sum] : sums) {
            const auto it = sku.find(key.first);
            if (it == sku.end()) continue;  // a product without an internal reference is not sold in the shop
            if (auto level = SourceLevel(it->second, key.second, sum.on_hand, sum.reserved, sum.modified, s_.name))
                out.levels.push_back(std::move(*level));
        }
        return out;
    }

  private:
    static StockPoll& Failed(StockPoll& out, DeliveryResult error) {
        out.levels.clear();
        out.error = std::move(error);
        return out;
    }

    config::ConnectorSettings s_;
    OdooApi api_;
};

}  // namespace

std::unique_ptr<StockSource> MakeOdooStockSource(const config::ConnectorSettings& settings) {
    return std::make_unique<OdooStock>(settings);
}

std::unique_ptr<Connector> MakeOdooConnector(const config::ConnectorSettings& settings) {
    return std::make_unique<OdooConnector>(settings);
}

}  // namespace orderbridge::dispatch

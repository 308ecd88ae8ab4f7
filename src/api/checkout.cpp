#include "orderbridge/api/checkout.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "orderbridge/api/inbound.hpp"
#include "orderbridge/api/orders.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/shielding.hpp"
#include "orderbridge/http/error_mapping.hpp"

namespace orderbridge::api {

using nlohmann::json;

// --- StockView ----------------------------------------------------------------------------------

void StockView::Load(store::Session& session) {
    std::map<std::string, std::int64_t, std::less<>> levels;
    for (const auto& [sku, rows] : session.AllStock())
        levels[sku] = inbound::Aggregate(sku, rows).available;
    std::map<std::string, Product, std::less<>> products;
    for (const auto& row : session.EntitiesOfKind("product")) {
        const json p = json::parse(row.data, nullptr, false);
        if (!p.is_object() || !p.contains("sku") || !p["sku"].is_string() || p["sku"].get<std::string>().empty())
            continue;
        Product v;
        v.manages_stock = p.value("manage_stock", json(false)) != json(false);
        if (p.contains("stock_quantity") && p["stock_quantity"].is_number_integer())
            v.quantity = p["stock_quantity"].get<std::int64_t>();
        v.status = p.value("stock_status", "");
        if (p.value("status", "") == "deleted") v.status = "outofstock";
        products[row.store_id + '\n' + p["sku"].get<std::string>()] = v;
    }
    std::unique_lock lk(mu_);
    levels_ = std::move(levels);
    products_ = std::move(products);
}

void StockView::SetLevel(const std::string& sku, std::int64_t available) {
    std::unique_lock lk(mu_);
    levels_[sku] = available;
}

void StockView::SetProduct(const std::string& store, const std::string& sku, bool manages_stock,
                           std::optional<std::int64_t> stock_quantity, const std::string& stock_status) {
    if (sku.empty()) return;
    std::unique_lock lk(mu_);
    products_[store + '\n' + sku] = Product{manages_stock, stock_quantity, stock_status};
}

std::vector<std::pair<std::string, std::int64_t>> StockView::Levels() const {
    std::shared_lock lk(mu_);
    return {levels_.begin(), levels_.end()};
}

StockView::Availability StockView::Get(const std::string& store, const std::string& sku) const {
    std::shared_lock lk(mu_);
    if (auto it = levels_.find(sku); it != levels_.end()) return {true, it->second, "levels"};
    if (auto it = products_.find(store + '\n' + sku); it != products_.end()) {
        const Product& p = it->second;
        if (p.manages_stock) return {true, p.quantity.value_or(0), "store"};
        if (p.status == "outofstock") return {true, std::int64_t{0}, "store"};
        return {true, std::nullopt, "store"};  // instock or onbackorder without a count
    }
    return {};
}

// --- the verdict --------------------------------------------------------------------------------

namespace checkout {

std::optional<Cart> ParseCart(const json& body, std::vector<std::string>& problems) {
    if (!body.is_object()) {
        problems.push_back("the body must be a JSON object");
        return std::nullopt;
    }
    Cart cart;
    auto text = [&](const char* key, bool required) {
        if (!body.contains(key) || body[key].is_null()) {
            if (required) problems.push_back(std::string(key) + ": required");
            return std::string{};
        }
        if (!body[key].is_string()) {
            problems.push_back(std::string(key) + ": must be a string");
            return std::string{};
        }
        return body[key].get<std::string>();
    };
    cart.store = text("store", true);
    cart.shipping_country = text("shipping_country", false);
    cart.customer_email = text("customer_email", false);
    if (!body.contains("lines") || !body["lines"].is_array() || body["lines"].empty()) {
        problems.push_back("lines: a non-empty list of {\"sku\", \"quantity\"}");
    } else if (body["lines"].size() > 500) {
        problems.push_back("lines: at most 500 lines");
    } else {
        for (std::size_t i = 0; i < body["lines"].size(); ++i) {
            const json& l = body["lines"][i];
            const std::string at = "lines[" + std::to_string(i) + "]";
            Line line;
            if (!l.is_object() || !l.contains("sku") || !l["sku"].is_string() || l["sku"].get<std::string>().empty()) {
                problems.push_back(at + ".sku: a non-empty string");
            } else {
                line.sku = l["sku"].get<std::string>();
            }
            if (!l.is_object() || !l.contains("quantity") || !l["quantity"].is_number_integer() ||
                l["quantity"].get<std::int64_t>() < 1) {
                problems.push_back(at + ".quantity: an integer of at least 1");
            } else {
                line.quantity = l["quantity"].get<std::int64_t>();
            }
            cart.lines.push_back(std::move(line));
        }
    }
    if (!problems.empty()) return std::nullopt;
    return cart;
}

json Verdict(const Cart& cart, const StockView& view, const std::vector<std::string>& shipping_countries,
             const std::map<std::string, std::int64_t>* live, bool stale) {
    const bool shippable = shipping_countries.empty() || cart.shipping_country.empty() ||
                           std::find(shipping_countries.begin(), shipping_countries.end(), cart.shipping_country) !=
                               shipping_countries.end();
    bool ok = true;
    json lines = json::array();
    for (const auto& line : cart.lines) {
        StockView::Availability a;
        if (live) {
            if (auto it = live->find(line.sku); it != live->end()) a = {true, it->second, "live"};
        }
        if (!a.known) a = view.Get(cart.store, line.sku);
        json out = {{"sku", line.sku}, {"quantity", line.quantity}};
        out["available_quantity"] = a.quantity ? json(*a.quantity) : json(nullptr);
        std::optional<std::string> reason;
        if (!a.known) {
            reason = "unknown_sku";
        } else if (a.quantity && *a.quantity < line.quantity) {
            reason = "insufficient_stock";
        } else if (!shippable) {
            reason = "not_shippable";
        }
        out["available"] = !reason.has_value();
        out["reason"] = reason ? json(*reason) : json(nullptr);
        ok = ok && !reason;
        lines.push_back(std::move(out));
    }
    return {{"ok", ok}, {"stale", stale}, {"lines", lines}};
}

}  // namespace checkout

// --- the endpoint -------------------------------------------------------------------------------

class Checkout {
  public:
    Checkout(const config::Settings& settings, const Authenticator& auth, const StockView& view,
             prometheus::Registry& registry)
        : auth_(auth),
          view_(view),
          budget_(std::chrono::duration_cast<std::chrono::milliseconds>(settings.checkout.budget)),
          latency_(prometheus::BuildHistogram()
                       .Name("orderbridge_checkout_validation_seconds")
                       .Help("POST /v1/checkout/validate, request read to answer, by store")
                       .Register(registry)),
          verdicts_(prometheus::BuildCounter()
                        .Name("orderbridge_checkout_verdicts_total")
                        .Help("Checkout validations by store, verdict (ok, refused) and stale (true when a live check "
                              "did not answer within the budget)")
                        .Register(registry)) {
        for (const auto& s : settings.stores)
            countries_[s.id] = s.shipping_countries;
        for (const auto& c : settings.connectors) {
            if (c.name == settings.checkout.live_check) live_ = c;
        }
        if (live_) {
            breaker_ = std::make_unique<dispatch::CircuitBreaker>(live_->circuit_breaker);
            for (int i = 0; i < 2; ++i)
                workers_.emplace_back([this] { Work(); });
        }
    }
    ~Checkout() { Stop(); }

    void Stop() {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto& t : workers_)
            if (t.joinable()) t.join();
        workers_.clear();
    }

    void Validate(http::Request& req, http::Responder respond) {
        auth_.Authorize(req, false);
        std::vector<std::string> problems;
        auto cart = checkout::ParseCart(json::parse(req.body, nullptr, false), problems);
        if (!cart) {
            std::string text;
            for (const auto& p : problems)
                text += (text.empty() ? "" : "; ") + p;
            throw core::Error(core::Errc::kBadRequest, text);
        }
        auto it = countries_.find(cart->store);
        if (it == countries_.end()) throw core::Error(core::Errc::kNotFound, "unknown store '" + cart->store + "'");
        const auto started = req.received_at;
        if (!live_) {
            Answer(*cart, nullptr, false, started, respond);
            return;
        }
        {
            std::lock_guard lk(mu_);
            if (queue_.size() < 256 && !stopping_) {
                queue_.push_back(Job{std::move(*cart), respond, started});
                cv_.notify_one();
                return;
            }
        }
        Answer(*cart, nullptr, true, started, respond);  // the live check is saturated: the view answers
    }

  private:
    struct Job {
        checkout::Cart cart;
        http::Responder respond;
        std::chrono::steady_clock::time_point started;
    };

    void Answer(const checkout::Cart& cart, const std::map<std::string, std::int64_t>* live, bool stale,
                std::chrono::steady_clock::time_point started, const http::Responder& respond) {
        const json verdict = checkout::Verdict(cart, view_, countries_.at(cart.store), live, stale);
        const bool ok = verdict["ok"].get<bool>();
        verdicts_.Add({{"store", cart.store}, {"verdict", ok ? "ok" : "refused"}, {"stale", stale ? "true" : "false"}})
            .Increment();
        latency_.Add({{"store", cart.store}}, kBuckets)
            .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        respond(http::Response::Json(200, verdict.dump()));
    }

    void Work() {
        dispatch::HttpClient client(budget_);
        std::unique_lock lk(mu_);
        while (true) {
            cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;
            Job job = std::move(queue_.front());
            queue_.pop_front();
            lk.unlock();
            const auto left = budget_ - std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - job.started);
            std::optional<std::map<std::string, std::int64_t>> live;
            bool allowed = false;
            if (left.count() > 5) {
                std::lock_guard b(breaker_mu_);
                allowed = breaker_->Allow(std::chrono::steady_clock::now());
            }
            if (allowed) live = Ask(client, job.cart, left);
            Answer(job.cart, live ? &*live : nullptr, !live, job.started, job.respond);
            lk.lock();
        }
    }

    // The ERP's Bin levels of the cart's SKUs (available = actual_qty - reserved_qty, summed over
    // warehouses); nullopt when it did not answer in time or failed.
    std::optional<std::map<std::string, std::int64_t>> Ask(dispatch::HttpClient& client, const checkout::Cart& cart,
                                                           std::chrono::milliseconds left) {
        json skus = json::array();
        for (const auto& l : cart.lines)
            skus.push_back(l.sku);
        std::string base = live_->base_url;
        while (!base.empty() && base.back() == '/')
            base.pop_back();
        dispatch::HttpCall call;
        call.method = "GET";
        call.url = base + "/api/resource/Bin?filters=" +
                   dispatch::UrlEncode(json::array({json::array({"item_code", "in", skus})}).dump()) +
                   "&fields=" + dispatch::UrlEncode(R"(["item_code","actual_qty","reserved_qty"])") +
                   "&limit_page_length=0";
        call.headers = {{"Authorization", "token " + live_->auth.api_key + ":" + live_->auth.api_secret},
                        {"Accept", "application/json"}};
        call.timeout = left;
        const auto a = client.Send(call);
        const auto now = std::chrono::steady_clock::now();
        const bool answered = a.transport == dispatch::HttpAnswer::Transport::kAnswered;
        {
            // A sane answer (even a 4xx about the request) says the ERP is healthy.
            std::lock_guard b(breaker_mu_);
            if (answered && a.status < 500 && a.status != 429) {
                breaker_->OnSuccess(now);
            } else {
                breaker_->OnFailure(now);
            }
        }
        if (!answered || a.status != 200) return std::nullopt;
        const json j = json::parse(a.body, nullptr, false);
        if (!j.is_object() || !j.contains("data") || !j["data"].is_array()) return std::nullopt;
        std::map<std::string, std::int64_t> out;
        for (const auto& bin : j["data"]) {
            if (!bin.contains("item_code") || !bin["item_code"].is_string()) continue;
            const double actual = bin.value("actual_qty", 0.0);
            const double reserved = bin.value("reserved_qty", 0.0);
            out[bin["item_code"].get<std::string>()] += static_cast<std::int64_t>(actual - reserved);
        }
        return out;
    }

    static inline const prometheus::Histogram::BucketBoundaries kBuckets{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                                         0.025,  0.05,  0.1,    0.25,  0.5};

    const Authenticator& auth_;
    const StockView& view_;
    std::chrono::milliseconds budget_;
    std::map<std::string, std::vector<std::string>> countries_;
    std::optional<config::ConnectorSettings> live_;
    std::mutex breaker_mu_;
    std::unique_ptr<dispatch::CircuitBreaker> breaker_;
    prometheus::Family<prometheus::Histogram>& latency_;
    prometheus::Family<prometheus::Counter>& verdicts_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> queue_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};

std::shared_ptr<Checkout> AddCheckoutRoutes(http::Router& router, const config::Settings& settings,
                                            const Authenticator& auth, const StockView& view,
                                            prometheus::Registry& registry) {
    auto c = std::make_shared<Checkout>(settings, auth, view, registry);
    router.Add("POST", "/v1/checkout/validate",
               Guarded([c](http::Request& req, http::Responder& respond) { c->Validate(req, respond); }));
    return c;
}

void StopCheckout(Checkout& checkout) {
    checkout.Stop();
}

}  // namespace orderbridge::api

#include "orderbridge/app/reconcile.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "orderbridge/api/checkout.hpp"
#include "orderbridge/api/webhooks.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/router.hpp"
#include "orderbridge/dispatch/woo_rest.hpp"
#include "orderbridge/model/identity.hpp"

namespace orderbridge::app {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Families {
    explicit Families(prometheus::Registry& r)
        : lag(prometheus::BuildGauge()
                  .Name("orderbridge_poller_lag_seconds")
                  .Help("Now minus the reconciliation poller's watermark (modified_after), by store")
                  .Register(r)),
          orders(prometheus::BuildCounter()
                     .Name("orderbridge_poller_orders_total")
                     .Help("Orders the poller read, by store and outcome: missed (no webhook brought this version: "
                           "stored now), known (already stored), rejected, unavailable")
                     .Register(r)),
          runs(prometheus::BuildCounter()
                   .Name("orderbridge_poller_runs_total")
                   .Help("Poller runs by store and result (ok, error)")
                   .Register(r)),
          health(prometheus::BuildGauge()
                     .Name("orderbridge_webhook_health")
                     .Help("1 when the store has an active webhook for the topic delivering to the configured URL, "
                           "0 when it is disabled, paused or missing (watchdog), by store and topic")
                     .Register(r)),
          repairs(prometheus::BuildCounter()
                      .Name("orderbridge_webhook_repairs_total")
                      .Help("Webhooks the watchdog re-enabled or created, by store, topic and action")
                      .Register(r)),
          drift(prometheus::BuildCounter()
                    .Name("orderbridge_stock_drift_total")
                    .Help("SKUs whose stock in the shop differed from the inventory cache's level when the poller "
                          "compared them (each written again), by store")
                    .Register(r)) {}
    prometheus::Family<prometheus::Gauge>& lag;
    prometheus::Family<prometheus::Counter>& orders;
    prometheus::Family<prometheus::Counter>& runs;
    prometheus::Family<prometheus::Gauge>& health;
    prometheus::Family<prometheus::Counter>& repairs;
    prometheus::Family<prometheus::Counter>& drift;
};

std::string Str(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

/// "2025-10-14T13:41:15" (UTC, WooCommerce's *_gmt form) of epoch milliseconds, whole seconds.
std::string WooGmt(std::int64_t ms) {
    std::string s = model::FormatUtc(ms / 1000 * 1000);
    if (!s.empty() && s.back() == 'Z') s.pop_back();
    return s;
}

int TotalPages(const dispatch::HttpAnswer& a) {
    const auto h = a.Header("x-wp-totalpages");
    try {
        return h ? std::max(1, std::stoi(*h)) : 1;
    } catch (const std::exception&) {
        return 1;
    }
}

class StoreSync {
  public:
    StoreSync(const config::StoreSettings& s, store::Store& store, store::IngestQueue& queue,
              const dispatch::Router& lanes, bool relay, const model::SchemaValidator* validator, Families& m)
        : s_(s),
          store_(store),
          queue_(queue),
          lanes_(lanes),
          relay_(relay),
          validator_(validator),
          m_(m),
          rest_(s.url, s.api->consumer_key, s.api->consumer_secret, s.api->oauth_signature_method) {
        status_ = {{"id", s_.id},
                   {"poller",
                    {{"enabled", s_.poller.enabled},
                     {"watermark", nullptr},
                     {"last_run_at", nullptr},
                     {"last_error", nullptr},
                     {"missed_orders", 0},
                     {"stock_drift", 0}}},
                   {"webhooks", json::array()}};
        if (s_.poller.enabled) {  // both results exist from the start: OrderbridgePollerFailing compares them
            for (const char* result : {"ok", "error"})
                m_.runs.Add({{"store", s_.id}, {"result", result}});
        }
    }
    ~StoreSync() { Stop(); }

    void Start() {
        thread_ = std::thread([this] { Loop(); });
    }
    void Stop() {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    json Status() const {
        std::lock_guard lk(status_mu_);
        return status_;
    }

    void ReconcileStock(const api::StockView* view, std::function<void(std::vector<std::string>)> resync) {
        view_ = view;
        resync_ = std::move(resync);
    }

  private:
    bool Stopping() {
        std::lock_guard lk(mu_);
        return stopping_;
    }

    void Loop() {
        auto next_poll = Clock::now();
        auto next_check = Clock::now();
        const bool polling = s_.poller.enabled;
        const bool watching = !s_.webhooks.topics.empty();
        while (true) {
            {
                std::unique_lock lk(mu_);
                auto until = Clock::time_point::max();
                if (polling) until = std::min(until, next_poll);
                if (watching) until = std::min(until, next_check);
                cv_.wait_until(lk, until, [&] { return stopping_; });
                if (stopping_) return;
            }
            const auto now = Clock::now();
            if (polling && now >= next_poll) {
                Poll();
                next_poll = Clock::now() + s_.poller.interval;
            }
            if (watching && now >= next_check) {
                Watch();
                next_check = Clock::now() + s_.webhooks.check_interval;
            }
        }
    }

    // --- poller --------------------------------------------------------------------------------

    void Poll() {
        const std::string name = "poller:" + s_.id;
        std::string error;
        try {
            if (!session_) session_ = store_.Open();
            std::string watermark = session_->GetWatermark(name);
            const std::int64_t now_ms = core::ToUnixMillis(std::chrono::system_clock::now());
            if (watermark.empty()) {
                // First run: look back one interval; afterwards every run resumes at the watermark.
                watermark =
                    WooGmt(now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(s_.poller.interval).count());
            }
            const std::string from = watermark;
            std::string newest = watermark;
            // A second of overlap: WooCommerce compares whole seconds; repeats are recognised as such.
            const std::string after = WooGmt(model::ParseWooGmt(watermark).value_or(now_ms) - 1000);
            dispatch::HttpClient client(std::chrono::duration_cast<std::chrono::milliseconds>(s_.api->timeout));
            int pages = 1;
            for (int page = 1; page <= pages && !Stopping(); ++page) {
                const auto a = rest_.Call(client, "GET", "/orders",
                                          {{"modified_after", after},
                                           {"dates_are_gmt", "true"},
                                           {"orderby", "modified"},
                                           {"order", "asc"},
                                           {"per_page", "100"},
                                           {"page", std::to_string(page)}});
                if (a.transport != dispatch::HttpAnswer::Transport::kAnswered || a.status != 200) {
                    throw std::runtime_error(
                        "GET /orders: " +
                        (a.transport == dispatch::HttpAnswer::Transport::kAnswered
                             ? "HTTP " + std::to_string(a.status) + " " + dispatch::WooRestError(a.body)
                             : a.error));
                }
                pages = TotalPages(a);
                const json list = json::parse(a.body, nullptr, false);
                if (!list.is_array()) throw std::runtime_error("GET /orders did not answer a list");
                Ingest(list, newest);
            }
            if (!Stopping()) CompareStock(client);
            if (!Stopping()) {
                if (newest != from) session_->SetWatermark(name, newest);
                const auto wm = model::ParseWooGmt(newest);
                m_.lag.Add({{"store", s_.id}}).Set(wm ? static_cast<double>(now_ms - *wm) / 1000.0 : 0.0);
            }
            m_.runs.Add({{"store", s_.id}, {"result", "ok"}}).Increment();
            std::lock_guard lk(status_mu_);
            status_["poller"]["watermark"] = newest;
        } catch (const std::exception& e) {
            session_.reset();
            error = e.what();
            m_.runs.Add({{"store", s_.id}, {"result", "error"}}).Increment();
            log::Warn("reconciliation poller failed; trying again next interval", {{"store", s_.id}, {"error", error}});
        }
        std::lock_guard lk(status_mu_);
        status_["poller"]["last_run_at"] = core::FormatRfc3339(std::chrono::system_clock::now());
        status_["poller"]["last_error"] = error.empty() ? json(nullptr) : json(error);
    }

    // Every order of one page through the webhook path; waits for the commits (this thread may block).
    void Ingest(const json& orders, std::string& newest) {
        std::vector<std::future<std::optional<store::Outcome>>> done;
        for (const auto& o : orders) {
            const std::string modified = Str(o, "date_modified_gmt");
            woo::Normalized n;
            std::string body = o.dump();
            store::IngestRecord rec =
                api::PrepareWooRecord(s_, "order.updated", body, model::NewTraceId(), lanes_, relay_, validator_, n);
            rec.topic = "poller:order.updated";
            rec.body = std::move(body);
            if (!n.usable) {
                m_.orders.Add({{"store", s_.id}, {"outcome", "rejected"}}).Increment();
                log::Warn("poller: order not usable", {{"store", s_.id}, {"reason", n.error}});
                continue;
            }
            auto promise = std::make_shared<std::promise<std::optional<store::Outcome>>>();
            done.push_back(promise->get_future());
            queue_.Submit(std::move(rec), [promise](std::optional<store::Outcome> outcome, const std::string&) {
                promise->set_value(outcome);
            });
            if (!modified.empty() && modified > newest) newest = modified;
        }
        int missed = 0;
        for (auto& f : done) {
            const auto outcome = f.get();
            std::string what = "unavailable";
            if (outcome) {
                const bool fresh = *outcome == store::Outcome::kAccepted || *outcome == store::Outcome::kHeld;
                what = fresh ? "missed" : (*outcome == store::Outcome::kRejected ? "rejected" : "known");
                missed += fresh ? 1 : 0;
            }
            m_.orders.Add({{"store", s_.id}, {"outcome", what}}).Increment();
            if (!outcome) throw std::runtime_error("the store did not take an order; the watermark stays");
        }
        if (missed > 0) {
            log::Info("poller found orders no webhook brought", {{"store", s_.id}, {"orders", missed}});
            std::lock_guard lk(status_mu_);
            status_["poller"]["missed_orders"] = status_["poller"]["missed_orders"].get<int>() + missed;
        }
    }

    // Products likewise: the shop's stock of every SKU with a level, read by SKU (which covers
    // variations), 100 at a time; a managed stock that differs from the level is written again.
    void CompareStock(dispatch::HttpClient& client) {
        if (!view_ || !resync_) return;
        const auto levels = view_->Levels();
        std::vector<std::string> drifted;
        for (std::size_t i = 0; i < levels.size() && !Stopping(); i += 100) {
            std::map<std::string, std::int64_t> want;
            std::string skus;
            for (std::size_t j = i; j < std::min(levels.size(), i + 100); ++j) {
                want.emplace(levels[j].first, levels[j].second);
                skus += (skus.empty() ? "" : ",") + levels[j].first;
            }
            const auto a = rest_.Call(client, "GET", "/products", {{"sku", skus}, {"per_page", "100"}});
            if (a.transport != dispatch::HttpAnswer::Transport::kAnswered || a.status != 200)
                throw std::runtime_error("GET /products?sku=: " +
                                         (a.transport == dispatch::HttpAnswer::Transport::kAnswered
                                              ? "HTTP " + std::to_string(a.status)
                                              : a.error));
            const json list = json::parse(a.body, nullptr, false);
            if (!list.is_array()) continue;
            for (const auto& p : list) {
                const auto it = want.find(Str(p, "sku"));
                if (it == want.end() || p.value("manage_stock", json(false)) != json(true)) continue;
                const json& q = p.contains("stock_quantity") ? p["stock_quantity"] : json();
                if (!q.is_number_integer() || q.get<std::int64_t>() != it->second) drifted.push_back(it->first);
            }
        }
        if (drifted.empty()) return;
        m_.drift.Add({{"store", s_.id}}).Increment(static_cast<double>(drifted.size()));
        log::Info("stock in the shop differs from the inventory levels; writing it again",
                  {{"store", s_.id}, {"skus", static_cast<std::int64_t>(drifted.size())}});
        {
            std::lock_guard lk(status_mu_);
            status_["poller"]["stock_drift"] =
                status_["poller"]["stock_drift"].get<std::int64_t>() + static_cast<std::int64_t>(drifted.size());
        }
        resync_(std::move(drifted));
    }

    // --- watchdog ------------------------------------------------------------------------------

    void Watch() {
        dispatch::HttpClient client(std::chrono::duration_cast<std::chrono::milliseconds>(s_.api->timeout));
        json hooks = json::array();
        std::string error;
        int pages = 1;
        for (int page = 1; page <= pages; ++page) {
            const auto a =
                rest_.Call(client, "GET", "/webhooks", {{"per_page", "100"}, {"page", std::to_string(page)}});
            if (a.transport != dispatch::HttpAnswer::Transport::kAnswered || a.status != 200) {
                error = a.transport == dispatch::HttpAnswer::Transport::kAnswered
                            ? "HTTP " + std::to_string(a.status) + " " + dispatch::WooRestError(a.body)
                            : a.error;
                break;
            }
            pages = TotalPages(a);
            const json list = json::parse(a.body, nullptr, false);
            if (list.is_array()) hooks.insert(hooks.end(), list.begin(), list.end());
        }
        json states = json::array();
        for (const auto& topic : s_.webhooks.topics) {
            json state = {{"topic", topic}, {"checked_at", core::FormatRfc3339(std::chrono::system_clock::now())}};
            if (!error.empty()) {
                state["state"] = "unknown";
                state["error"] = error;
                states.push_back(state);
                continue;  // the gauge keeps its last known value
            }
            const json* best = nullptr;
            for (const auto& h : hooks) {
                if (Str(h, "topic") != topic) continue;
                if (!s_.webhooks.delivery_url.empty() && Str(h, "delivery_url") != s_.webhooks.delivery_url) continue;
                if (!best || Str(h, "status") == "active") best = &h;
            }
            std::string now_state = best ? Str(*best, "status") : "missing";
            state["webhook_id"] = best && best->contains("id") ? (*best)["id"] : json(nullptr);
            if (now_state != "active" && s_.webhooks.repair) {
                if (Repair(client, topic, best)) {
                    state["repaired_from"] = now_state;
                    now_state = "active";
                }
            }
            state["state"] = now_state;
            m_.health.Add({{"store", s_.id}, {"topic", topic}}).Set(now_state == "active" ? 1 : 0);
            if (now_state != "active") {
                log::Warn("webhook not active in the store",
                          {{"store", s_.id}, {"topic", topic}, {"state", now_state}, {"repair", s_.webhooks.repair}});
            }
            states.push_back(state);
        }
        std::lock_guard lk(status_mu_);
        status_["webhooks"] = states;
    }

    bool Repair(dispatch::HttpClient& client, const std::string& topic, const json* existing) {
        const std::string secret = s_.webhook_secrets.empty() ? std::string{} : s_.webhook_secrets.front();
        json body = {{"status", "active"}, {"secret", secret}};
        std::string path = "/webhooks";
        std::string method = "POST";
        std::string action = "created";
        if (existing && existing->contains("id")) {
            path += "/" + (*existing)["id"].dump();
            method = "PUT";
            action = "enabled";
        } else {
            body["name"] = "orderbridge " + topic;
            body["topic"] = topic;
            body["delivery_url"] = s_.webhooks.delivery_url;
        }
        const auto a = rest_.Call(client, method, path, {}, body.dump());
        const bool ok = a.transport == dispatch::HttpAnswer::Transport::kAnswered && a.status >= 200 && a.status < 300;
        if (ok) {
            m_.repairs.Add({{"store", s_.id}, {"topic", topic}, {"action", action}}).Increment();
            log::Info("webhook repaired", {{"store", s_.id}, {"topic", topic}, {"action", action}});
        } else {
            log::Warn(
                "webhook repair failed",
                {{"store", s_.id}, {"topic", topic}, {"status", a.status}, {"error", dispatch::WooRestError(a.body)}});
        }
        return ok;
    }

    const config::StoreSettings s_;
    store::Store& store_;
    store::IngestQueue& queue_;
    const dispatch::Router& lanes_;
    bool relay_;
    const model::SchemaValidator* validator_;
    Families& m_;
    dispatch::WooRest rest_;
    std::unique_ptr<store::Session> session_;  // the thread's
    const api::StockView* view_ = nullptr;
    std::function<void(std::vector<std::string>)> resync_;

    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
    mutable std::mutex status_mu_;
    json status_ = json::object();
};

}  // namespace

struct Reconciler::Impl {
    explicit Impl(prometheus::Registry& r) : families(r) {}
    Families families;
    std::vector<std::unique_ptr<StoreSync>> stores;
    std::vector<std::string> idle;  ///< stores with neither poller nor watchdog
};

Reconciler::Reconciler(const config::Settings& settings, store::Store& store, store::IngestQueue& queue,
                       const dispatch::Router& lanes, const model::SchemaValidator* validator,
                       prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(registry)) {
    const bool relay = settings.bus.driver == config::BusDriver::kKafka;
    for (const auto& s : settings.stores) {
        if (!s.api || (!s.poller.enabled && s.webhooks.topics.empty())) {
            impl_->idle.push_back(s.id);
            continue;
        }
        impl_->stores.push_back(std::make_unique<StoreSync>(s, store, queue, lanes, relay, validator, impl_->families));
    }
}

Reconciler::~Reconciler() {
    Stop();
}

void Reconciler::ReconcileStock(const api::StockView* view, std::function<void(std::vector<std::string>)> resync) {
    for (auto& s : impl_->stores)
        s->ReconcileStock(view, resync);
}

void Reconciler::Start() {
    for (auto& s : impl_->stores)
        s->Start();
}

void Reconciler::Stop() {
    for (auto& s : impl_->stores)
        s->Stop();
}

json Reconciler::Status() const {
    json out = json::array();
    for (const auto& s : impl_->stores)
        out.push_back(s->Status());
    for (const auto& id : impl_->idle)
        out.push_back({{"id", id}, {"poller", {{"enabled", false}}}, {"webhooks", json::array()}});
    return out;
}

}  // namespace orderbridge::app

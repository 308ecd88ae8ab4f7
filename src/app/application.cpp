#include "orderbridge/app/application.hpp"

#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stack>
#include <thread>

#include "orderbridge/api/auth.hpp"
#include "orderbridge/api/checkout.hpp"
#include "orderbridge/api/console.hpp"
#include "orderbridge/api/deliveries.hpp"
#include "orderbridge/api/health.hpp"
#include "orderbridge/api/inbound.hpp"
#include "orderbridge/api/orders.hpp"
#include "orderbridge/api/webhooks.hpp"
#include "orderbridge/app/periodic_task.hpp"
#include "orderbridge/app/reconcile.hpp"
#include "orderbridge/app/stock_poller.hpp"
#include "orderbridge/core/build_info.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/core/health.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/dispatcher.hpp"
#include "orderbridge/dispatch/kafka_bus.hpp"
#include "orderbridge/dispatch/router.hpp"
#include "orderbridge/http/server.hpp"
#include "orderbridge/metrics/metrics.hpp"
#include "orderbridge/model/schema.hpp"
#include "orderbridge/store/ingest_queue.hpp"
#include "orderbridge/store/session_pool.hpp"
#include "orderbridge/store/store.hpp"

namespace orderbridge::app {
namespace {

// Pings systemd's watchdog at half its interval while the daemon runs.
class Watchdog {
  public:
    Watchdog() {
        std::uint64_t usec = 0;
        if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
        const auto period = std::chrono::microseconds(usec / 2);
        thread_ = std::thread([this, period] {
            std::unique_lock lock(mutex_);
            while (!cv_.wait_for(lock, period, [this] { return stop_; }))
                sd_notify(0, "WATCHDOG=1");
        });
    }
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

class StopStack {
  public:
    void Push(std::string name, std::function<void()> stop) { stops_.emplace(std::move(name), std::move(stop)); }
    void RunAll() {
        while (!stops_.empty()) {
            auto [name, stop] = std::move(stops_.top());
            stops_.pop();
            try {
                stop();
                log::Info("stopped", {{"component", name}});
            } catch (const std::exception& e) {
                log::Error("stop failed", {{"component", name}, {"error", e.what()}});
            }
        }
    }
    ~StopStack() { RunAll(); }

  private:
    std::stack<std::pair<std::string, std::function<void()>>> stops_;
};

// Retention: prunes archived raw bodies and finished outbox events in small batches.
void Prune(store::Session& session, const config::RetentionSettings& settings, const std::atomic<bool>& stopping) {
    const auto cutoff = core::FormatRfc3339(std::chrono::system_clock::now() - settings.raw_bodies);
    std::int64_t total = 0, n = 0;
    // Each batch looks at the oldest stored bodies and deletes those received before the cutoff; a
    // younger one among them (stored a moment out of order, or by a daemon whose clock is ahead) does
    // not hold back older ones behind it. It ends at a batch with nothing old enough.
    do {
        n = session.PruneRaw(cutoff, settings.batch_size);
        total += n;
    } while (n > 0 && !stopping.load());
    if (total > 0) log::Info("pruned archived webhook bodies", {{"rows", total}, {"before", cutoff}});
    const auto outbox_cutoff = core::FormatRfc3339(std::chrono::system_clock::now() - settings.finished_outbox);
    total = 0;
    do {
        n = session.PruneOutbox(outbox_cutoff, settings.batch_size);
        total += n;
    } while (n == settings.batch_size && !stopping.load());
    if (total > 0) log::Info("pruned finished outbox events", {{"rows", total}, {"before", outbox_cutoff}});
}

}  // namespace

Application::Application(config::Settings settings) : settings_(std::move(settings)) {}

void Application::BlockSignals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int Application::Run() {
    const auto& info = core::GetBuildInfo();
    log::Info("starting", {{"version", info.version}, {"git_sha", info.git_sha}, {"listen", settings_.server.listen}});

    auto registry = std::make_shared<prometheus::Registry>();
    auto process = std::make_shared<metrics::ProcessCollector>();
    metrics::RegisterBuildInfo(*registry);
    core::Readiness readiness;

    // Storage first: everything else needs it. Migrations run here unless disabled, and a schema
    // newer than this binary is refused.
    std::unique_ptr<store::Store> store = store::MakeStore(settings_.storage);
    try {
        if (settings_.storage.migrate_on_start) {
            const int version = store->Migrate();
            log::Info("schema ready", {{"driver", store->Driver()}, {"version", version}});
        } else {
            const int version = store->SchemaVersion();
            if (version != store::Store::KnownSchemaVersion()) {
                log::Error("database schema does not match; run orderbridge migrate",
                           {{"found", version}, {"expected", store::Store::KnownSchemaVersion()}});
                return 1;
            }
        }
        const store::Durability durability = store->CheckDurability();
        std::string durability_settings;
        for (const auto& [name, value] : durability.settings)
            durability_settings += (durability_settings.empty() ? "" : " ") + name + "=" + value;
        log::Info("storage durability", {{"driver", store->Driver()}, {"settings", durability_settings}});
        for (const auto& warning : durability.warnings)
            log::Warn(warning, {{"driver", store->Driver()}});
    } catch (const std::exception& e) {
        log::Error("cannot prepare the store", {{"driver", store->Driver()}, {"error", e.what()}});
        return 1;
    }
    store::IngestSettings ingest_settings;
    ingest_settings.writers = settings_.storage.Writers();
    ingest_settings.max_batch = static_cast<std::size_t>(settings_.storage.max_batch);
    ingest_settings.group_window = settings_.storage.group_window;
    ingest_settings.ack_timeout = settings_.storage.ack_timeout;

    // The delivery engine: routing is decided at commit, the dispatcher delivers from the store.
    dispatch::Router lanes(settings_.connectors);
    dispatch::DispatcherSettings dispatch_settings;
    dispatch_settings.single_process = settings_.storage.driver == config::StorageDriver::kSqlite;
    dispatch::Dispatcher dispatcher(*store, settings_.connectors, dispatch_settings, *registry,
                                    core::SystemClock::Instance());
    std::unique_ptr<dispatch::KafkaBus> kafka;
    if (settings_.bus.driver == config::BusDriver::kKafka) {
        kafka = std::make_unique<dispatch::KafkaBus>(*store, settings_, dispatcher, *registry);
        dispatcher.SetFinalListener([&kafka](const std::vector<std::int64_t>& ids) { kafka->OnFinal(ids); });
        ingest_settings.on_commit = [&kafka] { kafka->Wake(); };
    } else {
        ingest_settings.on_commit = [&dispatcher] { dispatcher.Wake(); };
    }
    store::IngestQueue ingest(*store, ingest_settings, *registry);
    ingest.Start();
    log::Info("ingest started", {{"writers", ingest_settings.writers},
                                 {"max_batch", static_cast<std::int64_t>(ingest_settings.max_batch)}});
    store::SessionPool sessions(*store, settings_.storage.read_threads);
    readiness.Register("store", [&ingest] {
        return core::ProbeResult{ingest.Healthy(), ingest.Healthy() ? "ok" : "the store is unavailable"};
    });
    std::unique_ptr<model::SchemaValidator> validator;
    if (settings_.model.validate_events) validator = std::make_unique<model::SchemaValidator>();
    api::Authenticator auth(settings_.server.admin_tokens);

    http::Router router;
    api::AddHealthRoutes(router, readiness);
    router.Add("GET", "/metrics", metrics::MetricsHandler(registry, process));
    // The checkout view of the inventory cache, loaded before the first request, kept current by
    // the inventory intake and the product webhooks.
    api::StockView stock;
    try {
        auto session = store->Open();
        stock.Load(*session);
    } catch (const std::exception& e) {
        log::Warn("checkout view starts empty: the store could not be read", {{"error", e.what()}});
    }
    api::AddWebhookRoutes(router, settings_, ingest, *registry, validator.get(), lanes, &stock);
    auto checkout = api::AddCheckoutRoutes(router, settings_, auth, stock, *registry);
    api::AddOrderRoutes(router, auth, sessions);
    api::AddDeliveryRoutes(router, auth, sessions, dispatcher);
    api::AddConsoleRoutes(router);
    // The reconciliation poller and the webhook watchdog, a thread per store that has them.
    app::Reconciler reconciler(settings_, *store, ingest, lanes, validator.get(), *registry);
    router.Add("GET", "/v1/stores", api::Guarded([&auth, &reconciler](http::Request& req, http::Responder& respond) {
                   auth.Authorize(req, false);
                   respond(http::Response::Json(200, nlohmann::json{{"items", reconciler.Status()}}.dump()));
               }));
    // Shipments and stock coming back: fetched and read on their own workers.
    store::SessionPool inbound_pool(*store, 2);
    auto inbound =
        api::AddInboundRoutes(router, settings_, auth, *store, inbound_pool, ingest, lanes, *registry, &stock);

    auto server =
        std::make_unique<http::Server>(settings_.server, settings_.log.access_log, std::move(router), *registry);
    const config::RetentionSettings retention_settings = settings_.storage.retention;
    PeriodicStoreTask retention(
        *store, std::chrono::duration_cast<std::chrono::milliseconds>(retention_settings.interval), false,
        [retention_settings](store::Session& s, const std::atomic<bool>& stopping) {
            Prune(s, retention_settings, stopping);
        },
        [](const std::exception& e) {
            log::Warn("retention failed", {{"error", e.what()}});
        });
    // A newer daemon may migrate the database while this one runs (a rolling upgrade, or
    // `orderbridge migrate`). This one would go on writing and reading in its own, older way (see
    // docs/operations.md, schema version 8), so it stops as it would refuse to start: with status 1.
    std::atomic<bool> schema_too_new{false};
    std::atomic<bool> schema_check_failing{false};  // the store's own errors are logged elsewhere: once here
    PeriodicStoreTask schema_watch(
        *store, std::chrono::seconds(5), false,
        [&schema_too_new, &schema_check_failing](store::Session& session, const std::atomic<bool>&) {
            const int found = session.SchemaVersion();
            if (schema_check_failing.exchange(false)) log::Info("schema check works again");
            if (found <= store::Store::KnownSchemaVersion() || schema_too_new.exchange(true)) return;
            log::Error("the database schema is newer than this orderbridge knows; stopping (upgrade this daemon)",
                       {{"found", found}, {"known", store::Store::KnownSchemaVersion()}});
            ::kill(::getpid(), SIGTERM);  // the main thread's sigwait runs the ordinary shutdown
        },
        [&schema_check_failing](const std::exception& e) {
            if (!schema_check_failing.exchange(true)) log::Warn("schema check failed", {{"error", e.what()}});
        });
    // orderbridge_held_orders needs the database, so it is counted every 15 s, not when scraped.
    auto& held_family = prometheus::BuildGauge()
                            .Name("orderbridge_held_orders")
                            .Help("Orders held by a business rule and waiting for a person, by store")
                            .Register(*registry);
    std::map<std::string, prometheus::Gauge*> held_gauges;
    for (const auto& s : settings_.stores)
        held_gauges.emplace(s.id, &held_family.Add({{"store", s.id}}));
    PeriodicStoreTask held_gauge(*store, std::chrono::seconds(15), true,
                                 [held_gauges](store::Session& s, const std::atomic<bool>&) {
                                     const auto held = s.CountHeld();
                                     for (const auto& [id, gauge] : held_gauges) {
                                         const auto it = held.find(id);
                                         gauge->Set(it == held.end() ? 0.0 : static_cast<double>(it->second));
                                     }
                                 });
    // Stock levels polled from ERPs and 3PLs (connectors[].stock_poll) go through the same intake.
    app::StockPoller stock_poller(
        settings_, *store,
        [&inbound](std::vector<store::StockLevel> levels, std::function<void(bool, const std::string&)> done) {
            api::SubmitLevels(*inbound, std::move(levels), std::move(done));
        },
        *registry);
    StopStack stops;  // declared after what its actions touch, so it unwinds first
    stops.Push("store", [&sessions] { sessions.Stop(); });
    stops.Push("ingest", [&ingest] { ingest.Stop(); });
    reconciler.ReconcileStock(
        &stock, [&inbound](std::vector<std::string> skus) { api::ResyncStock(*inbound, std::move(skus)); });
    reconciler.Start();
    stops.Push("reconcile", [&reconciler] { reconciler.Stop(); });
    stops.Push("checkout", [&checkout] { api::StopCheckout(*checkout); });
    stops.Push("inbound", [&inbound_pool, &inbound] {
        inbound_pool.Stop();
        api::StopInbound(*inbound);
    });
    stock_poller.Start();
    stops.Push("stock-poll", [&stock_poller] { stock_poller.Stop(); });
    dispatcher.Start();
    stops.Push("dispatch", [&dispatcher] { dispatcher.Stop(); });
    if (kafka) {
        kafka->Start();
        stops.Push("kafka", [&kafka] { kafka->Stop(); });
        log::Info("kafka bus", {{"brokers", settings_.bus.kafka.brokers}, {"topic", settings_.bus.kafka.topic}});
    }
    stops.Push("retention", [&retention] { retention.Stop(); });
    stops.Push("schema watch", [&schema_watch] { schema_watch.Stop(); });
    stops.Push("held gauge", [&held_gauge] { held_gauge.Stop(); });
    try {
        server->Start();
    } catch (const std::exception& e) {
        log::Error("cannot start the HTTP server", {{"error", e.what()}});
        return 1;
    }
    std::atomic<bool> draining{false};
    readiness.Register("http", [&draining] {
        return core::ProbeResult{!draining.load(), draining.load() ? "shutting down" : "listening"};
    });
    stops.Push("http", [&server, this] {
        server->BeginShutdown();
        if (!server->WaitIdle(settings_.server.shutdown_grace)) {
            log::Warn("shutdown grace period over; closing remaining requests", {{"in_flight", server->InFlight()}});
        }
        server->Stop();
    });
    log::Info("listening", {{"port", static_cast<int>(server->Port())}, {"address", settings_.server.listen}});

    sd_notify(0, "READY=1");
    Watchdog watchdog;

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            log::Reopen();
            log::Info("log file reopened");
            continue;
        }
        log::Info("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
        break;
    }
    sd_notify(0, "STOPPING=1");
    draining.store(true);
    stops.RunAll();
    log::Info("stopped cleanly");
    log::Flush();
    return schema_too_new.load() ? 1 : 0;
}

}  // namespace orderbridge::app

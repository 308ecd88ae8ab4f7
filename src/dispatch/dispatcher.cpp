#include "orderbridge/dispatch/dispatcher.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <map>

#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/router.hpp"

namespace orderbridge::dispatch {

constexpr std::size_t kResultBatch = 128;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

store::AttemptRecord Decide(const store::DeliveryTask& task, const DeliveryResult& result,
                            const config::RetrySettings& retry, Backoff& backoff,
                            std::chrono::system_clock::time_point now, milliseconds latency) {
    store::AttemptRecord rec;
    rec.delivery_id = task.id;
    rec.at = core::FormatRfc3339(now);
    rec.http_status = result.http_status;
    rec.latency_ms = latency.count();
    rec.reason = CleanText(result.reason);
    rec.external_id = CleanText(result.external_id, 200);
    const std::int64_t now_ms = core::ToUnixMillis(now);
    rec.due_ms = now_ms;
    if (result.Succeeded()) {
        rec.state = "delivered";
        rec.error_class = result.error_class ? "duplicate" : "";
        return rec;
    }
    const core::ErrorClass cls = *result.error_class;
    rec.error_class = std::string(core::ToString(cls));
    if (cls != core::ErrorClass::kTransient && cls != core::ErrorClass::kThrottled) {
        rec.state = "dead";  // permanent, auth: retrying cannot help
        return rec;
    }
    const int attempt = task.attempts + 1;
    if (cls == core::ErrorClass::kTransient && attempt >= retry.max_attempts) {
        rec.state = "dead";
        rec.reason = "gave up after " + std::to_string(attempt) + " attempts: " + rec.reason;
        return rec;
    }
    // Throttling is the target asking us to wait, not a failure: it does not use up attempts.
    rec.counts = cls == core::ErrorClass::kTransient;
    const milliseconds wait = backoff.Next(std::max(1, attempt), result.retry_after);
    const auto max_age_ms = duration_cast<milliseconds>(retry.max_age).count();
    if (now_ms + wait.count() - task.since_ms > max_age_ms) {
        rec.state = "dead";
        rec.reason =
            "max_age " + std::to_string(max_age_ms / 1000) + "s would pass before the next attempt: " + rec.reason;
        return rec;
    }
    rec.state = "pending";
    rec.due_ms = now_ms + wait.count();
    return rec;
}

struct Dispatcher::Metrics {
    explicit Metrics(prometheus::Registry& r)
        : deliveries(prometheus::BuildCounter()
                         .Name("orderbridge_deliveries_total")
                         .Help("Delivery attempts' end results by connector and outcome (delivered, duplicate, retry, "
                               "dead, reclaimed)")
                         .Register(r)),
          attempts(prometheus::BuildCounter()
                       .Name("orderbridge_delivery_attempts_total")
                       .Help("Delivery attempts by connector, error class (ok for success) and HTTP status (none "
                             "when no answer came)")
                       .Register(r)),
          latency(prometheus::BuildHistogram()
                      .Name("orderbridge_delivery_latency_seconds")
                      .Help("Event committed to connector acknowledged, by connector")
                      .Register(r)),
          backlog(prometheus::BuildGauge()
                      .Name("orderbridge_lane_backlog")
                      .Help("Pending deliveries per connector lane")
                      .Register(r)),
          oldest(prometheus::BuildGauge()
                     .Name("orderbridge_lane_oldest_age_seconds")
                     .Help("Age of the oldest pending delivery per connector lane")
                     .Register(r)),
          breaker(prometheus::BuildGauge()
                      .Name("orderbridge_breaker_state")
                      .Help("Circuit breaker per connector: 0 closed, 1 half-open, 2 open")
                      .Register(r)),
          dlq(prometheus::BuildGauge()
                  .Name("orderbridge_dlq_size")
                  .Help("Dead deliveries waiting for a person, per connector")
                  .Register(r)),
          limit(prometheus::BuildGauge()
                    .Name("orderbridge_lane_concurrency_limit")
                    .Help("The adaptive concurrency limit per connector lane")
                    .Register(r)),
          in_flight(prometheus::BuildGauge()
                        .Name("orderbridge_lane_in_flight")
                        .Help("Requests in flight per connector lane")
                        .Register(r)),
          paused(prometheus::BuildGauge()
                     .Name("orderbridge_lane_paused")
                     .Help("1 while an operator has paused the connector lane")
                     .Register(r)),
          sync_delay(prometheus::BuildHistogram()
                         .Name("orderbridge_inventory_sync_delay_seconds")
                         .Help("Inventory level's source as_of to the store acknowledging the stock write, by "
                               "connector")
                         .Register(r)),
          fulfilment(prometheus::BuildHistogram()
                         .Name("orderbridge_fulfilment_ack_seconds")
                         .Help("Order event committed to a 3PL (shipstation, shipbob) acknowledging it, by connector")
                         .Register(r)),
          refund(prometheus::BuildHistogram()
                     .Name("orderbridge_refund_completion_seconds")
                     .Help("refund.created committed to the connector booking it (a credit note), by connector")
                     .Register(r)) {}
    prometheus::Family<prometheus::Counter>& deliveries;
    prometheus::Family<prometheus::Counter>& attempts;
    prometheus::Family<prometheus::Histogram>& latency;
    prometheus::Family<prometheus::Gauge>& backlog;
    prometheus::Family<prometheus::Gauge>& oldest;
    prometheus::Family<prometheus::Gauge>& breaker;
    prometheus::Family<prometheus::Gauge>& dlq;
    prometheus::Family<prometheus::Gauge>& limit;
    prometheus::Family<prometheus::Gauge>& in_flight;
    prometheus::Family<prometheus::Gauge>& paused;
    prometheus::Family<prometheus::Histogram>& sync_delay;
    prometheus::Family<prometheus::Histogram>& fulfilment;
    prometheus::Family<prometheus::Histogram>& refund;
};

// Buckets of the slower histograms (seconds to hours): sync delay, fulfilment, refunds.
const prometheus::Histogram::BucketBoundaries kSlowBuckets{0.1, 0.5, 1, 2.5, 5, 15, 60, 300, 900, 3600, 14400};

struct Dispatcher::Lane {
    Lane(const config::ConnectorSettings& s, Clock::time_point now, Metrics& m)
        : settings(s),
          connector(MakeConnector(s)),
          bucket(s.rate_limit.per_second, std::max(1, s.rate_limit.burst), now),
          limit(std::max(1, s.rate_limit.max_in_flight), std::max(Millis(200), duration_cast<Millis>(s.timeout) / 4)),
          breaker(s.circuit_breaker),
          backoff(duration_cast<Millis>(s.retry.initial_backoff), duration_cast<Millis>(s.retry.max_backoff)),
          latency(m.latency.Add({{"connector", s.name}},
                                prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5,
                                                                        1, 2.5, 5, 10, 30, 60, 300, 1800, 3600})),
          // Only the lanes that can observe them get these series.
          sync_delay(s.kind == config::ConnectorKind::kWoocommerce
                         ? &m.sync_delay.Add({{"connector", s.name}}, kSlowBuckets)
                         : nullptr),
          fulfilment(s.kind == config::ConnectorKind::kShipstation || s.kind == config::ConnectorKind::kShipbob
                         ? &m.fulfilment.Add({{"connector", s.name}}, kSlowBuckets)
                         : nullptr),
          refund(Subscribes(s.subscribe, "refund.created") ? &m.refund.Add({{"connector", s.name}}, kSlowBuckets)
                                                           : nullptr),
          backlog(m.backlog.Add({{"connector", s.name}})),
          oldest(m.oldest.Add({{"connector", s.name}})),
          breaker_gauge(m.breaker.Add({{"connector", s.name}})),
          dlq(m.dlq.Add({{"connector", s.name}})),
          limit_gauge(m.limit.Add({{"connector", s.name}})),
          in_flight_gauge(m.in_flight.Add({{"connector", s.name}})),
          paused_gauge(m.paused.Add({{"connector", s.name}})) {
        // A claim may wait in the queue for its tokens (up to 4 x max_in_flight of them) and then
        // take up to the timeout, with a retry of the store write: the lease covers all of that.
        const double queued_s = 4.0 * std::max(1, s.rate_limit.max_in_flight) / std::max(0.01, s.rate_limit.per_second);
        lease = duration_cast<milliseconds>(s.timeout) * (connector->MaxCallsPerDelivery() + 1) +
                milliseconds(static_cast<std::int64_t>(queued_s * 1000)) + milliseconds(5000);
        for (const char* outcome : {"delivered", "duplicate", "retry", "dead", "reclaimed"})
            outcomes.emplace(outcome, &m.deliveries.Add({{"connector", s.name}, {"outcome", outcome}}));
        // Alerts take increase() over these: a series that appears with its first failure would hide
        // that failure, so the ones OrderbridgeConnectorAuthFailing watches exist from the start.
        for (const int status : {401, 403})
            Attempts(m, "auth", status);
    }

    /// How many claimed deliveries the lane holds at most: four times its concurrency (or a batch per
    /// worker when the connector sends batches), so workers never wait for the pump. Called with mu held.
    int Want() const { return limit.Limit() * std::max(4, connector->MaxBatch()); }

    prometheus::Counter& Attempts(Metrics& m, const std::string& cls, int status) {
        const std::string key = cls + "/" + std::to_string(status);
        auto it = attempt_counters.find(key);
        if (it == attempt_counters.end()) {
            it = attempt_counters
                     .emplace(key, &m.attempts.Add({{"connector", settings.name},
                                                    {"class", cls},
                                                    {"status", status ? std::to_string(status) : "none"}}))
                     .first;
        }
        return *it->second;
    }

    config::ConnectorSettings settings;
    std::unique_ptr<Connector> connector;
    milliseconds lease{0};

    // Guarded by mu.
    std::mutex mu;
    std::condition_variable cv;
    std::deque<store::DeliveryTask> queue;
    int in_flight = 0;
    bool stopping = false;
    bool paused = false;
    bool auth_failed = false;
    TokenBucket bucket;
    AdaptiveLimit limit;
    CircuitBreaker breaker;
    Backoff backoff;
    Clock::time_point throttled_until{};
    std::chrono::system_clock::time_point throttled_until_wall{};
    std::deque<Clock::time_point> recent;  ///< attempt start times in the last 10 s
    std::string last_error_at, last_error_class, last_error_reason, last_success_at;
    int last_error_status = 0;
    store::Backlog backlog_now;
    std::int64_t backlog_read_ms = 0;
    std::map<std::string, prometheus::Counter*> attempt_counters;
    std::map<std::string, prometheus::Counter*> outcomes;

    prometheus::Histogram& latency;
    prometheus::Histogram* sync_delay;  ///< write-back lanes: a level's as_of to acknowledged
    prometheus::Histogram* fulfilment;  ///< 3PL lanes: order event committed to acknowledged
    prometheus::Histogram* refund;      ///< lanes taking refund.created: committed to acknowledged
    prometheus::Gauge& backlog;
    prometheus::Gauge& oldest;
    prometheus::Gauge& breaker_gauge;
    prometheus::Gauge& dlq;
    prometheus::Gauge& limit_gauge;
    prometheus::Gauge& in_flight_gauge;
    prometheus::Gauge& paused_gauge;
    std::vector<std::thread> workers;
};

Dispatcher::Dispatcher(store::Store& store, const std::vector<config::ConnectorSettings>& connectors,
                       DispatcherSettings settings, prometheus::Registry& registry, core::Clock& clock)
    : store_(store), settings_(settings), clock_(clock), metrics_(std::make_unique<Metrics>(registry)) {
    for (const auto& c : connectors)
        lanes_.push_back(std::make_unique<Lane>(c, clock_.Steady(), *metrics_));
}

Dispatcher::~Dispatcher() {
    Stop();
}

void Dispatcher::Start() {
    if (lanes_.empty() || pump_.joinable()) return;
    for (auto& lane : lanes_) {
        const int workers = std::max(1, lane->settings.rate_limit.max_in_flight);
        for (int i = 0; i < workers; ++i)
            lane->workers.emplace_back([this, l = lane.get(), i] { WorkerLoop(*l, static_cast<std::size_t>(i)); });
    }
    pump_ = std::thread([this] { PumpLoop(); });
    // Work committed by other daemons (PostgreSQL): their NOTIFY wakes the pump at once.
    if (auto waiter = store_.MakeWorkWaiter()) {
        listener_ = std::thread([this, w = std::shared_ptr<store::WorkWaiter>(std::move(waiter))] {
            while (!listener_stop_) {
                if (w->Wait(milliseconds(500))) Wake();
            }
        });
    }
}

void Dispatcher::Stop() {
    if (!pump_.joinable()) return;
    listener_stop_ = true;
    if (listener_.joinable()) listener_.join();
    for (auto& lane : lanes_) {
        std::vector<store::Session::Unclaimed> unstarted;
        {
            std::lock_guard lk(lane->mu);
            lane->stopping = true;
            for (const auto& t : lane->queue)
                unstarted.push_back({t.id, t.lease_until_ms, 0});
            lane->queue.clear();
        }
        lane->cv.notify_all();
        GiveBack(std::move(unstarted));
    }
    for (auto& lane : lanes_) {
        for (auto& w : lane->workers)
            w.join();
        lane->workers.clear();
    }
    {
        std::lock_guard lk(mutex_);
        stopping_ = true;  // the pump records what the workers finished, then exits
    }
    pump_cv_.notify_all();
    pump_.join();
}

void Dispatcher::Wake() {
    {
        std::lock_guard lk(mutex_);
        woken_ = true;
    }
    pump_cv_.notify_one();
}

void Dispatcher::SetFinalListener(std::function<void(const std::vector<std::int64_t>&)> listener) {
    final_listener_ = std::move(listener);
}

bool Dispatcher::HasLane(const std::string& connector) const {
    return std::any_of(lanes_.begin(), lanes_.end(), [&](const auto& l) { return l->settings.name == connector; });
}

bool Dispatcher::SetPaused(const std::string& connector, bool paused) {
    for (auto& lane : lanes_) {
        if (lane->settings.name != connector) continue;
        std::vector<store::Session::Unclaimed> queued;
        {
            std::lock_guard lk(lane->mu);
            lane->paused = paused;
            lane->paused_gauge.Set(paused ? 1 : 0);
            if (paused) {  // claims wait in the store, not in memory, while paused
                for (const auto& t : lane->queue)
                    queued.push_back({t.id, t.lease_until_ms, 0});
                lane->queue.clear();
            }
        }
        lane->cv.notify_all();
        GiveBack(std::move(queued));
        log::Info(paused ? "lane paused" : "lane resumed", {{"connector", connector}});
        Wake();
        return true;
    }
    return false;
}

std::vector<LaneStatus> Dispatcher::Status() const {
    std::vector<LaneStatus> out;
    const auto now = clock_.Steady();
    const std::int64_t now_ms = core::ToUnixMillis(clock_.Now());
    for (const auto& lane : lanes_) {
        std::lock_guard lk(lane->mu);
        LaneStatus s;
        s.name = lane->settings.name;
        s.kind = std::string(config::ToString(lane->settings.kind));
        s.paused = lane->paused;
        s.breaker = std::string(CircuitBreaker::ToString(lane->breaker.GetState(now)));
        s.rate_limit = lane->bucket.Rate();
        std::size_t recent = 0;
        for (auto t : lane->recent)
            recent += now - t <= std::chrono::seconds(10) ? 1 : 0;
        s.current_rate = static_cast<double>(recent) / 10.0;
        s.limit = lane->limit.Limit();
        s.max_in_flight = lane->settings.rate_limit.max_in_flight;
        s.in_flight = lane->in_flight;
        s.backlog = lane->backlog_now.pending;
        s.oldest_age_seconds = lane->backlog_now.oldest_created_ms
                                   ? static_cast<double>(now_ms - lane->backlog_now.oldest_created_ms) / 1000.0
                                   : 0.0;
        s.dead = lane->backlog_now.dead;
        s.auth_failed = lane->auth_failed;
        if (now < lane->throttled_until) s.throttled_until = core::FormatRfc3339(lane->throttled_until_wall);
        s.last_error_at = lane->last_error_at;
        s.last_error_class = lane->last_error_class;
        s.last_error_reason = lane->last_error_reason;
        s.last_error_status = lane->last_error_status;
        s.last_success_at = lane->last_success_at;
        out.push_back(std::move(s));
    }
    return out;
}

void Dispatcher::RefreshBacklog(store::Session& session) {
    const std::int64_t now_ms = core::ToUnixMillis(clock_.Now());
    for (auto& lane : lanes_) {
        const store::Backlog b = session.GetBacklog(lane->settings.name);
        std::lock_guard lk(lane->mu);
        lane->backlog_now = b;
        lane->backlog.Set(static_cast<double>(b.pending));
        lane->oldest.Set(b.oldest_created_ms ? static_cast<double>(now_ms - b.oldest_created_ms) / 1000.0 : 0.0);
        lane->dlq.Set(static_cast<double>(b.dead));
        const auto state = lane->breaker.GetState(clock_.Steady());
        lane->breaker_gauge.Set(state == CircuitBreaker::State::kClosed     ? 0
                                : state == CircuitBreaker::State::kHalfOpen ? 1
                                                                            : 2);
        lane->limit_gauge.Set(lane->limit.Limit());
        lane->in_flight_gauge.Set(lane->in_flight);
    }
}

void Dispatcher::PumpLoop() {
    std::unique_ptr<store::Session> session;
    std::vector<store::AttemptRecord> results;
    std::vector<store::Session::Unclaimed> unclaimed;
    auto results_since = Clock::time_point{};
    auto last_backlog = Clock::time_point{};
    bool first = true;
    while (true) {
        bool stopping = false;
        {
            std::unique_lock lk(mutex_);
            if (results.empty() && !results_.empty()) results_since = clock_.Steady();
            for (auto& r : results_)
                results.push_back(std::move(r));
            results_.clear();
            unclaimed.insert(unclaimed.end(), unclaimed_.begin(), unclaimed_.end());
            unclaimed_.clear();
            stopping = stopping_;
            woken_ = false;
            hungry_ = false;
        }
        bool busy = false;
        try {
            if (!session) session = store_.Open();
            if (first && settings_.single_process) session->DropLeases();
            first = false;
            // Results are written in batches (one commit for many), at the latest after
            // result_linger: nothing waits for them but the next event of the same entity.
            if (!results.empty() && (stopping || results.size() >= kResultBatch ||
                                     clock_.Steady() - results_since >= settings_.result_linger)) {
                session->RecordAttempts(results);
                if (final_listener_) {
                    std::vector<std::int64_t> ended;
                    for (const auto& r : results) {
                        if (r.state != "pending") ended.push_back(r.delivery_id);
                    }
                    if (!ended.empty()) final_listener_(ended);
                }
                results.clear();
            }
            if (!unclaimed.empty()) {
                session->Unclaim(unclaimed);
                unclaimed.clear();
            }
            if (stopping) break;
            const auto now = clock_.Steady();
            const std::int64_t now_ms = core::ToUnixMillis(clock_.Now());
            for (auto& lane : lanes_) {
                int room = 0;
                {
                    std::lock_guard lk(lane->mu);
                    if (lane->paused || lane->stopping || now < lane->throttled_until) continue;
                    const auto state = lane->breaker.GetState(now);
                    if (state == CircuitBreaker::State::kOpen) continue;
                    // Half-open lets one probe through: claim no more than that.
                    const int want = state == CircuitBreaker::State::kHalfOpen ? 1 : lane->Want();
                    room = want - lane->in_flight - static_cast<int>(lane->queue.size());
                    // Claim in batches (each claim is a commit) unless the lane is idle.
                    if (room < std::max(1, want / 2) && !(lane->queue.empty() && lane->in_flight == 0)) continue;
                }
                if (room <= 0) continue;
                auto tasks = session->ClaimDue(lane->settings.name, now_ms, std::min(room, settings_.max_claim),
                                               std::max(settings_.lease, lane->lease).count());
                if (tasks.empty()) continue;
                busy = busy || static_cast<int>(tasks.size()) == room;
                {
                    std::lock_guard lk(lane->mu);
                    for (auto& t : tasks) {
                        if (t.reclaimed) lane->outcomes["reclaimed"]->Increment();
                        if (lane->stopping) {
                            unclaimed.push_back({t.id, t.lease_until_ms, 0});  // given back in the final round
                        } else {
                            lane->queue.push_back(std::move(t));
                        }
                    }
                }
                lane->cv.notify_all();
            }
            if (now - last_backlog >= std::chrono::seconds(1)) {
                RefreshBacklog(*session);
                last_backlog = now;
            }
        } catch (const std::exception& e) {
            log::Warn("dispatch: store call failed; retrying", {{"error", e.what()}});
            session.reset();
            std::unique_lock lk(mutex_);
            pump_cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stopping_; });
            if (stopping_) {
                // One last try, with everything the workers handed over; what cannot be written is
                // sent again once its lease ends (the same idempotency key).
                for (auto& r : results_)
                    results.push_back(std::move(r));
                results_.clear();
                unclaimed.insert(unclaimed.end(), unclaimed_.begin(), unclaimed_.end());
                unclaimed_.clear();
                lk.unlock();
                try {
                    session = store_.Open();
                    session->RecordAttempts(results);
                    session->Unclaim(unclaimed);
                } catch (const std::exception& e2) {
                    log::Error("dispatch: results not recorded at shutdown; their deliveries will be retried",
                               {{"error", e2.what()}, {"count", results.size()}});
                }
                break;
            }
            continue;
        }
        std::unique_lock lk(mutex_);
        if (busy) continue;
        auto timeout = settings_.poll_interval;
        if (!results.empty() || !results_.empty()) {
            const auto since = results.empty() ? clock_.Steady() : results_since;
            const auto due = duration_cast<milliseconds>(since + settings_.result_linger - clock_.Steady());
            timeout = std::clamp(due, milliseconds(1), settings_.poll_interval);
        }
        pump_cv_.wait_for(lk, timeout, [&] {
            return woken_ || stopping_ || hungry_ || !unclaimed_.empty() || (results.empty() && !results_.empty()) ||
                   results_.size() + results.size() >= kResultBatch;
        });
    }
}

void Dispatcher::WorkerLoop(Lane& lane, std::size_t) {
    HttpClient client(duration_cast<milliseconds>(lane.settings.timeout));
    std::unique_lock lk(lane.mu);
    while (true) {
        lane.cv.wait(lk, [&] {
            return lane.stopping || (!lane.queue.empty() && lane.in_flight < lane.limit.Limit() && !lane.paused);
        });
        if (lane.stopping) return;
        const auto now = clock_.Steady();
        if (now < lane.throttled_until) {
            lane.cv.wait_until(lk, lane.throttled_until);
            continue;
        }
        store::DeliveryTask task = std::move(lane.queue.front());
        lane.queue.pop_front();
        if (static_cast<int>(lane.queue.size()) < lane.Want() / 2) {
            lk.unlock();
            {
                std::lock_guard g(mutex_);
                hungry_ = true;
            }
            pump_cv_.notify_one();
            lk.lock();
        }
        auto give_back = [&](std::int64_t due_ms) {
            lk.unlock();
            GiveBack({{task.id, task.lease_until_ms, due_ms}});
            lk.lock();
        };
        if (task.payload.empty()) {
            // The event's entity data could be read back from neither the entity row nor event_data
            // (docs/storage.md): an empty body must not go out as if it were the event.
            DeliveryResult missing;
            missing.error_class = core::ErrorClass::kPermanent;
            missing.reason =
                "the event's payload could not be read: its entity data is in neither the entity row nor event_data";
            lk.unlock();
            Finish(lane, task, missing, milliseconds(0), false);
            lk.lock();
            continue;
        }
        // Never start what the lease may not cover to the end: another claim would send it too.
        const auto timeout_ms =
            duration_cast<milliseconds>(lane.settings.timeout).count() * lane.connector->MaxCallsPerDelivery();
        if (core::ToUnixMillis(clock_.Now()) + timeout_ms + 1000 > task.lease_until_ms) {
            give_back(0);
            continue;
        }
        if (!lane.breaker.Allow(now)) {
            give_back(0);  // open: the pump claims again when the breaker lets probes through
            continue;
        }
        // A booked slot holds one of the lane's places; the rate is kept by the slots' grid.
        ++lane.in_flight;
        const auto slot = lane.bucket.Reserve(now);
        if (slot > now) {
            lane.cv.wait_until(lk, slot, [&] { return lane.stopping; });
            if (lane.stopping || lane.paused || clock_.Steady() < lane.throttled_until) {
                --lane.in_flight;
                lane.breaker.Release(clock_.Steady());
                const std::int64_t due =
                    clock_.Steady() < lane.throttled_until ? core::ToUnixMillis(lane.throttled_until_wall) : 0;
                give_back(due);
                lane.cv.notify_all();
                continue;
            }
        }
        lane.recent.push_back(now);
        while (lane.recent.size() > 4096 ||
               (!lane.recent.empty() && now - lane.recent.front() > std::chrono::seconds(10)))
            lane.recent.pop_front();
        // A batch endpoint takes what else is queued and fits (each with its lease still covering the call).
        std::vector<store::DeliveryTask> batch;
        const int max_batch = lane.connector->MaxBatch();
        if (max_batch > 1 && lane.connector->Batchable(task, task)) {
            batch.push_back(std::move(task));
            const std::int64_t wall_ms = core::ToUnixMillis(clock_.Now());
            for (auto it = lane.queue.begin(); it != lane.queue.end() && static_cast<int>(batch.size()) < max_batch;) {
                if (lane.connector->Batchable(batch.front(), *it) &&
                    wall_ms + timeout_ms + 1000 <= it->lease_until_ms) {
                    batch.push_back(std::move(*it));
                    it = lane.queue.erase(it);
                } else {
                    ++it;
                }
            }
        }
        lk.unlock();

        const auto started = clock_.Steady();
        if (!batch.empty()) {
            std::vector<DeliveryResult> results;
            try {
                results = lane.connector->DeliverBatch(batch, client);
            } catch (const std::exception& e) {
                DeliveryResult failed;
                failed.error_class = core::ErrorClass::kPermanent;
                failed.reason = std::string("connector failed to prepare the request: ") + e.what();
                results.assign(batch.size(), failed);
            }
            const auto latency = duration_cast<milliseconds>(clock_.Steady() - started);
            for (std::size_t i = 0; i < batch.size(); ++i) {
                DeliveryResult r;
                if (i < results.size()) {
                    r = results[i];
                } else {
                    r.error_class = core::ErrorClass::kTransient;
                    r.reason = "the connector gave no result for this delivery of the batch";
                }
                Finish(lane, batch[i], r, latency);
            }
            lk.lock();
            --lane.in_flight;
            lane.cv.notify_all();
            continue;
        }
        DeliveryResult result;
        try {
            result = lane.connector->Deliver(task, client);
            if (!result.Succeeded() && result.ambiguous) {
                // Did it arrive after all? Ask before sending it again (connectors that can look up).
                if (auto found = lane.connector->Lookup(task, client); found && found->Succeeded()) result = *found;
            }
        } catch (const std::exception& e) {
            result.error_class = core::ErrorClass::kPermanent;
            result.reason = std::string("connector failed to prepare the request: ") + e.what();
        }
        const auto latency = duration_cast<milliseconds>(clock_.Steady() - started);
        Finish(lane, task, result, latency);
        lk.lock();
        --lane.in_flight;
        lane.cv.notify_all();
    }
}

void Dispatcher::Finish(Lane& lane, const store::DeliveryTask& task, const DeliveryResult& result, milliseconds latency,
                        bool sent) {
    const auto now = clock_.Steady();
    const auto wall = clock_.Now();
    store::AttemptRecord rec;
    std::vector<store::Session::Unclaimed> give_back;
    {
        std::lock_guard lk(lane.mu);
        rec = Decide(task, result, lane.settings.retry, lane.backoff, wall, latency);
        rec.lease_until_ms = task.lease_until_ms;
        const std::string cls = result.Succeeded() ? (result.error_class ? "duplicate" : "ok")
                                                   : std::string(core::ToString(*result.error_class));
        // A delivery never sent (its payload could not be read) is no call to the target: it counts
        // as a dead letter, not as an attempt or an error of the lane.
        if (sent) lane.Attempts(*metrics_, cls, result.http_status).Increment();
        if (result.Succeeded() && result.retry_after && result.retry_after->count() > 0) {
            // The target said its window is used up (rate-limit headers on a success): wait.
            lane.throttled_until = std::max(lane.throttled_until, now + *result.retry_after);
            lane.throttled_until_wall = wall + *result.retry_after;
            lane.bucket.PauseUntil(lane.throttled_until);
        }
        if (result.Succeeded()) {
            lane.breaker.OnSuccess(now);
            lane.limit.OnSuccess(latency);
            lane.auth_failed = false;
            lane.last_success_at = rec.at;
            const double since_commit = static_cast<double>(core::ToUnixMillis(wall) - task.created_ms) / 1000.0;
            lane.latency.Observe(since_commit);
            if (lane.fulfilment && task.type.rfind("order.", 0) == 0) lane.fulfilment->Observe(since_commit);
            if (lane.refund && task.type == "refund.created") lane.refund->Observe(since_commit);
            if (lane.sync_delay && result.source_ms && !result.error_class) {
                lane.sync_delay->Observe(
                    std::max(0.0, static_cast<double>(core::ToUnixMillis(wall) - *result.source_ms) / 1000.0));
            }
        } else {
            const auto c = *result.error_class;
            if (c == core::ErrorClass::kThrottled) {
                lane.limit.OnCongestion();
                // The whole lane waits (DESIGN: a 429 pauses the lane until its Retry-After).
                const Millis pause = result.retry_after.value_or(Millis(rec.due_ms - core::ToUnixMillis(wall)));
                lane.throttled_until = std::max(lane.throttled_until, now + pause);
                lane.throttled_until_wall = wall + pause;
                lane.bucket.PauseUntil(lane.throttled_until);
                lane.breaker.Release(now);  // says nothing about health
                // Queued claims go back, due when the wait is over (for every daemon).
                for (const auto& t : lane.queue)
                    give_back.push_back({t.id, t.lease_until_ms, core::ToUnixMillis(lane.throttled_until_wall)});
                lane.queue.clear();
            } else if (c == core::ErrorClass::kTransient) {
                lane.breaker.OnFailure(now);
                if (result.http_status >= 500) lane.limit.OnCongestion();
            } else if (c == core::ErrorClass::kPermanent) {
                if (sent) lane.breaker.OnSuccess(now);  // the target answered sanely; the data was the problem
            } else if (c == core::ErrorClass::kAuth) {
                lane.breaker.OnFailure(now);
                if (!lane.auth_failed) {
                    log::Error("connector rejected our credentials",
                               {{"connector", lane.settings.name}, {"status", result.http_status}});
                }
                lane.auth_failed = true;
            }
            if (sent) {
                lane.last_error_at = rec.at;
                lane.last_error_class = rec.error_class;
                lane.last_error_status = result.http_status;
                lane.last_error_reason = rec.reason;
            }
        }
        const char* outcome = rec.state == "delivered" ? (rec.error_class == "duplicate" ? "duplicate" : "delivered")
                              : rec.state == "dead"    ? "dead"
                                                       : "retry";
        lane.outcomes[outcome]->Increment();
        if (rec.state == "dead") {
            log::Warn("delivery dead-lettered", {{"connector", lane.settings.name},
                                                 {"delivery", task.id},
                                                 {"entity_id", task.entity_id},
                                                 {"class", rec.error_class},
                                                 {"status", result.http_status},
                                                 {"reason", rec.reason}});
        }
    }
    {
        std::lock_guard lk(mutex_);
        results_.push_back(std::move(rec));
        unclaimed_.insert(unclaimed_.end(), give_back.begin(), give_back.end());
    }
    pump_cv_.notify_one();
}

void Dispatcher::GiveBack(std::vector<store::Session::Unclaimed> items) {
    if (items.empty()) return;
    {
        std::lock_guard lk(mutex_);
        unclaimed_.insert(unclaimed_.end(), items.begin(), items.end());
    }
    pump_cv_.notify_one();
}

}  // namespace orderbridge::dispatch

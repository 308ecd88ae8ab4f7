#pragma once
// The delivery engine on the store bus (DESIGN section 2).
//
// One lane per connector. The pump thread owns a store session: it claims due deliveries for
// every lane that has room (leases, one per entity at a time, so an entity is delivered in
// order), hands them to the lane's workers and records their attempts in batches. Workers do the
// blocking HTTP calls, each through the lane's shielding: the adaptive concurrency limit, the
// token bucket and the circuit breaker. Nothing here runs on an io thread.
//
// Wake-ups: `Wake()` after an ingest commit or an admin action; otherwise the pump polls every
// `poll_interval` (retries that came due, and work committed by other daemons).
// Thread-safety: Wake, Status, Pause and Resume may be called from any thread.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/shielding.hpp"
#include "orderbridge/store/store.hpp"

namespace prometheus {
class Registry;
}

namespace orderbridge::dispatch {

/// What becomes of a delivery after an attempt (pure; unit-tested on an injected clock).
store::AttemptRecord Decide(const store::DeliveryTask& task, const DeliveryResult& result,
                            const config::RetrySettings& retry, Backoff& backoff,
                            std::chrono::system_clock::time_point now, std::chrono::milliseconds latency);

struct DispatcherSettings {
    std::chrono::milliseconds poll_interval{200};
    std::chrono::milliseconds lease{5000};        ///< the shortest lease; each lane derives its own from its limits
    int max_claim = 256;                          ///< per lane and pump round
    std::chrono::milliseconds result_linger{20};  ///< results are committed in batches, at most this late
    bool single_process = true;                   ///< SQLite: leases left by a previous run end at start-up
};

struct LaneStatus {
    std::string name;
    std::string kind;
    bool paused = false;
    std::string breaker;  ///< closed | open | half_open
    double rate_limit = 0;
    double current_rate = 0;  ///< attempts per second over the last 10 s
    int limit = 0;            ///< the adaptive concurrency limit now
    int max_in_flight = 0;
    int in_flight = 0;
    std::int64_t backlog = 0;
    double oldest_age_seconds = 0;
    std::int64_t dead = 0;
    bool auth_failed = false;
    std::string throttled_until;  ///< RFC 3339, empty when not throttled
    std::string last_error_at, last_error_class, last_error_reason;
    int last_error_status = 0;
    std::string last_success_at;
};

class Dispatcher {
  public:
    Dispatcher(store::Store& store, const std::vector<config::ConnectorSettings>& connectors,
               DispatcherSettings settings, prometheus::Registry& registry, core::Clock& clock);
    ~Dispatcher();
    Dispatcher(const Dispatcher&) = delete;
    Dispatcher& operator=(const Dispatcher&) = delete;

    void Start();
    /// Stops claiming, lets requests in flight finish (bounded by the connector timeout), records
    /// their results, gives unstarted claims back, joins every thread.
    void Stop();
    void Wake();
    std::vector<LaneStatus> Status() const;
    /// False when there is no such connector. Paused lanes keep their backlog and claim nothing.
    bool SetPaused(const std::string& connector, bool paused);
    bool HasLane(const std::string& connector) const;
    /// Called on the pump thread with deliveries whose end (delivered or dead) was just committed
    /// (the Kafka lanes commit their offsets then). Set before Start.
    void SetFinalListener(std::function<void(const std::vector<std::int64_t>&)> listener);

  private:
    struct Lane;
    void PumpLoop();
    void WorkerLoop(Lane& lane, std::size_t index);
    void Finish(Lane& lane, const store::DeliveryTask& task, const DeliveryResult& result,
                std::chrono::milliseconds latency, bool sent = true);
    void GiveBack(std::vector<store::Session::Unclaimed> items);
    void RefreshBacklog(store::Session& session);

    store::Store& store_;
    DispatcherSettings settings_;
    core::Clock& clock_;
    std::vector<std::unique_ptr<Lane>> lanes_;

    mutable std::mutex mutex_;
    std::condition_variable pump_cv_;
    bool stopping_ = false;
    bool woken_ = false;
    bool hungry_ = false;  ///< a lane's queue ran low
    std::vector<store::AttemptRecord> results_;
    std::vector<store::Session::Unclaimed> unclaimed_;
    std::thread pump_;
    std::thread listener_;  ///< PostgreSQL: LISTEN for other daemons' work
    std::atomic<bool> listener_stop_{false};
    struct Metrics;
    std::unique_ptr<Metrics> metrics_;
    std::function<void(const std::vector<std::int64_t>&)> final_listener_;
};

}  // namespace orderbridge::dispatch

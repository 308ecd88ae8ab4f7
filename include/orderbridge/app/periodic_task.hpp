#pragma once
// A periodic job with its own thread and store session, for the daemon's background work
// (retention, the held-orders gauge, stock polls).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "orderbridge/store/store.hpp"

namespace orderbridge::app {

// Runs `tick` on a thread of its own with its own store session (reopened after a failure): at
// start when `at_start`, then every `interval`, until Stop. `tick` may watch `stopping` to cut a
// long run short; a failure goes to `on_error` (the store's own metrics and /readyz report outages).
class PeriodicStoreTask {
  public:
    using Tick = std::function<void(store::Session&, const std::atomic<bool>& stopping)>;
    PeriodicStoreTask(store::Store& store, std::chrono::milliseconds interval, bool at_start, Tick tick,
                      std::function<void(const std::exception&)> on_error = {})
        : store_(store), interval_(interval), tick_(std::move(tick)), on_error_(std::move(on_error)) {
        thread_ = std::thread([this, at_start] { Loop(at_start); });
    }
    ~PeriodicStoreTask() { Stop(); }
    void Stop() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

  private:
    void Loop(bool now) {
        std::unique_ptr<store::Session> session;
        std::unique_lock lock(mutex_);
        while (now || !cv_.wait_for(lock, interval_, [this] { return stop_.load(); })) {
            now = false;
            lock.unlock();
            try {
                if (!session) session = store_.Open();
                tick_(*session, stop_);
            } catch (const std::exception& e) {
                session.reset();
                if (on_error_) on_error_(e);
            }
            lock.lock();
        }
    }

    store::Store& store_;
    std::chrono::milliseconds interval_;
    Tick tick_;
    std::function<void(const std::exception&)> on_error_;
    std::mutex mutex_;
    std::condition_variable cv_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace orderbridge::app

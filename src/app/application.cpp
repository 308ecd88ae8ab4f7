#include "orderbridge/app/application.hpp"

#include <signal.h>
#include <systemd/sd-daemon.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stack>
#include <thread>

#include "orderbridge/api/health.hpp"
#include "orderbridge/core/build_info.hpp"
#include "orderbridge/core/health.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/http/server.hpp"
#include "orderbridge/metrics/metrics.hpp"

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

    http::Router router;
    api::AddHealthRoutes(router, readiness);
    router.Add("GET", "/metrics", metrics::MetricsHandler(registry, process));

    auto server =
        std::make_unique<http::Server>(settings_.server, settings_.log.access_log, std::move(router), *registry);
    StopStack stops;  // declared after what its actions touch, so it unwinds first
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
    return 0;
}

}  // namespace orderbridge::app

#include "orderbridge/app/stock_poller.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "orderbridge/core/clock.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/stock_source.hpp"

namespace orderbridge::app {
namespace {

class ConnectorPoll {
  public:
    ConnectorPoll(const config::ConnectorSettings& c, store::Store& store, const StockPoller::Submit& submit,
                  prometheus::Family<prometheus::Counter>& runs, prometheus::Family<prometheus::Counter>& levels)
        : c_(c),
          store_(store),
          submit_(submit),
          source_(dispatch::MakeStockSource(c)),
          ok_(runs.Add({{"connector", c.name}, {"result", "ok"}})),
          error_(runs.Add({{"connector", c.name}, {"result", "error"}})),
          levels_(levels.Add({{"connector", c.name}})) {}
    ~ConnectorPoll() { Stop(); }

    void Start() {
        if (source_) thread_ = std::thread([this] { Loop(); });
    }
    void Stop() {
        {
            std::lock_guard lk(mu_);
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

  private:
    void Loop() {
        while (true) {
            RunOnce();
            std::unique_lock lk(mu_);
            if (cv_.wait_for(lk, c_.stock_poll.interval, [&] { return stopping_; })) return;
        }
    }

    void RunOnce() {
        const std::string key = "stock:" + c_.name;
        std::string error;
        std::size_t n = 0;
        std::string watermark;
        try {
            if (!session_) session_ = store_.Open();
            watermark = session_->GetWatermark(key);
            dispatch::HttpClient client(c_.timeout);
            dispatch::StockPoll poll = source_->Poll(client, watermark, [this] {
                std::lock_guard lk(mu_);
                return stopping_;
            });
            if (poll.error) {
                error = poll.error->reason;
            } else {
                n = poll.levels.size();
                if (n > 0) {
                    // The watermark moves only once the levels are committed with their events.
                    auto committed = std::make_shared<std::promise<std::string>>();
                    auto result = committed->get_future();
                    submit_(std::move(poll.levels), [committed](bool ok, const std::string& why) {
                        committed->set_value(ok ? std::string() : why.empty() ? "not committed" : why);
                    });
                    // Waited for in short slices, so a shutdown is not held up by a slow commit.
                    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
                    while (result.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
                        std::lock_guard lk(mu_);
                        if (stopping_ || std::chrono::steady_clock::now() > deadline) break;
                    }
                    error = result.wait_for(std::chrono::seconds(0)) == std::future_status::ready
                                ? result.get()
                                : "the levels were not committed (shutting down, or 60 s passed)";
                }
                if (error.empty() && poll.watermark != watermark) {
                    session_->SetWatermark(key, poll.watermark);
                }
            }
        } catch (const std::exception& e) {
            error = e.what();
            session_.reset();  // a broken connection is opened again next time
        }
        (error.empty() ? ok_ : error_).Increment();
        if (error.empty()) levels_.Increment(static_cast<double>(n));
        if (!error.empty()) log::Warn("stock poll failed", {{"connector", c_.name}, {"error", error}});
    }

    const config::ConnectorSettings& c_;
    store::Store& store_;
    const StockPoller::Submit& submit_;
    std::unique_ptr<dispatch::StockSource> source_;
    prometheus::Counter& ok_;
    prometheus::Counter& error_;
    prometheus::Counter& levels_;
    std::unique_ptr<store::Session> session_;  // this thread's
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace

struct StockPoller::Impl {
    Submit submit;
    std::vector<std::unique_ptr<ConnectorPoll>> polls;
};

StockPoller::StockPoller(const config::Settings& settings, store::Store& store, Submit submit,
                         prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>()) {
    impl_->submit = std::move(submit);
    auto& runs = prometheus::BuildCounter()
                     .Name("orderbridge_stock_poll_runs_total")
                     .Help("Stock polls of an ERP (connectors[].stock_poll), by connector and result (ok, error)")
                     .Register(registry);
    auto& levels = prometheus::BuildCounter()
                       .Name("orderbridge_stock_poll_levels_total")
                       .Help("Stock levels (SKU and location) read by stock polls and committed, by connector")
                       .Register(registry);
    for (const auto& c : settings.connectors) {
        if (!c.stock_poll.enabled) continue;
        impl_->polls.push_back(std::make_unique<ConnectorPoll>(c, store, impl_->submit, runs, levels));
    }
}

StockPoller::~StockPoller() {
    Stop();
}

void StockPoller::Start() {
    for (auto& p : impl_->polls)
        p->Start();
}

void StockPoller::Stop() {
    for (auto& p : impl_->polls)
        p->Stop();
}

}  // namespace orderbridge::app

#include "orderbridge/app/stock_poller.hpp"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <future>

#include "orderbridge/app/periodic_task.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/stock_source.hpp"

namespace orderbridge::app {
namespace {

class ConnectorPoll {
  public:
    ConnectorPoll(const config::ConnectorSettings& c, const StockPoller::Submit& submit,
                  prometheus::Family<prometheus::Counter>& runs, prometheus::Family<prometheus::Counter>& levels)
        : c_(c),
          submit_(submit),
          source_(dispatch::MakeStockSource(c)),
          ok_(runs.Add({{"connector", c.name}, {"result", "ok"}})),
          error_(runs.Add({{"connector", c.name}, {"result", "error"}})),
          levels_(levels.Add({{"connector", c.name}})) {}

    void Start(store::Store& store) {
        if (!source_) return;
        task_ = std::make_unique<PeriodicStoreTask>(
            store, std::chrono::duration_cast<std::chrono::milliseconds>(c_.stock_poll.interval), true,
            [this](store::Session& session, const std::atomic<bool>& stopping) { RunOnce(session, stopping); },
            [this](const std::exception& e) { Failed(e.what()); });
    }
    void Stop() {
        if (task_) task_->Stop();
    }

  private:
    void Failed(const std::string& error) {
        error_.Increment();
        log::Warn("stock poll failed", {{"connector", c_.name}, {"error", error}});
    }

    // One poll; a store failure throws (the task reopens its session and reports it through Failed).
    void RunOnce(store::Session& session, const std::atomic<bool>& stopping) {
        const std::string key = "stock:" + c_.name;
        const std::string watermark = session.GetWatermark(key);
        dispatch::HttpClient client(c_.timeout);
        dispatch::StockPoll poll = source_->Poll(client, watermark, [&stopping] { return stopping.load(); });
        if (poll.error) return Failed(poll.error->reason);
        const std::size_t n = poll.levels.size();
        if (n > 0) {
            // The watermark moves only once the levels are committed with their events; waited for in
            // short slices, so a shutdown is not held up by a slow commit.
            auto committed = std::make_shared<std::promise<std::string>>();
            auto result = committed->get_future();
            submit_(std::move(poll.levels), [committed](bool ok, const std::string& why) {
                committed->set_value(ok ? std::string() : why.empty() ? "not committed" : why);
            });
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (result.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
                if (stopping || std::chrono::steady_clock::now() > deadline)
                    return Failed("the levels were not committed (shutting down, or 60 s passed)");
            }
            if (const std::string error = result.get(); !error.empty()) return Failed(error);
        }
        if (poll.watermark != watermark) session.SetWatermark(key, poll.watermark);
        ok_.Increment();
        levels_.Increment(static_cast<double>(n));
    }

    const config::ConnectorSettings& c_;
    const StockPoller::Submit& submit_;
    std::unique_ptr<dispatch::StockSource> source_;
    prometheus::Counter& ok_;
    prometheus::Counter& error_;
    prometheus::Counter& levels_;
    std::unique_ptr<PeriodicStoreTask> task_;
};

}  // namespace

struct StockPoller::Impl {
    store::Store* store = nullptr;
    Submit submit;
    std::vector<std::unique_ptr<ConnectorPoll>> polls;
};

StockPoller::StockPoller(const config::Settings& settings, store::Store& store, Submit submit,
                         prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>()) {
    impl_->store = &store;
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
        impl_->polls.push_back(std::make_unique<ConnectorPoll>(c, impl_->submit, runs, levels));
    }
}

StockPoller::~StockPoller() {
    Stop();
}

void StockPoller::Start() {
    for (auto& p : impl_->polls)
        p->Start(*impl_->store);
}

void StockPoller::Stop() {
    for (auto& p : impl_->polls)
        p->Stop();
}

}  // namespace orderbridge::app

#pragma once
// WooCommerce loses events (no retries, webhooks disabled after failures, nothing sent while we are
// down): per store, on one thread of its own,
//   the reconciliation poller reads `GET /wc/v3/orders?modified_after=<watermark>&orderby=modified`
//     page by page (`X-WP-TotalPages`) and hands every order to the same normalize, dedupe and
//     commit path as a webhook, so nothing is stored twice; the watermark is kept in the store, so a
//     daemon that was down catches up where it stopped (the first run looks back one interval);
//   the webhook watchdog compares `GET /wc/v3/webhooks` with `stores[].webhooks` (topics and
//     delivery URL) and reports a disabled or missing one; with `repair: true` it re-enables it or
//     creates it with the store's first webhook secret.
// Metrics: poller lag, orders the poller found that no webhook brought, webhook health per topic.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/store/ingest_queue.hpp"

namespace prometheus {
class Registry;
}
namespace orderbridge::model {
class SchemaValidator;
}
namespace orderbridge::dispatch {
class Router;
}
namespace orderbridge::api {
class StockView;
}

namespace orderbridge::app {

class Reconciler {
  public:
    Reconciler(const config::Settings& settings, store::Store& store, store::IngestQueue& queue,
               const dispatch::Router& lanes, const model::SchemaValidator* validator, prometheus::Registry& registry);
    ~Reconciler();
    /// Stock reconciliation: the poller compares the shop's stock of every SKU in `view` with its
    /// level and hands the SKUs that drifted to `resync` (which writes them again). Before Start.
    void ReconcileStock(const api::StockView* view, std::function<void(std::vector<std::string>)> resync);
    void Start();
    void Stop();
    /// Per store: the poller's watermark, last run and error; each expected webhook's state.
    nlohmann::json Status() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace orderbridge::app

#pragma once
// Prometheus exposition. One prometheus-cpp registry per daemon (owned by the app); components
// register their own families in it at construction. This module adds process metrics, the build
// info gauge, and the `/metrics` handler that renders the text format on our own HTTP server.
#include <prometheus/registry.h>

#include <memory>

#include "orderbridge/http/message.hpp"

namespace orderbridge::metrics {

/// Collects process metrics from /proc on every scrape: resident and virtual memory, CPU seconds,
/// open and maximum file descriptors, start time, threads. Thread-safe.
class ProcessCollector : public prometheus::Collectable {
  public:
    ProcessCollector();
    std::vector<prometheus::MetricFamily> Collect() const override;

  private:
    double start_time_seconds_;
};

/// `orderbridge_build_info{version, git_sha, build_type} 1`.
void RegisterBuildInfo(prometheus::Registry& registry);

/// Renders the registry and the process collector in the Prometheus text format 0.0.4.
std::string Render(const prometheus::Registry& registry, const ProcessCollector& process);

http::Handler MetricsHandler(std::shared_ptr<prometheus::Registry> registry, std::shared_ptr<ProcessCollector> process);

}  // namespace orderbridge::metrics

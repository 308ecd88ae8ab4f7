#pragma once
// Stock levels read from ERPs by polling (`connectors[].stock_poll`, kinds erpnext and odoo): one
// thread per connector that has it asks the connector's stock source for the levels changed since
// its watermark (kept in the store as `stock:<connector>`, so a restart resumes there; the first
// run reads every level), hands them to the inventory intake (cache, coalescing, `inventory.updated`
// to the lanes) and moves the watermark only once they are committed.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/store/store.hpp"

namespace prometheus {
class Registry;
}

namespace orderbridge::app {

class StockPoller {
  public:
    using Submit = std::function<void(std::vector<store::StockLevel>, std::function<void(bool, const std::string&)>)>;
    StockPoller(const config::Settings& settings, store::Store& store, Submit submit, prometheus::Registry& registry);
    ~StockPoller();
    void Start();
    void Stop();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace orderbridge::app

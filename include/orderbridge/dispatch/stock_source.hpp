#pragma once
// Stock levels read by polling (`connectors[].stock_poll`), for systems whose webhooks are unsigned
// or absent: ERPNext `Bin` documents by `modified`, Odoo `stock.quant` by `write_date`, ShipBob's
// inventory levels (all of them each time: they carry no time).
// A source answers the levels that changed at or after a watermark of its own (the source's time
// text, compared by the source), and the newest such time as the next watermark. It runs on the
// stock poller's own thread (blocking calls are fine there).
#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/store/store.hpp"

namespace orderbridge::dispatch {

struct StockPoll {
    std::vector<store::StockLevel> levels;
    std::string watermark;                ///< the newest change seen; the given one when nothing changed
    std::optional<DeliveryResult> error;  ///< the call that failed, in the taxonomy
};

class StockSource {
  public:
    virtual ~StockSource() = default;
    /// Levels changed at or after `since` (empty: every level), each the sum of its location. Between
    /// pages it asks `stopping` and, when that says so, ends with an error (nothing half-read is used).
    virtual StockPoll Poll(HttpClient& client, const std::string& since, const std::function<bool()>& stopping) = 0;
};

/// An ERPNext `Bin` document (listed or posted by its webhook) as a level: on_hand = actual_qty,
/// reserved = reserved_qty, as_of = `modified` read as UTC; nullopt when it is not a Bin.
std::optional<store::StockLevel> BinLevel(const nlohmann::json& bin, const std::string& source);

/// Where a source's query starts: `since` moved back by `back` (the source's time stamps are taken
/// before their transaction commits, so a change can land below a watermark already passed; levels
/// read twice change nothing), as "YYYY-MM-DD HH:MM:SS" UTC; empty when `since` is.
std::string QueryFrom(const std::string& since, std::chrono::seconds back = std::chrono::minutes(5));

/// The result of a poll cut short by shutdown.
StockPoll Stopped();

/// The stock source of a connector kind that has one (erpnext, odoo, shipbob); nullptr for the others.
std::unique_ptr<StockSource> MakeStockSource(const config::ConnectorSettings& settings);

/// A level from a source's numbers: on_hand, reserved (when the source keeps it), available =
/// on_hand - reserved, as_of = `modified` read as UTC ("YYYY-MM-DD HH:MM:SS[.ffffff]" or RFC 3339).
/// nullopt when the SKU or location is empty or `modified` is not a time.
std::optional<store::StockLevel> SourceLevel(const std::string& sku, const std::string& location, double on_hand,
                                             std::optional<double> reserved, const std::string& modified,
                                             const std::string& source);

}  // namespace orderbridge::dispatch

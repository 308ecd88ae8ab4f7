#include "orderbridge/dispatch/stock_source.hpp"

#include <cmath>

#include "json_api.hpp"
#include "orderbridge/model/identity.hpp"

namespace orderbridge::dispatch {

// Defined with their connectors (they share the connector's API client).
std::unique_ptr<StockSource> MakeErpNextStockSource(const config::ConnectorSettings& settings);
std::unique_ptr<StockSource> MakeOdooStockSource(const config::ConnectorSettings& settings);
std::unique_ptr<StockSource> MakeShipBobStockSource(const config::ConnectorSettings& settings);

std::unique_ptr<StockSource> MakeStockSource(const config::ConnectorSettings& settings) {
    switch (settings.kind) {
        case config::ConnectorKind::kErpnext:
            return MakeErpNextStockSource(settings);
        case config::ConnectorKind::kOdoo:
            return MakeOdooStockSource(settings);
        case config::ConnectorKind::kShipbob:
            return MakeShipBobStockSource(settings);
        default:
            return nullptr;
    }
}

std::optional<store::StockLevel> BinLevel(const nlohmann::json& bin, const std::string& source) {
    const auto actual = detail::Number(bin, "actual_qty");
    if (!actual) return std::nullopt;
    return SourceLevel(detail::Str(bin, "item_code"), detail::Str(bin, "warehouse"), *actual,
                       detail::Number(bin, "reserved_qty"), detail::Str(bin, "modified"), source);
}

std::string QueryFrom(const std::string& since, std::chrono::seconds back) {
    const auto ms = model::ParseWooGmt(since);
    if (!ms) return since;
    std::string out = model::FormatUtc((*ms / 1000 - back.count()) * 1000).substr(0, 19);
    out[10] = ' ';
    return out;
}

StockPoll Stopped() {
    StockPoll out;
    DeliveryResult r;
    r.error_class = core::ErrorClass::kTransient;
    r.reason = "stopped: the daemon is shutting down";
    out.error = r;
    return out;
}

std::optional<store::StockLevel> SourceLevel(const std::string& sku, const std::string& location, double on_hand,
                                             std::optional<double> reserved, const std::string& modified,
                                             const std::string& source) {
    const auto ms = model::ParseWooGmt(modified);
    if (sku.empty() || location.empty() || !ms) return std::nullopt;
    store::StockLevel l;
    l.sku = sku;
    l.location = location;
    l.on_hand = std::llround(on_hand);
    if (reserved) l.reserved = std::llround(*reserved);
    l.available = l.on_hand - l.reserved.value_or(0);
    l.as_of = model::FormatUtc(*ms);
    l.as_of_ms = *ms;
    l.source = source;
    return l;
}

}  // namespace orderbridge::dispatch

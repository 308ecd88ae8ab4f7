#include "orderbridge/api/inbound.hpp"

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "orderbridge/api/checkout.hpp"
#include "orderbridge/api/orders.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/router.hpp"
#include "orderbridge/dispatch/stock_source.hpp"
#include "orderbridge/http/error_mapping.hpp"
#include "orderbridge/model/identity.hpp"
#include "orderbridge/woo/signature.hpp"

namespace orderbridge::api {

using nlohmann::json;

namespace inbound {
namespace {

std::string Str(const json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

std::string NumberText(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return {};
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

/// A timestamp without zone read as UTC, in the canonical form; nullopt when unreadable.
std::optional<std::string> Utc(const std::string& text) {
    const auto ms = model::ParseWooGmt(text);
    if (!ms) return std::nullopt;
    return model::FormatUtc(*ms);
}

bool IsOrderRef(const std::string& ref) {
    if (ref.rfind("wc:", 0) != 0) return false;
    const auto colon = ref.find(':', 3);
    if (colon == std::string::npos || colon == 3 || colon + 1 == ref.size()) return false;
    return ref.find_first_not_of("0123456789", colon + 1) == std::string::npos;
}

std::optional<std::int64_t> Quantity(const json& j, const char* key) {
    if (!j.is_object() || !j.contains(key) || !j[key].is_number()) return std::nullopt;
    return static_cast<std::int64_t>(std::llround(j[key].get<double>()));
}

}  // namespace

std::optional<model::Shipment> FromShipStation(const json& s, const std::string& connector) {
    const std::string order_key = Str(s, "orderKey");
    if (!IsOrderRef(order_key) || !s.contains("shipmentId")) return std::nullopt;
    model::Shipment out;
    const std::string shipment_id = NumberText(s, "shipmentId");
    out.id = connector + ":shipment:" + shipment_id;
    out.order_ref = order_key;
    const bool voided = s.value("voided", false) == true;
    out.status = voided ? "voided" : "shipped";
    out.carrier_code = Str(s, "carrierCode");
    out.service_code = Str(s, "serviceCode");
    out.tracking_number = Str(s, "trackingNumber");
    if (auto d = Utc(Str(s, "shipDate").size() == 10 ? Str(s, "shipDate") + "T00:00:00" : Str(s, "shipDate")))
        out.ship_date = *d;
    const std::string when = voided ? Str(s, "voidDate") : Str(s, "createDate");
    out.event_time = Utc(when).value_or(model::FormatUtc(core::ToUnixMillis(std::chrono::system_clock::now())));
    if (s.contains("shipmentItems") && s["shipmentItems"].is_array()) {
        for (const auto& item : s["shipmentItems"]) {
            model::ShipmentLine line;
            line.line_id = Str(item, "lineItemKey");
            line.sku = Str(item, "sku");
            line.quantity = Quantity(item, "quantity").value_or(0);
            out.lines.push_back(std::move(line));
        }
    }
    out.warehouse_id = NumberText(s, "warehouseId");
    out.is_return_label = s.value("isReturnLabel", false) == true;
    out.source_event_id = shipment_id + (voided ? ":voided" : "");
    out.external_refs["shipstation"] = model::ExternalRef{shipment_id, Str(s, "orderNumber"), ""};
    return out;
}

std::optional<model::Shipment> FromShipBob(const json& e, const std::string& topic, const std::string& connector,
                                           const std::string& webhook_id) {
    static const std::map<std::string, std::string> kStatus = {{"order.shipped", "shipped"},
                                                               {"order_shipped", "shipped"},
                                                               {"order.shipment.tracking.updated", "in_transit"},
                                                               {"order.shipment.delivered", "delivered"},
                                                               {"order.delivered", "delivered"},
                                                               {"order.shipment.exception", "exception"},
                                                               {"order.shipment.on_hold", "on_hold"},
                                                               {"order.shipment.cancelled", "cancelled"}};
    const auto status = kStatus.find(topic);
    const std::string reference = Str(e, "reference_id");
    if (status == kStatus.end() || !IsOrderRef(reference)) return std::nullopt;
    model::Shipment out;
    const std::string shipment_id =
        !NumberText(e, "shipment_id").empty() ? NumberText(e, "shipment_id") : NumberText(e, "order_id");
    out.id = connector + ":shipment:" + shipment_id;
    out.order_ref = reference;
    out.status = status->second;
    const json tracking = e.contains("tracking") && e["tracking"].is_object() ? e["tracking"] : json::object();
    out.carrier_code = Str(tracking, "carrier");
    out.service_code = Str(tracking, "carrier_service");
    out.tracking_number = Str(tracking, "tracking_id");
    out.tracking_url = Str(tracking, "tracking_url");
    const auto when = Utc(Str(e, "event_time"));
    out.event_time = when.value_or(model::FormatUtc(core::ToUnixMillis(std::chrono::system_clock::now())));
    if (out.status == "shipped" || out.status == "in_transit") out.ship_date = out.event_time;
    if (out.status == "delivered") out.delivered_at = out.event_time;
    out.source_event_id = webhook_id;
    out.external_refs["shipbob"] = model::ExternalRef{shipment_id, NumberText(e, "order_id"), ""};
    return out;
}

bool VerifyStandardWebhook(const std::string& secret, const std::string& id, const std::string& timestamp,
                           const std::string& signatures, std::string_view body, std::int64_t now_s) {
    if (secret.rfind("whsec_", 0) != 0 || id.empty() || timestamp.empty()) return false;
    std::int64_t ts = 0;
    try {
        ts = std::stoll(timestamp);
    } catch (const std::exception&) {
        return false;
    }
    if (ts < now_s - 300 || ts > now_s + 300) return false;
    const auto key = woo::Base64Decode(std::string_view(secret).substr(6));
    if (!key) return false;
    std::string signed_text = id + "." + timestamp + ".";
    signed_text.append(body);
    const std::string expected = woo::HmacBase64(signed_text, *key, "sha256");
    std::size_t pos = 0;
    while (pos < signatures.size()) {
        std::size_t end = signatures.find(' ', pos);
        if (end == std::string::npos) end = signatures.size();
        const std::string_view one = std::string_view(signatures).substr(pos, end - pos);
        if (one.rfind("v1,", 0) == 0 && woo::ConstantTimeEquals(one.substr(3), expected)) return true;
        pos = end + 1;
    }
    return false;
}

bool CompletesOrder(const json& order, const std::vector<model::Shipment>& earlier, const model::Shipment& shipment) {
    std::map<std::string, std::int64_t> by_line, by_sku;
    auto add = [&](const model::Shipment& s) {
        if (s.status == "voided" || s.status == "cancelled" || s.is_return_label) return;
        for (const auto& l : s.lines) {
            if (!l.line_id.empty()) by_line[l.line_id] += l.quantity;
            if (!l.sku.empty()) by_sku[l.sku] += l.quantity;
        }
    };
    for (const auto& s : earlier) {
        if (s.id != shipment.id) add(s);
    }
    add(shipment);
    if (!order.is_object() || !order.contains("lines") || !order["lines"].is_array() || order["lines"].empty())
        return false;
    for (const auto& line : order["lines"]) {
        const std::int64_t wanted = line.value("quantity", std::int64_t{0});
        if (wanted <= 0) continue;
        const std::string id = Str(line, "line_id");
        const std::string sku = Str(line, "sku");
        const std::int64_t shipped =
            std::max(by_line.contains(id) ? by_line[id] : 0, !sku.empty() && by_sku.contains(sku) ? by_sku[sku] : 0);
        if (shipped < wanted) return false;
    }
    return true;
}

std::optional<store::StockLevel> FromErpNextBin(const json& bin, const std::string& source, std::string& error) {
    auto level = dispatch::BinLevel(bin, source);
    if (!level) error = "not a Bin document (item_code, warehouse, actual_qty and modified are needed)";
    return level;
}

std::vector<store::StockLevel> ParseLevels(const json& body, std::vector<std::string>& problems) {
    std::vector<store::StockLevel> out;
    if (!body.is_object() || !body.contains("levels") || !body["levels"].is_array()) {
        problems.push_back("the body must be {\"levels\": [...]}");
        return out;
    }
    if (body["levels"].empty()) problems.push_back("levels: at least one level is needed");
    if (body["levels"].size() > 10000) problems.push_back("levels: at most 10000 levels a request");
    for (std::size_t i = 0; i < body["levels"].size(); ++i) {
        const json& j = body["levels"][i];
        const std::string at = "levels[" + std::to_string(i) + "]";
        if (!j.is_object()) {
            problems.push_back(at + ": must be an object");
            continue;
        }
        store::StockLevel l;
        const std::size_t before = problems.size();
        l.sku = Str(j, "sku");
        if (l.sku.empty() || l.sku.size() > 200) problems.push_back(at + ".sku: a string of 1 to 200 characters");
        if (j.contains("location") && !j["location"].is_string())
            problems.push_back(at + ".location: must be a string");
        l.location = Str(j, "location");
        for (const char* key : {"on_hand", "available"}) {
            if (!j.contains(key) || !j[key].is_number_integer())
                problems.push_back(at + "." + key + ": an integer is needed");
        }
        if (j.contains("reserved") && !j["reserved"].is_null() && !j["reserved"].is_number_integer())
            problems.push_back(at + ".reserved: an integer or null");
        const auto as_of = model::ParseWooGmt(Str(j, "as_of"));
        if (!as_of || Str(j, "as_of").back() != 'Z')
            problems.push_back(at + ".as_of: an RFC 3339 UTC time such as 2025-10-14T13:41:07Z");
        l.source = Str(j, "source");
        if (l.source.empty()) problems.push_back(at + ".source: who reported the level is needed");
        if (problems.size() != before) continue;
        l.on_hand = j["on_hand"].get<std::int64_t>();
        l.available = j["available"].get<std::int64_t>();
        if (j.contains("reserved") && j["reserved"].is_number_integer()) l.reserved = j["reserved"].get<std::int64_t>();
        l.as_of_ms = *as_of;
        l.as_of = model::FormatUtc(*as_of);
        out.push_back(std::move(l));
    }
    return out;
}

model::InventoryLevel Aggregate(const std::string& sku, const std::vector<store::StockLevel>& levels) {
    model::InventoryLevel out;
    out.sku = sku;
    out.location = "";
    out.source = "orderbridge";
    std::int64_t newest = 0;
    for (const auto& l : levels) {
        out.on_hand += l.on_hand;
        out.available += l.available;
        if (l.reserved) out.reserved = out.reserved.value_or(0) + *l.reserved;
        newest = std::max(newest, l.as_of_ms);
    }
    out.as_of = model::FormatUtc(newest);
    return out;
}

}  // namespace inbound

namespace {

/// Submits the records and calls `done` once, when all are committed (ok) or one failed.
void SubmitAll(store::IngestQueue& queue, std::vector<store::IngestRecord> records,
               std::function<void(bool ok, const std::string& error)> done) {
    if (records.empty()) {
        done(true, "");
        return;
    }
    struct State {
        std::atomic<std::size_t> left;
        std::atomic<bool> failed{false};
        std::mutex mu;
        std::string error;
        std::function<void(bool, const std::string&)> done;
    };
    auto state = std::make_shared<State>();
    state->left = records.size();
    state->done = std::move(done);
    for (auto& r : records) {
        queue.Submit(std::move(r), [state](std::optional<store::Outcome> outcome, const std::string& error) {
            if (!outcome) {
                std::lock_guard lk(state->mu);
                state->failed = true;
                state->error = error;
            }
            if (--state->left == 0) {
                std::lock_guard lk(state->mu);
                state->done(!state->failed, state->error);
            }
        });
    }
}

/// One event envelope around `data`.
store::OutboxEvent MakeEvent(const std::string& type, const std::string& system,
                             const std::optional<std::string>& store, const std::string& occurred_at,
                             const std::string& received_at, const std::string& trace_id,
                             const std::string& idempotency_key, const std::string& entity_id,
                             const std::string& version, const json& data, std::vector<std::string> connectors,
                             bool relay) {
    model::Event e;
    e.id = model::EventId(entity_id, type, version);
    e.type = type;
    e.source = model::EventSource{system, store};
    e.occurred_at = occurred_at;
    e.received_at = received_at;
    e.trace_id = trace_id;
    e.idempotency_key = idempotency_key;
    e.entity_id = entity_id;
    e.version = version;
    e.data = data;
    return store::OutboxEvent{e.id, type, entity_id, version, json(e).dump(), std::move(connectors), relay};
}

}  // namespace

// Levels wait here for the coalescing window; one thread commits them to the cache and turns each
// SKU into one event.
class Inbound {
  public:
    Inbound(const config::Settings& settings, const Authenticator& auth, store::Store& store, store::SessionPool& pool,
            store::IngestQueue& queue, const dispatch::Router& lanes, prometheus::Registry& registry, StockView* view)
        : view_(view),
          auth_(auth),
          store_(store),
          pool_(pool),
          queue_(queue),
          lanes_(lanes),
          relay_(settings.bus.driver == config::BusDriver::kKafka),
          window_(std::chrono::duration_cast<std::chrono::milliseconds>(settings.inventory.coalesce_window)),
          received_(prometheus::BuildCounter()
                        .Name("orderbridge_inbound_received_total")
                        .Help("Inbound events by connector (api for POST /v1/inventory), kind (shipment, "
                              "inventory) and outcome (accepted, ignored, rejected, unavailable)")
                        .Register(registry)),
          shipped_(prometheus::BuildHistogram()
                       .Name("orderbridge_order_shipped_seconds")
                       .Help("Order first received to its first shipment reported by a 3PL, by store")
                       .Register(registry)) {
        for (const auto& c : settings.connectors)
            connectors_.emplace(c.name, c);
        thread_ = std::thread([this] { Loop(); });
    }
    ~Inbound() { Stop(); }

    void Stop() {
        {
            std::lock_guard lk(mu_);
            if (stopping_) return;
            stopping_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

    void Webhook(http::Request& req, http::Responder respond) {
        const std::string name(req.Param("connector"));
        auto it = connectors_.find(name);
        if (it == connectors_.end()) throw core::Error(core::Errc::kNotFound, "unknown connector '" + name + "'");
        const config::ConnectorSettings& c = it->second;
        if (c.kind == config::ConnectorKind::kShipstation) return ShipNotify(c, req, std::move(respond));
        if (c.kind == config::ConnectorKind::kErpnext) return ErpNextBin(c, req, std::move(respond));
        if (c.kind == config::ConnectorKind::kShipbob) return ShipBobEvent(c, req, std::move(respond));
        throw core::Error(core::Errc::kNotFound, "connector '" + name + "' takes no inbound webhooks");
    }

    void Inventory(http::Request& req, http::Responder respond) {
        const std::string actor = auth_.Authorize(req, true);
        const json body = json::parse(req.body, nullptr, false);
        std::vector<std::string> problems;
        std::vector<store::StockLevel> levels = inbound::ParseLevels(body, problems);
        if (!problems.empty()) {
            Count("api", "inventory", "rejected");
            std::string text;
            for (const auto& p : problems)
                text += (text.empty() ? "" : "; ") + p;
            throw core::Error(core::Errc::kBadRequest, text);
        }
        const std::size_t n = levels.size();
        Submit(std::move(levels), [this, respond, n](bool ok, const std::string& error) {
            Count("api", "inventory", ok ? "accepted" : "unavailable");
            if (!ok) {
                respond(http::ErrorResponse(core::Errc::kUnavailable, error, std::chrono::seconds(5)));
                return;
            }
            respond(http::Response::Json(202, json{{"status", "accepted"}, {"levels", n}}.dump()));
        });
    }

  private:
    struct Waiting {
        std::vector<store::StockLevel> levels;
        std::function<void(bool, const std::string&)> done;
        std::vector<std::string> resync;  ///< SKUs written again even when their sum did not change
    };

    void Count(const std::string& connector, const std::string& kind, const std::string& outcome) {
        received_.Add({{"connector", connector}, {"kind", kind}, {"outcome", outcome}}).Increment();
    }

  public:
    void Submit(std::vector<store::StockLevel> levels, std::function<void(bool, const std::string&)> done,
                std::vector<std::string> resync = {}) {
        {
            std::lock_guard lk(mu_);
            if (stopping_) {
                done(false, "shutting down");
                return;
            }
            waiting_.push_back(Waiting{std::move(levels), std::move(done), std::move(resync)});
        }
        cv_.notify_all();
    }

  private:
    void Loop() {
        std::unique_lock lk(mu_);
        while (true) {
            cv_.wait(lk, [&] { return stopping_ || !waiting_.empty(); });
            if (waiting_.empty()) return;  // stopping, nothing left
            // Whatever arrives within the window is committed together, latest level per SKU.
            if (!stopping_) cv_.wait_for(lk, window_, [&] { return stopping_; });
            std::vector<Waiting> batch;
            batch.swap(waiting_);
            lk.unlock();
            Commit(batch);
            lk.lock();
        }
    }

    void Commit(std::vector<Waiting>& batch) {
        std::vector<store::StockLevel> levels;
        std::set<std::string> resync;
        for (auto& w : batch) {
            levels.insert(levels.end(), w.levels.begin(), w.levels.end());
            resync.insert(w.resync.begin(), w.resync.end());
        }
        std::vector<store::IngestRecord> records;
        auto sums = std::make_shared<std::vector<std::pair<std::string, std::int64_t>>>();
        try {
            if (!session_) session_ = store_.Open();
            auto cached = levels.empty() ? std::map<std::string, std::vector<store::StockLevel>>{}
                                         : session_->UpsertStock(levels);
            if (!resync.empty()) cached.merge(session_->GetStock({resync.begin(), resync.end()}));
            const auto now = std::chrono::system_clock::now();
            for (const auto& [sku, rows] : cached) {
                const model::InventoryLevel level = inbound::Aggregate(sku, rows);
                sums->emplace_back(sku, level.available);
                const json data = level;
                const std::string entity_id = "inventory:" + sku;
                // The same sums as last time: nothing to write.
                if (auto stored = session_->GetEntity(entity_id);
                    stored && json::parse(stored->data, nullptr, false) == data && !resync.contains(sku))
                    continue;
                store::IngestRecord rec;
                rec.topic = "inventory.updated";
                rec.received_at = core::FormatRfc3339(now);
                rec.received_ms = core::ToUnixMillis(now);
                rec.trace_id = model::NewTraceId();
                rec.headers = "{}";
                rec.body = json(rows.size() == 1 ? json(rows.front().source) : json("cache")).dump();
                store::EntityWrite w;
                w.entity_id = entity_id;
                w.kind = "inventory";
                w.source_id = sku;
                w.version = model::MakeVersion(rec.received_ms, data.dump());
                w.canonical_status = level.available > 0 ? "in_stock" : "out_of_stock";
                w.data = data.dump();
                w.findings = "[]";
                dispatch::RouteFacts facts;
                w.events.push_back(
                    MakeEvent("inventory.updated", "orderbridge", std::nullopt, level.as_of, rec.received_at,
                              rec.trace_id, "inv:" + model::Sha256Hex(sku).substr(0, 24), entity_id, w.version, data,
                              relay_ ? std::vector<std::string>{} : lanes_.Route("inventory.updated", facts), relay_));
                rec.entities.push_back(std::move(w));
                records.push_back(std::move(rec));
            }
        } catch (const std::exception& e) {
            session_.reset();
            log::Warn("inventory levels not stored", {{"error", e.what()}});
            for (auto& w : batch)
                w.done(false, "the store is unavailable");
            return;
        }
        auto waiters = std::make_shared<std::vector<Waiting>>(std::move(batch));
        SubmitAll(queue_, std::move(records), [this, waiters, sums](bool ok, const std::string& error) {
            if (ok && view_) {
                for (const auto& [sku, available] : *sums)
                    view_->SetLevel(sku, available);
            }
            for (auto& w : *waiters)
                w.done(ok, error);
        });
    }

    // ShipStation V1: {"resource_url", "resource_type"}; the shipments are fetched from resource_url
    // with the connector's credentials, only from its own host.
    void ShipNotify(const config::ConnectorSettings& c, http::Request& req, http::Responder respond) {
        if (!c.inbound_secret.empty()) {
            const std::string token = req.QueryParam("token").value_or("");
            if (!woo::ConstantTimeEquals(token, c.inbound_secret)) {
                Count(c.name, "shipment", "rejected");
                throw core::Error(core::Errc::kUnauthorized, "token is missing or wrong");
            }
        }
        const json body = json::parse(req.body, nullptr, false);
        const std::string url = inbound::Str(body, "resource_url");
        const std::string type = inbound::Str(body, "resource_type");
        if (url.empty() || type.empty())
            throw core::Error(core::Errc::kBadRequest, "expected {\"resource_url\", \"resource_type\"}");
        if (type != "SHIP_NOTIFY") {
            Count(c.name, "shipment", "ignored");
            respond(
                http::Response::Json(200, json{{"status", "ignored"}, {"reason", type + " is not handled"}}.dump()));
            return;
        }
        if (Origin(url) != Origin(c.base_url)) {
            Count(c.name, "shipment", "rejected");
            log::Warn("SHIP_NOTIFY resource_url is not on the connector's host; not fetched",
                      {{"connector", c.name}, {"resource_url", url.substr(0, 200)}});
            throw core::Error(core::Errc::kBadRequest, "resource_url must point at the connector's base_url host");
        }
        pool_.Post(
            [this, c, url, respond](store::Session& session) {
                try {
                    FetchShipments(c, url, session, respond);
                } catch (const store::UnavailableError&) {
                    Count(c.name, "shipment", "unavailable");
                    respond(http::ErrorResponse(core::Errc::kUnavailable, "the store is unavailable",
                                                std::chrono::seconds(5)));
                    throw;
                } catch (...) {
                    respond.Fail(std::current_exception());
                }
            },
            [respond](std::exception_ptr) {
                respond(
                    http::ErrorResponse(core::Errc::kUnavailable, "the store is unavailable", std::chrono::seconds(5)));
            });
    }

    // scheme://host[:port] in lower case.
    static std::string Origin(const std::string& url) {
        const auto scheme = url.find("://");
        if (scheme == std::string::npos) return {};
        const auto end = url.find_first_of("/?#", scheme + 3);
        std::string out = url.substr(0, end);
        std::transform(out.begin(), out.end(), out.begin(), [](unsigned char ch) { return std::tolower(ch); });
        return out;
    }

    void FetchShipments(const config::ConnectorSettings& c, std::string url, store::Session& session,
                        const http::Responder& respond) {
        // The notification's URL leaves the items out; ask for them.
        for (const std::string off : {"includeShipmentItems=False", "includeShipmentItems=false"}) {
            if (auto p = url.find(off); p != std::string::npos) url.replace(p, off.size(), "includeShipmentItems=true");
        }
        if (url.find("includeShipmentItems=") == std::string::npos)
            url += (url.find('?') == std::string::npos ? "?" : "&") + std::string("includeShipmentItems=true");
        dispatch::HttpClient client(std::chrono::duration_cast<std::chrono::milliseconds>(c.timeout));
        json shipments = json::array();
        for (int page = 1; page <= 20; ++page) {
            dispatch::HttpCall call;
            call.method = "GET";
            call.url = page == 1 ? url : url + "&page=" + std::to_string(page);
            call.headers = {{"Authorization", "Basic " + woo::Base64(c.auth.api_key + ":" + c.auth.api_secret)},
                            {"Accept", "application/json"}};
            const dispatch::HttpAnswer a = client.Send(call);
            if (a.transport != dispatch::HttpAnswer::Transport::kAnswered || a.status != 200) {
                Count(c.name, "shipment", "unavailable");
                const std::string why = a.transport == dispatch::HttpAnswer::Transport::kAnswered
                                            ? "HTTP " + std::to_string(a.status)
                                            : a.error;
                log::Warn("SHIP_NOTIFY resource not fetched", {{"connector", c.name}, {"error", why}});
                respond(http::ErrorResponse(core::Errc::kUnavailable, "the shipments could not be fetched: " + why,
                                            std::chrono::seconds(30)));
                return;
            }
            const json j = json::parse(a.body, nullptr, false);
            if (!j.is_object() || !j.contains("shipments") || !j["shipments"].is_array()) {
                Count(c.name, "shipment", "rejected");
                respond(http::ErrorResponse(core::Errc::kUnavailable, "the resource is not a shipment list",
                                            std::chrono::seconds(30)));
                return;
            }
            for (auto& s : j["shipments"])
                shipments.push_back(s);
            if (j.value("pages", 1) <= page) break;
        }

        std::vector<std::pair<model::Shipment, std::string>> ours;
        int ignored = 0;
        for (const auto& raw : shipments) {
            if (auto shipment = inbound::FromShipStation(raw, c.name)) {
                ours.emplace_back(std::move(*shipment), raw.dump());
            } else {
                ++ignored;  // an order that did not come from orderbridge
            }
        }
        std::vector<store::IngestRecord> records =
            ShipmentRecords(session, "shipstation", "shipstation:SHIP_NOTIFY",
                            json{{"connector", c.name}, {"resource_url", url}}, ours);
        const std::size_t n = records.size();
        SubmitAll(queue_, std::move(records), [this, c, respond, n, ignored](bool ok, const std::string& error) {
            Count(c.name, "shipment", ok ? "accepted" : "unavailable");
            if (!ok) {
                respond(http::ErrorResponse(core::Errc::kUnavailable, error, std::chrono::seconds(5)));
                return;
            }
            respond(
                http::Response::Json(200, json{{"status", "accepted"}, {"shipments", n}, {"ignored", ignored}}.dump()));
        });
    }

    // The records of shipments reported by a connector: each a child of its order, traced as it,
    // `completes_order` from the order's lines and every shipment known for it (a shipment that
    // lists no lines ships the whole order), `shipment.created` the first time, then `.updated`.
    std::vector<store::IngestRecord> ShipmentRecords(store::Session& session, const std::string& system,
                                                     const std::string& topic, const json& headers,
                                                     std::vector<std::pair<model::Shipment, std::string>>& shipments) {
        const auto now = std::chrono::system_clock::now();
        std::vector<store::IngestRecord> records;
        struct Known {
            std::optional<store::EntityRow> order;
            std::vector<model::Shipment> shipments;  ///< the stored ones, then those of this call
        };
        std::map<std::string, Known> seen;  // by order, read once per call
        for (auto& [shipment, raw] : shipments) {
            const std::string& order_ref = shipment.order_ref;
            auto [it, fresh] = seen.try_emplace(order_ref);
            if (fresh) {
                it->second.order = session.GetEntity(order_ref);
                for (const auto& row : session.ChildEntities(order_ref, "shipment")) {
                    try {
                        it->second.shipments.push_back(json::parse(row.data).get<model::Shipment>());
                    } catch (const std::exception&) {
                    }
                }
            }
            const std::optional<store::EntityRow>& order = it->second.order;
            std::vector<model::Shipment>& earlier = it->second.shipments;
            const bool shipping =
                shipment.status == "shipped" || shipment.status == "in_transit" || shipment.status == "delivered";
            if (order && shipment.lines.empty()) {
                shipment.completes_order = shipping;
            } else if (order) {
                shipment.completes_order =
                    inbound::CompletesOrder(json::parse(order->data, nullptr, false), earlier, shipment);
            }
            // Known when stored (every shipment is a child of its order) or seen earlier in this call.
            const bool known =
                std::erase_if(earlier, [&](const model::Shipment& s) { return s.id == shipment.id; }) > 0;
            earlier.push_back(shipment);

            const std::string store_id = order_ref.substr(3, order_ref.find(':', 3) - 3);
            const json data = shipment;
            store::IngestRecord rec;
            rec.store_id = store_id;
            rec.topic = topic;
            rec.received_at = core::FormatRfc3339(now);
            rec.received_ms = core::ToUnixMillis(now);
            rec.trace_id = order ? order->trace_id : model::NewTraceId();
            rec.headers = headers.dump();
            rec.body = raw;
            store::EntityWrite w;
            w.entity_id = shipment.id;
            w.kind = "shipment";
            w.parent_id = order_ref;
            w.source_id = shipment.source_event_id;
            w.version =
                model::MakeVersion(model::ParseWooGmt(shipment.event_time).value_or(rec.received_ms), data.dump());
            w.canonical_status = shipment.status;
            w.data = data.dump();
            w.findings = "[]";
            const std::string type = known ? "shipment.updated" : "shipment.created";
            if (order && shipping && !known && earlier.size() == 1) {
                // The order's first shipment: how long fulfilment took (order received to shipped).
                if (const auto created = model::ParseWooGmt(order->created_at)) {
                    shipped_
                        .Add({{"store", store_id}},
                             prometheus::Histogram::BucketBoundaries{60, 600, 3600, 4 * 3600, 12 * 3600, 86400,
                                                                     2 * 86400, 4 * 86400, 7 * 86400})
                        .Observe(std::max(0.0, static_cast<double>(rec.received_ms - *created) / 1000.0));
                }
            }
            dispatch::RouteFacts facts;
            facts.store = store_id;
            if (!shipment.warehouse_id.empty()) facts.warehouses = std::vector<std::string>{shipment.warehouse_id};
            const std::string key = (system == "shipstation" ? "ss:" : "sb:") + shipment.external_refs[system].id;
            w.events.push_back(MakeEvent(type, system, store_id, shipment.event_time, rec.received_at, rec.trace_id,
                                         key.substr(0, 35), w.entity_id, w.version, data,
                                         relay_ ? std::vector<std::string>{} : lanes_.Route(type, facts), relay_));
            rec.entities.push_back(std::move(w));
            records.push_back(std::move(rec));
        }
        return records;
    }

    // ShipBob webhooks (Standard Webhooks signature): one shipment event each; events may arrive out
    // of order, so each becomes a version by its event_time and an older one is recorded as stale.
    void ShipBobEvent(const config::ConnectorSettings& c, http::Request& req, http::Responder respond) {
        const std::string id(req.Header("webhook-id"));
        if (!c.inbound_secret.empty() &&
            !inbound::VerifyStandardWebhook(c.inbound_secret, id, std::string(req.Header("webhook-timestamp")),
                                            std::string(req.Header("webhook-signature")), req.body,
                                            core::ToUnixMillis(std::chrono::system_clock::now()) / 1000)) {
            Count(c.name, "shipment", "rejected");
            throw core::Error(core::Errc::kUnauthorized, "webhook-signature is missing, wrong or too old");
        }
        const json body = json::parse(req.body, nullptr, false);
        if (!body.is_object()) throw core::Error(core::Errc::kBadRequest, "the body is not a JSON object");
        std::string topic(req.Header("x-webhook-topic"));
        if (topic.empty()) topic = inbound::Str(body, "topic");
        auto shipment = inbound::FromShipBob(body, topic, c.name, id);
        if (!shipment) {
            Count(c.name, "shipment", "ignored");
            respond(http::Response::Json(
                200, json{{"status", "ignored"}, {"reason", "not a shipment event of an orderbridge order"}}.dump()));
            return;
        }
        auto shipments = std::make_shared<std::vector<std::pair<model::Shipment, std::string>>>();
        shipments->emplace_back(std::move(*shipment), req.body);
        const json headers = {{"connector", c.name}, {"webhook-id", id}, {"topic", topic}};
        pool_.Post(
            [this, c, topic, headers, shipments, respond](store::Session& session) {
                auto records = ShipmentRecords(session, "shipbob", "shipbob:" + topic, headers, *shipments);
                SubmitAll(queue_, std::move(records), [this, c, respond](bool ok, const std::string& error) {
                    Count(c.name, "shipment", ok ? "accepted" : "unavailable");
                    if (!ok) {
                        respond(http::ErrorResponse(core::Errc::kUnavailable, error, std::chrono::seconds(5)));
                        return;
                    }
                    respond(http::Response::Json(200, json{{"status", "accepted"}}.dump()));
                });
            },
            [respond](std::exception_ptr) {
                respond(
                    http::ErrorResponse(core::Errc::kUnavailable, "the store is unavailable", std::chrono::seconds(5)));
            });
    }

    // ERPNext Webhook on Bin (on_update): the stock level of one item in one warehouse.
    void ErpNextBin(const config::ConnectorSettings& c, http::Request& req, http::Responder respond) {
        if (!c.inbound_secret.empty()) {
            const std::string given(req.Header("X-Frappe-Webhook-Signature"));
            if (!woo::ConstantTimeEquals(given, woo::HmacBase64(req.body, c.inbound_secret, "sha256"))) {
                Count(c.name, "inventory", "rejected");
                throw core::Error(core::Errc::kUnauthorized, "X-Frappe-Webhook-Signature is missing or wrong");
            }
        }
        std::string error;
        auto level = inbound::FromErpNextBin(json::parse(req.body, nullptr, false), c.name, error);
        if (!level) {
            Count(c.name, "inventory", "rejected");
            throw core::Error(core::Errc::kBadRequest, error);
        }
        Submit({*level}, [this, name = c.name, respond](bool ok, const std::string& err) {
            Count(name, "inventory", ok ? "accepted" : "unavailable");
            if (!ok) {
                respond(http::ErrorResponse(core::Errc::kUnavailable, err, std::chrono::seconds(5)));
                return;
            }
            respond(http::Response::Json(200, json{{"status", "accepted"}}.dump()));
        });
    }

    StockView* view_;
    const Authenticator& auth_;
    store::Store& store_;
    store::SessionPool& pool_;
    store::IngestQueue& queue_;
    const dispatch::Router& lanes_;
    bool relay_;
    std::chrono::milliseconds window_;
    prometheus::Family<prometheus::Counter>& received_;
    prometheus::Family<prometheus::Histogram>& shipped_;
    std::map<std::string, config::ConnectorSettings> connectors_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::vector<Waiting> waiting_;
    bool stopping_ = false;
    std::unique_ptr<store::Session> session_;  // the intake thread's
    std::thread thread_;
};

std::shared_ptr<Inbound> AddInboundRoutes(http::Router& router, const config::Settings& settings,
                                          const Authenticator& auth, store::Store& store, store::SessionPool& pool,
                                          store::IngestQueue& queue, const dispatch::Router& lanes,
                                          prometheus::Registry& registry, StockView* view) {
    auto in = std::make_shared<Inbound>(settings, auth, store, pool, queue, lanes, registry, view);
    router.Add("POST", "/webhooks/{connector}",
               Guarded([in](http::Request& req, http::Responder& respond) { in->Webhook(req, respond); }));
    router.Add("POST", "/v1/inventory",
               Guarded([in](http::Request& req, http::Responder& respond) { in->Inventory(req, respond); }));
    return in;
}

void StopInbound(Inbound& inbound) {
    inbound.Stop();
}

void SubmitLevels(Inbound& inbound, std::vector<store::StockLevel> levels,
                  std::function<void(bool, const std::string&)> done) {
    inbound.Submit(std::move(levels), std::move(done));
}

void ResyncStock(Inbound& inbound, std::vector<std::string> skus) {
    inbound.Submit(
        {},
        [](bool ok, const std::string& error) {
            if (!ok) log::Warn("stock resync not committed", {{"error", error}});
        },
        std::move(skus));
}

}  // namespace orderbridge::api

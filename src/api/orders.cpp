#include "orderbridge/api/orders.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "orderbridge/core/error.hpp"
#include "orderbridge/http/error_mapping.hpp"

namespace orderbridge::api {
namespace {

using nlohmann::json;

json Summary(const store::EntityRow& row) {
    json data = json::parse(row.data, nullptr, false);
    json item = {{"entity_id", row.entity_id},
                 {"store", row.store_id},
                 {"canonical_status", row.canonical_status},
                 {"held", row.held},
                 {"version", row.version},
                 {"created_at", row.created_at},
                 {"updated_at", row.updated_at}};
    if (data.is_object()) {
        item["source_status"] = data.value("source_status", "");
        item["currency"] = data.value("currency", "");
        if (data.contains("totals")) item["grand_total"] = data["totals"].value("grand_total", 0);
        if (data.contains("customer")) item["customer_email"] = data["customer"].value("email", "");
        item["deleted"] = !data.contains("totals");
    }
    return item;
}

}  // namespace

std::int64_t ParseCursor(const http::Request& req) {
    const auto c = req.QueryParam("cursor");
    if (!c || c->empty()) return 0;
    try {
        return std::stoll(*c);
    } catch (const std::exception&) {
        throw core::Error(core::Errc::kBadRequest, "cursor is not one this API gave out");
    }
}

json CursorJson(std::int64_t next) {
    return next ? json(std::to_string(next)) : json(nullptr);
}

int ParseLimit(const http::Request& req) {
    const auto text = req.QueryParam("limit");
    if (!text) return 50;
    try {
        const int v = std::stoi(*text);
        if (v >= 1 && v <= 500) return v;
    } catch (const std::exception&) {
    }
    throw core::Error(core::Errc::kBadRequest, "limit must be a whole number from 1 to 500");
}

json ActionBody(const http::Request& req) {
    if (req.body.empty()) return json::object();
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded()) throw core::Error(core::Errc::kBadRequest, "body is not JSON");
    if (!body.is_object()) throw core::Error(core::Errc::kBadRequest, "body must be a JSON object");
    if (body.contains("reason") && !body["reason"].is_string())
        throw core::Error(core::Errc::kBadRequest, "reason must be a string");
    return body;
}

void RunOnPool(store::SessionPool& pool, http::Responder respond, std::function<http::Response(store::Session&)> work) {
    pool.Post(
        [respond, work = std::move(work)](store::Session& session) {
            try {
                respond(work(session));
            } catch (const store::UnavailableError& e) {
                respond(
                    http::ErrorResponse(core::Errc::kUnavailable, "the store is unavailable", std::chrono::seconds(5)));
                throw;  // let the pool reopen its session
            } catch (...) {
                respond.Fail(std::current_exception());
            }
        },
        [respond](std::exception_ptr) {
            respond(http::ErrorResponse(core::Errc::kUnavailable, "the store is unavailable", std::chrono::seconds(5)));
        });
}

json DeliveryStates(const std::vector<store::DeliveryRow>& rows) {
    // Per connector: the state of its newest delivery, plus how many events it has been given.
    std::map<std::string, json> by_connector;
    std::vector<std::string> order;
    for (const auto& d : rows) {
        auto [it, inserted] = by_connector.try_emplace(d.connector, json::object());
        if (inserted) order.push_back(d.connector);
        const int events = it->second.value("events", 0) + 1;
        it->second = DeliveryJson(d);
        it->second["events"] = events;
    }
    json out = json::array();
    for (const auto& name : order)
        out.push_back(by_connector[name]);
    return out;
}

json DeliveryJson(const store::DeliveryRow& d) {
    json j = {{"id", std::to_string(d.id)},
              {"connector", d.connector},
              {"event_id", d.event_id},
              {"entity_id", d.entity_id},
              {"type", d.type},
              {"version", d.version},
              {"state", d.state},
              {"attempts", d.attempts},
              {"created_at", d.created_at},
              {"finished_at", d.finished_at.empty() ? json(nullptr) : json(d.finished_at)},
              {"error_class", d.error_class.empty() ? json(nullptr) : json(d.error_class)},
              {"http_status", d.http_status ? json(d.http_status) : json(nullptr)},
              {"reason", d.reason}};
    if (!d.external_id.empty()) j["external_id"] = d.external_id;
    return j;
}

// The order `id`, or 404.
store::EntityRow RequireOrder(store::Session& s, const std::string& id) {
    auto row = s.GetEntity(id);
    if (!row || row->kind != "order") throw core::Error(core::Errc::kNotFound, "no order " + id);
    return *row;
}

json Step(const std::string& at, const char* step, const std::string& detail, const std::string& connector = "",
          int http_status = 0, std::optional<std::int64_t> latency_ms = std::nullopt) {
    return {{"at", at},
            {"step", step},
            {"connector", connector.empty() ? json(nullptr) : json(connector)},
            {"http_status", http_status ? json(http_status) : json(nullptr)},
            {"latency_ms", latency_ms ? json(*latency_ms) : json(nullptr)},
            {"detail", detail}};
}

json Timeline(store::Session& s, const store::EntityRow& order) {
    std::vector<json> steps;
    for (const auto& r : s.EntityReceipts(order.entity_id)) {
        steps.push_back(Step(r.received_at, "received", r.topic + " (delivery " + r.delivery_id + ")"));
        if (r.outcome == "stale") {
            steps.push_back(Step(r.received_at, "normalized", "older than the stored version: recorded, not applied"));
            continue;
        }
        steps.push_back(Step(r.received_at, "normalized", "canonical model v1"));
        if (r.outcome == "held") {
            steps.push_back(Step(r.received_at, "held", "a business rule parked it: see findings"));
        } else {
            steps.push_back(Step(r.received_at, "committed", "entity, version and outbox events in one transaction"));
        }
    }
    const auto deliveries = s.EntityDeliveries(order.entity_id);
    std::vector<std::string> targets = {order.entity_id};
    std::map<std::string, std::string> connector_of;  // audit target -> connector
    for (const auto& d : deliveries) {
        targets.push_back("dlq:" + std::to_string(d.id));
        connector_of[targets.back()] = d.connector;
        targets.push_back(d.connector + ":" + order.entity_id);
        connector_of[targets.back()] = d.connector;
    }
    for (const auto& a : s.AuditFor(targets)) {
        const std::string who = "by " + a.actor + (a.reason.empty() ? "" : ": " + a.reason);
        if (a.action == "release") {
            steps.push_back(Step(a.at, "released", who));
        } else if (a.action.rfind("replay", 0) == 0) {
            steps.push_back(Step(a.at, "replayed", (a.action == "replay_edited" ? "edited payload, " : "") + who,
                                 connector_of[a.target]));
        }
    }
    const auto attempts = s.EntityAttempts(order.entity_id);  // one query, no payloads
    for (const auto& d : deliveries) {
        const auto it = attempts.find(d.id);
        if (it == attempts.end()) continue;
        for (const auto& a : it->second) {
            steps.push_back(Step(a.at, "attempt",
                                 d.type + " " + (a.error_class.empty() ? "ok" : a.error_class + ": " + a.reason),
                                 d.connector, a.http_status, a.latency_ms));
            if (a.outcome == "delivered") {
                steps.push_back(Step(a.at, "delivered", d.type + " version " + d.version, d.connector, a.http_status));
            } else if (a.outcome == "dead") {
                steps.push_back(Step(a.at, "dead", a.error_class + ": " + a.reason, d.connector, a.http_status));
            }
        }
    }
    // Shipments reported by a 3PL, and what was written back to the store (or sent on) for them.
    for (const auto& shipment : s.ChildEntities(order.entity_id, "shipment")) {
        const json data = json::parse(shipment.data, nullptr, false);
        const std::string tracking = data.is_object() ? data.value("tracking_number", "") : "";
        const std::string carrier = data.is_object() ? data.value("carrier_code", "") : "";
        for (const auto& r : s.EntityReceipts(shipment.entity_id)) {
            if (r.outcome == "stale") continue;
            steps.push_back(Step(r.received_at, "shipment",
                                 shipment.entity_id + " " + shipment.canonical_status + " via " + carrier +
                                     (tracking.empty() ? "" : ", tracking " + tracking) + " (" + r.topic + ")"));
        }
        const auto shipment_attempts = s.EntityAttempts(shipment.entity_id);
        for (const auto& d : s.EntityDeliveries(shipment.entity_id)) {
            const auto it = shipment_attempts.find(d.id);
            if (it == shipment_attempts.end()) continue;
            const bool writeback = d.connector.rfind("woo:", 0) == 0;
            for (const auto& a : it->second) {
                steps.push_back(Step(a.at, "attempt",
                                     d.type + " " + (a.error_class.empty() ? "ok" : a.error_class + ": " + a.reason),
                                     d.connector, a.http_status, a.latency_ms));
                if (a.outcome == "delivered") {
                    steps.push_back(Step(a.at, writeback ? "writeback" : "delivered",
                                         d.type + (a.reason.empty() ? "" : ": " + a.reason), d.connector,
                                         a.http_status));
                } else if (a.outcome == "dead") {
                    steps.push_back(Step(a.at, "dead", a.error_class + ": " + a.reason, d.connector, a.http_status));
                }
            }
        }
    }
    std::stable_sort(steps.begin(), steps.end(), [](const json& a, const json& b) {
        return a["at"].get<std::string>() < b["at"].get<std::string>();
    });
    return {{"entity_id", order.entity_id}, {"trace_id", order.trace_id}, {"steps", steps}};
}

void AddOrderRoutes(http::Router& router, const Authenticator& auth, store::SessionPool& pool) {
    router.Add("GET", "/v1/orders", [&auth, &pool](http::Request& req, http::Responder respond) {
        try {
            auth.Authorize(req, false);
            store::OrderQuery q;
            q.store = req.QueryParam("store").value_or("");
            q.status = req.QueryParam("status").value_or("");
            if (auto held = req.QueryParam("held")) {
                if (*held != "true" && *held != "false") {
                    throw core::Error(core::Errc::kBadRequest, "held must be true or false");
                }
                q.held = *held == "true";
            }
            q.from = req.QueryParam("from").value_or("");
            q.to = req.QueryParam("to").value_or("");
            q.cursor = ParseCursor(req);
            q.limit = ParseLimit(req);
            RunOnPool(pool, respond, [q](store::Session& s) {
                const store::Page page = s.ListOrders(q);
                json items = json::array();
                for (const auto& row : page.items)
                    items.push_back(Summary(row));
                json body = {{"items", items}, {"next_cursor", CursorJson(page.next_cursor)}};
                return http::Response::Json(200, body.dump());
            });
        } catch (...) {
            respond.Fail(std::current_exception());
        }
    });

    router.Add("GET", "/v1/orders/{id}", [&auth, &pool](http::Request& req, http::Responder respond) {
        try {
            auth.Authorize(req, false);
            const std::string id(req.Param("id"));
            RunOnPool(pool, respond, [id](store::Session& s) {
                const auto row = RequireOrder(s, id);
                json body = Summary(row);
                body["trace_id"] = row.trace_id;
                body["findings"] = json::parse(row.findings, nullptr, false);
                body["order"] = json::parse(row.data, nullptr, false);
                body["deliveries"] = DeliveryStates(s.EntityDeliveries(id));
                // Its refunds and shipments, each with its own delivery state.
                for (const char* kind : {"refund", "shipment"}) {
                    json children = json::array();
                    for (const auto& child : s.ChildEntities(id, kind)) {
                        children.push_back({{"entity_id", child.entity_id},
                                            {"status", child.canonical_status},
                                            {"version", child.version},
                                            {"deliveries", DeliveryStates(s.EntityDeliveries(child.entity_id))}});
                    }
                    body[std::string(kind) + "s"] = children;
                }
                return http::Response::Json(200, body.dump());
            });
        } catch (...) {
            respond.Fail(std::current_exception());
        }
    });

    router.Add("GET", "/v1/orders/{id}/timeline", [&auth, &pool](http::Request& req, http::Responder respond) {
        try {
            auth.Authorize(req, false);
            const std::string id(req.Param("id"));
            RunOnPool(pool, respond, [id](store::Session& s) {
                const auto row = RequireOrder(s, id);
                return http::Response::Json(200, Timeline(s, row).dump());
            });
        } catch (...) {
            respond.Fail(std::current_exception());
        }
    });

    router.Add("GET", "/v1/audit", [&auth, &pool](http::Request& req, http::Responder respond) {
        try {
            auth.Authorize(req, false);
            const std::int64_t cursor = ParseCursor(req);
            const int limit = ParseLimit(req);
            RunOnPool(pool, respond, [cursor, limit](store::Session& s) {
                const store::AuditPage page = s.ListAudit(cursor, limit);
                json items = json::array();
                for (const auto& a : page.items) {
                    items.push_back({{"id", std::to_string(a.id)},
                                     {"at", a.at},
                                     {"actor", a.actor},
                                     {"action", a.action},
                                     {"target", a.target},
                                     {"reason", a.reason}});
                }
                return http::Response::Json(
                    200, json{{"items", items}, {"next_cursor", CursorJson(page.next_cursor)}}.dump());
            });
        } catch (...) {
            respond.Fail(std::current_exception());
        }
    });

    router.Add("POST", "/v1/orders/{id}/release", [&auth, &pool](http::Request& req, http::Responder respond) {
        try {
            const std::string actor = auth.Authorize(req, true);
            const std::string id(req.Param("id"));
            const std::string reason = ActionBody(req).value("reason", "");
            RunOnPool(pool, respond, [id, actor, reason](store::Session& s) {
                RequireOrder(s, id);
                if (!s.Release(id, actor, reason))
                    throw core::Error(core::Errc::kConflict, "order " + id + " is not held");
                return http::Response::Json(200, json{{"entity_id", id}, {"released", true}, {"by", actor}}.dump());
            });
        } catch (...) {
            respond.Fail(std::current_exception());
        }
    });
}

}  // namespace orderbridge::api

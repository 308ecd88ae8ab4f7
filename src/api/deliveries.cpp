#include "orderbridge/api/deliveries.hpp"

#include <nlohmann/json.hpp>

#include "orderbridge/api/orders.hpp"
#include "orderbridge/core/error.hpp"
#include "orderbridge/http/error_mapping.hpp"

namespace orderbridge::api {
namespace {

using nlohmann::json;

json LaneJson(const dispatch::LaneStatus& s) {
    json last_error = nullptr;
    if (!s.last_error_at.empty()) {
        last_error = {{"at", s.last_error_at},
                      {"error_class", s.last_error_class},
                      {"http_status", s.last_error_status ? json(s.last_error_status) : json(nullptr)},
                      {"reason", s.last_error_reason}};
    }
    return {{"name", s.name},
            {"kind", s.kind},
            {"paused", s.paused},
            {"healthy", !s.auth_failed && s.breaker != "open"},
            {"auth_failed", s.auth_failed},
            {"breaker", s.breaker},
            {"rate_limit_per_second", s.rate_limit},
            {"current_rate_per_second", s.current_rate},
            {"concurrency_limit", s.limit},
            {"max_in_flight", s.max_in_flight},
            {"in_flight", s.in_flight},
            {"backlog", s.backlog},
            {"oldest_age_seconds", s.oldest_age_seconds},
            {"dead", s.dead},
            {"throttled_until", s.throttled_until.empty() ? json(nullptr) : json(s.throttled_until)},
            {"last_success_at", s.last_success_at.empty() ? json(nullptr) : json(s.last_success_at)},
            {"last_error", last_error}};
}

std::string StringField(const json& body, const char* key) {
    if (!body.contains(key) || body[key].is_null()) return {};
    if (!body[key].is_string()) throw core::Error(core::Errc::kBadRequest, std::string(key) + " must be a string");
    return body[key].get<std::string>();
}

std::int64_t PathId(const http::Request& req) {
    const std::string text(req.Param("id"));
    try {
        std::size_t used = 0;
        const std::int64_t id = std::stoll(text, &used);
        if (used == text.size() && id > 0) return id;
    } catch (const std::exception&) {
    }
    throw core::Error(core::Errc::kNotFound, "no dead letter " + text);
}

json ReplayAnswer(const std::vector<std::int64_t>& ids, const std::string& actor) {
    json list = json::array();
    for (auto id : ids)
        list.push_back(std::to_string(id));
    return {{"replayed", ids.size()}, {"ids", list}, {"by", actor}};
}

}  // namespace

void AddDeliveryRoutes(http::Router& router, const Authenticator& auth, store::SessionPool& pool,
                       dispatch::Dispatcher& dispatcher) {
    router.Add("GET", "/v1/connectors", Guarded([&auth, &dispatcher](http::Request& req, http::Responder& respond) {
                   auth.Authorize(req, false);
                   json items = json::array();
                   for (const auto& s : dispatcher.Status())
                       items.push_back(LaneJson(s));
                   respond(http::Response::Json(200, json{{"items", items}, {"next_cursor", nullptr}}.dump()));
               }));

    for (const bool pause : {true, false}) {
        router.Add("POST", pause ? "/v1/connectors/{name}/pause" : "/v1/connectors/{name}/resume",
                   Guarded([&auth, &pool, &dispatcher, pause](http::Request& req, http::Responder& respond) {
                       const std::string actor = auth.Authorize(req, true);
                       const std::string name(req.Param("name"));
                       const std::string reason = ActionBody(req).value("reason", "");
                       if (!dispatcher.HasLane(name)) throw core::Error(core::Errc::kNotFound, "no connector " + name);
                       RunOnPool(pool, respond, [&dispatcher, name, actor, reason, pause](store::Session& s) {
                           s.Audit(pause ? "pause" : "resume", "connector:" + name, store::Actor{actor, reason});
                           dispatcher.SetPaused(name, pause);
                           return http::Response::Json(
                               200, json{{"connector", name}, {"paused", pause}, {"by", actor}}.dump());
                       });
                   }));
    }

    router.Add("GET", "/v1/dlq", Guarded([&auth, &pool](http::Request& req, http::Responder& respond) {
                   auth.Authorize(req, false);
                   store::DeliveryQuery q;
                   q.state = "dead";
                   q.connector = req.QueryParam("connector").value_or("");
                   q.error_class = req.QueryParam("error_class").value_or("");
                   q.entity_id = req.QueryParam("entity_id").value_or("");
                   q.from = req.QueryParam("from").value_or("");
                   q.to = req.QueryParam("to").value_or("");
                   if (!q.error_class.empty() && !core::ParseErrorClass(q.error_class)) {
                       throw core::Error(core::Errc::kBadRequest, "unknown error_class " + q.error_class);
                   }
                   q.cursor = ParseCursor(req);
                   q.limit = ParseLimit(req);
                   RunOnPool(pool, respond, [q](store::Session& s) {
                       const auto page = s.ListDeliveries(q);
                       json items = json::array();
                       for (const auto& d : page.items)
                           items.push_back(DeliveryJson(d));
                       return http::Response::Json(
                           200, json{{"items", items}, {"next_cursor", CursorJson(page.next_cursor)}}.dump());
                   });
               }));

    router.Add(
        "GET", "/v1/dlq/{id}", Guarded([&auth, &pool](http::Request& req, http::Responder& respond) {
            auth.Authorize(req, false);
            const std::int64_t id = PathId(req);
            RunOnPool(pool, respond, [id](store::Session& s) {
                const auto d = s.GetDelivery(id);
                if (!d) throw core::Error(core::Errc::kNotFound, "no dead letter " + std::to_string(id));
                json body = DeliveryJson(d->row);
                // null when it cannot be read back (an event whose entity data is missing).
                json payload = json::parse(d->payload, nullptr, false);
                body["payload"] = payload.is_discarded() ? json(nullptr) : std::move(payload);
                body["payload_edited"] = d->payload_edited;
                json attempts = json::array();
                for (const auto& a : d->attempts) {
                    attempts.push_back({{"at", a.at},
                                        {"error_class", a.error_class.empty() ? json(nullptr) : json(a.error_class)},
                                        {"http_status", a.http_status ? json(a.http_status) : json(nullptr)},
                                        {"latency_ms", a.latency_ms},
                                        {"reason", a.reason}});
                }
                body["attempts"] = attempts;
                return http::Response::Json(200, body.dump());
            });
        }));

    router.Add("POST", "/v1/dlq/{id}/replay",
               Guarded([&auth, &pool, &dispatcher](http::Request& req, http::Responder& respond) {
                   const std::string actor = auth.Authorize(req, true);
                   const std::int64_t id = PathId(req);
                   const json body = ActionBody(req);
                   const std::string reason = StringField(body, "reason");
                   std::optional<std::string> payload;
                   if (body.contains("payload")) {
                       // Edit and replay: the operator's corrected envelope is sent instead of the stored one.
                       if (!body["payload"].is_object())
                           throw core::Error(core::Errc::kBadRequest,
                                             "payload must be a JSON object (the event envelope)");
                       payload = body["payload"].dump();
                   }
                   RunOnPool(pool, respond, [&dispatcher, id, actor, reason, payload](store::Session& s) {
                       const auto d = s.GetDelivery(id);
                       if (!d) throw core::Error(core::Errc::kNotFound, "no dead letter " + std::to_string(id));
                       const auto ids = s.ReplayDead(store::DeliveryQuery{}, id, payload, store::Actor{actor, reason});
                       if (ids.empty()) {
                           throw core::Error(core::Errc::kConflict,
                                             "delivery " + std::to_string(id) + " is " + d->row.state + ", not dead");
                       }
                       dispatcher.Wake();
                       return http::Response::Json(200, ReplayAnswer(ids, actor).dump());
                   });
               }));

    router.Add(
        "POST", "/v1/dlq/replay", Guarded([&auth, &pool, &dispatcher](http::Request& req, http::Responder& respond) {
            const std::string actor = auth.Authorize(req, true);
            const json body = ActionBody(req);
            store::DeliveryQuery q;
            q.connector = StringField(body, "connector");
            q.error_class = StringField(body, "error_class");
            q.entity_id = StringField(body, "entity_id");
            q.from = StringField(body, "from");
            q.to = StringField(body, "to");
            const std::string reason = StringField(body, "reason");
            if (q.connector.empty() && q.error_class.empty() && q.entity_id.empty() && q.from.empty() && q.to.empty()) {
                throw core::Error(core::Errc::kBadRequest,
                                  "give at least one of connector, error_class, entity_id, from, to");
            }
            if (!q.error_class.empty() && !core::ParseErrorClass(q.error_class)) {
                throw core::Error(core::Errc::kBadRequest, "unknown error_class " + q.error_class);
            }
            RunOnPool(pool, respond, [&dispatcher, q, actor, reason](store::Session& s) {
                const auto ids = s.ReplayDead(q, 0, std::nullopt, store::Actor{actor, reason});
                dispatcher.Wake();
                return http::Response::Json(200, ReplayAnswer(ids, actor).dump());
            });
        }));

    router.Add("POST", "/v1/replay", Guarded([&auth, &pool, &dispatcher](http::Request& req, http::Responder& respond) {
                   const std::string actor = auth.Authorize(req, true);
                   const json body = ActionBody(req);
                   const std::string entity = StringField(body, "entity_id");
                   const std::string connector = StringField(body, "connector");
                   const std::string reason = StringField(body, "reason");
                   if (entity.empty() || connector.empty())
                       throw core::Error(core::Errc::kBadRequest, "entity_id and connector are required");
                   if (!dispatcher.HasLane(connector))
                       throw core::Error(core::Errc::kNotFound, "no connector " + connector);
                   RunOnPool(pool, respond, [&dispatcher, entity, connector, actor, reason](store::Session& s) {
                       const std::int64_t id = s.ReplayEntity(entity, connector, store::Actor{actor, reason});
                       if (id == 0) {
                           throw core::Error(core::Errc::kNotFound,
                                             "no delivery of " + entity + " on connector " + connector);
                       }
                       if (id < 0) {
                           throw core::Error(core::Errc::kConflict,
                                             "the delivery of " + entity + " on " + connector +
                                                 " is being sent right now; try again when it has ended");
                       }
                       dispatcher.Wake();
                       return http::Response::Json(
                           200, json{{"replayed", 1}, {"ids", {std::to_string(id)}}, {"by", actor}}.dump());
                   });
               }));
}

}  // namespace orderbridge::api

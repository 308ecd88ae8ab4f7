#pragma once
// Read and act on canonical orders: GET /v1/orders, GET /v1/orders/{id},
// POST /v1/orders/{id}/release, and the audit trail of admin actions: GET /v1/audit. Database work runs on the session
// pool, never on an io thread.
#include <nlohmann/json.hpp>

#include "orderbridge/api/auth.hpp"
#include "orderbridge/http/router.hpp"
#include "orderbridge/store/session_pool.hpp"

namespace orderbridge::api {

void AddOrderRoutes(http::Router& router, const Authenticator& auth, store::SessionPool& pool);

/// Runs `work` on the pool and answers with its response; errors map through the one error mapping
/// (store unavailable -> 503 with Retry-After).
// Shared by the /v1 handlers.
std::int64_t ParseCursor(const http::Request& req);  ///< ?cursor=, 0 when absent; 400 when malformed
int ParseLimit(const http::Request& req);            ///< ?limit=, 1..500, default 50
nlohmann::json CursorJson(std::int64_t next);        ///< "next_cursor": a string, or null on the last page
/// The JSON object body of an admin action (may be empty); 400 when it is not one.
nlohmann::json ActionBody(const http::Request& req);
nlohmann::json DeliveryJson(const store::DeliveryRow& row);
/// Per-connector delivery state of one entity (its newest delivery on each connector).
nlohmann::json DeliveryStates(const std::vector<store::DeliveryRow>& rows);

/// A handler whose exceptions become the one error mapping's answer.
template <class Fn>
http::Handler Guarded(Fn fn) {
    return [fn](http::Request& req, http::Responder respond) {
        try {
            fn(req, respond);
        } catch (...) {
            respond.Fail(std::current_exception());
        }
    };
}

void RunOnPool(store::SessionPool& pool, http::Responder respond, std::function<http::Response(store::Session&)> work);

}  // namespace orderbridge::api

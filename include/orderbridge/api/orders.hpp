#pragma once
// Read and act on canonical orders: GET /v1/orders, GET /v1/orders/{id},
// POST /v1/orders/{id}/release, and the audit trail of admin actions: GET /v1/audit. Database work runs on the session
// pool, never on an io thread.
#include "orderbridge/api/auth.hpp"
#include "orderbridge/http/router.hpp"
#include "orderbridge/store/session_pool.hpp"

namespace orderbridge::api {

void AddOrderRoutes(http::Router& router, const Authenticator& auth, store::SessionPool& pool);

/// Runs `work` on the pool and answers with its response; errors map through the one error mapping
/// (store unavailable -> 503 with Retry-After).
void RunOnPool(store::SessionPool& pool, http::Responder respond, std::function<http::Response(store::Session&)> work);

}  // namespace orderbridge::api

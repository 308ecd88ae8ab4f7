#pragma once
// The delivery side of the admin API (DESIGN section 3):
//   GET  /v1/connectors                  lane health: breaker, rate, limit, backlog, last error
//   POST /v1/connectors/{name}/pause     stop claiming (events queue up); operator
//   POST /v1/connectors/{name}/resume
//   GET  /v1/dlq                         dead deliveries (connector, error_class, entity_id, from, to)
//   GET  /v1/dlq/{id}                    one with its payload and every attempt
//   POST /v1/dlq/{id}/replay             {"reason", "payload"?}: replay, or edit and replay
//   POST /v1/dlq/replay                  {"connector", "error_class", "from", "to", "reason"}
//   POST /v1/replay                      {"entity_id", "connector", "reason"}: send an entity again
// Every action is audited with the token's name and the reason.
#include "orderbridge/api/auth.hpp"
#include "orderbridge/dispatch/dispatcher.hpp"
#include "orderbridge/http/router.hpp"
#include "orderbridge/store/session_pool.hpp"

namespace orderbridge::api {

void AddDeliveryRoutes(http::Router& router, const Authenticator& auth, store::SessionPool& pool,
                       dispatch::Dispatcher& dispatcher);

}  // namespace orderbridge::api

#pragma once
// `/healthz` (the process is alive and its loop answers) and `/readyz` (every registered component
// is ready: store reachable, migrations applied, ...). Both are unauthenticated by design.
#include "orderbridge/core/health.hpp"
#include "orderbridge/http/router.hpp"

namespace orderbridge::api {

void AddHealthRoutes(http::Router& router, const core::Readiness& readiness);

}  // namespace orderbridge::api

#pragma once
// GET /console/: the operations web console, served from assets compiled into the binary
// (console/ in the source tree). The page itself needs no token; it asks for one and calls /v1
// with it, so the console has exactly the rights of that token.
#include "orderbridge/http/router.hpp"

namespace orderbridge::api {

void AddConsoleRoutes(http::Router& router);

}  // namespace orderbridge::api

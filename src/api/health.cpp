#include "orderbridge/api/health.hpp"

#include <nlohmann/json.hpp>

namespace orderbridge::api {

void AddHealthRoutes(http::Router& router, const core::Readiness& readiness) {
    router.Add("GET", "/healthz",
               http::Sync([](http::Request&) { return http::Response::Json(200, R"({"status":"ok"})"); }));
    router.Add("GET", "/readyz", http::Sync([&readiness](http::Request&) {
                   const auto report = readiness.Check();
                   nlohmann::json components = nlohmann::json::object();
                   for (const auto& [name, r] : report.components) {
                       components[name] = {{"ready", r.ready}, {"detail", r.detail}};
                   }
                   nlohmann::json body = {{"status", report.ready ? "ready" : "not_ready"}, {"components", components}};
                   http::Response resp = http::Response::Json(report.ready ? 200 : 503, body.dump());
                   if (!report.ready) resp.headers.emplace_back("Retry-After", "5");
                   return resp;
               }));
}

}  // namespace orderbridge::api

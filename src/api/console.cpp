#include "orderbridge/api/console.hpp"

#include <string>

#include "embedded_console.hpp"
#include "orderbridge/core/error.hpp"
#include "orderbridge/http/error_mapping.hpp"

namespace orderbridge::api {
namespace {

std::string ContentType(std::string_view name) {
    if (name.ends_with(".html")) return "text/html; charset=utf-8";
    if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
    if (name.ends_with(".css")) return "text/css; charset=utf-8";
    if (name.ends_with(".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

http::Response Asset(std::string_view name) {
    for (const auto& [file, content] : EmbeddedConsole()) {
        if (file != name) continue;
        http::Response r = http::Response::Text(200, std::string(content), ContentType(name));
        // Everything comes from this origin; the page cannot be framed or leak its address.
        r.SetHeader("Content-Security-Policy",
                    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
        r.SetHeader("X-Content-Type-Options", "nosniff");
        r.SetHeader("Referrer-Policy", "no-referrer");
        r.SetHeader("Cache-Control", "no-cache");
        return r;
    }
    return http::ErrorResponse(core::Errc::kNotFound, "no such console file");
}

}  // namespace

void AddConsoleRoutes(http::Router& router) {
    // The router ignores a trailing slash, but the page's relative links need it: /console is
    // sent to /console/.
    router.Add("GET", "/console", http::Sync([](http::Request& req) {
                   if (!req.path.ends_with("/")) return http::Response::Empty(301).SetHeader("Location", "/console/");
                   return Asset("index.html");
               }));
    router.Add("GET", "/console/{file}", http::Sync([](http::Request& req) { return Asset(req.Param("file")); }));
}

}  // namespace orderbridge::api

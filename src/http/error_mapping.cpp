#include "orderbridge/http/error_mapping.hpp"

#include <nlohmann/json.hpp>

#include "orderbridge/core/log.hpp"

namespace orderbridge::http {

int StatusFor(core::Errc errc) {
    using core::Errc;
    switch (errc) {
        case Errc::kBadRequest:
            return 400;
        case Errc::kUnauthorized:
            return 401;
        case Errc::kForbidden:
            return 403;
        case Errc::kNotFound:
            return 404;
        case Errc::kMethodNotAllowed:
            return 405;
        case Errc::kConflict:
            return 409;
        case Errc::kPayloadTooLarge:
            return 413;
        case Errc::kHeaderTooLarge:
            return 431;
        case Errc::kUnprocessable:
            return 422;
        case Errc::kTooManyRequests:
            return 429;
        case Errc::kUnavailable:
            return 503;
        case Errc::kTimeout:
            return 503;
        case Errc::kInternal:
            return 500;
    }
    return 500;
}

Response ErrorResponse(core::Errc errc, std::string_view message, std::optional<std::chrono::seconds> retry_after) {
    nlohmann::json body = {{"error", {{"code", core::ToCode(errc)}, {"message", message}}}};
    // Messages may quote request bytes (a percent-decoded path): never let them break the answer.
    Response r = Response::Json(StatusFor(errc), body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (retry_after) r.headers.emplace_back("Retry-After", std::to_string(retry_after->count()));
    if (errc == core::Errc::kUnauthorized) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
}

Response ErrorResponse(const core::Error& error) {
    return ErrorResponse(error.Code(), error.what(), error.RetryAfter());
}

Response ErrorResponse(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const core::Error& e) {
        return ErrorResponse(e);
    } catch (const nlohmann::json::exception& e) {
        return ErrorResponse(core::Errc::kBadRequest, std::string("malformed JSON: ") + e.what());
    } catch (const std::exception& e) {
        log::Error("unhandled exception in handler", {{"error", e.what()}});
    } catch (...) {
        log::Error("unhandled non-standard exception in handler");
    }
    return ErrorResponse(core::Errc::kInternal, "internal error");
}

}  // namespace orderbridge::http

#include "orderbridge/core/error.hpp"

#include <array>
#include <utility>

namespace orderbridge::core {

std::string_view ToCode(Errc errc) {
    switch (errc) {
        case Errc::kBadRequest:
            return "bad_request";
        case Errc::kUnauthorized:
            return "unauthorized";
        case Errc::kForbidden:
            return "forbidden";
        case Errc::kNotFound:
            return "not_found";
        case Errc::kMethodNotAllowed:
            return "method_not_allowed";
        case Errc::kConflict:
            return "conflict";
        case Errc::kPayloadTooLarge:
            return "payload_too_large";
        case Errc::kHeaderTooLarge:
            return "header_too_large";
        case Errc::kUnprocessable:
            return "unprocessable";
        case Errc::kTooManyRequests:
            return "too_many_requests";
        case Errc::kUnavailable:
            return "unavailable";
        case Errc::kTimeout:
            return "timeout";
        case Errc::kInternal:
            return "internal";
    }
    return "internal";
}

namespace {
constexpr std::array<std::pair<ErrorClass, std::string_view>, 6> kClassNames{{
    {ErrorClass::kTransient, "transient"},
    {ErrorClass::kThrottled, "throttled"},
    {ErrorClass::kPermanent, "permanent"},
    {ErrorClass::kAuth, "auth"},
    {ErrorClass::kDuplicate, "duplicate"},
    {ErrorClass::kHeld, "held"},
}};
}  // namespace

std::string_view ToString(ErrorClass cls) {
    for (const auto& [value, name] : kClassNames) {
        if (value == cls) return name;
    }
    return "transient";
}

std::optional<ErrorClass> ParseErrorClass(std::string_view text) {
    for (const auto& [value, name] : kClassNames) {
        if (name == text) return value;
    }
    return std::nullopt;
}

ErrorClass ClassifyHttpStatus(int status) {
    if (status == 429) return ErrorClass::kThrottled;
    if (status == 401 || status == 403) return ErrorClass::kAuth;
    if (status == 409) return ErrorClass::kDuplicate;
    if (status == 408 || status == 425) return ErrorClass::kTransient;
    if (status >= 400 && status < 500) return ErrorClass::kPermanent;
    return ErrorClass::kTransient;
}

}  // namespace orderbridge::core

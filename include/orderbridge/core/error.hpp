#pragma once
// The one error model of orderbridge.
//
// * `Errc` names what went wrong with a request or an operation; `http/error_mapping` is the one
//   place that turns it into an HTTP status and the JSON error body.
// * `ErrorClass` is the delivery taxonomy (DESIGN section 2) used by connectors and the dispatcher.
// Both are plain values; `Error` carries them through exceptions where unwinding is the natural path.
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace orderbridge::core {

enum class Errc {
    kBadRequest,
    kUnauthorized,
    kForbidden,
    kNotFound,
    kMethodNotAllowed,
    kConflict,
    kPayloadTooLarge,
    kHeaderTooLarge,
    kUnprocessable,
    kTooManyRequests,
    kUnavailable,
    kTimeout,
    kInternal,
};

/// Stable machine-readable code used in `{"error": {"code": ...}}`.
std::string_view ToCode(Errc errc);

/// An error that crosses a component boundary. The message is meant for the caller and must never
/// contain secrets; internal detail goes to the log instead.
class Error : public std::runtime_error {
  public:
    Error(Errc errc, std::string message, std::optional<std::chrono::seconds> retry_after = std::nullopt)
        : std::runtime_error(std::move(message)), errc_(errc), retry_after_(retry_after) {}

    Errc Code() const { return errc_; }
    std::optional<std::chrono::seconds> RetryAfter() const { return retry_after_; }

  private:
    Errc errc_;
    std::optional<std::chrono::seconds> retry_after_;
};

/// Delivery error taxonomy (DESIGN section 2).
enum class ErrorClass {
    kTransient,  ///< 5xx, timeouts, resets: retry with backoff and jitter
    kThrottled,  ///< 429: honour Retry-After, slow the lane
    kPermanent,  ///< 4xx data errors: dead-letter at once
    kAuth,       ///< 401/403: dead-letter, mark the connector unhealthy
    kDuplicate,  ///< already exists: counts as success
    kHeld,       ///< business-rule failure on ingest: kept for a person
};

std::string_view ToString(ErrorClass cls);
std::optional<ErrorClass> ParseErrorClass(std::string_view text);

/// Default classification of an HTTP status returned by a downstream system. Connectors refine it
/// (an ERPNext 417 that means "duplicate", a ShipBob 422 duplicate, errors inside a 200).
ErrorClass ClassifyHttpStatus(int status);

}  // namespace orderbridge::core

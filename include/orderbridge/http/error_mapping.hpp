#pragma once
// The one place where errors become HTTP answers: status code, `Retry-After`, and the JSON body
// `{"error": {"code", "message"}}`. Internal detail of unexpected exceptions is logged, never sent.
#include <exception>

#include "orderbridge/core/error.hpp"
#include "orderbridge/http/message.hpp"

namespace orderbridge::http {

int StatusFor(core::Errc errc);
Response ErrorResponse(core::Errc errc, std::string_view message,
                       std::optional<std::chrono::seconds> retry_after = std::nullopt);
Response ErrorResponse(const core::Error& error);
/// Maps any exception; unknown ones become 500 with a generic message (and are logged).
Response ErrorResponse(std::exception_ptr error);

}  // namespace orderbridge::http

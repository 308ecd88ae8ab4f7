#include "orderbridge/api/auth.hpp"

#include <openssl/crypto.h>

#include "orderbridge/core/error.hpp"

namespace orderbridge::api {

std::string Authenticator::Authorize(const http::Request& request, bool action) const {
    if (tokens_.empty()) return "anonymous";
    const std::string_view header = request.Header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
        throw core::Error(core::Errc::kUnauthorized, "an Authorization: Bearer token is required");
    }
    const std::string_view given = header.substr(kBearer.size());
    const config::AdminToken* match = nullptr;
    for (const auto& t : tokens_) {
        // Constant time per token; every token is compared.
        if (t.token.size() == given.size() && CRYPTO_memcmp(t.token.data(), given.data(), given.size()) == 0) {
            match = &t;
        }
    }
    if (!match) throw core::Error(core::Errc::kUnauthorized, "unknown token");
    if (action && match->role != config::Role::kOperator) {
        throw core::Error(core::Errc::kForbidden, "token '" + match->name + "' is a viewer token; this needs operator");
    }
    return match->name;
}

}  // namespace orderbridge::api

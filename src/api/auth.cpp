#include "orderbridge/api/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>

#include "orderbridge/core/error.hpp"
#include "orderbridge/core/log.hpp"

namespace orderbridge::api {
namespace {

std::array<unsigned char, 32> Digest(std::string_view text) {
    std::array<unsigned char, 32> out{};
    SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out.data());
    return out;
}

}  // namespace

std::chrono::seconds FailureLimiter::Wait(const std::string& address, std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto it = records_.find(address);
    if (it == records_.end() || now >= it->second.blocked_until) return std::chrono::seconds(0);
    return std::chrono::duration_cast<std::chrono::seconds>(it->second.blocked_until - now) + std::chrono::seconds(1);
}

void FailureLimiter::Failed(const std::string& address, std::chrono::steady_clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (records_.size() >= 10'000 && !records_.contains(address)) {
        // Keep memory bounded under a spray of addresses: forget records that no longer block.
        for (auto it = records_.begin(); it != records_.end();) {
            it = now - std::max(it->second.last, it->second.blocked_until) > std::chrono::minutes(1)
                     ? records_.erase(it)
                     : std::next(it);
        }
        if (records_.size() >= 10'000) records_.erase(records_.begin());
    }
    Record& r = records_[address];
    // A minute without failures (after any block) forgives; failures that keep coming escalate.
    if (now - std::max(r.last, r.blocked_until) > std::chrono::minutes(1)) r.failures = 0;
    r.last = now;
    ++r.failures;
    if (r.failures > kFreeFailures) {
        const int doublings = std::min(r.failures - kFreeFailures - 1, 9);  // 1 s .. 512 s, capped below
        const auto block = std::min(std::chrono::seconds(1LL << doublings), std::chrono::seconds(300));
        r.blocked_until = now + block;
    }
}

void FailureLimiter::Succeeded(const std::string& address) {
    std::lock_guard lock(mutex_);
    records_.erase(address);
}

Authenticator::Authenticator(std::vector<config::AdminToken> tokens, core::Clock& clock) : clock_(clock) {
    for (auto& t : tokens) {
        const auto digest = Digest(t.token);
        tokens_.push_back(Token{std::move(t), digest});
    }
}

std::string Authenticator::Authorize(const http::Request& request, bool action) const {
    if (tokens_.empty()) return "anonymous";
    const auto now = clock_.Steady();
    if (const auto wait = failures_.Wait(request.remote_address, now); wait.count() > 0) {
        throw core::Error(core::Errc::kTooManyRequests, "too many failed attempts from this address; wait", wait);
    }
    const std::string_view header = request.Header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
        failures_.Failed(request.remote_address, now);
        throw core::Error(core::Errc::kUnauthorized, "an Authorization: Bearer token is required");
    }
    // Digests of equal length, compared in constant time; every token is compared.
    const auto given = Digest(header.substr(kBearer.size()));
    const Token* match = nullptr;
    for (const auto& t : tokens_) {
        if (CRYPTO_memcmp(t.digest.data(), given.data(), given.size()) == 0) match = &t;
    }
    if (!match) {
        failures_.Failed(request.remote_address, now);
        log::Warn("admin API: unknown token", {{"remote", request.remote_address}, {"path", request.path}});
        throw core::Error(core::Errc::kUnauthorized, "unknown token");
    }
    failures_.Succeeded(request.remote_address);
    if (action && match->token.role != config::Role::kOperator) {
        throw core::Error(core::Errc::kForbidden,
                          "token '" + match->token.name + "' is a viewer token; this needs operator");
    }
    return match->token.name;
}

}  // namespace orderbridge::api

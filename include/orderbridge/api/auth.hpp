#pragma once
// Bearer-token authorisation of /v1/*: viewer tokens may GET, operator tokens may also act.
// With no tokens configured, every caller is "anonymous" with operator rights (bind to loopback).
//
// Tokens are compared in constant time (SHA-256 digests, so not even the length leaks), and an
// address that keeps presenting wrong tokens is slowed down: after `kFreeFailures` failures within
// a minute it gets 429 with Retry-After for 1 s, then 2, 4, ... up to 5 minutes, whatever it sends;
// a minute without failures or a success clears its record. Thread-safe.
#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/http/message.hpp"

namespace orderbridge::api {

/// Failed attempts per remote address, on an injected clock (plain, unit-tested).
class FailureLimiter {
  public:
    static constexpr int kFreeFailures = 5;
    /// How long `address` must still wait; zero when it may try.
    std::chrono::seconds Wait(const std::string& address, std::chrono::steady_clock::time_point now);
    void Failed(const std::string& address, std::chrono::steady_clock::time_point now);
    void Succeeded(const std::string& address);

  private:
    struct Record {
        int failures = 0;
        std::chrono::steady_clock::time_point last{};  ///< of the latest failure
        std::chrono::steady_clock::time_point blocked_until{};
    };
    std::mutex mutex_;
    std::map<std::string, Record> records_;  ///< bounded: old records are dropped past 10,000
};

class Authenticator {
  public:
    explicit Authenticator(std::vector<config::AdminToken> tokens, core::Clock& clock = core::SystemClock::Instance());
    /// Returns the actor (token name). Throws core::Error 401 (no or unknown token), 403 (viewer
    /// token on an action) or 429 (too many failures from this address).
    std::string Authorize(const http::Request& request, bool action) const;

  private:
    struct Token {
        config::AdminToken token;
        std::array<unsigned char, 32> digest;
    };
    std::vector<Token> tokens_;
    core::Clock& clock_;
    mutable FailureLimiter failures_;
};

}  // namespace orderbridge::api

#pragma once
// Bearer-token authorisation of /v1/*: viewer tokens may GET, operator tokens may also act.
// With no tokens configured, every caller is "anonymous" with operator rights (bind to loopback).
// Thread-safe: read-only after construction.
#include <string>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/http/message.hpp"

namespace orderbridge::api {

class Authenticator {
  public:
    explicit Authenticator(std::vector<config::AdminToken> tokens) : tokens_(std::move(tokens)) {}
    /// Returns the actor (token name). Throws core::Error 401 (no or unknown token) or 403 (viewer
    /// token on an action).
    std::string Authorize(const http::Request& request, bool action) const;

  private:
    std::vector<config::AdminToken> tokens_;
};

}  // namespace orderbridge::api

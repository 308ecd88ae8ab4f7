#pragma once
// Calls to a store's WooCommerce REST API v3 (`<store url>/wp-json/wc/v3`), authenticated as
// research/woocommerce.md 3.1 says: HTTP Basic over https; over plain http, where WordPress ignores
// Basic, OAuth 1.0a one-legged with the `oauth_*` parameters in the query string. The base string
// is WooCommerce's (RFC 5849): parameters sorted by key, each key and value percent-encoded, each
// `key=value` pair encoded again, joined with %26; a fresh nonce and timestamp per call.
// Used by the write-back lane, the reconciliation poller and the webhook watchdog. Blocking: call
// it from a worker thread. Thread-safety: immutable; `Call` may run on several threads at once.
#include <string>
#include <utility>
#include <vector>

#include "orderbridge/dispatch/connector.hpp"

namespace orderbridge::dispatch {

class WooRest {
  public:
    using Query = std::vector<std::pair<std::string, std::string>>;
    WooRest(const std::string& store_url, std::string consumer_key, std::string consumer_secret,
            std::string oauth_signature_method);
    /// `path` below /wp-json/wc/v3 (e.g. "/orders/12"); `body`, when not empty, is sent as JSON.
    HttpAnswer Call(HttpClient& client, const std::string& method, const std::string& path, Query query = {},
                    const std::string& body = {}) const;
    const std::string& Base() const { return base_; }

  private:
    std::string base_;
    std::string key_;
    std::string secret_;
    std::string method_;     ///< HMAC-SHA1 | HMAC-SHA256
    std::string algorithm_;  ///< sha1 | sha256
    bool https_ = false;
};

/// WooCommerce's error body `{"code","message","data":{"status"}}` as "code: message"; empty when
/// the body is not one.
std::string WooRestError(const std::string& body);

}  // namespace orderbridge::dispatch

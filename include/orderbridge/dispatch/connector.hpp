#pragma once
// What a connector is to the dispatcher (DESIGN section 2): it turns a claimed delivery into
// requests to one downstream system and classifies the answer into the one error taxonomy.
//
// Connectors run on their lane's worker threads, where blocking is allowed; each worker owns an
// `HttpClient` (one keep-alive connection pool), so a connector holds no per-call state.
// `Deliver` is prepare + send + classify for single-request connectors; multi-step connectors
// (find a customer, then create the order) override it. After an ambiguous failure (a timeout
// or reset after the request went out) the lane calls `Lookup` before trying again.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/core/error.hpp"
#include "orderbridge/store/store.hpp"

namespace orderbridge::dispatch {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpCall {
    std::string method = "POST";
    std::string url;
    Headers headers;
    std::string body;
    std::optional<std::chrono::milliseconds> timeout;  ///< this call only; else the client's
};

struct HttpAnswer {
    enum class Transport { kAnswered, kTimeout, kConnectFailed, kReset, kOther };
    Transport transport = Transport::kAnswered;
    bool request_sent = false;  ///< the request (or part of it) left this process
    int status = 0;
    Headers headers;  ///< names lower-cased
    std::string body;
    std::chrono::milliseconds latency{0};
    std::string error;  ///< transport error text

    /// First header with this (lower-case) name.
    std::optional<std::string> Header(std::string_view name) const;
};

/// The result of one attempt, in the taxonomy of DESIGN section 2.
struct DeliveryResult {
    std::optional<core::ErrorClass> error_class;  ///< nullopt: delivered
    int http_status = 0;
    std::string reason;
    std::string external_id;
    std::optional<std::chrono::milliseconds> retry_after;
    bool ambiguous = false;  ///< the target may or may not have acted on it
    /// When the source produced what was delivered (an inventory level's as_of), Unix ms: the sync delay.
    std::optional<std::int64_t> source_ms;

    bool Succeeded() const { return !error_class || *error_class == core::ErrorClass::kDuplicate; }
};

class HttpClient {
  public:
    explicit HttpClient(std::chrono::milliseconds timeout);
    ~HttpClient();
    HttpClient(const HttpClient&) = delete;
    HttpClient& operator=(const HttpClient&) = delete;
    /// Blocking; never throws for transport failures (they are in the answer).
    HttpAnswer Send(const HttpCall& call);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

class Connector {
  public:
    virtual ~Connector() = default;
    virtual const std::string& Name() const = 0;
    /// The most HTTP calls one delivery makes (each bounded by the connector's timeout): leases
    /// are sized by it.
    virtual int MaxCallsPerDelivery() const { return 1; }
    virtual DeliveryResult Deliver(const store::DeliveryTask& task, HttpClient& client);
    /// How many deliveries one call may carry (a batch endpoint); 1: one at a time.
    virtual int MaxBatch() const { return 1; }
    /// Whether `task` may join a batch that starts with `first`.
    virtual bool Batchable(const store::DeliveryTask& /*first*/, const store::DeliveryTask& /*task*/) const {
        return false;
    }
    /// One result per task, in order; the default delivers them one by one.
    virtual std::vector<DeliveryResult> DeliverBatch(const std::vector<store::DeliveryTask>& tasks, HttpClient& client);
    /// nullopt: the connector cannot tell (no lookup); otherwise whether the entity already exists.
    virtual std::optional<DeliveryResult> Lookup(const store::DeliveryTask& task, HttpClient& client);

  protected:
    /// The one request of a single-request connector (multi-step connectors override Deliver).
    virtual HttpCall Prepare(const store::DeliveryTask& task);
    virtual DeliveryResult Classify(const store::DeliveryTask& task, const HttpAnswer& answer);
};

/// The default classification of a transport failure or an HTTP answer (2xx delivered, 409
/// duplicate, 429 throttled, 408/5xx transient, 401/403 auth, other 4xx permanent), with the
/// server's wait from Retry-After (seconds or an HTTP date), X-Rate-Limit-Reset or x-retry-after.
DeliveryResult ClassifyAnswer(const HttpAnswer& answer);
std::optional<std::chrono::milliseconds> RetryAfterOf(const HttpAnswer& answer,
                                                      std::chrono::system_clock::time_point now);

/// The `http` connector: POSTs each event envelope to base_url + path with Idempotency-Key,
/// traceparent and, when `signing_secret` is set, `sha256=<hex HMAC of the body>`.
std::unique_ptr<Connector> MakeHttpConnector(const config::ConnectorSettings& settings);
/// The `erpnext` connector: Sales Orders through the Frappe REST API (see docs/connectors.md).
std::unique_ptr<Connector> MakeErpNextConnector(const config::ConnectorSettings& settings);
/// The `odoo` connector: confirmed sale.orders and credit notes over JSON-2 or JSON-RPC.
std::unique_ptr<Connector> MakeOdooConnector(const config::ConnectorSettings& settings);
/// The `shipstation` connector: orders upserted by orderKey through ShipStation V1.
std::unique_ptr<Connector> MakeShipStationConnector(const config::ConnectorSettings& settings);
/// The `shipbob` connector: orders created by reference_id through the ShipBob API.
std::unique_ptr<Connector> MakeShipBobConnector(const config::ConnectorSettings& settings);
/// The `woocommerce` connector (the implicit `woo:<store>` lanes): stock through the batch endpoints,
/// order status and a tracking note for shipments.
std::unique_ptr<Connector> MakeWooCommerceConnector(const config::ConnectorSettings& settings);
std::unique_ptr<Connector> MakeConnector(const config::ConnectorSettings& settings);

/// Text from a remote system made safe to store and show: valid UTF-8 (invalid bytes become
/// U+FFFD), control characters other than newline and tab as spaces, at most `max_bytes`, cut on a character boundary.
std::string CleanText(std::string_view in, std::size_t max_bytes = 500);

/// Percent-encoding of a URL path segment or query value (RFC 3986 unreserved characters kept).
std::string UrlEncode(std::string_view text);

/// The `trace_id` of an event envelope without parsing the whole document (our own serialiser
/// writes it as a plain string member); empty when absent.
std::string EnvelopeTraceId(std::string_view envelope);

/// W3C traceparent for a trace id (32 hex) and a span derived from the delivery.
std::string TraceParent(const std::string& trace_id, std::int64_t delivery_id, int attempt);

}  // namespace orderbridge::dispatch

#pragma once
// Typed configuration of the daemon: one struct per YAML section. Defaults live here and only here
// (docs/configuration.md documents them; tests/unit/config_docs_test checks that both agree).
// Plain values: copy freely, no thread-safety concerns once loaded.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "orderbridge/core/duration.hpp"
#include "orderbridge/core/log.hpp"

namespace orderbridge::config {

using core::Duration;
using namespace std::chrono_literals;

enum class Role { kViewer, kOperator };

struct AdminToken {
    std::string name;
    std::string token;  ///< secret: never logged
    Role role = Role::kViewer;
};

struct ServerSettings {
    std::string listen = "127.0.0.1:8080";
    std::vector<AdminToken> admin_tokens;
    std::uint64_t max_body_bytes = 1048576;
    std::uint64_t max_header_bytes = 16384;
    int io_threads = 0;  ///< 0: one per core
    int max_connections = 10000;
    Duration read_timeout = 30s;     ///< whole request, headers and body
    Duration idle_timeout = 60s;     ///< keep-alive connection waiting for its next request
    Duration write_timeout = 30s;    ///< writing one response
    Duration handler_timeout = 30s;  ///< a handler that has not answered by then gets 503
    Duration shutdown_grace = 10s;   ///< SIGTERM: in-flight requests get this long to finish
};

struct LogSettings {
    log::Level level = log::Level::kInfo;
    log::Format format = log::Format::kJson;
    std::string file;  ///< empty: standard error; SIGHUP reopens it
    bool access_log = true;
};

enum class StorageDriver { kSqlite, kPostgres };

struct SqliteSettings {
    std::string path = "data/orderbridge.db";
    Duration busy_timeout = 5s;
};

struct PostgresSettings {
    std::string dsn;  ///< secret (may hold a password)
    int pool_size = 8;
    Duration statement_timeout = 5s;
    Duration connect_timeout = 3s;
};

struct RetentionSettings {
    Duration raw_bodies = 168h;       ///< archived webhook bodies
    Duration finished_outbox = 168h;  ///< delivered outbox rows
    Duration interval = 10min;
    int batch_size = 500;
};

struct StorageSettings {
    StorageDriver driver = StorageDriver::kSqlite;
    SqliteSettings sqlite;
    PostgresSettings postgres;
    bool migrate_on_start = true;
    RetentionSettings retention;
    int writers = 0;              ///< ingest writer threads (each commits groups); 0: Writers() decides
    int max_batch = 256;          ///< deliveries per group commit at most
    Duration group_window = 1ms;  ///< a small group waits this long at most for more (0ms: never)
    Duration ack_timeout = 10s;   ///< a delivery not committed by then is answered 503
    int read_threads = 2;         ///< threads serving /v1 reads and actions

    /// The ingest writers to run: `writers` when set, else one on SQLite (it lets one writer in at a
    /// time) and two on PostgreSQL (one commits while the other writes its group; one alone left the
    /// cores idle while it waited for its commit, and three or four were no faster).
    int Writers() const {
        if (writers > 0) return writers;
        return driver == StorageDriver::kPostgres ? 2 : 1;
    }
};

enum class BusDriver { kStore, kKafka };

struct KafkaSettings {
    std::string brokers = "localhost:9092";
    std::string topic = "orderbridge.events.v1";
    std::string group_prefix = "orderbridge";
    std::map<std::string, std::string> options;  ///< raw librdkafka properties, at your own risk
};

struct BusSettings {
    BusDriver driver = BusDriver::kStore;
    KafkaSettings kafka;
};

struct PollerSettings {
    bool enabled = false;
    Duration interval = 5min;
};

struct WebhookWatchSettings {
    std::vector<std::string> topics;
    std::string delivery_url;
    Duration check_interval = 5min;
    bool repair = false;
};

struct RetrySettings {
    int max_attempts = 12;
    Duration initial_backoff = 1s;
    Duration max_backoff = 10min;
    Duration max_age = 48h;
};

/// REST API credentials of a store: the implicit `woo:<store id>` lane writes stock, order status and
/// tracking notes with them (and the poller and the watchdog read with them).
struct StoreApiSettings {
    std::string consumer_key;     ///< secret
    std::string consumer_secret;  ///< secret
    double rate_per_second = 5;
    int max_in_flight = 4;
    RetrySettings retry;
    Duration timeout = 10s;
    std::string oauth_signature_method = "HMAC-SHA256";  ///< over plain http only
};

enum class RuleAction { kOff, kWarn, kHold };

/// Business rules applied at ingest (issue: canonical model). Each is off, warn or hold.
struct RuleSettings {
    RuleAction line_without_sku = RuleAction::kHold;
    RuleAction currency_not_configured = RuleAction::kHold;  ///< only when `currencies` is given
    RuleAction totals_mismatch = RuleAction::kHold;
    RuleAction missing_shipping_address = RuleAction::kHold;
    RuleAction unknown_country = RuleAction::kHold;
    RuleAction non_positive_quantity = RuleAction::kHold;
};

struct StoreSettings {
    std::string id;
    std::string url;
    std::vector<std::string> webhook_secrets;  ///< secrets; several while one is rotated
    std::string signature_algorithm = "sha256";
    std::optional<StoreApiSettings> api;
    std::vector<std::string> currencies;          ///< empty: any currency
    std::vector<std::string> shipping_countries;  ///< checkout: where the store ships; empty: anywhere
    PollerSettings poller;
    WebhookWatchSettings webhooks;
    RuleSettings rules;
};

enum class ConnectorKind { kErpnext, kOdoo, kShipstation, kShipbob, kHttp, kWoocommerce };

struct ConnectorAuth {
    std::string api_key;     ///< secret
    std::string api_secret;  ///< secret
    std::string username;
    std::string password;  ///< secret
    std::string token;     ///< secret
};

struct RoutingFilter {
    std::vector<std::string> store;
    std::vector<std::string> canonical_status;
    std::vector<std::string> shipping_country;
    std::vector<std::string> sku_prefix;
    std::vector<std::string> warehouse;
};

struct RateLimitSettings {
    double per_second = 10;
    int burst = 20;
    int max_in_flight = 4;
};

struct BreakerSettings {
    double failure_ratio = 0.5;
    int min_requests = 20;
    Duration open_for = 30s;
};

struct ConnectorSettings {
    std::string name;
    ConnectorKind kind = ConnectorKind::kHttp;
    std::string base_url;
    ConnectorAuth auth;
    std::vector<std::string> subscribe;
    RoutingFilter when;
    RateLimitSettings rate_limit;
    RetrySettings retry;
    BreakerSettings circuit_breaker;
    Duration timeout = 10s;
    // kind: http
    std::string path = "/";
    std::string signing_secret;  ///< secret; empty: no signature header
    std::string signature_header = "X-Orderbridge-Signature";
    // kind: erpnext
    std::string company;    ///< required
    std::string warehouse;  ///< set_warehouse of every Sales Order; required
    std::string customer_group = "Individual";
    std::string territory = "All Territories";
    int delivery_days = 3;         ///< delivery date policy: order date + this many days
    std::string shipping_account;  ///< shipping as an "Actual" tax row on this account; empty: not sent
    std::string tax_account;       ///< WooCommerce's tax total as an "Actual" row; empty: not sent
    /// erpnext: non-stock Item of money-only credit notes (refund.created; empty: refunds refused);
    /// odoo (`refund_product`): default_code of the credit note's product (empty: a line without one)
    std::string refund_item;
    // kinds erpnext, odoo, shipbob: stock levels read by polling (Bin by modified, stock.quant by
    // write_date, ShipBob inventory levels)
    PollerSettings stock_poll = {false, std::chrono::minutes(1)};
    // kind: odoo
    std::string transport = "json2";  ///< json2 (Odoo 19+) | jsonrpc (legacy /jsonrpc)
    std::string database;             ///< jsonrpc: required; json2: sent as X-Odoo-Database when set
    std::string shipping_product;     ///< default_code of the delivery product of shipping lines; empty: none
    // kind: shipstation
    std::int64_t store_id = 0;  ///< advancedOptions.storeId of the orders it creates; 0: ShipStation's default
    // kind: shipbob
    std::int64_t channel_id = 0;               ///< shipbob_channel_id of write calls; required
    std::string shipping_method = "Standard";  ///< ShipBob ship option of the orders it creates
    /// Inbound webhooks at POST /webhooks/<name>: shipstation compares it with `?token=`, erpnext uses
    /// it as the Webhook Secret of X-Frappe-Webhook-Signature. Empty: inbound calls are refused (401).
    std::string inbound_secret;                          ///< secret
    std::string store;                                   ///< kind woocommerce (implicit lanes): the store it writes to
    std::string oauth_signature_method = "HMAC-SHA256";  ///< kind woocommerce over plain http
};

struct InventorySettings {
    Duration coalesce_window = 200ms;  ///< levels of one SKU arriving within it become one write
};

struct CheckoutSettings {
    std::string live_check;   ///< an erpnext connector asked live for the cart's stock; empty: the cache only
    Duration budget = 200ms;  ///< how long a live check may take before the cache answers (stale)
};

struct ModelSettings {
    bool validate_events = false;
};

struct Settings {
    ServerSettings server;
    LogSettings log;
    StorageSettings storage;
    BusSettings bus;
    std::vector<StoreSettings> stores;
    std::vector<ConnectorSettings> connectors;
    ModelSettings model;
    InventorySettings inventory;
    CheckoutSettings checkout;
};

/// The name of a store's implicit WooCommerce lane.
std::string WooLaneName(const std::string& store_id);
/// Every store with `api` credentials gets a `woocommerce` lane named `woo:<store id>` that takes
/// shipment and inventory events for that store (added after validation, by the loader).
void AddImplicitLanes(Settings& settings);

std::string_view ToString(ConnectorKind kind);
std::string_view ToString(Role role);

}  // namespace orderbridge::config

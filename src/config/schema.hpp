#pragma once
// The configuration schema, written once as `Describe(visitor, section)` functions. The same
// description drives the YAML reader (loader.cpp) and the key-path listing used to check
// docs/configuration.md. A visitor provides:
//   Field(key, value, Spec)        scalar, list of scalars, string map, or enum
//   Object(key, struct)            nested mapping, described by its own Describe
//   OptionalObject(key, optional)  nested mapping that may be absent
//   ObjectList(key, vector)        sequence of mappings
//   ForKind(kind)                  whether kind-specific keys of `kind` apply here
#include <functional>
#include <sstream>
#include <string>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::config::schema {

template <class T>
struct Spec {
    bool required = false;
    std::function<std::string(const T&)> check;  ///< returns a problem message, or empty
};

template <class T>
Spec<T> Required() {
    return Spec<T>{true, {}};
}

template <class T>
std::function<std::string(const T&)> Between(T lo, T hi) {
    return [lo, hi](const T& v) -> std::string {
        if (v >= lo && v <= hi) return {};
        std::ostringstream out;
        out << "must be between " << lo << " and " << hi << ", got " << v;
        return out.str();
    };
}

inline std::function<std::string(const Duration&)> PositiveDuration() {
    return [](const Duration& d) -> std::string { return d.count() > 0 ? "" : "must be greater than 0"; };
}

template <class V>
void Describe(V& v, AdminToken& t) {
    v.Field("name", t.name, Required<std::string>());
    v.Field("token", t.token, Required<std::string>());
    v.Field("role", t.role);
}

template <class V>
void Describe(V& v, ServerSettings& s) {
    v.Field("listen", s.listen);
    v.ObjectList("admin_tokens", s.admin_tokens);
    v.Field("max_body_bytes", s.max_body_bytes, {false, Between<std::uint64_t>(1024, 64ull << 20)});
    v.Field("max_header_bytes", s.max_header_bytes, {false, Between<std::uint64_t>(1024, 1ull << 20)});
    v.Field("io_threads", s.io_threads, {false, Between(0, 256)});
    v.Field("max_connections", s.max_connections, {false, Between(1, 1'000'000)});
    v.Field("read_timeout", s.read_timeout, {false, PositiveDuration()});
    v.Field("idle_timeout", s.idle_timeout, {false, PositiveDuration()});
    v.Field("write_timeout", s.write_timeout, {false, PositiveDuration()});
    v.Field("handler_timeout", s.handler_timeout, {false, PositiveDuration()});
    v.Field("shutdown_grace", s.shutdown_grace);
}

template <class V>
void Describe(V& v, LogSettings& s) {
    v.Field("level", s.level);
    v.Field("format", s.format);
    v.Field("file", s.file);
    v.Field("access_log", s.access_log);
}

template <class V>
void Describe(V& v, SqliteSettings& s) {
    v.Field("path", s.path);
    v.Field("busy_timeout", s.busy_timeout, {false, PositiveDuration()});
}

template <class V>
void Describe(V& v, PostgresSettings& s) {
    v.Field("dsn", s.dsn);
    v.Field("pool_size", s.pool_size, {false, Between(1, 256)});
    v.Field("statement_timeout", s.statement_timeout, {false, PositiveDuration()});
    v.Field("connect_timeout", s.connect_timeout, {false, PositiveDuration()});
}

template <class V>
void Describe(V& v, RetentionSettings& s) {
    v.Field("raw_bodies", s.raw_bodies, {false, PositiveDuration()});
    v.Field("finished_outbox", s.finished_outbox, {false, PositiveDuration()});
    v.Field("interval", s.interval, {false, PositiveDuration()});
    v.Field("batch_size", s.batch_size, {false, Between(1, 100'000)});
}

template <class V>
void Describe(V& v, StorageSettings& s) {
    v.Field("driver", s.driver);
    v.Object("sqlite", s.sqlite);
    v.Object("postgres", s.postgres);
    v.Field("migrate_on_start", s.migrate_on_start);
    v.Object("retention", s.retention);
    v.Field("writers", s.writers, {false, Between(0, 64)});
    v.Field("max_batch", s.max_batch, {false, Between(1, 10'000)});
    v.Field("group_window", s.group_window, {false, [](const Duration& d) -> std::string {
                                                 return d <= std::chrono::seconds(1) ? ""
                                                                                     : "must be between 0ms and 1s";
                                             }});
    v.Field("ack_timeout", s.ack_timeout, {false, PositiveDuration()});
    v.Field("read_threads", s.read_threads, {false, Between(1, 256)});
}

template <class V>
void Describe(V& v, KafkaSettings& s) {
    v.Field("brokers", s.brokers);
    v.Field("topic", s.topic);
    v.Field("group_prefix", s.group_prefix);
    v.Field("options", s.options);
}

template <class V>
void Describe(V& v, BusSettings& s) {
    v.Field("driver", s.driver);
    v.Object("kafka", s.kafka);
}

template <class V>
void Describe(V& v, RetrySettings& s) {
    v.Field("max_attempts", s.max_attempts, {false, Between(1, 1000)});
    v.Field("initial_backoff", s.initial_backoff, {false, PositiveDuration()});
    v.Field("max_backoff", s.max_backoff, {false, PositiveDuration()});
    v.Field("max_age", s.max_age, {false, PositiveDuration()});
}

template <class V>
void Describe(V& v, StoreApiSettings& s) {
    v.Field("consumer_key", s.consumer_key, Required<std::string>());
    v.Field("consumer_secret", s.consumer_secret, Required<std::string>());
    v.Field("rate_per_second", s.rate_per_second, {false, Between(0.01, 10'000.0)});
    v.Field("max_in_flight", s.max_in_flight, {false, Between(1, 1024)});
    v.Object("retry", s.retry);
    v.Field("timeout", s.timeout, {false, PositiveDuration()});
    v.Field("oauth_signature_method", s.oauth_signature_method);
}

template <class V>
void Describe(V& v, PollerSettings& s) {
    v.Field("enabled", s.enabled);
    v.Field("interval", s.interval, {false, PositiveDuration()});
}

template <class V>
void Describe(V& v, WebhookWatchSettings& s) {
    v.Field("topics", s.topics);
    v.Field("delivery_url", s.delivery_url);
    v.Field("check_interval", s.check_interval, {false, PositiveDuration()});
    v.Field("repair", s.repair);
}

template <class V>
void Describe(V& v, RuleSettings& s) {
    v.Field("line_without_sku", s.line_without_sku);
    v.Field("currency_not_configured", s.currency_not_configured);
    v.Field("totals_mismatch", s.totals_mismatch);
    v.Field("missing_shipping_address", s.missing_shipping_address);
    v.Field("unknown_country", s.unknown_country);
    v.Field("non_positive_quantity", s.non_positive_quantity);
}

template <class V>
void Describe(V& v, StoreSettings& s) {
    v.Field("id", s.id, Required<std::string>());
    v.Field("url", s.url);
    v.Field("webhook_secrets", s.webhook_secrets);
    v.Field("signature_algorithm", s.signature_algorithm);
    v.OptionalObject("api", s.api);
    v.Field("currencies", s.currencies);
    v.Field("shipping_countries", s.shipping_countries);
    v.Object("poller", s.poller);
    v.Object("webhooks", s.webhooks);
    v.Object("rules", s.rules);
}

template <class V>
void Describe(V& v, ConnectorAuth& a) {
    v.Field("api_key", a.api_key);
    v.Field("api_secret", a.api_secret);
    v.Field("username", a.username);
    v.Field("password", a.password);
    v.Field("token", a.token);
}

template <class V>
void Describe(V& v, RoutingFilter& f) {
    v.Field("store", f.store);
    v.Field("canonical_status", f.canonical_status);
    v.Field("shipping_country", f.shipping_country);
    v.Field("sku_prefix", f.sku_prefix);
    v.Field("warehouse", f.warehouse);
}

template <class V>
void Describe(V& v, RateLimitSettings& s) {
    v.Field("per_second", s.per_second, {false, Between(0.001, 100'000.0)});
    v.Field("burst", s.burst, {false, Between(1, 100'000)});
    v.Field("max_in_flight", s.max_in_flight, {false, Between(1, 4096)});
}

template <class V>
void Describe(V& v, BreakerSettings& s) {
    v.Field("failure_ratio", s.failure_ratio, {false, Between(0.01, 1.0)});
    v.Field("min_requests", s.min_requests, {false, Between(1, 100'000)});
    v.Field("open_for", s.open_for, {false, PositiveDuration()});
}

template <class V>
void Describe(V& v, ConnectorSettings& c) {
    v.Field("name", c.name, Required<std::string>());
    v.Field("kind", c.kind, Required<ConnectorKind>());
    v.Field("base_url", c.base_url, Required<std::string>());
    v.Object("auth", c.auth);
    v.Field("subscribe", c.subscribe);
    v.Object("when", c.when);
    v.Object("rate_limit", c.rate_limit);
    v.Object("retry", c.retry);
    v.Object("circuit_breaker", c.circuit_breaker);
    v.Field("timeout", c.timeout, {false, PositiveDuration()});
    if (v.ForKind(c.kind, ConnectorKind::kHttp)) {
        v.Field("path", c.path);
        v.Field("signing_secret", c.signing_secret);
        v.Field("signature_header", c.signature_header);
    }
    if (v.ForKind(c.kind, ConnectorKind::kErpnext)) {
        v.Field("company", c.company);
        v.Field("warehouse", c.warehouse);
        v.Field("customer_group", c.customer_group);
        v.Field("territory", c.territory);
        v.Field("delivery_days", c.delivery_days, {false, Between(0, 365)});
        v.Field("shipping_account", c.shipping_account);
        v.Field("tax_account", c.tax_account);
        v.Field("refund_item", c.refund_item);
        v.Field("webhook_secret", c.inbound_secret);
        v.Object("stock_poll", c.stock_poll);
    }
    if (v.ForKind(c.kind, ConnectorKind::kOdoo)) {
        v.Field("transport", c.transport);
        v.Field("database", c.database);
        v.Field("shipping_product", c.shipping_product);
        v.Field("refund_product", c.refund_item);
        v.Object("stock_poll", c.stock_poll);
    }
    if (v.ForKind(c.kind, ConnectorKind::kShipstation)) {
        v.Field("store_id", c.store_id, {false, Between<std::int64_t>(0, 1'000'000'000'000)});
        v.Field("inbound_token", c.inbound_secret);
    }
    if (v.ForKind(c.kind, ConnectorKind::kShipbob)) {
        v.Field("channel_id", c.channel_id, {false, Between<std::int64_t>(0, 1'000'000'000'000)});
        v.Field("shipping_method", c.shipping_method);
        v.Field("webhook_secret", c.inbound_secret);
        v.Object("stock_poll", c.stock_poll);
    }
}

template <class V>
void Describe(V& v, InventorySettings& s) {
    v.Field("coalesce_window", s.coalesce_window, {false, PositiveDuration()});
}

template <class V>
void Describe(V& v, CheckoutSettings& s) {
    v.Field("live_check", s.live_check);
    v.Field("budget", s.budget, {false, PositiveDuration()});
}

template <class V>
void Describe(V& v, ModelSettings& s) {
    v.Field("validate_events", s.validate_events);
}

template <class V>
void Describe(V& v, Settings& s) {
    v.Object("server", s.server);
    v.Object("log", s.log);
    v.Object("storage", s.storage);
    v.Object("bus", s.bus);
    v.ObjectList("stores", s.stores);
    v.ObjectList("connectors", s.connectors);
    v.Object("model", s.model);
    v.Object("inventory", s.inventory);
    v.Object("checkout", s.checkout);
}

}  // namespace orderbridge::config::schema

#include <gtest/gtest.h>

#include <map>

#include "config_support.hpp"
#include "orderbridge/config/loader.hpp"

namespace orderbridge::config {
namespace {

using test_support::FakeEnvironment;
using test_support::Messages;

bool HasProblem(const LoadResult& r, const std::string& text) {
    for (const auto& p : r.problems) {
        if (p.ToString().find(text) != std::string::npos) return true;
    }
    return false;
}

TEST(ConfigTest, EmptyDocumentGivesDocumentedDefaults) {
    FakeEnvironment env;
    LoadResult r = LoadFromString("", env);
    ASSERT_TRUE(r.Ok());
    EXPECT_EQ(r.settings.server.listen, "127.0.0.1:8080");
    EXPECT_EQ(r.settings.server.max_body_bytes, 1048576u);
    EXPECT_EQ(r.settings.server.io_threads, 0);
    EXPECT_EQ(r.settings.log.level, log::Level::kInfo);
    EXPECT_EQ(r.settings.log.format, log::Format::kJson);
    EXPECT_EQ(r.settings.storage.driver, StorageDriver::kSqlite);
    EXPECT_EQ(r.settings.storage.sqlite.path, "data/orderbridge.db");
    EXPECT_EQ(r.settings.storage.postgres.pool_size, 8);
    EXPECT_EQ(r.settings.storage.group_window, std::chrono::milliseconds(1));
    EXPECT_EQ(r.settings.bus.driver, BusDriver::kStore);
    EXPECT_EQ(r.settings.bus.kafka.topic, "orderbridge.events.v1");
}

// Unset, the writer count follows the driver: SQLite lets one writer in at a time, PostgreSQL
// commits one group while another is written.
TEST(ConfigTest, IngestWritersFollowTheDriverUnlessSet) {
    FakeEnvironment env;
    env.vars = {{"OB_PG_DSN", "postgresql://x"}};
    const LoadResult sqlite = LoadFromString("", env);
    ASSERT_TRUE(sqlite.Ok());
    EXPECT_EQ(sqlite.settings.storage.writers, 0);
    EXPECT_EQ(sqlite.settings.storage.Writers(), 1);
    const LoadResult pg = LoadFromString("storage: {driver: postgres, postgres: {dsn: \"${OB_PG_DSN}\"}}", env);
    ASSERT_TRUE(pg.Ok()) << ::testing::PrintToString(Messages(pg));
    EXPECT_EQ(pg.settings.storage.Writers(), 2);
    const LoadResult four =
        LoadFromString("storage: {driver: postgres, postgres: {dsn: \"${OB_PG_DSN}\"}, writers: 4}", env);
    ASSERT_TRUE(four.Ok()) << ::testing::PrintToString(Messages(four));
    EXPECT_EQ(four.settings.storage.Writers(), 4);
    EXPECT_FALSE(LoadFromString("storage: {writers: -1}", env).Ok());
}

TEST(ConfigTest, TheShippedExampleIsValid) {
    FakeEnvironment env;
    for (const char* name : {"OB_ADMIN_TOKEN", "OB_VIEWER_TOKEN", "OB_CHECKOUT_TOKEN", "OB_PG_DSN", "WOO_MAIN_SECRET",
                             "WOO_CK", "WOO_CS", "ERP_KEY", "ERP_SECRET", "ERP_WEBHOOK_SECRET", "SHIPSTATION_KEY",
                             "SHIPSTATION_SECRET", "SHIPSTATION_WEBHOOK_TOKEN"})
        env.vars[name] = std::string("value-of-") + name + "-0123456789";
    const LoadResult r = LoadFromFile(std::string(ORDERBRIDGE_SOURCE_DIR) + "/config/orderbridge.example.yaml", env);
    EXPECT_TRUE(r.problems.empty()) << ::testing::PrintToString(Messages(r));
    // Two connectors and the store's implicit write-back lane.
    ASSERT_EQ(r.settings.connectors.size(), 3u);
    EXPECT_EQ(r.settings.connectors[2].name, "woo:main");
    EXPECT_EQ(r.settings.checkout.live_check, "erp");
}

TEST(ConfigTest, ReadsTheDesignExample) {
    FakeEnvironment env;
    env.vars = {{"OB_ADMIN_TOKEN", "0123456789abcdef0123"},
                {"WOO_MAIN_SECRET", "s3cr3t"},
                {"WOO_CK", "ck_1"},
                {"WOO_CS", "cs_1"},
                {"ERP_KEY", "k"},
                {"ERP_SECRET", "s"},
                {"OB_PG_DSN", "postgresql://x"}};
    const std::string yaml = R"(
server:
  listen: "0.0.0.0:9090"
  admin_tokens: [{name: ops, token: "${OB_ADMIN_TOKEN}", role: operator}]
  max_body_bytes: 2097152
  io_threads: 2
log: {level: debug, format: text}
storage:
  driver: postgres
  postgres: {dsn: "${OB_PG_DSN}", pool_size: 4}
bus:
  driver: kafka
  kafka: {brokers: "b1:9092,b2:9092", topic: "t"}
stores:
  - id: main
    url: "https://shop.example.com"
    webhook_secrets: ["${WOO_MAIN_SECRET}"]
    api: {consumer_key: "${WOO_CK}", consumer_secret: "${WOO_CS}"}
    currencies: [USD]
    poller: {enabled: true, interval: 5m}
    webhooks: {topics: [order.created, order.updated, product.updated],
               delivery_url: "https://bridge.example.com/webhooks/woocommerce/main",
               check_interval: 5m, repair: false}
connectors:
  - name: erp
    kind: http
    base_url: "https://erp.example.com"
    auth: {api_key: "${ERP_KEY}", api_secret: "${ERP_SECRET}"}
    subscribe: [order.created, order.updated, refund.created]
    when: {shipping_country: [US, CA]}
    rate_limit: {per_second: 20, burst: 40, max_in_flight: 8}
    retry: {max_attempts: 12, initial_backoff: 1s, max_backoff: 10m, max_age: 48h}
    circuit_breaker: {failure_ratio: 0.5, min_requests: 20, open_for: 30s}
)";
    LoadResult r = LoadFromString(yaml, env);
    ASSERT_TRUE(r.Ok()) << ::testing::PrintToString(Messages(r));
    const Settings& s = r.settings;
    EXPECT_EQ(s.server.listen, "0.0.0.0:9090");
    ASSERT_EQ(s.server.admin_tokens.size(), 1u);
    EXPECT_EQ(s.server.admin_tokens[0].token, "0123456789abcdef0123");
    EXPECT_EQ(s.server.admin_tokens[0].role, Role::kOperator);
    EXPECT_EQ(s.log.format, log::Format::kText);
    EXPECT_EQ(s.storage.driver, StorageDriver::kPostgres);
    EXPECT_EQ(s.storage.postgres.pool_size, 4);
    EXPECT_EQ(s.bus.driver, BusDriver::kKafka);
    ASSERT_EQ(s.stores.size(), 1u);
    EXPECT_EQ(s.stores[0].webhook_secrets, std::vector<std::string>{"s3cr3t"});
    ASSERT_TRUE(s.stores[0].api.has_value());
    EXPECT_EQ(s.stores[0].api->consumer_key, "ck_1");
    EXPECT_TRUE(s.stores[0].poller.enabled);
    EXPECT_EQ(s.stores[0].poller.interval, std::chrono::minutes(5));
    EXPECT_EQ(s.stores[0].webhooks.topics.size(), 3u);
    // The configured connector, then the store's implicit write-back lane.
    ASSERT_EQ(s.connectors.size(), 2u);
    const auto& woo = s.connectors[1];
    EXPECT_EQ(woo.name, "woo:" + s.stores[0].id);
    EXPECT_EQ(woo.kind, ConnectorKind::kWoocommerce);
    EXPECT_EQ(woo.base_url, s.stores[0].url);
    EXPECT_EQ(woo.auth.api_key, "ck_1");
    EXPECT_EQ(woo.when.store, std::vector<std::string>{s.stores[0].id});
    EXPECT_EQ(woo.subscribe, (std::vector<std::string>{"shipment.created", "shipment.updated", "inventory.updated"}));
    EXPECT_DOUBLE_EQ(woo.rate_limit.per_second, s.stores[0].api->rate_per_second);
    const auto& c = s.connectors[0];
    EXPECT_EQ(c.kind, ConnectorKind::kHttp);
    EXPECT_EQ(c.auth.api_secret, "s");
    EXPECT_EQ(c.when.shipping_country, (std::vector<std::string>{"US", "CA"}));
    EXPECT_DOUBLE_EQ(c.rate_limit.per_second, 20);
    EXPECT_EQ(c.rate_limit.burst, 40);
    EXPECT_EQ(c.retry.max_backoff, std::chrono::minutes(10));
    EXPECT_EQ(c.retry.max_age, std::chrono::hours(48));
    EXPECT_EQ(c.circuit_breaker.open_for, std::chrono::seconds(30));
}

TEST(ConfigTest, UnknownKeyIsReportedWithPathAndSuggestion) {
    FakeEnvironment env;
    const std::string yaml = R"(
connectors:
  - {name: a, kind: http, base_url: "http://a"}
  - name: b
    kind: http
    base_url: "http://b"
    retry: {max_attemps: 3}
)";
    LoadResult r = LoadFromString(yaml, env);
    ASSERT_EQ(r.problems.size(), 1u) << ::testing::PrintToString(Messages(r));
    EXPECT_EQ(r.problems[0].path, "connectors[1].retry.max_attemps");
    EXPECT_EQ(r.problems[0].message, "unknown key (did you mean max_attempts?)");
    EXPECT_EQ(r.problems[0].line, 7);
}

TEST(ConfigTest, EveryProblemIsReportedInOneRun) {
    FakeEnvironment env;
    const std::string yaml = R"(
server:
  listen: "nohost"
  max_body_bytes: ten
  io_threads: -1
log: {level: loud}
storage: {driver: postgres, group_window: 2s}
bus: {driver: rabbit}
stores:
  - id: "Main Store"
    webhook_secrets: []
connectors:
  - name: erp
    kind: http
    base_url: "https://erp"
    subscribe: [order.exploded]
    retry: {initial_backoff: 5 minutes}
)";
    LoadResult r = LoadFromString(yaml, env);
    EXPECT_TRUE(HasProblem(r, "server.listen: must be host:port"));
    EXPECT_TRUE(HasProblem(r, "server.max_body_bytes: must be a whole number, got 'ten'"));
    EXPECT_TRUE(HasProblem(r, "server.io_threads: must be between 0 and 256, got -1"));
    EXPECT_TRUE(HasProblem(r, "log.level: must be one of trace|debug|info|warn|error|off, got 'loud'"));
    EXPECT_TRUE(HasProblem(r, "storage.postgres.dsn: is required when storage.driver is postgres"));
    EXPECT_TRUE(HasProblem(r, "storage.group_window: must be between 0ms and 1s"));
    EXPECT_TRUE(HasProblem(r, "bus.driver: must be one of store|kafka, got 'rabbit'"));
    EXPECT_TRUE(HasProblem(r, "stores[0].id: must be 1 to 20 characters"));
    EXPECT_TRUE(HasProblem(r, "stores[0].webhook_secrets: at least one secret is required"));
    EXPECT_TRUE(HasProblem(r, "connectors[0].subscribe[0]: unknown event type 'order.exploded'"));
    EXPECT_TRUE(HasProblem(r, "connectors[0].retry.initial_backoff: must be a duration"));
    EXPECT_EQ(r.problems.size(), 11u) << ::testing::PrintToString(Messages(r));
}

TEST(ConfigTest, AGroupWindowMustBeShorterThanTheAckTimeout) {
    FakeEnvironment env;
    // Each small group would be answered 503 before its commit, and sent again by the shop.
    LoadResult r = LoadFromString("storage: {group_window: 500ms, ack_timeout: 500ms}", env);
    EXPECT_EQ(Messages(r), std::vector<std::string>{"storage.group_window: must be shorter than storage.ack_timeout"});
    EXPECT_TRUE(LoadFromString("storage: {group_window: 400ms, ack_timeout: 500ms}", env).Ok());
}

TEST(ConfigTest, ErpNextConnectorsNeedTheirCompanyWarehouseAndKeys) {
    FakeEnvironment env;
    LoadResult bad = LoadFromString(R"(
connectors:
  - name: erp
    kind: erpnext
    base_url: "https://erp.example.com"
    subscribe: [order.created, refund.created, inventory.updated]
    path: /nope
)",
                                    env);
    EXPECT_TRUE(HasProblem(bad, "connectors[0].company: is required for kind erpnext"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].warehouse: is required for kind erpnext"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].auth: api_key and api_secret are required for kind erpnext"));
    EXPECT_TRUE(
        HasProblem(bad, "connectors[0].subscribe[2]: kind erpnext takes order events, refund.created and shipment.*"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].refund_item: is required to subscribe to refund.created"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].path: unknown key")) << "http keys do not apply to erpnext";
    LoadResult good = LoadFromString(R"(
connectors:
  - name: erp
    kind: erpnext
    base_url: "https://erp.example.com"
    auth: {api_key: k, api_secret: s}
    subscribe: ["order.*"]
    company: "Acme Ltd"
    warehouse: "Stores - ACME"
    delivery_days: 5
)",
                                     env);
    EXPECT_TRUE(good.problems.empty()) << ::testing::PrintToString(Messages(good));
    EXPECT_EQ(good.settings.connectors.at(0).delivery_days, 5);
    EXPECT_EQ(good.settings.connectors.at(0).customer_group, "Individual");
}

TEST(ConfigTest, ShipBobConnectorsNeedTheirTokenChannelAndSigningSecret) {
    FakeEnvironment env;
    LoadResult bad = LoadFromString(R"(
connectors:
  - name: fulfil
    kind: shipbob
    base_url: "https://api.shipbob.com/2025-07"
    subscribe: [order.created, inventory.updated]
    webhook_secret: "plain-secret"
    store_id: 5
)",
                                    env);
    EXPECT_TRUE(HasProblem(bad, "connectors[0].auth.token: is required for kind shipbob"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].channel_id: is required for kind shipbob"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].subscribe[1]: kind shipbob takes order events"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].webhook_secret: must be ShipBob's signing secret"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].store_id: unknown key")) << "shipstation keys do not apply";
    LoadResult good = LoadFromString(R"(
connectors:
  - name: fulfil
    kind: shipbob
    base_url: "https://api.shipbob.com/2025-07"
    auth: {token: pat}
    channel_id: 1234
    subscribe: ["order.*"]
)",
                                     env);
    EXPECT_TRUE(good.problems.empty()) << ::testing::PrintToString(Messages(good));
    EXPECT_EQ(good.settings.connectors.at(0).channel_id, 1234);
    EXPECT_EQ(good.settings.connectors.at(0).shipping_method, "Standard");
}

TEST(ConfigTest, OdooConnectorsNeedTheirKeyAndForJsonRpcALoginAndDatabase) {
    FakeEnvironment env;
    LoadResult bad = LoadFromString(R"(
connectors:
  - name: odoo
    kind: odoo
    base_url: "https://acme.odoo.com"
    transport: xmlrpc
    subscribe: [order.created, inventory.updated]
    company: "Acme"
  - name: odoo-legacy
    kind: odoo
    base_url: "https://acme.odoo.com"
    transport: jsonrpc
    auth: {api_key: k}
)",
                                    env);
    EXPECT_TRUE(HasProblem(bad, "connectors[0].transport: must be json2 (Odoo 19+) or jsonrpc"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].auth.api_key: is required for kind odoo"));
    EXPECT_TRUE(
        HasProblem(bad, "connectors[0].subscribe[1]: kind odoo takes order events, refund.created and shipment.*"));
    EXPECT_TRUE(HasProblem(bad, "connectors[0].company: unknown key")) << "erpnext keys do not apply to odoo";
    EXPECT_TRUE(HasProblem(bad, "connectors[1].auth.username: is required for transport jsonrpc"));
    EXPECT_TRUE(HasProblem(bad, "connectors[1].database: is required for transport jsonrpc"));
    LoadResult good = LoadFromString(R"(
connectors:
  - name: odoo
    kind: odoo
    base_url: "https://acme.odoo.com"
    auth: {api_key: k}
    refund_product: WOO-REFUND
    subscribe: ["order.*", refund.created]
)",
                                     env);
    EXPECT_TRUE(good.problems.empty()) << ::testing::PrintToString(Messages(good));
    EXPECT_EQ(good.settings.connectors.at(0).transport, "json2");
    EXPECT_EQ(good.settings.connectors.at(0).refund_item, "WOO-REFUND");
}

TEST(ConfigTest, WrongShapesAreNamed) {
    FakeEnvironment env;
    LoadResult r = LoadFromString("server: [1, 2]\nstores: {id: x}\nlog: {format: [json]}\n", env);
    EXPECT_TRUE(HasProblem(r, "server: must be a mapping, got a list"));
    EXPECT_TRUE(HasProblem(r, "stores: must be a list, got a mapping"));
    EXPECT_TRUE(HasProblem(r, "log.format: must be a single value, got a list"));
}

TEST(ConfigTest, MissingRequiredKeysAreNamed) {
    FakeEnvironment env;
    LoadResult r = LoadFromString("connectors:\n  - {kind: http}\n", env);
    EXPECT_TRUE(HasProblem(r, "connectors[0].name: is required"));
    EXPECT_TRUE(HasProblem(r, "connectors[0].base_url: is required"));
}

TEST(ConfigTest, InvalidYamlIsOneProblemWithLine) {
    FakeEnvironment env;
    LoadResult r = LoadFromString("server:\n  listen: [unclosed\n", env);
    ASSERT_EQ(r.problems.size(), 1u);
    EXPECT_NE(r.problems[0].message.find("not valid YAML"), std::string::npos);
    EXPECT_GT(r.problems[0].line, 0);
}

TEST(ConfigTest, KindSpecificKeysOnlyForTheirKind) {
    FakeEnvironment env;
    LoadResult ok = LoadFromString(
        "connectors:\n  - {name: h, kind: http, base_url: \"http://h\", path: /events, signing_secret: abc}\n", env);
    ASSERT_TRUE(ok.Ok()) << ::testing::PrintToString(Messages(ok));
    EXPECT_EQ(ok.settings.connectors[0].path, "/events");
    LoadResult bad =
        LoadFromString("connectors:\n  - {name: h, kind: http, base_url: \"http://h\", path: events}\n", env);
    EXPECT_TRUE(HasProblem(bad, "connectors[0].path: must start with '/'"));
}

TEST(InterpolateTest, VariablesDefaultsAndErrors) {
    FakeEnvironment env;
    env.vars = {{"A", "alpha"}, {"EMPTY", ""}};
    std::string out, err;
    ASSERT_TRUE(Interpolate("x-${A}-y", env, out, err));
    EXPECT_EQ(out, "x-alpha-y");
    ASSERT_TRUE(Interpolate("${MISSING:-fallback}", env, out, err));
    EXPECT_EQ(out, "fallback");
    ASSERT_TRUE(Interpolate("${EMPTY:-used when empty}", env, out, err));
    EXPECT_EQ(out, "used when empty");
    ASSERT_TRUE(Interpolate("${EMPTY}", env, out, err));
    EXPECT_EQ(out, "");
    ASSERT_TRUE(Interpolate("$plain and $", env, out, err));
    EXPECT_EQ(out, "$plain and $");
    EXPECT_FALSE(Interpolate("${MISSING}", env, out, err));
    EXPECT_EQ(err, "environment variable MISSING is not set");
    EXPECT_FALSE(Interpolate("${OPEN", env, out, err));
    EXPECT_FALSE(Interpolate("${BAD-NAME}", env, out, err));
}

TEST(InterpolateTest, UnsetVariableInConfigIsAProblemAtItsPath) {
    FakeEnvironment env;
    LoadResult r = LoadFromString("stores:\n  - id: main\n    webhook_secrets: [\"${WOO_SECRET}\"]\n", env);
    ASSERT_EQ(r.problems.size(), 1u) << ::testing::PrintToString(Messages(r));
    EXPECT_EQ(r.problems[0].path, "stores[0].webhook_secrets[0]");
    EXPECT_EQ(r.problems[0].message, "environment variable WOO_SECRET is not set");
}

TEST(InterpolateTest, ValueFromEnvironmentIsTypedAfterExpansion) {
    FakeEnvironment env;
    env.vars = {{"THREADS", "3"}};
    LoadResult r = LoadFromString("server: {io_threads: \"${THREADS}\", max_connections: \"${CONNS:-50}\"}\n", env);
    ASSERT_TRUE(r.Ok()) << ::testing::PrintToString(Messages(r));
    EXPECT_EQ(r.settings.server.io_threads, 3);
    EXPECT_EQ(r.settings.server.max_connections, 50);
}

TEST(SuggestTest, ClosestKeyOrNothing) {
    EXPECT_EQ(Suggest("max_attemps", {"max_attempts", "max_age"}), "max_attempts");
    EXPECT_EQ(Suggest("lisen", {"listen", "log"}), "listen");
    EXPECT_EQ(Suggest("completely_different", {"listen", "log"}), "");
}

TEST(SplitHostPortTest, Shapes) {
    std::string host;
    unsigned short port = 0;
    EXPECT_TRUE(SplitHostPort("127.0.0.1:8080", host, port));
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, 8080);
    EXPECT_TRUE(SplitHostPort("[::1]:0", host, port));
    EXPECT_EQ(host, "::1");
    EXPECT_EQ(port, 0);
    EXPECT_FALSE(SplitHostPort("8080", host, port));
    EXPECT_FALSE(SplitHostPort("host:99999", host, port));
    EXPECT_FALSE(SplitHostPort(":80", host, port));
}

}  // namespace
}  // namespace orderbridge::config

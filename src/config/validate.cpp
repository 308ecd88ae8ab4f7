#include "validate.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace orderbridge::config {
namespace {

// A cross-field rule is not reported for a key that already has a problem of its own (an unset
// variable in webhook_secrets[0] should not also read "at least one secret is required").
void Add(std::vector<Problem>& problems, std::string path, std::string message) {
    for (const auto& p : problems) {
        if (p.path.rfind(path, 0) == 0) return;
    }
    problems.push_back(Problem{std::move(path), std::move(message), 0});
}

bool IsLowerAlnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool IsSlug(const std::string& s, std::size_t max_len) {
    if (s.empty() || s.size() > max_len || !IsLowerAlnum(s.front())) return false;
    return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '_' || c == '-'; });
}

bool IsCurrencyCode(const std::string& s) {
    return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool IsHttpUrl(const std::string& s) {
    return s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0;
}

bool MatchesEventType(const std::string& pattern) {
    if (pattern == "*") return true;
    const auto& types = EventTypes();
    if (pattern.size() > 2 && pattern.ends_with(".*")) {
        const std::string prefix = pattern.substr(0, pattern.size() - 1);
        return std::any_of(types.begin(), types.end(), [&](const std::string& t) { return t.rfind(prefix, 0) == 0; });
    }
    return std::find(types.begin(), types.end(), pattern) != types.end();
}

const std::vector<std::string>& WooTopics() {
    static const std::vector<std::string> kTopics = {
        "order.created",    "order.updated",   "order.deleted",    "order.restored",   "product.created",
        "product.updated",  "product.deleted", "product.restored", "customer.created", "customer.updated",
        "customer.deleted", "coupon.created",  "coupon.updated",   "coupon.deleted",   "coupon.restored"};
    return kTopics;
}

}  // namespace

const std::vector<std::string>& EventTypes() {
    static const std::vector<std::string> kTypes = {"order.created",     "order.updated",    "order.cancelled",
                                                    "order.deleted",     "refund.created",   "product.updated",
                                                    "inventory.updated", "shipment.created", "shipment.updated"};
    return kTypes;
}

bool SplitHostPort(const std::string& listen, std::string& host, unsigned short& port) {
    std::size_t colon;
    if (!listen.empty() && listen.front() == '[') {
        const std::size_t close = listen.find(']');
        if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') return false;
        host = listen.substr(1, close - 1);
        colon = close + 1;
    } else {
        colon = listen.rfind(':');
        if (colon == std::string::npos) return false;
        host = listen.substr(0, colon);
    }
    const std::string p = listen.substr(colon + 1);
    if (host.empty() || p.empty() || p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos)
        return false;
    const unsigned long v = std::stoul(p);
    if (v > 65535) return false;
    port = static_cast<unsigned short>(v);
    return true;
}

void Validate(const Settings& s, std::vector<Problem>& problems) {
    std::string host;
    unsigned short port = 0;
    if (!SplitHostPort(s.server.listen, host, port)) {
        Add(problems, "server.listen", "must be host:port (for example 127.0.0.1:8080), got '" + s.server.listen + "'");
    }
    std::set<std::string> token_names;
    for (std::size_t i = 0; i < s.server.admin_tokens.size(); ++i) {
        const auto& t = s.server.admin_tokens[i];
        const std::string path = "server.admin_tokens[" + std::to_string(i) + "]";
        if (!t.name.empty() && !token_names.insert(t.name).second)
            Add(problems, path + ".name", "duplicate token name '" + t.name + "'");
        if (!t.token.empty() && t.token.size() < 16) Add(problems, path + ".token", "must be at least 16 characters");
    }

    if (s.storage.driver == StorageDriver::kPostgres && s.storage.postgres.dsn.empty()) {
        Add(problems, "storage.postgres.dsn", "is required when storage.driver is postgres");
    }
    if (s.storage.driver == StorageDriver::kSqlite && s.storage.sqlite.path.empty()) {
        Add(problems, "storage.sqlite.path", "is required when storage.driver is sqlite");
    }
    if (s.storage.group_window >= s.storage.ack_timeout) {
        // Every small group would be answered 503 before its commit, and sent again by the shop.
        Add(problems, "storage.group_window", "must be shorter than storage.ack_timeout");
    }
    if (s.bus.driver == BusDriver::kKafka) {
        if (s.bus.kafka.brokers.empty()) Add(problems, "bus.kafka.brokers", "is required when bus.driver is kafka");
        if (s.bus.kafka.topic.empty()) Add(problems, "bus.kafka.topic", "is required when bus.driver is kafka");
    }

    std::set<std::string> store_ids;
    for (std::size_t i = 0; i < s.stores.size(); ++i) {
        const auto& st = s.stores[i];
        const std::string path = "stores[" + std::to_string(i) + "]";
        if (!st.id.empty()) {
            if (!IsSlug(st.id, 20)) {
                Add(problems, path + ".id",
                    "must be 1 to 20 characters of a-z, 0-9, '_' or '-' (it becomes part of wc:<store>:<order id>)");
            }
            if (!store_ids.insert(st.id).second) Add(problems, path + ".id", "duplicate store id '" + st.id + "'");
        }
        if (!st.url.empty() && !IsHttpUrl(st.url)) Add(problems, path + ".url", "must start with http:// or https://");
        if (st.webhook_secrets.empty()) {
            Add(problems, path + ".webhook_secrets", "at least one secret is required to verify webhooks");
        }
        for (std::size_t k = 0; k < st.webhook_secrets.size(); ++k) {
            if (st.webhook_secrets[k].empty()) {
                Add(problems, path + ".webhook_secrets[" + std::to_string(k) + "]", "must not be empty");
            }
        }
        static const std::set<std::string> kAlgorithms = {"sha1", "sha256", "sha384", "sha512"};
        if (!kAlgorithms.contains(st.signature_algorithm)) {
            Add(problems, path + ".signature_algorithm", "must be one of sha1|sha256|sha384|sha512");
        }
        for (std::size_t k = 0; k < st.currencies.size(); ++k) {
            if (!IsCurrencyCode(st.currencies[k])) {
                Add(problems, path + ".currencies[" + std::to_string(k) + "]", "must be an ISO 4217 code such as USD");
            }
        }
        for (std::size_t k = 0; k < st.shipping_countries.size(); ++k) {
            const auto& c = st.shipping_countries[k];
            if (c.size() != 2 || !std::isupper(static_cast<unsigned char>(c[0])) ||
                !std::isupper(static_cast<unsigned char>(c[1]))) {
                Add(problems, path + ".shipping_countries[" + std::to_string(k) + "]",
                    "must be an ISO 3166-1 alpha-2 code such as US");
            }
        }
        for (std::size_t k = 0; k < st.webhooks.topics.size(); ++k) {
            const auto& topics = WooTopics();
            if (std::find(topics.begin(), topics.end(), st.webhooks.topics[k]) == topics.end()) {
                Add(problems, path + ".webhooks.topics[" + std::to_string(k) + "]",
                    "unknown WooCommerce topic '" + st.webhooks.topics[k] + "'");
            }
        }
        if (st.webhooks.repair && st.webhooks.delivery_url.empty()) {
            Add(problems, path + ".webhooks.delivery_url", "is required when webhooks.repair is true");
        }
        if (!st.webhooks.delivery_url.empty() && !IsHttpUrl(st.webhooks.delivery_url)) {
            Add(problems, path + ".webhooks.delivery_url", "must start with http:// or https://");
        }
        if ((st.poller.enabled || st.webhooks.repair || !st.webhooks.topics.empty()) && !st.api) {
            Add(problems, path + ".api", "is required for the poller and the webhook watchdog");
        }
        if ((st.poller.enabled || !st.webhooks.topics.empty() || st.api) && st.url.empty()) {
            Add(problems, path + ".url", "is required for the REST API (api, the poller and the webhook watchdog)");
        }
        if (st.api) {
            if (st.api->oauth_signature_method != "HMAC-SHA1" && st.api->oauth_signature_method != "HMAC-SHA256")
                Add(problems, path + ".api.oauth_signature_method", "must be HMAC-SHA1 or HMAC-SHA256");
            if (st.api->retry.max_backoff < st.api->retry.initial_backoff)
                Add(problems, path + ".api.retry.max_backoff", "must not be shorter than retry.initial_backoff");
        }
    }

    std::set<std::string> connector_names;
    for (std::size_t i = 0; i < s.connectors.size(); ++i) {
        const auto& c = s.connectors[i];
        const std::string path = "connectors[" + std::to_string(i) + "]";
        if (!c.name.empty()) {
            if (!IsSlug(c.name, 40))
                Add(problems, path + ".name", "must be 1 to 40 characters of a-z, 0-9, '_' or '-'");
            if (!connector_names.insert(c.name).second)
                Add(problems, path + ".name", "duplicate connector name '" + c.name + "'");
        }
        if (!c.base_url.empty() && !IsHttpUrl(c.base_url))
            Add(problems, path + ".base_url", "must start with http:// or https://");
        for (std::size_t k = 0; k < c.subscribe.size(); ++k) {
            if (!MatchesEventType(c.subscribe[k])) {
                Add(problems, path + ".subscribe[" + std::to_string(k) + "]",
                    "unknown event type '" + c.subscribe[k] + "'");
            }
        }
        if (c.retry.max_backoff < c.retry.initial_backoff) {
            Add(problems, path + ".retry.max_backoff", "must not be shorter than retry.initial_backoff");
        }
        if (c.kind == ConnectorKind::kHttp && (c.path.empty() || c.path.front() != '/')) {
            Add(problems, path + ".path", "must start with '/'");
        }
        if (c.kind == ConnectorKind::kOdoo) {
            if (c.transport != "json2" && c.transport != "jsonrpc")
                Add(problems, path + ".transport", "must be json2 (Odoo 19+) or jsonrpc");
            if (c.auth.api_key.empty())
                Add(problems, path + ".auth.api_key", "is required for kind odoo (Preferences > Account Security)");
            if (c.transport == "jsonrpc" && c.auth.username.empty())
                Add(problems, path + ".auth.username", "is required for transport jsonrpc (the API user's login)");
            if (c.transport == "jsonrpc" && c.database.empty())
                Add(problems, path + ".database", "is required for transport jsonrpc");
            const std::vector<std::string> types = {"order.*",         "order.created",    "order.updated",
                                                    "order.cancelled", "order.deleted",    "refund.created",
                                                    "shipment.*",      "shipment.created", "shipment.updated"};
            for (std::size_t k = 0; k < c.subscribe.size(); ++k) {
                if (std::find(types.begin(), types.end(), c.subscribe[k]) == types.end()) {
                    Add(problems, path + ".subscribe[" + std::to_string(k) + "]",
                        "kind odoo takes order events, refund.created and shipment.* (order.created, "
                        "order.updated, order.cancelled, order.deleted, refund.created, shipment.created, "
                        "shipment.updated)");
                }
            }
        }
        if (c.kind == ConnectorKind::kShipbob) {
            if (c.auth.token.empty()) Add(problems, path + ".auth.token", "is required for kind shipbob (a PAT)");
            if (c.channel_id <= 0)
                Add(problems, path + ".channel_id", "is required for kind shipbob (GET /channel lists them)");
            for (std::size_t k = 0; k < c.subscribe.size(); ++k) {
                if (c.subscribe[k] != "order.*" && c.subscribe[k].rfind("order.", 0) != 0) {
                    Add(problems, path + ".subscribe[" + std::to_string(k) + "]",
                        "kind shipbob takes order events (order.created, order.updated, order.cancelled, "
                        "order.deleted)");
                }
            }
            if (!c.inbound_secret.empty() && c.inbound_secret.rfind("whsec_", 0) != 0)
                Add(problems, path + ".webhook_secret", "must be ShipBob's signing secret, starting with whsec_");
        }
        if (c.kind == ConnectorKind::kErpnext || c.kind == ConnectorKind::kShipstation) {
            const std::string kind(ToString(c.kind));
            if (c.kind == ConnectorKind::kErpnext && c.company.empty())
                Add(problems, path + ".company", "is required for kind erpnext");
            if (c.kind == ConnectorKind::kErpnext && c.warehouse.empty())
                Add(problems, path + ".warehouse", "is required for kind erpnext");
            if (c.auth.api_key.empty() || c.auth.api_secret.empty())
                Add(problems, path + ".auth", "api_key and api_secret are required for kind " + kind);
            std::vector<std::string> types = {"order.*", "order.created", "order.updated", "order.cancelled",
                                              "order.deleted"};
            if (c.kind == ConnectorKind::kErpnext) {
                types.insert(types.end(), {"refund.created", "shipment.*", "shipment.created", "shipment.updated"});
            }
            for (std::size_t k = 0; k < c.subscribe.size(); ++k) {
                if (std::find(types.begin(), types.end(), c.subscribe[k]) == types.end()) {
                    Add(problems, path + ".subscribe[" + std::to_string(k) + "]",
                        "kind " + kind + " takes order events" +
                            (c.kind == ConnectorKind::kErpnext ? ", refund.created and shipment.*" : std::string()) +
                            " in this version (order.created, order.updated, order.cancelled, order.deleted)");
                }
                if (c.subscribe[k] == "refund.created" && c.refund_item.empty()) {
                    Add(problems, path + ".refund_item",
                        "is required to subscribe to refund.created (the non-stock Item of credit notes)");
                }
            }
        }
        if (c.kind == ConnectorKind::kWoocommerce) {
            Add(problems, path + ".kind",
                "woocommerce lanes are implicit: give the store api credentials under stores[].api instead");
        }
    }
    if (!s.checkout.live_check.empty()) {
        const auto it = std::find_if(s.connectors.begin(), s.connectors.end(),
                                     [&](const ConnectorSettings& c) { return c.name == s.checkout.live_check; });
        if (it == s.connectors.end() || it->kind != ConnectorKind::kErpnext) {
            Add(problems, "checkout.live_check", "must name a connector of kind erpnext");
        }
    }
}

}  // namespace orderbridge::config

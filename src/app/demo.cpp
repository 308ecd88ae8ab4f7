#include "orderbridge/app/demo.hpp"

#include <chrono>
#include <iostream>
#include <map>
#include <random>

#include "embedded_demo.hpp"
#include "orderbridge/app/admin_cli.hpp"
#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/woo/signature.hpp"

namespace orderbridge::app {
namespace {

std::string ReplaceAll(std::string text, std::string_view from, std::string_view to) {
    for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size()))
        text.replace(pos, from.size(), to);
    return text;
}

std::string_view Template() {
    for (const auto& [name, content] : EmbeddedDemo()) {
        if (name == "order.json") return content;
    }
    return {};
}

}  // namespace

int RunDemo(const DemoOptions& o, const config::Settings& settings) {
    if (settings.stores.empty()) {
        std::cerr << "demo: the configuration has no stores[]; add one (with webhook_secrets) first\n";
        return 2;
    }
    const config::StoreSettings* store = &settings.stores.front();
    if (!o.store.empty()) {
        store = nullptr;
        for (const auto& s : settings.stores) {
            if (s.id == o.store) store = &s;
        }
        if (!store) {
            std::cerr << "demo: no store '" << o.store << "' in the configuration\n";
            return 2;
        }
    }
    if (store->webhook_secrets.empty()) {
        std::cerr << "demo: store '" << store->id << "' has no webhook_secrets\n";
        return 2;
    }
    const std::string base = DaemonUrl(o.url, settings);
    // New order ids on every run (the daemon would answer a repeat "duplicate"): a random block.
    std::mt19937_64 rng(std::random_device{}());
    const long long first_id = 100'000'000 + static_cast<long long>(rng() % 1'800'000'000ULL);
    static constexpr const char* kStatuses[] = {"processing", "processing", "processing",
                                                "on-hold",    "pending",    "completed"};
    static constexpr const char* kCountries[] = {"US", "DE", "FR", "US", "GB", "NL"};
    dispatch::HttpClient client(std::chrono::seconds(15));
    std::map<std::string, int> outcomes;
    int failures = 0;
    for (int i = 0; i < o.orders; ++i) {
        const std::string id = std::to_string(first_id + i);
        std::string body = ReplaceAll(std::string(Template()), "4101", id);
        body =
            ReplaceAll(body, "\"status\":\"processing\"", std::string("\"status\":\"") + kStatuses[rng() % 6] + "\"");
        body = ReplaceAll(body, "\"country\":\"US\"", std::string("\"country\":\"") + kCountries[rng() % 6] + "\"");
        dispatch::HttpCall call;
        call.url = base + "/webhooks/woocommerce/" + store->id;
        call.body = body;
        call.headers = {
            {"Content-Type", "application/json"},
            {"X-WC-Webhook-Topic", "order.created"},
            {"X-WC-Webhook-Resource", "order"},
            {"X-WC-Webhook-Event", "created"},
            {"X-WC-Webhook-Delivery-ID", "demo-" + id},
            {"X-WC-Webhook-Source", "https://demo.orderbridge.invalid/"},
            {"X-WC-Webhook-Signature", woo::Sign(body, store->webhook_secrets.front(), store->signature_algorithm)},
            {"User-Agent", "orderbridge-demo"}};
        const auto answer = client.Send(call);
        if (answer.transport != dispatch::HttpAnswer::Transport::kAnswered) {
            std::cerr << "demo: cannot reach orderbridge at " << base << ": " << answer.error << "\n";
            return 1;
        }
        const bool ok = answer.status >= 200 && answer.status < 300;
        failures += ok ? 0 : 1;
        std::string status = std::to_string(answer.status);
        if (auto pos = answer.body.find("\"status\":\""); pos != std::string::npos) {
            const auto start = pos + 10;
            status += " " + answer.body.substr(start, answer.body.find('"', start) - start);
        }
        ++outcomes[status];
        std::cout << "wc:" << store->id << ":" << id << "  " << status << "\n";
    }
    std::cout << "\nsent " << o.orders << " orders to store '" << store->id << "':";
    for (const auto& [k, n] : outcomes)
        std::cout << "  " << n << " x " << k;
    std::cout << "\nfollow them at " << base << "/console/ (orders, timelines, deliveries)\n";
    return failures == 0 ? 0 : 1;
}

}  // namespace orderbridge::app

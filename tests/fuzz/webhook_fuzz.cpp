// libFuzzer target for the webhook path: headers and body into signature verification and
// normalization. Invariants: nothing throws or crashes, a usable body always gives well-formed
// identities and events that serialise, and the totals identity always holds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "orderbridge/woo/normalize.hpp"
#include "orderbridge/woo/signature.hpp"

using namespace orderbridge;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    static const char* kTopics[] = {
        "order.created",   "order.updated",    "order.deleted",  "order.restored", "product.updated",
        "product.deleted", "customer.created", "coupon.created", "nonsense",       ""};
    const std::string topic = kTopics[data[0] % 10];
    // The second byte splits a signature header from the body.
    const std::size_t split = std::min<std::size_t>(data[1], size - 2);
    const std::string_view signature(reinterpret_cast<const char*>(data + 2), split);
    const std::string_view body(reinterpret_cast<const char*>(data + 2 + split), size - 2 - split);

    const std::vector<std::string> secrets = {"secret", "s&amp;t"};
    const bool verified = woo::VerifySignature(body, signature, secrets, "sha256");
    if (verified && signature != woo::Sign(body, "secret", "sha256") &&
        signature != woo::Sign(body, "s&amp;t", "sha256")) {
        std::abort();  // accepted a signature no secret produces
    }

    woo::NormalizeInput in;
    in.store = "main";
    in.topic = topic;
    in.body = body;
    in.received_at = "2026-11-26T12:00:00.000Z";
    in.trace_id = "0af7651916cd43dd8448eb211c80319c";
    in.currencies = {"USD"};
    const woo::Normalized n = woo::Normalize(in);
    if (!n.usable) {
        if (n.error.empty()) std::abort();
        return 0;
    }
    if (n.entity_id.rfind("wc:main:", 0) != 0 || n.version.size() != 30) std::abort();
    for (const auto& e : n.events) {
        if (e.idempotency_key.empty() || e.idempotency_key.size() > 35) std::abort();
        const std::string text = model::Json(e).dump();
        if (model::Json::parse(text).at("id") != e.id) std::abort();
    }
    if (n.order) {
        const auto& t = n.order->totals;
        if (t.subtotal - t.discount_total + t.shipping_total + t.fee_total + t.tax_total + t.rounding_adjustment !=
            t.grand_total) {
            std::abort();
        }
    }
    return 0;
}

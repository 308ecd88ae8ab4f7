// Normalize (+ schema validation) of WooCommerce order bodies, and their signature check, one core.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "orderbridge/core/clock.hpp"
#include "orderbridge/model/schema.hpp"
#include "orderbridge/woo/normalize.hpp"
#include "orderbridge/woo/signature.hpp"

namespace {

using namespace orderbridge;

std::string Fixture(const char* name) {
    std::ifstream in(std::string(ORDERBRIDGE_SOURCE_DIR) + "/tests/fixtures/woocommerce/" + name, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

woo::NormalizeInput Input(const std::string& body) {
    woo::NormalizeInput in;
    in.store = "main";
    in.topic = "order.created";
    in.body = body;
    in.received_at = "2026-11-26T12:00:00.000Z";
    in.trace_id = "0af7651916cd43dd8448eb211c80319c";
    return in;
}

void BM_Normalize(benchmark::State& state, const char* fixture) {
    const std::string body = Fixture(fixture);
    const auto in = Input(body);
    for (auto _ : state) {
        auto n = woo::Normalize(in);
        benchmark::DoNotOptimize(n);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
    state.counters["body_bytes"] = static_cast<double>(body.size());
}

void BM_NormalizeAndValidate(benchmark::State& state, const char* fixture) {
    const std::string body = Fixture(fixture);
    const auto in = Input(body);
    const model::SchemaValidator validator;
    for (auto _ : state) {
        auto n = woo::Normalize(in);
        for (const auto& e : n.events) {
            auto errors = validator.Validate(n.EventJson(e));  // the event with its entity's data, as ingest checks it
            if (!errors.empty()) state.SkipWithError("schema error");
        }
        benchmark::DoNotOptimize(n);
    }
    state.counters["body_bytes"] = static_cast<double>(body.size());
}

void BM_ParseOnly(benchmark::State& state, const char* fixture) {
    const std::string body = Fixture(fixture);
    for (auto _ : state) {
        auto j = model::Json::parse(body);
        benchmark::DoNotOptimize(j);
    }
}

// X-WC-Webhook-Signature checked against two active secrets (a rotation), the second one matching.
void BM_VerifySignature(benchmark::State& state, const char* fixture) {
    const std::string body = Fixture(fixture);
    const std::vector<std::string> secrets = {"old-secret-5f0c2a", "new-secret-&amp;-9d1e"};
    const std::string signature = woo::Sign(body, secrets[1], "sha256");
    for (auto _ : state) {
        if (!woo::VerifySignature(body, signature, secrets, "sha256")) state.SkipWithError("signature mismatch");
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * body.size()));
}

// nlohmann's parse of the same body, for scale (normalization parses with simdjson).
BENCHMARK_CAPTURE(BM_ParseOnly, guest, "order_guest.json");
BENCHMARK_CAPTURE(BM_Normalize, guest, "order_guest.json");
BENCHMARK_CAPTURE(BM_Normalize, simple, "order_simple.json");
BENCHMARK_CAPTURE(BM_NormalizeAndValidate, guest, "order_guest.json");
BENCHMARK_CAPTURE(BM_NormalizeAndValidate, simple, "order_simple.json");
BENCHMARK_CAPTURE(BM_VerifySignature, guest, "order_guest.json");

}  // namespace

BENCHMARK_MAIN();

#include "orderbridge/dispatch/woo_rest.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "orderbridge/core/clock.hpp"
#include "orderbridge/woo/signature.hpp"

namespace orderbridge::dispatch {
namespace {

std::string Nonce() {
    unsigned char raw[16];
    RAND_bytes(raw, sizeof raw);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
    return out;
}

}  // namespace

WooRest::WooRest(const std::string& store_url, std::string consumer_key, std::string consumer_secret,
                 std::string oauth_signature_method)
    : base_(store_url),
      key_(std::move(consumer_key)),
      secret_(std::move(consumer_secret)),
      method_(std::move(oauth_signature_method)) {
    while (!base_.empty() && base_.back() == '/')
        base_.pop_back();
    https_ = base_.rfind("https://", 0) == 0;
    base_ += "/wp-json/wc/v3";
    algorithm_ = method_ == "HMAC-SHA1" ? "sha1" : "sha256";
}

HttpAnswer WooRest::Call(HttpClient& client, const std::string& method, const std::string& path, Query query,
                         const std::string& body) const {
    HttpCall call;
    call.method = method;
    call.headers = {{"Accept", "application/json"}, {"User-Agent", "orderbridge"}};
    const std::string url = base_ + path;
    if (https_) {
        call.headers.emplace_back("Authorization", "Basic " + woo::Base64(key_ + ":" + secret_));
    } else {
        query.emplace_back("oauth_consumer_key", key_);
        query.emplace_back("oauth_nonce", Nonce());
        query.emplace_back("oauth_signature_method", method_);
        query.emplace_back("oauth_timestamp",
                           std::to_string(core::ToUnixMillis(std::chrono::system_clock::now()) / 1000));
        std::sort(query.begin(), query.end());
        std::string params;
        for (const auto& [k, v] : query)
            params += (params.empty() ? "" : "%26") + UrlEncode(UrlEncode(k) + "=" + UrlEncode(v));
        const std::string base_string = method + "&" + UrlEncode(url) + "&" + params;
        query.emplace_back("oauth_signature", woo::HmacBase64(base_string, secret_ + "&", algorithm_));
    }
    std::string q;
    for (const auto& [k, v] : query)
        q += (q.empty() ? "?" : "&") + UrlEncode(k) + "=" + UrlEncode(v);
    call.url = url + q;
    if (!body.empty()) {
        call.headers.emplace_back("Content-Type", "application/json");
        call.body = body;
    }
    return client.Send(call);
}

std::string WooRestError(const std::string& body) {
    const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object()) return {};
    const std::string code = j.contains("code") && j["code"].is_string() ? j["code"].get<std::string>() : "";
    const std::string message =
        j.contains("message") && j["message"].is_string() ? j["message"].get<std::string>() : "";
    if (code.empty() && message.empty()) return {};
    return code + (message.empty() ? "" : ": " + message);
}

}  // namespace orderbridge::dispatch

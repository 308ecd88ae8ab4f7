#include "orderbridge/woo/signature.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <vector>

#include "orderbridge/woo/normalize.hpp"

namespace orderbridge::woo {
namespace {

const char* DigestName(std::string_view algorithm) {
    if (algorithm == "sha256") return "SHA256";
    if (algorithm == "sha1") return "SHA1";
    if (algorithm == "sha384") return "SHA384";
    if (algorithm == "sha512") return "SHA512";
    return nullptr;
}

// OpenSSL 3 looks the MAC and the digest up by name in every one-shot HMAC() call, which costs
// about as much as the hash of a 2 KB body. Each thread keeps the fetched MAC and a context per
// (digest, key) instead, and keys it again for each message (re-keying with a null key restarts
// the message only from OpenSSL 3.0.3 on). A context that failed is dropped, never reused.
class HmacContexts {
  public:
    HmacContexts() = default;
    ~HmacContexts() {
        while (!contexts_.empty())
            Drop(contexts_.begin());
        EVP_MAC_free(mac_);
    }
    HmacContexts(const HmacContexts&) = delete;
    HmacContexts& operator=(const HmacContexts&) = delete;

    /// The base64-less HMAC of `body`; empty when OpenSSL fails.
    std::string Mac(std::string_view body, std::string_view key, const char* digest) {
        auto it = Find(digest, key);
        if (it == contexts_.end()) it = Add(digest, key);
        if (it == contexts_.end()) return {};
        static const unsigned char kEmpty = 0;  // an empty key is a key: never a null pointer
        const auto* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
        unsigned char out[EVP_MAX_MD_SIZE];
        std::size_t len = 0;
        if (EVP_MAC_init(it->ctx, k, key.size(), nullptr) != 1 ||
            EVP_MAC_update(it->ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()) != 1 ||
            EVP_MAC_final(it->ctx, out, &len, sizeof out) != 1 || len == 0) {
            Drop(it);
            return {};
        }
        return std::string(reinterpret_cast<const char*>(out), len);
    }

  private:
    static constexpr std::size_t kMaxContexts = 32;
    struct Keyed {
        std::string digest;
        std::string key;
        EVP_MAC_CTX* ctx;
    };
    using Iter = std::vector<Keyed>::iterator;

    Iter Find(const char* digest, std::string_view key) {
        return std::find_if(contexts_.begin(), contexts_.end(),
                            [&](const Keyed& c) { return c.digest == digest && c.key == key; });
    }
    Iter Add(const char* digest, std::string_view key) {
        if (!mac_) mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);  // tried again after a failure
        EVP_MAC_CTX* ctx = mac_ ? EVP_MAC_CTX_new(mac_) : nullptr;
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
            OSSL_PARAM_construct_end()};
        if (!ctx || EVP_MAC_CTX_set_params(ctx, params) != 1) {
            EVP_MAC_CTX_free(ctx);
            return contexts_.end();
        }
        if (contexts_.size() >= kMaxContexts) Drop(contexts_.begin());  // more secrets than a configuration has
        contexts_.push_back(Keyed{digest, std::string(key), ctx});
        return contexts_.end() - 1;
    }
    void Drop(Iter it) {
        EVP_MAC_CTX_free(it->ctx);
        OPENSSL_cleanse(it->key.data(), it->key.size());
        contexts_.erase(it);
    }

    EVP_MAC* mac_ = nullptr;
    std::vector<Keyed> contexts_;
};

std::string RawHmac(std::string_view body, std::string_view key, const char* digest) {
    thread_local HmacContexts contexts;
    return contexts.Mac(body, key, digest);
}

}  // namespace

std::string Base64(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(raw.data()), static_cast<int>(raw.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    out.resize(static_cast<std::size_t>(n));
    // EVP_DecodeBlock keeps the padding's zero bytes: drop one per '='.
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i)
        out.pop_back();
    return out;
}

std::string HmacBase64(std::string_view data, std::string_view key, std::string_view algorithm) {
    const char* digest = DigestName(algorithm);
    if (!digest) return {};
    const std::string raw = RawHmac(data, key, digest);
    return raw.empty() ? std::string{} : Base64(raw);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
    // Nothing compared here (a MAC, a token) is ever empty: an empty one is a failure.
    return !a.empty() && a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string WooSecretKey(std::string_view secret) {
    // wp_specialchars_decode(ENT_QUOTES) decodes the XML five and their numeric forms only.
    std::string out;
    out.reserve(secret.size());
    std::size_t i = 0;
    struct E {
        std::string_view from;
        char to;
    };
    static constexpr E kMap[] = {{"&amp;", '&'},  {"&#038;", '&'},  {"&#x26;", '&'}, {"&lt;", '<'},
                                 {"&#060;", '<'}, {"&gt;", '>'},    {"&#062;", '>'}, {"&quot;", '"'},
                                 {"&#034;", '"'}, {"&#039;", '\''}, {"&#39;", '\''}, {"&#x27;", '\''}};
    while (i < secret.size()) {
        bool replaced = false;
        if (secret[i] == '&') {
            for (const auto& e : kMap) {
                if (secret.substr(i, e.from.size()) == e.from) {
                    out.push_back(e.to);
                    i += e.from.size();
                    replaced = true;
                    break;
                }
            }
        }
        if (!replaced) out.push_back(secret[i++]);
    }
    return out;
}

std::string Sign(std::string_view body, std::string_view secret, std::string_view algorithm) {
    return HmacBase64(body, WooSecretKey(secret), algorithm);
}

bool VerifySignature(std::string_view body, std::string_view signature, const std::vector<std::string>& secrets,
                     std::string_view algorithm) {
    const char* digest = DigestName(algorithm);
    if (!digest || signature.empty()) return false;
    bool ok = false;
    for (const auto& secret : secrets) {
        const std::string raw = RawHmac(body, WooSecretKey(secret), digest);
        if (raw.empty()) continue;
        const std::string expected = Base64(raw);
        // Every secret is checked, so timing does not reveal which one matched.
        if (expected.size() == signature.size() &&
            CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0) {
            ok = true;
        }
    }
    return ok;
}

}  // namespace orderbridge::woo

#include "orderbridge/woo/signature.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

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
// about as much as the hash of a 2 KB body. Each thread keeps a keyed context per (digest, key)
// instead, and only resets it for the next message.
class HmacContexts {
  public:
    HmacContexts() = default;
    ~HmacContexts() {
        for (auto& c : contexts_)
            EVP_MAC_CTX_free(c.ctx);
    }
    HmacContexts(const HmacContexts&) = delete;
    HmacContexts& operator=(const HmacContexts&) = delete;

    /// A context ready for a new message under `key`; nullptr when OpenSSL fails.
    EVP_MAC_CTX* Get(const char* digest, std::string_view key) {
        for (auto& c : contexts_) {
            // A null key keeps the context's key and starts a new message.
            if (c.digest == digest && c.key == key)
                return EVP_MAC_init(c.ctx, nullptr, 0, nullptr) == 1 ? c.ctx : nullptr;
        }
        static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
        EVP_MAC_CTX* ctx = hmac ? EVP_MAC_CTX_new(hmac) : nullptr;
        const OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
            OSSL_PARAM_construct_end()};
        static const unsigned char kEmpty = 0;  // an empty key is a key: never a null pointer
        const auto* k = key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
        if (!ctx || EVP_MAC_init(ctx, k, key.size(), params) != 1) {
            EVP_MAC_CTX_free(ctx);
            return nullptr;
        }
        if (contexts_.size() >= kMaxContexts) {  // more secrets than any configuration has: forget the oldest
            EVP_MAC_CTX_free(contexts_.front().ctx);
            contexts_.erase(contexts_.begin());
        }
        contexts_.push_back(Keyed{digest, std::string(key), ctx});
        return ctx;
    }

  private:
    static constexpr std::size_t kMaxContexts = 32;
    struct Keyed {
        std::string digest;
        std::string key;
        EVP_MAC_CTX* ctx;
    };
    std::vector<Keyed> contexts_;
};

std::string RawHmac(std::string_view body, std::string_view key, const char* digest) {
    thread_local HmacContexts contexts;
    EVP_MAC_CTX* ctx = contexts.Get(digest, key);
    unsigned char out[EVP_MAX_MD_SIZE];
    std::size_t len = 0;
    if (!ctx || EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size()) != 1 ||
        EVP_MAC_final(ctx, out, &len, sizeof out) != 1) {
        return {};  // matches no signature
    }
    return std::string(reinterpret_cast<const char*>(out), len);
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
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
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

#include "orderbridge/woo/signature.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "orderbridge/woo/normalize.hpp"

namespace orderbridge::woo {
namespace {

const EVP_MD* Digest(std::string_view algorithm) {
    if (algorithm == "sha256") return EVP_sha256();
    if (algorithm == "sha1") return EVP_sha1();
    if (algorithm == "sha384") return EVP_sha384();
    if (algorithm == "sha512") return EVP_sha512();
    return nullptr;
}

std::string RawHmac(std::string_view body, std::string_view key, const EVP_MD* md) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(body.data()), body.size(),
         out, &len);
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
    const EVP_MD* md = Digest(algorithm);
    return md ? Base64(RawHmac(data, key, md)) : std::string{};
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
    const EVP_MD* md = Digest(algorithm);
    if (!md) return {};
    return Base64(RawHmac(body, WooSecretKey(secret), md));
}

bool VerifySignature(std::string_view body, std::string_view signature, const std::vector<std::string>& secrets,
                     std::string_view algorithm) {
    const EVP_MD* md = Digest(algorithm);
    if (!md || signature.empty()) return false;
    bool ok = false;
    for (const auto& secret : secrets) {
        const std::string expected = Base64(RawHmac(body, WooSecretKey(secret), md));
        // Every secret is checked, so timing does not reveal which one matched.
        if (expected.size() == signature.size() &&
            CRYPTO_memcmp(expected.data(), signature.data(), expected.size()) == 0) {
            ok = true;
        }
    }
    return ok;
}

}  // namespace orderbridge::woo

#pragma once
// WooCommerce webhook signatures: base64(HMAC(secret, raw body)), the secret HTML-entity-decoded
// the way WooCommerce decodes it (wp_specialchars_decode with ENT_QUOTES). Constant-time compare.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orderbridge::woo {

/// base64 HMAC of `body` with `algorithm` (sha1, sha256, sha384, sha512); empty for an unknown one.
std::string Sign(std::string_view body, std::string_view secret, std::string_view algorithm);

/// True when `signature` matches any of `secrets`.
bool VerifySignature(std::string_view body, std::string_view signature, const std::vector<std::string>& secrets,
                     std::string_view algorithm);

/// Standard base64 (with padding).
std::string Base64(std::string_view raw);
/// The bytes of standard base64 text; nullopt when it is not valid base64.
std::optional<std::string> Base64Decode(std::string_view text);
/// base64 HMAC with the key as given (no entity decoding); empty for an unknown algorithm.
std::string HmacBase64(std::string_view data, std::string_view key, std::string_view algorithm);
/// Compares in time independent of where the texts differ; an empty text never matches (an
/// empty MAC is one that could not be computed).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

/// What WooCommerce uses as the HMAC key for a stored secret.
std::string WooSecretKey(std::string_view secret);

}  // namespace orderbridge::woo

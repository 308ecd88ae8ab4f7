#include "orderbridge/model/identity.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <stdexcept>

#include "orderbridge/core/clock.hpp"

namespace orderbridge::model {

std::string Sha256Hex(std::string_view data) {
    // Fetched once: OpenSSL 3's SHA256() looks the digest up by name on every call. Should that
    // first fetch fail, EVP_sha256() looks it up at each call instead, so a failure is not kept.
    static const EVP_MD* const sha256 = [] {
        const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
        return fetched ? fetched : EVP_sha256();
    }();
    unsigned char digest[SHA256_DIGEST_LENGTH] = {};
    if (EVP_Digest(data.data(), data.size(), digest, nullptr, sha256, nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");  // a version or id must never come from garbage
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(SHA256_DIGEST_LENGTH * 2, '0');
    for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
        out[2 * i] = kHex[digest[i] >> 4];
        out[2 * i + 1] = kHex[digest[i] & 0xf];
    }
    return out;
}

std::string MakeVersion(std::int64_t epoch_ms, std::string_view canonical_content) {
    // The time part is fixed-width so that string order is version order; dates before 1970 or
    // after 2286 (13 digits) are clamped rather than allowed to break that order.
    constexpr std::int64_t kMaxMillis = 9'999'999'999'999;
    epoch_ms = std::clamp<std::int64_t>(epoch_ms, 0, kMaxMillis);
    return fmt::format("{:013d}-{}", epoch_ms, Sha256Hex(canonical_content).substr(0, 16));
}

bool IsVersion(std::string_view v) {
    if (v.size() != 30 || v[13] != '-') return false;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (i == 13) continue;
        const char c = v[i];
        const bool ok = i < 13 ? (c >= '0' && c <= '9') : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        if (!ok) return false;
    }
    return true;
}

int CompareVersions(std::string_view a, std::string_view b) {
    const bool va = IsVersion(a), vb = IsVersion(b);
    if (va != vb) return va ? 1 : -1;
    const int c = a.compare(b);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string EventId(std::string_view entity_id, std::string_view type, std::string_view version) {
    std::string key;
    key.reserve(entity_id.size() + type.size() + version.size() + 2);
    key.append(entity_id).push_back('|');
    key.append(type).push_back('|');
    key.append(version);
    return "evt_" + Sha256Hex(key).substr(0, 24);
}

std::string NewTraceId() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uint64_t hi = 0, lo = 0;
    while (hi == 0 && lo == 0) {
        hi = rng();
        lo = rng();
    }
    return fmt::format("{:016x}{:016x}", hi, lo);
}

std::optional<std::int64_t> ParseWooGmt(std::string_view t) {
    // YYYY-MM-DDTHH:MM:SS, optionally followed by fractional seconds and/or 'Z' / "+00:00".
    if (t.size() < 19 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != ' ') || t[13] != ':' || t[16] != ':') {
        return std::nullopt;
    }
    auto num = [&](std::size_t pos, std::size_t len, int& out) {
        out = 0;
        for (std::size_t i = pos; i < pos + len; ++i) {
            if (t[i] < '0' || t[i] > '9') return false;
            out = out * 10 + (t[i] - '0');
        }
        return true;
    };
    int y, mo, d, h, mi, s;
    if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, s)) {
        return std::nullopt;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return std::nullopt;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    const std::time_t secs = timegm(&tm);
    std::int64_t ms = static_cast<std::int64_t>(secs) * 1000;
    std::size_t i = 19;
    if (i < t.size() && t[i] == '.') {
        ++i;
        int scale = 100;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
            ms += (t[i] - '0') * scale;
            scale /= 10;
            ++i;
        }
    }
    const std::string_view rest = t.substr(i);
    if (!rest.empty() && rest != "Z" && rest != "+00:00") return std::nullopt;
    return ms;
}

std::string FormatUtc(std::int64_t epoch_ms) {
    return core::FormatRfc3339Millis(epoch_ms, true);
}

}  // namespace orderbridge::model

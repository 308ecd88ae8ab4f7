#pragma once
// Exact money: decimal strings to integer minor units and back, ISO 4217 exponents, ISO 3166
// country codes. No floating point anywhere on the money path.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orderbridge::model {

/// ISO 4217 minor-unit exponent (JPY 0, USD 2, KWD 3, CLF 4); nullopt for an unknown code.
std::optional<int> CurrencyExponent(std::string_view code);

/// True for "-12", "0.576875", "10680" (optional sign, digits, optional fraction).
bool IsDecimal(std::string_view text);

/// Decimal string to minor units at `exponent`. Digits beyond the exponent are rounded half away
/// from zero (how WooCommerce rounds). nullopt when malformed or out of range.
std::optional<std::int64_t> ParseMinor(std::string_view decimal, int exponent);

/// Minor units to a decimal string with exactly `exponent` decimals: (2935, 2) -> "29.35".
std::string FormatMinor(std::int64_t minor, int exponent);

/// Integer division rounding half away from zero; `den` > 0.
std::int64_t DivRoundHalfUp(std::int64_t num, std::int64_t den);

/// Shortest text that reads back as the same double, as PHP's json_encode writes numbers.
std::string ShortestDouble(double value);

/// ISO 3166-1 alpha-2, officially assigned codes.
bool IsCountryCode(std::string_view code);

}  // namespace orderbridge::model

#include "orderbridge/model/money.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace orderbridge::model {
namespace {

__extension__ typedef __int128 Int128;  // exact intermediate products of int64 money

// Active ISO 4217 codes whose minor unit is not 2 (ISO 4217 list one, 2024).
constexpr std::array<std::pair<std::string_view, int>, 26> kNonTwoExponent{{
    {"BHD", 3}, {"BIF", 0}, {"CLF", 4}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"IQD", 3}, {"ISK", 0}, {"JOD", 3},
    {"JPY", 0}, {"KMF", 0}, {"KRW", 0}, {"KWD", 3}, {"LYD", 3}, {"OMR", 3}, {"PYG", 0}, {"RWF", 0}, {"TND", 3},
    {"UGX", 0}, {"UYI", 0}, {"UYW", 4}, {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0}, {"XPF", 0},
}};

// Every other active ISO 4217 currency code (minor unit 2).
constexpr std::string_view kTwoExponent =
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF "
    "CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG "
    "HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK "
    "MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE "
    "SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR "
    "ZMW ZWG ZWL";

constexpr std::string_view kCountries =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ "
    "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO "
    "FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE "
    "JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO "
    "MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW "
    "PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM "
    "TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

bool InSpaceList(std::string_view list, std::string_view code, std::size_t width) {
    if (code.size() != width) return false;
    for (std::size_t i = 0; i + width <= list.size(); i += width + 1) {
        if (list.substr(i, width) == code) return true;
    }
    return false;
}

}  // namespace

std::optional<int> CurrencyExponent(std::string_view code) {
    for (const auto& [c, e] : kNonTwoExponent) {
        if (c == code) return e;
    }
    if (InSpaceList(kTwoExponent, code, 3)) return 2;
    return std::nullopt;
}

bool IsCountryCode(std::string_view code) {
    return InSpaceList(kCountries, code, 2);
}

bool IsDecimal(std::string_view text) {
    std::size_t i = 0;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    const std::size_t int_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
        ++i;
    if (i == int_start) return false;
    if (i == text.size()) return true;
    if (text[i] != '.') return false;
    ++i;
    const std::size_t frac_start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9')
        ++i;
    return i == text.size() && i > frac_start;
}

std::optional<std::int64_t> ParseMinor(std::string_view decimal, int exponent) {
    if (!IsDecimal(decimal) || exponent < 0 || exponent > 9) return std::nullopt;
    bool negative = false;
    if (decimal.front() == '-' || decimal.front() == '+') {
        negative = decimal.front() == '-';
        decimal.remove_prefix(1);
    }
    const std::size_t dot = decimal.find('.');
    const std::string_view int_part = decimal.substr(0, dot);
    const std::string_view frac_part = dot == std::string_view::npos ? std::string_view{} : decimal.substr(dot + 1);
    Int128 value = 0;
    constexpr Int128 kLimit = static_cast<Int128>(std::numeric_limits<std::int64_t>::max());
    for (char c : int_part) {
        value = value * 10 + (c - '0');
        if (value > kLimit) return std::nullopt;
    }
    for (int k = 0; k < exponent; ++k) {
        value = value * 10 + (static_cast<std::size_t>(k) < frac_part.size() ? frac_part[k] - '0' : 0);
        if (value > kLimit) return std::nullopt;
    }
    if (frac_part.size() > static_cast<std::size_t>(exponent) && frac_part[exponent] >= '5') ++value;
    if (value > kLimit) return std::nullopt;
    const auto result = static_cast<std::int64_t>(value);
    return negative ? -result : result;
}

std::string FormatMinor(std::int64_t minor, int exponent) {
    const bool negative = minor < 0;
    const unsigned long long abs =
        negative ? 0ULL - static_cast<unsigned long long>(minor) : static_cast<unsigned long long>(minor);
    std::string digits = std::to_string(abs);
    if (exponent > 0) {
        if (digits.size() <= static_cast<std::size_t>(exponent)) {
            digits.insert(0, static_cast<std::size_t>(exponent) + 1 - digits.size(), '0');
        }
        digits.insert(digits.size() - static_cast<std::size_t>(exponent), ".");
    }
    return negative ? "-" + digits : digits;
}

std::int64_t DivRoundHalfUp(std::int64_t num, std::int64_t den) {
    const bool negative = (num < 0) != (den < 0);
    const Int128 n = num < 0 ? -static_cast<Int128>(num) : num;
    const Int128 d = den < 0 ? -static_cast<Int128>(den) : den;
    const Int128 q = (2 * n + d) / (2 * d);
    return static_cast<std::int64_t>(negative ? -q : q);
}

std::string ShortestDouble(double value) {
    std::array<char, 64> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
    if (ec != std::errc()) return "0";
    std::string out(buf.data(), end);
    return out;
}

}  // namespace orderbridge::model

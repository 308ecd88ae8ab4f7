#include "orderbridge/model/money.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <random>

#include "orderbridge/core/clock.hpp"
#include "orderbridge/model/identity.hpp"
#include "orderbridge/woo/normalize.hpp"

namespace orderbridge::model {
namespace {

TEST(MoneyTest, ExponentsComeFromTheIsoTable) {
    EXPECT_EQ(CurrencyExponent("USD"), 2);
    EXPECT_EQ(CurrencyExponent("EUR"), 2);
    EXPECT_EQ(CurrencyExponent("JPY"), 0);
    EXPECT_EQ(CurrencyExponent("KRW"), 0);
    EXPECT_EQ(CurrencyExponent("KWD"), 3);
    EXPECT_EQ(CurrencyExponent("BHD"), 3);
    EXPECT_EQ(CurrencyExponent("CLF"), 4);
    EXPECT_FALSE(CurrencyExponent("XYZ").has_value());
    EXPECT_FALSE(CurrencyExponent("usd").has_value());
}

TEST(MoneyTest, ParsesWooCommerceStringsExactly) {
    EXPECT_EQ(ParseMinor("29.35", 2), 2935);
    EXPECT_EQ(ParseMinor("-26.13", 2), -2613);
    EXPECT_EQ(ParseMinor("10680", 0), 10680);
    EXPECT_EQ(ParseMinor("10680", 2), 1068000);
    EXPECT_EQ(ParseMinor("5", 2), 500);
    EXPECT_EQ(ParseMinor("10.6", 2), 1060);
    EXPECT_EQ(ParseMinor("1.234", 3), 1234);
    // More precision than the currency: half away from zero, like WooCommerce's rounding.
    EXPECT_EQ(ParseMinor("0.576875", 2), 58);
    EXPECT_EQ(ParseMinor("4.34875", 2), 435);
    EXPECT_EQ(ParseMinor("0.005", 2), 1);
    EXPECT_EQ(ParseMinor("0.004999", 2), 0);
    EXPECT_EQ(ParseMinor("-0.005", 2), -1);
    EXPECT_EQ(ParseMinor("127.5", 0), 128);
    // 0.1 + 0.2 style values stay exact.
    EXPECT_EQ(*ParseMinor("0.1", 2) + *ParseMinor("0.2", 2), *ParseMinor("0.3", 2));
}

TEST(MoneyTest, RejectsMalformedAndOverflow) {
    for (const char* bad : {"", "-", "1.", ".5", "1,50", "1e3", "abc", "1.2.3", " 1"}) {
        EXPECT_FALSE(ParseMinor(bad, 2).has_value()) << bad;
    }
    EXPECT_FALSE(ParseMinor("92233720368547758.08", 2).has_value());
    EXPECT_EQ(ParseMinor("92233720368547758.07", 2), INT64_MAX);
}

TEST(MoneyTest, FormatsWithTheCurrencyExponent) {
    EXPECT_EQ(FormatMinor(2935, 2), "29.35");
    EXPECT_EQ(FormatMinor(5, 2), "0.05");
    EXPECT_EQ(FormatMinor(-5, 2), "-0.05");
    EXPECT_EQ(FormatMinor(10680, 0), "10680");
    EXPECT_EQ(FormatMinor(1234, 3), "1.234");
    EXPECT_EQ(FormatMinor(0, 2), "0.00");
}

TEST(MoneyTest, DivisionRoundsHalfAwayFromZero) {
    EXPECT_EQ(DivRoundHalfUp(587, 2), 294);
    EXPECT_EQ(DivRoundHalfUp(586, 2), 293);
    EXPECT_EQ(DivRoundHalfUp(-587, 2), -294);
    EXPECT_EQ(DivRoundHalfUp(1000, 3), 333);
    EXPECT_EQ(DivRoundHalfUp(2000, 3), 667);
}

// Property: formatting and parsing are inverse, and sums of parsed amounts equal the parsed sum,
// for random amounts in every exponent (no drift, ever).
TEST(MoneyPropertyTest, RoundTripAndAdditionNeverDrift) {
    std::mt19937_64 rng(20261126);
    std::uniform_int_distribution<std::int64_t> amount(-1'000'000'000'000LL, 1'000'000'000'000LL);
    for (int exponent : {0, 2, 3, 4}) {
        std::int64_t sum = 0;
        for (int i = 0; i < 5000; ++i) {
            const std::int64_t a = amount(rng);
            const std::string text = FormatMinor(a, exponent);
            ASSERT_EQ(ParseMinor(text, exponent), a) << text;
            sum += a;
        }
        EXPECT_EQ(ParseMinor(FormatMinor(sum, exponent), exponent), sum);
    }
}

TEST(MoneyTest, ShortestDoubleMatchesPhpJsonEncode) {
    EXPECT_EQ(ShortestDouble(24.5), "24.5");
    EXPECT_EQ(ShortestDouble(20.8333335), "20.8333335");
    EXPECT_EQ(ShortestDouble(16.806722666666666), "16.806722666666666");
    EXPECT_EQ(ShortestDouble(0.1 + 0.2), "0.30000000000000004");
}

TEST(CountryTest, IsoAlpha2) {
    EXPECT_TRUE(IsCountryCode("US"));
    EXPECT_TRUE(IsCountryCode("DE"));
    EXPECT_TRUE(IsCountryCode("JP"));
    EXPECT_FALSE(IsCountryCode("XX"));
    EXPECT_FALSE(IsCountryCode("UK"));
    EXPECT_FALSE(IsCountryCode("us"));
    EXPECT_FALSE(IsCountryCode("USA"));
}

TEST(IdentityTest, VersionsOrderByTimeThenContent) {
    const std::string a = MakeVersion(1760449275000, "{\"a\":1}");
    const std::string b = MakeVersion(1760449276000, "{\"a\":0}");
    EXPECT_TRUE(IsVersion(a));
    EXPECT_EQ(a.size(), 30u);
    EXPECT_EQ(a.substr(0, 14), "1760449275000-");
    EXPECT_LT(CompareVersions(a, b), 0);
    EXPECT_GT(CompareVersions(b, a), 0);
    EXPECT_EQ(CompareVersions(a, MakeVersion(1760449275000, "{\"a\":1}")), 0);
    const std::string c = MakeVersion(1760449275000, "{\"a\":2}");
    EXPECT_NE(CompareVersions(a, c), 0);  // same time, different content: a strict, shared order
    EXPECT_EQ(CompareVersions(a, c), -CompareVersions(c, a));
    EXPECT_LT(CompareVersions("garbage", a), 0);
    // Out-of-range times are clamped to the fixed width (found by the fuzzer: a year-4050 date).
    const std::string far = MakeVersion(*ParseWooGmt("4050-10-20T09:05:21"), "x");
    EXPECT_TRUE(IsVersion(far));
    EXPECT_EQ(far.substr(0, 13), "9999999999999");
    EXPECT_GT(CompareVersions(far, b), 0);
    EXPECT_TRUE(IsVersion(MakeVersion(-5, "x")));
}

TEST(IdentityTest, EventIdsAreDeterministic) {
    const std::string v = MakeVersion(1, "x");
    EXPECT_EQ(EventId("wc:main:1", "order.created", v), EventId("wc:main:1", "order.created", v));
    EXPECT_NE(EventId("wc:main:1", "order.created", v), EventId("wc:main:1", "order.updated", v));
    EXPECT_EQ(EventId("wc:main:1", "order.created", v).size(), 28u);
    EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Timestamps are written by arithmetic; gmtime_r is the reference it must agree with everywhere.
TEST(IdentityTest, TimestampsReadAsGmtimeWritesThem) {
    const auto reference = [](std::int64_t ms, bool omit_zero_fraction) {
        std::int64_t secs = ms / 1000, frac = ms % 1000;
        if (frac < 0) {
            frac += 1000;
            --secs;
        }
        const std::time_t t = static_cast<std::time_t>(secs);
        std::tm tm{};
        gmtime_r(&t, &tm);
        char text[64];
        std::snprintf(text, sizeof text, "%04lld-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900LL, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        std::string out = text;
        if (!(omit_zero_fraction && frac == 0)) {
            std::snprintf(text, sizeof text, ".%03d", static_cast<int>(frac));
            out += text;
        }
        return out + 'Z';
    };
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<std::int64_t> any(-62'135'596'800'000, 253'402'300'799'999);  // years 1 to 9999
    std::vector<std::int64_t> cases = {
        0, -1, 999, 1000, 951'782'400'000 /* 2000-02-29 */, 253'402'300'799'999, -62'135'596'800'000, 1'764'170'622'350,
        // years 0 and -1, 10000, and past std::chrono's 16-bit year
        -62'167'219'200'000, -62'167'219'200'001, 253'402'300'800'000, 1'000'000'000'000'000, -1'000'000'000'000'000};
    for (int i = 0; i < 2000; ++i)
        cases.push_back(any(rng));
    for (const std::int64_t ms : cases) {
        EXPECT_EQ(core::FormatRfc3339Millis(ms, false), reference(ms, false)) << ms;
        EXPECT_EQ(core::FormatRfc3339Millis(ms, true), reference(ms, true)) << ms;
    }
    EXPECT_EQ(core::FormatRfc3339Millis(-1, false), "1969-12-31T23:59:59.999Z");
    EXPECT_EQ(core::FormatRfc3339Millis(951'782'400'000, true), "2000-02-29T00:00:00Z");
    EXPECT_EQ(core::FormatRfc3339Millis(253'402'300'800'000, false), "10000-01-01T00:00:00.000Z");
    // Outside years 0 to 9999 the function takes gmtime_r itself, so these come from the proleptic
    // Gregorian day count instead (days_from_civil), not from the reference above.
    EXPECT_EQ(core::FormatRfc3339Millis(-62'167'219'200'000, true), "0000-01-01T00:00:00Z");
    EXPECT_EQ(core::FormatRfc3339Millis(-62'167'219'200'001, false), "-001-12-31T23:59:59.999Z");
    EXPECT_EQ(core::FormatRfc3339Millis(1'200'110'860'800'000, true), "40000-01-01T00:00:00Z");
    EXPECT_EQ(core::FormatRfc3339Millis(-1'324'440'115'200'000, true), "-40000-03-01T00:00:00Z");
}

TEST(IdentityTest, WooTimesAreUtc) {
    EXPECT_EQ(ParseWooGmt("1970-01-01T00:00:01"), 1000);
    EXPECT_EQ(FormatUtc(*ParseWooGmt("2025-10-14T13:41:07")), "2025-10-14T13:41:07Z");
    EXPECT_EQ(FormatUtc(*ParseWooGmt("2026-11-26T15:23:42.350Z")), "2026-11-26T15:23:42.350Z");
    EXPECT_FALSE(ParseWooGmt("2025-13-14T13:41:07").has_value());
    EXPECT_FALSE(ParseWooGmt("2025-10-14 13:41").has_value());
    EXPECT_FALSE(ParseWooGmt("2025-10-14T13:41:07+02:00").has_value());
    EXPECT_EQ(NewTraceId().size(), 32u);
    EXPECT_NE(NewTraceId(), NewTraceId());
}

TEST(StatusTest, WooStatusesMapToCanonical) {
    EXPECT_EQ(CanonicalStatus("pending"), "awaiting_payment");
    EXPECT_EQ(CanonicalStatus("checkout-draft"), "awaiting_payment");
    EXPECT_EQ(CanonicalStatus("on-hold"), "on_hold");
    EXPECT_EQ(CanonicalStatus("processing"), "ready_to_fulfil");
    EXPECT_EQ(CanonicalStatus("completed"), "completed");
    EXPECT_EQ(CanonicalStatus("cancelled"), "cancelled");
    EXPECT_EQ(CanonicalStatus("refunded"), "refunded");
    EXPECT_EQ(CanonicalStatus("failed"), "payment_failed");
    EXPECT_EQ(CanonicalStatus("ready-for-pickup"), "custom:ready-for-pickup");
    EXPECT_EQ(CanonicalStatus("wc-Awaiting Shipment"), "custom:awaiting-shipment");
}

TEST(HtmlEntitiesTest, DecodesWhatWordPressWrites) {
    EXPECT_EQ(woo::DecodeHtmlEntities("Mug &amp; Saucer &times; 2"), "Mug & Saucer \xC3\x97 2");
    EXPECT_EQ(woo::DecodeHtmlEntities("Tee &ndash; Navy"), "Tee \xE2\x80\x93 Navy");
    EXPECT_EQ(woo::DecodeHtmlEntities("O&#039;Brien &#x263A; &#8217;"), "O'Brien \xE2\x98\xBA \xE2\x80\x99");
    EXPECT_EQ(woo::DecodeHtmlEntities("AT&T & more &unknown; &#xD800; &"), "AT&T & more &unknown; &#xD800; &");
    EXPECT_EQ(woo::DecodeHtmlEntities("plain"), "plain");
}

}  // namespace
}  // namespace orderbridge::model

#include "orderbridge/core/duration.hpp"

#include <gtest/gtest.h>

namespace orderbridge::core {
namespace {

using namespace std::chrono_literals;

TEST(DurationTest, ParsesUnitsAndCombinations) {
    EXPECT_EQ(ParseDuration("250ms"), Duration(250));
    EXPECT_EQ(ParseDuration("30s"), Duration(30s));
    EXPECT_EQ(ParseDuration("5m"), Duration(5min));
    EXPECT_EQ(ParseDuration("48h"), Duration(48h));
    EXPECT_EQ(ParseDuration("7d"), Duration(168h));
    EXPECT_EQ(ParseDuration("1h30m"), Duration(90min));
    EXPECT_EQ(ParseDuration("0s"), Duration(0));
}

TEST(DurationTest, RejectsMalformed) {
    for (const char* bad : {"", "5", "s", "5x", "-5s", "1.5s", "5 s", "99999999999999999999s"}) {
        EXPECT_FALSE(ParseDuration(bad).has_value()) << bad;
    }
}

TEST(DurationTest, FormatsShortestExactForm) {
    EXPECT_EQ(FormatDuration(Duration(90s)), "1m30s");
    EXPECT_EQ(FormatDuration(Duration(0)), "0s");
    EXPECT_EQ(FormatDuration(Duration(1500)), "1s500ms");
    EXPECT_EQ(FormatDuration(Duration(48h)), "2d");
    for (const char* text : {"250ms", "30s", "5m", "1h30m", "2d"}) {
        EXPECT_EQ(FormatDuration(*ParseDuration(text)), text);
    }
}

}  // namespace
}  // namespace orderbridge::core

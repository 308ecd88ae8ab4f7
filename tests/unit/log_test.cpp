#include "orderbridge/core/log.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace orderbridge::log {
namespace {

TEST(LogTest, JsonLinesAreValidJsonWithFields) {
    const std::string line = Render(Format::kJson, Level::kWarn, "quote \" and\nnewline",
                                    {{"path", "/x"}, {"status", 202}, {"ok", true}, {"ms", 1.5}});
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["level"], "warn");
    EXPECT_EQ(j["msg"], "quote \" and\nnewline");
    EXPECT_EQ(j["path"], "/x");
    EXPECT_EQ(j["status"], 202);
    EXPECT_EQ(j["ok"], true);
    EXPECT_DOUBLE_EQ(j["ms"].get<double>(), 1.5);
    EXPECT_TRUE(j["ts"].get<std::string>().ends_with("Z"));
}

TEST(LogTest, TextLinesQuoteValuesWithSpaces) {
    const std::string line = Render(Format::kText, Level::kInfo, "request", {{"path", "/a b"}, {"status", 200}});
    EXPECT_NE(line.find("INFO  request path=\"/a b\" status=200"), std::string::npos) << line;
}

TEST(LogTest, LevelsParse) {
    EXPECT_EQ(ParseLevel("debug"), Level::kDebug);
    EXPECT_EQ(ParseLevel("warning"), Level::kWarn);
    EXPECT_FALSE(ParseLevel("loud").has_value());
}

}  // namespace
}  // namespace orderbridge::log

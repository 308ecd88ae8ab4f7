// Checkout validation from the stock view: where availability comes from, the reasons, and the
// problems of a malformed cart.
#include "orderbridge/api/checkout.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace orderbridge::api::checkout {
namespace {

using nlohmann::json;

Cart MakeCart(std::vector<Line> lines, std::string country = "US") {
    return Cart{"main", std::move(lines), std::move(country), "a@example.com"};
}

TEST(CheckoutTest, LevelsWinOverTheStoreAndUnknownSkusAreNamed) {
    StockView view;
    view.SetLevel("MUG", 5);
    view.SetProduct("main", "MUG", true, 99, "instock");  // the ERP's level counts, not the shop's
    view.SetProduct("main", "TEE", true, 2, "instock");
    view.SetProduct("main", "EBOOK", false, std::nullopt, "instock");
    view.SetProduct("main", "GONE", false, std::nullopt, "outofstock");
    view.SetProduct("outlet", "CAP", true, 10, "instock");  // another store's product

    const json v =
        Verdict(MakeCart({{"MUG", 5}, {"TEE", 3}, {"EBOOK", 40}, {"GONE", 1}, {"CAP", 1}}), view, {}, nullptr, false);
    EXPECT_FALSE(v["ok"].get<bool>());
    EXPECT_FALSE(v["stale"].get<bool>());
    const json& l = v["lines"];
    ASSERT_EQ(l.size(), 5u);
    EXPECT_EQ(l[0], json::parse(R"({"sku":"MUG","quantity":5,"available":true,"available_quantity":5,"reason":null})"));
    EXPECT_EQ(l[1]["reason"], "insufficient_stock");
    EXPECT_EQ(l[1]["available_quantity"], 2);
    EXPECT_EQ(l[2]["available"], true);  // in stock without a count
    EXPECT_TRUE(l[2]["available_quantity"].is_null());
    EXPECT_EQ(l[3]["reason"], "insufficient_stock");
    EXPECT_EQ(l[4]["reason"], "unknown_sku");

    const json ok = Verdict(MakeCart({{"MUG", 1}, {"EBOOK", 1}}), view, {}, nullptr, false);
    EXPECT_TRUE(ok["ok"].get<bool>());
}

TEST(CheckoutTest, CountriesTheStoreDoesNotShipToAndLiveLevels) {
    StockView view;
    view.SetLevel("MUG", 5);
    const json abroad = Verdict(MakeCart({{"MUG", 1}}, "FR"), view, {"US", "CA"}, nullptr, false);
    EXPECT_EQ(abroad["lines"][0]["reason"], "not_shippable");
    EXPECT_FALSE(abroad["ok"].get<bool>());

    const std::map<std::string, std::int64_t> live = {{"MUG", 0}};
    const json now = Verdict(MakeCart({{"MUG", 1}}), view, {"US"}, &live, false);
    EXPECT_EQ(now["lines"][0]["reason"], "insufficient_stock");
    EXPECT_EQ(now["lines"][0]["available_quantity"], 0);
    const json stale = Verdict(MakeCart({{"MUG", 1}}), view, {"US"}, nullptr, true);
    EXPECT_TRUE(stale["ok"].get<bool>());
    EXPECT_TRUE(stale["stale"].get<bool>());
}

TEST(CheckoutTest, EveryProblemOfACartIsListed) {
    std::vector<std::string> problems;
    EXPECT_TRUE(ParseCart(json::parse(R"({"store":"main","lines":[{"sku":"A","quantity":1}]})"), problems));
    EXPECT_TRUE(problems.empty());
    EXPECT_FALSE(ParseCart(json::parse(R"({"lines":[{"sku":"","quantity":0},{"quantity":"2"}],"shipping_country":7})"),
                           problems));
    const std::vector<std::string> expected = {"store: required",
                                               "shipping_country: must be a string",
                                               "lines[0].sku: a non-empty string",
                                               "lines[0].quantity: an integer of at least 1",
                                               "lines[1].sku: a non-empty string",
                                               "lines[1].quantity: an integer of at least 1"};
    EXPECT_EQ(problems, expected);
}

}  // namespace
}  // namespace orderbridge::api::checkout

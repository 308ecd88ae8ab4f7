// Routing, answer classification and the retry decision, on an explicit clock.
#include <gtest/gtest.h>

#include "orderbridge/dispatch/connector.hpp"
#include "orderbridge/dispatch/dispatcher.hpp"
#include "orderbridge/dispatch/router.hpp"
#include "orderbridge/dispatch/stock_source.hpp"

namespace orderbridge::dispatch {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

config::ConnectorSettings Lane(std::string name, std::vector<std::string> subscribe) {
    config::ConnectorSettings c;
    c.name = std::move(name);
    c.subscribe = std::move(subscribe);
    return c;
}

TEST(RouterTest, SubscriptionsAndFiltersSplitOrdersByCountryAndSku) {
    auto eu = Lane("eu3pl", {"order.*"});
    eu.when.shipping_country = {"DE", "FR"};
    auto us = Lane("us3pl", {"order.created", "order.updated"});
    us.when.shipping_country = {"US"};
    us.when.sku_prefix = {"US-"};
    auto erp = Lane("erp", {"order.created", "refund.created", "product.updated"});
    erp.when.store = {"main"};
    const Router router({eu, us, erp});

    RouteFacts de{"main", "ready_to_fulfil", "DE", std::vector<std::string>{"X-1"}, std::nullopt};
    EXPECT_EQ(router.Route("order.created", de), (std::vector<std::string>{"eu3pl", "erp"}));
    EXPECT_EQ(router.Route("order.cancelled", de), (std::vector<std::string>{"eu3pl"}));
    RouteFacts us_order{"main", "ready_to_fulfil", "US", std::vector<std::string>{"X-1", "US-7"}, std::nullopt};
    EXPECT_EQ(router.Route("order.updated", us_order), (std::vector<std::string>{"us3pl"}));
    us_order.skus = std::vector<std::string>{"X-1"};
    EXPECT_TRUE(router.Route("order.updated", us_order).empty()) << "no line has a US- SKU";
    RouteFacts other_store{"outlet", std::nullopt, "FR", std::nullopt, std::nullopt};
    EXPECT_EQ(router.Route("order.created", other_store), (std::vector<std::string>{"eu3pl"}));
    // A product carries no country: the country condition does not hold it back.
    RouteFacts product{"main", "publish", std::nullopt, std::vector<std::string>{"US-7"}, std::nullopt};
    EXPECT_EQ(router.Route("product.updated", product), (std::vector<std::string>{"erp"}));
    EXPECT_TRUE(Subscribes({"*"}, "inventory.updated"));
    EXPECT_FALSE(Subscribes({"order.*"}, "orders.created"));
}

HttpAnswer Answer(int status, Headers headers = {}, std::string body = "") {
    HttpAnswer a;
    a.status = status;
    a.headers = std::move(headers);
    a.body = std::move(body);
    a.request_sent = true;
    return a;
}

TEST(ClassifyTest, TheTaxonomyOfDesignSectionTwo) {
    EXPECT_TRUE(ClassifyAnswer(Answer(201)).Succeeded());
    const auto dup = ClassifyAnswer(Answer(409));
    EXPECT_TRUE(dup.Succeeded());
    EXPECT_EQ(dup.error_class, core::ErrorClass::kDuplicate);
    EXPECT_EQ(ClassifyAnswer(Answer(503)).error_class, core::ErrorClass::kTransient);
    EXPECT_EQ(ClassifyAnswer(Answer(408)).error_class, core::ErrorClass::kTransient);
    EXPECT_EQ(ClassifyAnswer(Answer(422, {}, "{\"error\":\"sku\"}")).error_class, core::ErrorClass::kPermanent);
    EXPECT_EQ(ClassifyAnswer(Answer(422, {}, "{\"error\":\"sku\"}")).reason, "HTTP 422: {\"error\":\"sku\"}");
    EXPECT_EQ(ClassifyAnswer(Answer(401)).error_class, core::ErrorClass::kAuth);
    EXPECT_EQ(ClassifyAnswer(Answer(302, {{"location", "https://x/login"}})).error_class, core::ErrorClass::kPermanent);
    const auto throttled = ClassifyAnswer(Answer(429, {{"retry-after", "7"}}));
    EXPECT_EQ(throttled.error_class, core::ErrorClass::kThrottled);
    EXPECT_EQ(throttled.retry_after, milliseconds(7000));

    HttpAnswer timeout;
    timeout.transport = HttpAnswer::Transport::kTimeout;
    timeout.request_sent = true;
    const auto t = ClassifyAnswer(timeout);
    EXPECT_EQ(t.error_class, core::ErrorClass::kTransient);
    EXPECT_TRUE(t.ambiguous) << "a timeout after sending may have been acted on";
    HttpAnswer refused;
    refused.transport = HttpAnswer::Transport::kConnectFailed;
    EXPECT_FALSE(ClassifyAnswer(refused).ambiguous);
}

TEST(ClassifyTest, RetryAfterAsSecondsDateAndVendorHeaders) {
    const auto now = std::chrono::system_clock::from_time_t(1'764'000'000);  // 2025-11-24T16:00:00Z
    EXPECT_EQ(RetryAfterOf(Answer(429, {{"retry-after", "120"}}), now), milliseconds(120000));
    EXPECT_EQ(RetryAfterOf(Answer(429, {{"retry-after", "Mon, 24 Nov 2025 16:00:30 GMT"}}), now), milliseconds(30000));
    EXPECT_EQ(RetryAfterOf(Answer(429, {{"x-retry-after", "4"}}), now), milliseconds(4000));         // ShipBob
    EXPECT_EQ(RetryAfterOf(Answer(429, {{"x-rate-limit-reset", "38"}}), now), milliseconds(38000));  // ShipStation
    EXPECT_EQ(RetryAfterOf(Answer(429), now), std::nullopt);
}

TEST(CleanTextTest, RemoteTextBecomesValidUtf8CutOnACharacterBoundary) {
    EXPECT_EQ(CleanText("caf\xC3\xA9 ok"), "caf\xC3\xA9 ok");
    EXPECT_EQ(CleanText("bad \xE9 latin-1"), "bad \xEF\xBF\xBD latin-1");
    EXPECT_EQ(CleanText("line\r\nnext\x01"), "line \nnext ") << "control characters but newline and tab become spaces";
    EXPECT_EQ(CleanText("ab\xC3\xA9", 3), "ab") << "never half a character";
    EXPECT_EQ(CleanText("\xC3", 10), "\xEF\xBF\xBD") << "a truncated sequence";
}

TEST(TraceParentTest, CarriesTheOrdersTraceId) {
    const std::string trace(32, 'b');
    const auto tp = TraceParent(trace, 42, 0);
    EXPECT_EQ(tp.substr(0, 36), "00-" + trace + "-");
    EXPECT_EQ(tp.size(), 55u);
    EXPECT_NE(tp, TraceParent(trace, 42, 1)) << "each attempt is its own span";
}

class DecideTest : public ::testing::Test {
  protected:
    store::DeliveryTask Task(int attempts) {
        store::DeliveryTask t;
        t.id = 9;
        t.attempts = attempts;
        t.created_ms = t.since_ms = core::ToUnixMillis(t0_);
        return t;
    }
    DeliveryResult Failure(core::ErrorClass c, int status) {
        DeliveryResult r;
        r.error_class = c;
        r.http_status = status;
        r.reason = "HTTP " + std::to_string(status);
        return r;
    }
    config::RetrySettings retry_;
    Backoff backoff_{milliseconds(1000), milliseconds(600000), 7};
    std::chrono::system_clock::time_point t0_ = std::chrono::system_clock::from_time_t(1'764'000'000);
};

TEST_F(DecideTest, SuccessDuplicatePermanentAndAuth) {
    EXPECT_EQ(Decide(Task(0), DeliveryResult{}, retry_, backoff_, t0_, 5ms).state, "delivered");
    DeliveryResult dup;
    dup.error_class = core::ErrorClass::kDuplicate;
    const auto d = Decide(Task(0), dup, retry_, backoff_, t0_, 5ms);
    EXPECT_EQ(d.state, "delivered");
    EXPECT_EQ(d.error_class, "duplicate");
    EXPECT_EQ(Decide(Task(0), Failure(core::ErrorClass::kPermanent, 422), retry_, backoff_, t0_, 5ms).state, "dead");
    const auto auth = Decide(Task(0), Failure(core::ErrorClass::kAuth, 401), retry_, backoff_, t0_, 5ms);
    EXPECT_EQ(auth.state, "dead");
    EXPECT_EQ(auth.error_class, "auth");
}

TEST_F(DecideTest, ThrottlingWaitsForRetryAfterAndDoesNotUseUpAttempts) {
    auto r = Failure(core::ErrorClass::kThrottled, 429);
    r.retry_after = 30s;
    const auto rec = Decide(Task(11), r, retry_, backoff_, t0_, 5ms);
    EXPECT_EQ(rec.state, "pending");
    EXPECT_FALSE(rec.counts);
    EXPECT_GE(rec.due_ms, core::ToUnixMillis(t0_) + 30000);
}

TEST_F(DecideTest, GivesUpAfterMaxAttemptsOrMaxAge) {
    retry_.max_attempts = 3;
    EXPECT_EQ(Decide(Task(1), Failure(core::ErrorClass::kTransient, 503), retry_, backoff_, t0_, 5ms).state, "pending");
    const auto last = Decide(Task(2), Failure(core::ErrorClass::kTransient, 503), retry_, backoff_, t0_, 5ms);
    EXPECT_EQ(last.state, "dead");
    EXPECT_EQ(last.reason, "gave up after 3 attempts: HTTP 503");
    retry_.max_attempts = 100;
    retry_.max_age = 1h;
    const auto old = Decide(Task(1), Failure(core::ErrorClass::kTransient, 503), retry_, backoff_, t0_ + 2h, 5ms);
    EXPECT_EQ(old.state, "dead");
}

TEST_F(DecideTest, ATenMinuteOutageOnTheDefaultsIsRiddenOutNotDeadLettered) {
    // The ERP answers 503 for ten minutes: with the default policy (12 attempts, 1 s doubling to
    // 10 min, full jitter) the delivery keeps its place and is attempted again after the outage.
    const auto outage_end = t0_ + 10min;
    auto task = Task(0);
    auto now = t0_;
    int attempts_during_outage = 0;
    while (now < outage_end) {
        const auto rec = Decide(task, Failure(core::ErrorClass::kTransient, 503), retry_, backoff_, now, 5ms);
        ASSERT_EQ(rec.state, "pending") << "dead-lettered " << attempts_during_outage << " attempts into the outage";
        ++attempts_during_outage;
        task.attempts += rec.counts ? 1 : 0;
        now = std::chrono::system_clock::time_point(milliseconds(rec.due_ms));
    }
    EXPECT_LT(attempts_during_outage, retry_.max_attempts);
    EXPECT_EQ(Decide(task, DeliveryResult{}, retry_, backoff_, now, 5ms).state, "delivered");
    // And the backoff never asked for more than max_backoff past the end of the outage.
    EXPECT_LE(now - outage_end, std::chrono::duration_cast<std::chrono::system_clock::duration>(retry_.max_backoff));
}

}  // namespace
}  // namespace orderbridge::dispatch

TEST(StockSourceTest, PollsLookBackFromTheWatermarkInTheSourcesTimeForm) {
    using orderbridge::dispatch::QueryFrom;
    EXPECT_EQ(QueryFrom("2026-11-20 10:00:00"), "2026-11-20 09:55:00");
    EXPECT_EQ(QueryFrom("2026-11-20 10:02:03.123456"), "2026-11-20 09:57:03") << "ERPNext's microseconds";
    EXPECT_EQ(QueryFrom("2026-11-20 00:01:00", std::chrono::seconds(120)), "2026-11-19 23:59:00");
    EXPECT_EQ(QueryFrom(""), "") << "the first poll reads everything";
}

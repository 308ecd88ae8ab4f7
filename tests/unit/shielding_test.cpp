// Backoff, token bucket, adaptive limit and circuit breaker on an explicit clock (no sleeps).
#include "orderbridge/dispatch/shielding.hpp"

#include <gtest/gtest.h>

namespace orderbridge::dispatch {
namespace {

using namespace std::chrono_literals;
const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1);

TEST(BackoffTest, FullJitterWithinAnExponentialCappedWindow) {
    Backoff b(Millis(1000), Millis(600000), 42);
    EXPECT_EQ(b.Ceiling(1), Millis(1000));
    EXPECT_EQ(b.Ceiling(2), Millis(2000));
    EXPECT_EQ(b.Ceiling(5), Millis(16000));
    EXPECT_EQ(b.Ceiling(30), Millis(600000));  // capped at max_backoff
    EXPECT_EQ(b.Ceiling(1000), Millis(600000));
    for (int attempt = 1; attempt <= 12; ++attempt) {
        Millis lo = Millis::max(), hi = Millis(0);
        for (int i = 0; i < 400; ++i) {
            const Millis d = b.Next(attempt);
            ASSERT_GE(d, Millis(0));
            ASSERT_LE(d, b.Ceiling(attempt));
            lo = std::min(lo, d);
            hi = std::max(hi, d);
        }
        // Full jitter spreads over the whole window, not around its top.
        EXPECT_LT(lo, b.Ceiling(attempt) / 4) << attempt;
        EXPECT_GT(hi, b.Ceiling(attempt) * 3 / 4) << attempt;
    }
}

TEST(BackoffTest, RetryAfterWinsWhenLonger) {
    Backoff b(Millis(100), Millis(1000), 1);
    EXPECT_EQ(b.Next(1, Millis(30000)), Millis(30000));
    EXPECT_LE(b.Next(1, Millis(0)), Millis(100));
}

TEST(TokenBucketTest, RateAndBurst) {
    TokenBucket bucket(100, 10, kT0);
    int taken = 0;
    while (bucket.TryTake(kT0))
        ++taken;
    EXPECT_EQ(taken, 10);  // the burst
    EXPECT_EQ(bucket.WaitFor(kT0), Millis(10));
    EXPECT_FALSE(bucket.TryTake(kT0 + 9ms));
    EXPECT_TRUE(bucket.TryTake(kT0 + 10ms));
    // Over one simulated second at most rate + burst calls go out.
    TokenBucket b2(100, 10, kT0);
    int sent = 0;
    for (int ms = 0; ms < 1000; ++ms) {
        while (b2.TryTake(kT0 + Millis(ms)))
            ++sent;
    }
    EXPECT_GE(sent, 108);
    EXPECT_LE(sent, 110);
    // A long idle period refills only up to the burst.
    EXPECT_DOUBLE_EQ(b2.Tokens(kT0 + 1h), 10.0);
}

TEST(TokenBucketTest, PauseUntilRetryAfter) {
    TokenBucket bucket(10, 5, kT0);
    bucket.PauseUntil(kT0 + 30s);
    EXPECT_FALSE(bucket.TryTake(kT0 + 29s));
    EXPECT_GE(bucket.WaitFor(kT0 + 29s), Millis(1000));
    EXPECT_FALSE(bucket.TryTake(kT0 + 30s));
    EXPECT_TRUE(bucket.TryTake(kT0 + 30s + 100ms));
}

TEST(AdaptiveLimitTest, MultiplicativeDecreaseAdditiveIncrease) {
    AdaptiveLimit limit(16, Millis(500));
    EXPECT_EQ(limit.Limit(), 16);
    limit.OnCongestion();
    EXPECT_EQ(limit.Limit(), 8);
    limit.OnCongestion();
    limit.OnCongestion();
    limit.OnCongestion();
    limit.OnCongestion();
    EXPECT_EQ(limit.Limit(), 1);  // never below one
    // Recovers slowly: one step per `limit` fast successes.
    limit.OnSuccess(Millis(20));
    EXPECT_EQ(limit.Limit(), 2);
    limit.OnSuccess(Millis(20));
    EXPECT_EQ(limit.Limit(), 2);
    limit.OnSuccess(Millis(20));
    EXPECT_EQ(limit.Limit(), 3);
    // Rising latency counts as congestion.
    limit.OnSuccess(Millis(900));
    EXPECT_EQ(limit.Limit(), 1);
    for (int i = 0; i < 1000; ++i)
        limit.OnSuccess(Millis(10));
    EXPECT_EQ(limit.Limit(), 16);  // never above the configured maximum
}

TEST(CircuitBreakerTest, OpensOnFailureRatioThenProbes) {
    config::BreakerSettings s;
    s.failure_ratio = 0.5;
    s.min_requests = 10;
    s.open_for = std::chrono::seconds(30);
    CircuitBreaker b(s);
    Clock::time_point t = kT0;
    // Below min_requests nothing opens, however bad.
    for (int i = 0; i < 9; ++i) {
        ASSERT_TRUE(b.Allow(t));
        b.OnFailure(t);
    }
    EXPECT_EQ(b.GetState(t), CircuitBreaker::State::kClosed);
    ASSERT_TRUE(b.Allow(t));
    b.OnFailure(t);
    EXPECT_EQ(b.GetState(t), CircuitBreaker::State::kOpen);
    EXPECT_FALSE(b.Allow(t + 29s));
    // Half-open after open_for: exactly one probe.
    t += 30s;
    EXPECT_TRUE(b.Allow(t));
    EXPECT_EQ(b.GetState(t), CircuitBreaker::State::kHalfOpen);
    EXPECT_FALSE(b.Allow(t));
    b.OnFailure(t);  // failed probe: open again for a full period
    EXPECT_EQ(b.GetState(t), CircuitBreaker::State::kOpen);
    EXPECT_FALSE(b.Allow(t + 29s));
    t += 30s;
    EXPECT_TRUE(b.Allow(t));
    b.OnSuccess(t);  // successful probe closes it
    EXPECT_EQ(b.GetState(t), CircuitBreaker::State::kClosed);
    EXPECT_TRUE(b.Allow(t));
}

TEST(CircuitBreakerTest, RatioIsOverTheLastCalls) {
    config::BreakerSettings s;
    s.failure_ratio = 0.5;
    s.min_requests = 10;
    CircuitBreaker b(s);
    // Many old successes do not dilute a burst of recent failures.
    for (int i = 0; i < 1000; ++i)
        b.OnSuccess(kT0);
    for (int i = 0; i < 4; ++i)
        b.OnFailure(kT0);
    EXPECT_EQ(b.GetState(kT0), CircuitBreaker::State::kClosed);  // 4 of the last 10
    b.OnFailure(kT0);
    EXPECT_EQ(b.GetState(kT0), CircuitBreaker::State::kOpen);  // 5 of the last 10
    EXPECT_EQ(CircuitBreaker::ToString(CircuitBreaker::State::kHalfOpen), "half_open");
}

TEST(TokenBucketTest, ReservationsKeepTheRateWhenCallersWakeLate) {
    TokenBucket b(100, 1, kT0);
    EXPECT_EQ(b.Reserve(kT0), kT0);  // the burst token
    // Three callers book at once: slots 10 ms apart on the rate's grid.
    EXPECT_EQ(b.Reserve(kT0), kT0 + 10ms);
    EXPECT_EQ(b.Reserve(kT0), kT0 + 20ms);
    EXPECT_EQ(b.Reserve(kT0), kT0 + 30ms);
    // One wakes 3 ms late and books again: the next slot is still on the grid (40 ms), not 43 ms.
    EXPECT_EQ(b.Reserve(kT0 + 13ms), kT0 + 40ms);
    // 1,000 bookings over time take 10 s whatever the lateness: the long-run rate is exact.
    TokenBucket c(100, 1, kT0);
    Clock::time_point slot = c.Reserve(kT0);
    for (int i = 0; i < 1000; ++i)
        slot = c.Reserve(slot + 2ms);  // every caller wakes 2 ms after its slot
    EXPECT_LE(slot - kT0, 10s + 10ms);
    // A pause moves the grid to its end.
    TokenBucket d(100, 1, kT0);
    d.PauseUntil(kT0 + 1s);
    EXPECT_EQ(d.Reserve(kT0 + 100ms), kT0 + 1s + 10ms);
}

TEST(CircuitBreakerTest, AProbeThatSaysNothingGivesItsPlaceBack) {
    config::BreakerSettings settings;
    settings.min_requests = 2;
    settings.failure_ratio = 0.5;
    settings.open_for = std::chrono::seconds(30);
    CircuitBreaker b(settings);
    b.OnFailure(kT0);
    b.OnFailure(kT0);
    ASSERT_EQ(b.GetState(kT0), CircuitBreaker::State::kOpen);
    const auto later = kT0 + 31s;
    ASSERT_TRUE(b.Allow(later));   // the probe
    EXPECT_FALSE(b.Allow(later));  // only one at a time
    b.Release(later);              // it was throttled, or never sent
    EXPECT_TRUE(b.Allow(later)) << "a released probe must not leave the breaker stuck half-open";
}

}  // namespace
}  // namespace orderbridge::dispatch

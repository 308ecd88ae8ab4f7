#pragma once
// The pieces that shield a downstream system (DESIGN section 2), as plain classes on an injected
// clock so they are tested without sleeping:
//   Backoff          exponential backoff with full jitter, capped, honouring Retry-After
//   TokenBucket      rate and burst
//   AdaptiveLimit    AIMD concurrency limit: halves on throttling, 5xx and rising latency,
//                    grows by one per window of successes
//   CircuitBreaker   closed / open / half-open with a limited number of probes; the failure ratio
//                    is taken over the last `min_requests` calls
// Thread-safety: none of them locks; a connector lane owns one of each and uses them from its
// own thread (or under its own mutex).
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string_view>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::dispatch {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

class Backoff {
  public:
    Backoff(Millis initial, Millis max, std::uint64_t seed = std::random_device{}())
        : initial_(initial), max_(max), rng_(seed) {}
    /// Delay before attempt `attempt` (1 = the first retry): uniform in [0, min(max, initial * 2^(attempt-1))].
    /// A server's Retry-After wins when it asks for longer.
    Millis Next(int attempt, std::optional<Millis> retry_after = std::nullopt);
    /// The upper bound of the jitter window for `attempt`.
    Millis Ceiling(int attempt) const;

  private:
    Millis initial_, max_;
    std::mt19937_64 rng_;
};

class TokenBucket {
  public:
    TokenBucket(double per_second, double burst, Clock::time_point now)
        : rate_(per_second), burst_(burst), tokens_(burst), last_(now) {}
    /// Takes one token if there is one.
    bool TryTake(Clock::time_point now);
    /// How long until a token is available (zero when one is).
    Millis WaitFor(Clock::time_point now);
    /// Takes a token now or books the next one: returns when the caller may go. Bookings are
    /// slots on the rate's grid, so a caller that wakes late does not cost the others any rate.
    Clock::time_point Reserve(Clock::time_point now);
    /// Empties the bucket and refills only from `until` on (a 429's Retry-After pauses the lane).
    void PauseUntil(Clock::time_point until);
    double Tokens(Clock::time_point now);
    double Rate() const { return rate_; }

  private:
    void Refill(Clock::time_point now);
    double rate_, burst_, tokens_;
    Clock::time_point last_;
};

class AdaptiveLimit {
  public:
    /// Starts at `max` (the configured max_in_flight) and never goes below 1 or above `max`.
    explicit AdaptiveLimit(int max, Millis latency_threshold = Millis(2000))
        : max_(max), limit_(max), threshold_(latency_threshold) {}
    int Limit() const { return limit_; }
    /// A success with its latency: slow answers count as congestion, fast ones let the limit grow
    /// by one after `limit` consecutive successes (additive increase).
    void OnSuccess(Millis latency);
    /// Throttling (429) or a server error: halve (multiplicative decrease).
    void OnCongestion();

  private:
    int max_;
    int limit_;
    Millis threshold_;
    int successes_ = 0;
};

class CircuitBreaker {
  public:
    enum class State { kClosed, kOpen, kHalfOpen };
    /// Opens when, over the last `min_requests` or more calls, the failure ratio reaches
    /// `failure_ratio`; stays open for `open_for`, then lets `probes` calls through (half-open);
    /// a successful probe closes it, a failed one opens it again.
    CircuitBreaker(const config::BreakerSettings& settings, int probes = 1);
    /// May a call go out now? In half-open this reserves one of the probes.
    bool Allow(Clock::time_point now);
    void OnSuccess(Clock::time_point now);
    void OnFailure(Clock::time_point now);
    /// A call that Allow let through ended without saying anything about health (throttled, or
    /// never sent): its probe place is free again.
    void Release(Clock::time_point now);
    State GetState(Clock::time_point now);
    static std::string_view ToString(State s);

  private:
    void Open(Clock::time_point now);
    void Record(bool failure);
    config::BreakerSettings settings_;
    int probes_;
    State state_ = State::kClosed;
    Clock::time_point opened_at_{};
    std::deque<bool> window_;  ///< outcomes of the last min_requests calls, true = failure
    int window_failures_ = 0;
    int probes_in_flight_ = 0;
};

}  // namespace orderbridge::dispatch

#include "orderbridge/dispatch/shielding.hpp"

#include <algorithm>
#include <cmath>

namespace orderbridge::dispatch {

Millis Backoff::Ceiling(int attempt) const {
    const int shift = std::clamp(attempt - 1, 0, 40);
    const double ceiling = static_cast<double>(initial_.count()) * std::pow(2.0, shift);
    return Millis(static_cast<std::int64_t>(std::min(ceiling, static_cast<double>(max_.count()))));
}

Millis Backoff::Next(int attempt, std::optional<Millis> retry_after) {
    const Millis ceiling = Ceiling(attempt);
    std::uniform_int_distribution<std::int64_t> dist(0, ceiling.count());
    Millis delay(dist(rng_));
    if (retry_after && *retry_after > delay) delay = *retry_after;
    return delay;
}

void TokenBucket::Refill(Clock::time_point now) {
    if (now <= last_) return;
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
}

namespace {
constexpr double kEpsilon = 1e-9;  // refills are sums of small fractions
}  // namespace

bool TokenBucket::TryTake(Clock::time_point now) {
    Refill(now);
    if (tokens_ >= 1.0 - kEpsilon) {
        tokens_ = std::max(0.0, tokens_ - 1.0);
        return true;
    }
    return false;
}

Millis TokenBucket::WaitFor(Clock::time_point now) {
    Refill(now);
    if (now < last_)
        return std::chrono::duration_cast<Millis>(last_ - now) +
               Millis(static_cast<std::int64_t>(std::ceil(1000.0 / rate_)));
    if (tokens_ >= 1.0 - kEpsilon) return Millis(0);
    return Millis(static_cast<std::int64_t>(std::ceil((1.0 - tokens_) / rate_ * 1000.0)));
}

Clock::time_point TokenBucket::Reserve(Clock::time_point now) {
    Refill(now);
    const Clock::time_point from = std::max(now, last_);  // after a pause, slots start at its end
    const double missing = 1.0 - tokens_;
    tokens_ -= 1.0;  // may go below zero: later reservations queue behind this one
    if (missing <= kEpsilon) return from;
    return from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(missing / rate_));
}

void TokenBucket::PauseUntil(Clock::time_point until) {
    tokens_ = 0;
    if (until > last_) last_ = until;
}

double TokenBucket::Tokens(Clock::time_point now) {
    Refill(now);
    return tokens_;
}

void AdaptiveLimit::OnSuccess(Millis latency) {
    if (latency > threshold_) {
        OnCongestion();
        return;
    }
    if (++successes_ >= limit_) {
        successes_ = 0;
        limit_ = std::min(max_, limit_ + 1);
    }
}

void AdaptiveLimit::OnCongestion() {
    successes_ = 0;
    limit_ = std::max(1, limit_ / 2);
}

CircuitBreaker::CircuitBreaker(const config::BreakerSettings& settings, int probes)
    : settings_(settings), probes_(std::max(1, probes)) {}

void CircuitBreaker::Open(Clock::time_point now) {
    state_ = State::kOpen;
    opened_at_ = now;
    window_.clear();
    window_failures_ = 0;
    probes_in_flight_ = 0;
}

CircuitBreaker::State CircuitBreaker::GetState(Clock::time_point now) {
    if (state_ == State::kOpen && now - opened_at_ >= settings_.open_for) {
        state_ = State::kHalfOpen;
        probes_in_flight_ = 0;
    }
    return state_;
}

bool CircuitBreaker::Allow(Clock::time_point now) {
    switch (GetState(now)) {
        case State::kClosed:
            return true;
        case State::kOpen:
            return false;
        case State::kHalfOpen:
            if (probes_in_flight_ >= probes_) return false;
            ++probes_in_flight_;
            return true;
    }
    return false;
}

void CircuitBreaker::Record(bool failure) {
    window_.push_back(failure);
    window_failures_ += failure ? 1 : 0;
    while (static_cast<int>(window_.size()) > settings_.min_requests) {
        window_failures_ -= window_.front() ? 1 : 0;
        window_.pop_front();
    }
}

void CircuitBreaker::OnSuccess(Clock::time_point now) {
    if (GetState(now) == State::kHalfOpen) {
        state_ = State::kClosed;
        window_.clear();
        window_failures_ = 0;
        probes_in_flight_ = 0;
        return;
    }
    if (state_ == State::kClosed) Record(false);
}

void CircuitBreaker::Release(Clock::time_point now) {
    if (GetState(now) == State::kHalfOpen && probes_in_flight_ > 0) --probes_in_flight_;
}

void CircuitBreaker::OnFailure(Clock::time_point now) {
    const State state = GetState(now);
    if (state == State::kHalfOpen) {
        Open(now);
        return;
    }
    if (state != State::kClosed) return;
    Record(true);
    // The ratio counts over the last min_requests calls, once there are that many.
    if (static_cast<int>(window_.size()) >= settings_.min_requests &&
        static_cast<double>(window_failures_) / static_cast<double>(window_.size()) >= settings_.failure_ratio) {
        Open(now);
    }
}

std::string_view CircuitBreaker::ToString(State s) {
    switch (s) {
        case State::kClosed:
            return "closed";
        case State::kOpen:
            return "open";
        case State::kHalfOpen:
            return "half_open";
    }
    return "closed";
}

}  // namespace orderbridge::dispatch

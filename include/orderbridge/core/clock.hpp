#pragma once
// Time sources. Components that make time-based decisions (backoff, rate limits, breakers,
// retention) take a `Clock&` so tests drive time explicitly; `SystemClock` is the real one.
// Thread-safety: implementations must be safe to call from any thread.
#include <chrono>
#include <cstdint>
#include <string>

namespace orderbridge::core {

class Clock {
  public:
    virtual ~Clock() = default;
    /// Wall-clock time (UTC); used for records and timestamps.
    virtual std::chrono::system_clock::time_point Now() const = 0;
    /// Monotonic time; used for durations and deadlines.
    virtual std::chrono::steady_clock::time_point Steady() const = 0;
};

class SystemClock final : public Clock {
  public:
    std::chrono::system_clock::time_point Now() const override { return std::chrono::system_clock::now(); }
    std::chrono::steady_clock::time_point Steady() const override { return std::chrono::steady_clock::now(); }
    static SystemClock& Instance();
};

/// `2026-11-26T15:13:48.123Z` (milliseconds, UTC).
std::string FormatRfc3339(std::chrono::system_clock::time_point tp);
/// Epoch milliseconds to RFC 3339 UTC; `omit_zero_fraction` drops ".000" (WooCommerce times).
std::string FormatRfc3339Millis(std::int64_t epoch_ms, bool omit_zero_fraction);
/// Milliseconds since the Unix epoch.
std::int64_t ToUnixMillis(std::chrono::system_clock::time_point tp);

}  // namespace orderbridge::core

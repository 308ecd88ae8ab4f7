#include "orderbridge/core/clock.hpp"

#include <fmt/format.h>

#include <ctime>

namespace orderbridge::core {

SystemClock& SystemClock::Instance() {
    static SystemClock clock;
    return clock;
}

std::int64_t ToUnixMillis(std::chrono::system_clock::time_point tp) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
}

std::string FormatRfc3339Millis(std::int64_t ms, bool omit_zero_fraction) {
    std::int64_t secs = ms / 1000;
    std::int64_t frac = ms % 1000;
    if (frac < 0) {
        frac += 1000;
        --secs;
    }
    const std::time_t t = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::string out = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                  tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (!(omit_zero_fraction && frac == 0)) out += fmt::format(".{:03}", frac);
    out += 'Z';
    return out;
}

std::string FormatRfc3339(std::chrono::system_clock::time_point tp) {
    return FormatRfc3339Millis(ToUnixMillis(tp), false);
}

}  // namespace orderbridge::core

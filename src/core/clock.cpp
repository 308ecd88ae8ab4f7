#include "orderbridge/core/clock.hpp"

#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <string>

namespace orderbridge::core {

SystemClock& SystemClock::Instance() {
    static SystemClock clock;
    return clock;
}

std::int64_t ToUnixMillis(std::chrono::system_clock::time_point tp) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
}

std::string FormatRfc3339Millis(std::int64_t ms, bool omit_zero_fraction) {
    // Calendar arithmetic (std::chrono) instead of gmtime_r, which takes glibc's time-zone lock even
    // for UTC, and fmt's run-time format parsing: several dates of every webhook go through here.
    // Years outside 0..9999 (std::chrono's year is 16 bits) keep the general path.
    constexpr std::int64_t kYear0 = -62'167'219'200'000, kYear10000 = 253'402'300'800'000;
    if (ms < kYear0 || ms >= kYear10000) {
        std::int64_t secs = ms / 1000;
        std::int64_t frac = ms % 1000;
        if (frac < 0) {
            frac += 1000;
            --secs;
        }
        const std::time_t t = static_cast<std::time_t>(secs);
        std::tm tm{};
        gmtime_r(&t, &tm);
        std::string out =
            fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", static_cast<std::int64_t>(tm.tm_year) + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        if (!(omit_zero_fraction && frac == 0)) out += fmt::format(".{:03}", frac);
        return out + 'Z';
    }
    using namespace std::chrono;
    const sys_time<milliseconds> tp{milliseconds{ms}};
    const sys_days day = floor<days>(tp);
    const year_month_day ymd{day};
    const hh_mm_ss<milliseconds> time{tp - day};
    char text[] = "0000-00-00T00:00:00.000Z";
    const auto put = [&text](int at, long long value, int width) {
        for (int i = width - 1; i >= 0; --i, value /= 10)
            text[at + i] = static_cast<char>('0' + value % 10);
    };
    put(0, static_cast<int>(ymd.year()), 4);
    put(5, static_cast<unsigned>(ymd.month()), 2);
    put(8, static_cast<unsigned>(ymd.day()), 2);
    put(11, time.hours().count(), 2);
    put(14, time.minutes().count(), 2);
    put(17, time.seconds().count(), 2);
    const long long fraction = time.subseconds().count();
    if (omit_zero_fraction && fraction == 0) return std::string(text, 19) + 'Z';
    put(20, fraction, 3);
    return std::string(text, sizeof text - 1);
}

std::string FormatRfc3339(std::chrono::system_clock::time_point tp) {
    return FormatRfc3339Millis(ToUnixMillis(tp), false);
}

}  // namespace orderbridge::core

#include "orderbridge/core/clock.hpp"

#include <fmt/format.h>

#include <chrono>
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
    // Civil-calendar arithmetic (std::chrono) instead of gmtime_r, which takes glibc's time-zone lock
    // even for UTC, and fmt's run-time format parsing: several dates of every webhook go through here.
    using namespace std::chrono;
    const sys_time<milliseconds> tp{milliseconds{ms}};
    const sys_days day = floor<days>(tp);
    const year_month_day ymd{day};
    const hh_mm_ss<milliseconds> time{tp - day};
    const int year = static_cast<int>(ymd.year());
    if (year < 0 || year > 9999) {
        return fmt::format(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}Z", year, static_cast<unsigned>(ymd.month()),
            static_cast<unsigned>(ymd.day()), time.hours().count(), time.minutes().count(), time.seconds().count(),
            omit_zero_fraction && time.subseconds().count() == 0 ? std::string()
                                                                 : fmt::format(".{:03}", time.subseconds().count()));
    }
    char text[] = "0000-00-00T00:00:00.000Z";
    const auto put = [&text](int at, long long value, int width) {
        for (int i = width - 1; i >= 0; --i, value /= 10)
            text[at + i] = static_cast<char>('0' + value % 10);
    };
    put(0, year, 4);
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

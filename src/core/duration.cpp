#include "orderbridge/core/duration.hpp"

#include <cctype>
#include <cstdint>
#include <limits>

namespace orderbridge::core {

std::optional<Duration> ParseDuration(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::int64_t total_ms = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
        std::int64_t value = 0;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
            if (value > std::numeric_limits<std::int64_t>::max() / 10 - 10) return std::nullopt;
            value = value * 10 + (text[i] - '0');
            ++i;
        }
        std::size_t unit_start = i;
        while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i])))
            ++i;
        const std::string_view unit = text.substr(unit_start, i - unit_start);
        std::int64_t factor = 0;
        if (unit == "ms")
            factor = 1;
        else if (unit == "s")
            factor = 1000;
        else if (unit == "m")
            factor = 60'000;
        else if (unit == "h")
            factor = 3'600'000;
        else if (unit == "d")
            factor = 86'400'000;
        else
            return std::nullopt;
        if (value > std::numeric_limits<std::int64_t>::max() / factor) return std::nullopt;
        total_ms += value * factor;
    }
    return Duration{total_ms};
}

std::string FormatDuration(Duration d) {
    std::int64_t ms = d.count();
    if (ms == 0) return "0s";
    std::string out;
    if (ms < 0) {
        out.push_back('-');
        ms = -ms;
    }
    struct Unit {
        std::int64_t factor;
        const char* name;
    };
    for (const Unit& u :
         {Unit{86'400'000, "d"}, Unit{3'600'000, "h"}, Unit{60'000, "m"}, Unit{1000, "s"}, Unit{1, "ms"}}) {
        if (ms >= u.factor) {
            out += std::to_string(ms / u.factor);
            out += u.name;
            ms %= u.factor;
        }
    }
    return out;
}

}  // namespace orderbridge::core

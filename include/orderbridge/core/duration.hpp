#pragma once
// Durations as written in configuration: "250ms", "30s", "5m", "48h", "7d", or combined "1h30m".
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace orderbridge::core {

using Duration = std::chrono::milliseconds;

std::optional<Duration> ParseDuration(std::string_view text);
/// The shortest exact form: 90000ms -> "1m30s", 0 -> "0s".
std::string FormatDuration(Duration d);

}  // namespace orderbridge::core

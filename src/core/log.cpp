#include "orderbridge/core/log.hpp"

#include <fmt/format.h>
#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "orderbridge/core/clock.hpp"

namespace orderbridge::log {
namespace {

std::atomic<Level> g_level{Level::kInfo};
std::mutex g_mutex;  // guards g_logger replacement and g_settings
Settings g_settings;
std::shared_ptr<spdlog::logger> g_logger;

void AppendJsonString(std::string& out, std::string_view s) {
    out.push_back('"');
    for (char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
                } else {
                    out.push_back(c);
                }
        }
    }
    out.push_back('"');
}

void AppendValue(std::string& out, const Field& f, bool json) {
    std::visit(
        [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string_view>) {
                if (json) {
                    AppendJsonString(out, v);
                } else if (v.find_first_of(" \"=") != std::string_view::npos || v.empty()) {
                    AppendJsonString(out, v);
                } else {
                    out.append(v);
                }
            } else if constexpr (std::is_same_v<T, bool>) {
                out += v ? "true" : "false";
            } else if constexpr (std::is_same_v<T, double>) {
                out += fmt::format("{:.3f}", v);  // durations in ms: microsecond resolution is enough
            } else {
                out += fmt::format("{}", v);
            }
        },
        f.value);
}

std::shared_ptr<spdlog::logger> MakeLogger(const Settings& s) {
    spdlog::sink_ptr sink;
    if (s.file.empty()) {
        sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
        sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(s.file, false);
    }
    if (!spdlog::thread_pool()) {
        spdlog::init_thread_pool(65536, 1);
        spdlog::flush_every(std::chrono::seconds(1));  // file sinks: lines reach the disk within a second
    }
    spdlog::drop("orderbridge");
    auto logger = std::make_shared<spdlog::async_logger>("orderbridge", sink, spdlog::thread_pool(),
                                                         spdlog::async_overflow_policy::overrun_oldest);
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::warn);
    spdlog::register_logger(logger);  // flush_every flushes registered loggers only
    return logger;
}

std::shared_ptr<spdlog::logger> Current() {
    std::lock_guard lock(g_mutex);
    if (!g_logger) g_logger = MakeLogger(g_settings);
    return g_logger;
}

}  // namespace

std::string_view ToString(Level level) {
    switch (level) {
        case Level::kTrace:
            return "trace";
        case Level::kDebug:
            return "debug";
        case Level::kInfo:
            return "info";
        case Level::kWarn:
            return "warn";
        case Level::kError:
            return "error";
        case Level::kOff:
            return "off";
    }
    return "info";
}

std::optional<Level> ParseLevel(std::string_view text) {
    for (Level l : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError, Level::kOff}) {
        if (ToString(l) == text) return l;
    }
    if (text == "warning") return Level::kWarn;
    return std::nullopt;
}

void Init(const Settings& settings) {
    auto logger = MakeLogger(settings);
    std::lock_guard lock(g_mutex);
    if (g_logger) g_logger->flush();
    g_settings = settings;
    g_logger = std::move(logger);
    g_level.store(settings.level);
}

void Reopen() {
    Settings s;
    {
        std::lock_guard lock(g_mutex);
        s = g_settings;
    }
    if (s.file.empty()) return;
    Init(s);
}

void Flush() {
    if (auto l = Current()) l->flush();
}

void SetLevel(Level level) {
    g_level.store(level);
}

bool Enabled(Level level) {
    return level >= g_level.load(std::memory_order_relaxed) && level != Level::kOff;
}

std::string Render(Format format, Level level, std::string_view msg, std::initializer_list<Field> fields) {
    std::string out;
    out.reserve(128 + msg.size());
    const std::string ts = core::FormatRfc3339(std::chrono::system_clock::now());
    if (format == Format::kJson) {
        out += "{\"ts\":\"";
        out += ts;
        out += "\",\"level\":\"";
        out += ToString(level);
        out += "\",\"msg\":";
        AppendJsonString(out, msg);
        for (const Field& f : fields) {
            out.push_back(',');
            AppendJsonString(out, f.key);
            out.push_back(':');
            AppendValue(out, f, true);
        }
        out.push_back('}');
    } else {
        out += ts;
        out.push_back(' ');
        std::string lv(ToString(level));
        for (char& c : lv)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        out += fmt::format("{:<5} ", lv);
        out += msg;
        for (const Field& f : fields) {
            out.push_back(' ');
            out += f.key;
            out.push_back('=');
            AppendValue(out, f, false);
        }
    }
    return out;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
    if (!Enabled(level)) return;
    Format format;
    {
        std::lock_guard lock(g_mutex);
        format = g_settings.format;
    }
    const std::string line = Render(format, level, msg, fields);
    auto logger = Current();
    const auto sl = level >= Level::kError  ? spdlog::level::err
                    : level == Level::kWarn ? spdlog::level::warn
                                            : spdlog::level::info;
    logger->log(sl, "{}", line);
}

}  // namespace orderbridge::log

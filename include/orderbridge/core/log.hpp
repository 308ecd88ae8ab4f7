#pragma once
// Structured logging on top of spdlog: one line per event, JSON (`{"ts","level","msg",...fields}`)
// or text (`ts LEVEL msg key=value ...`). Fields are explicit, so a secret can only reach a log line
// if a caller passes it as a field; configuration values are never logged wholesale.
//
// Thread-safety: every function may be called from any thread. Writes go through an asynchronous
// spdlog logger, so a log call never waits for the disk on an io thread.
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace orderbridge::log {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kOff };
enum class Format { kJson, kText };

struct Field {
    Field(std::string_view k, std::string_view v) : key(k), value(v) {}
    Field(std::string_view k, const std::string& v) : key(k), value(std::string_view{v}) {}
    Field(std::string_view k, const char* v) : key(k), value(std::string_view{v}) {}
    Field(std::string_view k, std::int64_t v) : key(k), value(v) {}
    Field(std::string_view k, int v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, unsigned v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, std::size_t v) : key(k), value(static_cast<std::int64_t>(v)) {}
    Field(std::string_view k, double v) : key(k), value(v) {}
    Field(std::string_view k, bool v) : key(k), value(v) {}

    std::string_view key;
    std::variant<std::string_view, std::int64_t, double, bool> value;
};

struct Settings {
    Level level = Level::kInfo;
    Format format = Format::kJson;
    std::string file;  ///< empty: standard error
};

/// Replaces the process logger. Safe to call again (tests, SIGHUP).
void Init(const Settings& settings);
/// Reopens the log file (after logrotate moved it). No-op when logging to stderr.
void Reopen();
/// Flushes pending lines; call before exit.
void Flush();
void SetLevel(Level level);
bool Enabled(Level level);

std::optional<Level> ParseLevel(std::string_view text);
std::string_view ToString(Level level);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

/// Renders one line without writing it (used by Write and by tests).
std::string Render(Format format, Level level, std::string_view msg, std::initializer_list<Field> fields);

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) {
    Write(Level::kDebug, msg, f);
}
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) {
    Write(Level::kInfo, msg, f);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) {
    Write(Level::kWarn, msg, f);
}
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) {
    Write(Level::kError, msg, f);
}

}  // namespace orderbridge::log

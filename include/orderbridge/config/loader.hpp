#pragma once
// Loads and validates configuration. Every problem is collected (unknown keys with a suggestion,
// wrong types, out-of-range values, cross-field rules) so one run reports them all.
#include <string>
#include <vector>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::config {

/// One problem, e.g. `connectors[1].retry.max_attemps: unknown key (did you mean max_attempts?)`.
struct Problem {
    std::string path;  ///< key path; empty for document-level problems
    std::string message;
    int line = 0;  ///< 1-based line in the file, 0 when unknown

    std::string ToString() const;
};

struct LoadResult {
    Settings settings;
    std::vector<Problem> problems;
    bool Ok() const { return problems.empty(); }
};

/// Reads environment variables; tests substitute their own.
class Environment {
  public:
    virtual ~Environment() = default;
    virtual std::optional<std::string> Get(const std::string& name) const = 0;
};

class ProcessEnvironment final : public Environment {
  public:
    std::optional<std::string> Get(const std::string& name) const override;
};

LoadResult LoadFromString(const std::string& yaml, const Environment& env);
LoadResult LoadFromFile(const std::string& path, const Environment& env);

struct KeyInfo {
    std::string path;           ///< `server.listen`, `connectors[].retry.max_attempts`, ...
    std::string default_value;  ///< as written in YAML; empty when there is none
};
/// Every key the loader accepts, with its default; docs/configuration.md must list the same.
std::vector<KeyInfo> KnownKeys();

/// Closest candidate by edit distance, or empty when nothing is close enough.
std::string Suggest(const std::string& unknown, const std::vector<std::string>& candidates);

/// Splits "host:port" (IPv6 as "[::1]:8080"). False when malformed.
bool SplitHostPort(const std::string& listen, std::string& host, unsigned short& port);

/// The canonical event types (DESIGN section 3, plus customer.updated); connectors subscribe to
/// these ("order.*" and "*" match several).
const std::vector<std::string>& EventTypes();

/// Expands `${VAR}` and `${VAR:-default}`; a missing variable without default is an error.
/// Returns false and sets `error` on failure.
bool Interpolate(const std::string& in, const Environment& env, std::string& out, std::string& error);

}  // namespace orderbridge::config

#include "orderbridge/config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <type_traits>

#include "schema.hpp"
#include "validate.hpp"

namespace orderbridge::config {
namespace {

template <class T>
struct EnumNames;

template <>
struct EnumNames<Role> {
    static constexpr std::pair<const char*, Role> kValues[] = {{"viewer", Role::kViewer},
                                                               {"operator", Role::kOperator}};
};
template <>
struct EnumNames<log::Level> {
    static constexpr std::pair<const char*, log::Level> kValues[] = {
        {"trace", log::Level::kTrace}, {"debug", log::Level::kDebug}, {"info", log::Level::kInfo},
        {"warn", log::Level::kWarn},   {"error", log::Level::kError}, {"off", log::Level::kOff}};
};
template <>
struct EnumNames<log::Format> {
    static constexpr std::pair<const char*, log::Format> kValues[] = {{"json", log::Format::kJson},
                                                                      {"text", log::Format::kText}};
};
template <>
struct EnumNames<StorageDriver> {
    static constexpr std::pair<const char*, StorageDriver> kValues[] = {{"sqlite", StorageDriver::kSqlite},
                                                                        {"postgres", StorageDriver::kPostgres}};
};
template <>
struct EnumNames<BusDriver> {
    static constexpr std::pair<const char*, BusDriver> kValues[] = {{"store", BusDriver::kStore},
                                                                    {"kafka", BusDriver::kKafka}};
};
template <>
struct EnumNames<RuleAction> {
    static constexpr std::pair<const char*, RuleAction> kValues[] = {
        {"off", RuleAction::kOff}, {"warn", RuleAction::kWarn}, {"hold", RuleAction::kHold}};
};
template <>
struct EnumNames<ConnectorKind> {
    static constexpr std::pair<const char*, ConnectorKind> kValues[] = {{"erpnext", ConnectorKind::kErpnext},
                                                                        {"odoo", ConnectorKind::kOdoo},
                                                                        {"shipstation", ConnectorKind::kShipstation},
                                                                        {"shipbob", ConnectorKind::kShipbob},
                                                                        {"http", ConnectorKind::kHttp},
                                                                        {"woocommerce", ConnectorKind::kWoocommerce}};
};

template <class T, class = void>
struct IsEnumConfig : std::false_type {};
template <class T>
struct IsEnumConfig<T, std::void_t<decltype(EnumNames<T>::kValues)>> : std::true_type {};

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};

std::string TypeName(const YAML::Node& n) {
    switch (n.Type()) {
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Null:
            return "empty";
        default:
            return "'" + n.Scalar() + "'";
    }
}

// Reads one mapping level. Each Describe() call visits the keys it knows; Finish() reports the rest.
class Reader {
  public:
    Reader(YAML::Node node, std::string path, const Environment& env, std::vector<Problem>& problems)
        : node_(std::move(node)), path_(std::move(path)), env_(env), problems_(problems) {}

    template <class T>
    void Field(const char* key, T& value, const schema::Spec<T>& spec = {}) {
        known_.push_back(key);
        YAML::Node child = node_[key];
        const std::string path = Join(key);
        if (!child.IsDefined() || child.IsNull()) {
            if (spec.required) Add(path, "is required", node_);
            return;
        }
        if (Convert(child, path, value) && spec.check) {
            if (std::string msg = spec.check(value); !msg.empty()) Add(path, msg, child);
        }
    }

    template <class T>
    void Object(const char* key, T& value) {
        known_.push_back(key);
        YAML::Node child = node_[key];
        if (!child.IsDefined() || child.IsNull()) return;
        const std::string path = Join(key);
        if (!child.IsMap()) {
            Add(path, "must be a mapping, got " + TypeName(child), child);
            return;
        }
        Reader nested(child, path, env_, problems_);
        schema::Describe(nested, value);
        nested.Finish();
    }

    template <class T>
    void OptionalObject(const char* key, std::optional<T>& value) {
        YAML::Node child = node_[key];
        if (child.IsDefined() && !child.IsNull()) value.emplace();
        if (value) {
            Object(key, *value);
        } else {
            known_.push_back(key);
        }
    }

    template <class T>
    void ObjectList(const char* key, std::vector<T>& list) {
        known_.push_back(key);
        YAML::Node child = node_[key];
        if (!child.IsDefined() || child.IsNull()) return;
        const std::string path = Join(key);
        if (!child.IsSequence()) {
            Add(path, "must be a list, got " + TypeName(child), child);
            return;
        }
        list.clear();
        for (std::size_t i = 0; i < child.size(); ++i) {
            const std::string item_path = path + "[" + std::to_string(i) + "]";
            YAML::Node item = child[i];
            list.emplace_back();
            if (!item.IsMap()) {
                Add(item_path, "must be a mapping, got " + TypeName(item), item);
                continue;
            }
            Reader nested(item, item_path, env_, problems_);
            schema::Describe(nested, list.back());
            nested.Finish();
        }
    }

    bool ForKind(ConnectorKind actual, ConnectorKind wanted) { return actual == wanted; }

    void Finish() {
        for (auto it = node_.begin(); it != node_.end(); ++it) {
            const std::string key = it->first.as<std::string>();
            if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
            std::string msg = "unknown key";
            if (std::string s = Suggest(key, known_); !s.empty()) msg += " (did you mean " + s + "?)";
            Add(Join(key), msg, it->first);
        }
    }

  private:
    std::string Join(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

    void Add(const std::string& path, const std::string& message, const YAML::Node& at) {
        const YAML::Mark mark = at.Mark();
        problems_.push_back(Problem{path, message, mark.is_null() ? 0 : mark.line + 1});
    }

    bool ScalarString(const YAML::Node& n, const std::string& path, std::string& out) {
        if (!n.IsScalar()) {
            Add(path, "must be a single value, got " + TypeName(n), n);
            return false;
        }
        std::string error;
        if (!Interpolate(n.Scalar(), env_, out, error)) {
            Add(path, error, n);
            return false;
        }
        return true;
    }

    bool Convert(const YAML::Node& n, const std::string& path, std::string& out) { return ScalarString(n, path, out); }

    bool Convert(const YAML::Node& n, const std::string& path, bool& out) {
        std::string s;
        if (!ScalarString(n, path, s)) return false;
        if (s == "true" || s == "yes" || s == "on") {
            out = true;
        } else if (s == "false" || s == "no" || s == "off") {
            out = false;
        } else {
            Add(path, "must be true or false, got '" + s + "'", n);
            return false;
        }
        return true;
    }

    template <class T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) bool Convert(const YAML::Node& n,
                                                                             const std::string& path, T& out) {
        std::string s;
        if (!ScalarString(n, path, s)) return false;
        try {
            std::size_t used = 0;
            if constexpr (std::is_unsigned_v<T>) {
                if (!s.empty() && s[0] == '-') throw std::invalid_argument("negative");
                const unsigned long long v = std::stoull(s, &used);
                if (used != s.size()) throw std::invalid_argument("trailing");
                out = static_cast<T>(v);
            } else {
                const long long v = std::stoll(s, &used);
                if (used != s.size()) throw std::invalid_argument("trailing");
                out = static_cast<T>(v);
            }
        } catch (const std::exception&) {
            Add(path, "must be a whole number, got '" + s + "'", n);
            return false;
        }
        return true;
    }

    bool Convert(const YAML::Node& n, const std::string& path, double& out) {
        std::string s;
        if (!ScalarString(n, path, s)) return false;
        try {
            std::size_t used = 0;
            out = std::stod(s, &used);
            if (used != s.size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
            Add(path, "must be a number, got '" + s + "'", n);
            return false;
        }
        return true;
    }

    bool Convert(const YAML::Node& n, const std::string& path, Duration& out) {
        std::string s;
        if (!ScalarString(n, path, s)) return false;
        if (auto d = core::ParseDuration(s)) {
            out = *d;
            return true;
        }
        Add(path, "must be a duration such as 500ms, 30s, 5m, 48h, got '" + s + "'", n);
        return false;
    }

    template <class T>
    requires IsEnumConfig<T>::value bool Convert(const YAML::Node& n, const std::string& path, T& out) {
        std::string s;
        if (!ScalarString(n, path, s)) return false;
        std::vector<std::string> names;
        for (const auto& [name, value] : EnumNames<T>::kValues) {
            if (s == name) {
                out = value;
                return true;
            }
            names.emplace_back(name);
        }
        std::string msg = "must be one of ";
        for (std::size_t i = 0; i < names.size(); ++i)
            msg += (i ? "|" : "") + names[i];
        msg += ", got '" + s + "'";
        if (std::string sug = Suggest(s, names); !sug.empty()) msg += " (did you mean " + sug + "?)";
        Add(path, msg, n);
        return false;
    }

    bool Convert(const YAML::Node& n, const std::string& path, std::vector<std::string>& out) {
        if (!n.IsSequence()) {
            Add(path, "must be a list, got " + TypeName(n), n);
            return false;
        }
        out.clear();
        bool ok = true;
        for (std::size_t i = 0; i < n.size(); ++i) {
            std::string s;
            if (ScalarString(n[i], path + "[" + std::to_string(i) + "]", s)) {
                out.push_back(std::move(s));
            } else {
                ok = false;
            }
        }
        return ok;
    }

    bool Convert(const YAML::Node& n, const std::string& path, std::map<std::string, std::string>& out) {
        if (!n.IsMap()) {
            Add(path, "must be a mapping, got " + TypeName(n), n);
            return false;
        }
        bool ok = true;
        for (auto it = n.begin(); it != n.end(); ++it) {
            const std::string key = it->first.as<std::string>();
            std::string s;
            if (ScalarString(it->second, path + "." + key, s)) {
                out[key] = std::move(s);
            } else {
                ok = false;
            }
        }
        return ok;
    }

    YAML::Node node_;
    std::string path_;
    const Environment& env_;
    std::vector<Problem>& problems_;
    std::vector<std::string> known_;
};

template <class T>
std::string DefaultText(const T& value) {
    if constexpr (std::is_same_v<T, std::string>) {
        return value;
    } else if constexpr (std::is_same_v<T, bool>) {
        return value ? "true" : "false";
    } else if constexpr (std::is_same_v<T, Duration>) {
        return core::FormatDuration(value);
    } else if constexpr (IsEnumConfig<T>::value) {
        for (const auto& [name, v] : EnumNames<T>::kValues) {
            if (v == value) return name;
        }
        return "";
    } else if constexpr (std::is_arithmetic_v<T>) {
        std::ostringstream out;
        out << value;
        return out.str();
    } else {
        return value.empty() ? "" : "(not empty)";  // lists and maps default to empty
    }
}

// Lists key paths and their defaults instead of reading values.
class KeyCollector {
  public:
    KeyCollector(std::string prefix, std::vector<KeyInfo>& out) : prefix_(std::move(prefix)), out_(out) {}

    template <class T>
    void Field(const char* key, T& value, const schema::Spec<T>& spec = {}) {
        out_.push_back(KeyInfo{prefix_ + key, spec.required ? "(required)" : DefaultText(value)});
    }
    template <class T>
    void Object(const char* key, T& value) {
        KeyCollector nested(prefix_ + key + ".", out_);
        schema::Describe(nested, value);
    }
    template <class T>
    void OptionalObject(const char* key, std::optional<T>&) {
        T value{};
        Object(key, value);
    }
    template <class T>
    void ObjectList(const char* key, std::vector<T>&) {
        T value{};
        KeyCollector nested(prefix_ + key + "[].", out_);
        schema::Describe(nested, value);
    }
    bool ForKind(ConnectorKind, ConnectorKind) { return true; }

  private:
    std::string prefix_;
    std::vector<KeyInfo>& out_;
};

std::size_t EditDistance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j)
        prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

}  // namespace

std::string Problem::ToString() const {
    std::string out;
    if (line > 0) out += "line " + std::to_string(line) + ": ";
    if (!path.empty()) out += path + ": ";
    out += message;
    return out;
}

std::optional<std::string> ProcessEnvironment::Get(const std::string& name) const {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
}

std::string Suggest(const std::string& unknown, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = std::string::npos;
    for (const auto& c : candidates) {
        const std::size_t d = EditDistance(unknown, c);
        if (d < best_distance) {
            best_distance = d;
            best = c;
        }
    }
    const std::size_t limit = std::max<std::size_t>(2, unknown.size() / 3);
    return best_distance <= limit ? best : std::string{};
}

bool Interpolate(const std::string& in, const Environment& env, std::string& out, std::string& error) {
    out.clear();
    std::size_t i = 0;
    while (i < in.size()) {
        if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '{') {
            const std::size_t close = in.find('}', i + 2);
            if (close == std::string::npos) {
                error = "unterminated ${ in '" + in + "'";
                return false;
            }
            const std::string expr = in.substr(i + 2, close - i - 2);
            const std::size_t dflt = expr.find(":-");
            const std::string name = expr.substr(0, dflt);
            if (name.empty() ||
                name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                    std::string::npos) {
                error = "bad environment reference ${" + expr + "}";
                return false;
            }
            std::optional<std::string> value = env.Get(name);
            if (!value || (value->empty() && dflt != std::string::npos)) {
                if (dflt == std::string::npos) {
                    error = "environment variable " + name + " is not set";
                    return false;
                }
                value = expr.substr(dflt + 2);
            }
            out += *value;
            i = close + 1;
        } else {
            out.push_back(in[i]);
            ++i;
        }
    }
    return true;
}

LoadResult LoadFromString(const std::string& yaml, const Environment& env) {
    LoadResult result;
    YAML::Node root;
    try {
        root = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
        result.problems.push_back(Problem{"", "not valid YAML: " + e.msg, e.mark.is_null() ? 0 : e.mark.line + 1});
        return result;
    }
    if (root.IsNull() || !root.IsDefined()) {
        // An empty document means "all defaults".
    } else if (!root.IsMap()) {
        result.problems.push_back(Problem{"", "the document must be a mapping", 1});
        return result;
    } else {
        Reader reader(root, "", env, result.problems);
        schema::Describe(reader, result.settings);
        reader.Finish();
    }
    Validate(result.settings, result.problems);
    if (result.problems.empty()) AddImplicitLanes(result.settings);
    std::stable_sort(result.problems.begin(), result.problems.end(), [](const Problem& a, const Problem& b) {
        return a.line != 0 && (b.line == 0 || a.line < b.line);
    });
    return result;
}

LoadResult LoadFromFile(const std::string& path, const Environment& env) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        LoadResult result;
        result.problems.push_back(Problem{"", "cannot read configuration file " + path, 0});
        return result;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return LoadFromString(ss.str(), env);
}

std::vector<KeyInfo> KnownKeys() {
    std::vector<KeyInfo> out;
    Settings s;
    KeyCollector collector("", out);
    schema::Describe(collector, s);
    return out;
}

}  // namespace orderbridge::config

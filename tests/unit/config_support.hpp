#pragma once
// What the configuration tests share: an environment from a map, and a load result's problems as text.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "orderbridge/config/loader.hpp"

namespace orderbridge::config::test_support {

class FakeEnvironment : public Environment {
  public:
    std::map<std::string, std::string> vars;
    std::optional<std::string> Get(const std::string& name) const override {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    }
};

inline std::vector<std::string> Messages(const LoadResult& r) {
    std::vector<std::string> out;
    for (const auto& p : r.problems)
        out.push_back(p.ToString());
    return out;
}

}  // namespace orderbridge::config::test_support

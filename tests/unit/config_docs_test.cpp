// docs/configuration.md and the loader must agree on every key and every default.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "orderbridge/config/loader.hpp"

namespace orderbridge::config {
namespace {

// Reference rows look like: | `server.listen` | `127.0.0.1:8080` | what it does |
std::map<std::string, std::string> DocumentedKeys() {
    std::ifstream in(std::string(ORDERBRIDGE_SOURCE_DIR) + "/docs/configuration.md");
    EXPECT_TRUE(in.good()) << "docs/configuration.md is missing";
    std::map<std::string, std::string> keys;
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("| `", 0) != 0) continue;
        std::vector<std::string> cells;
        std::stringstream ss(line.substr(1));
        std::string cell;
        while (std::getline(ss, cell, '|')) {
            const auto b = cell.find_first_not_of(' ');
            const auto e = cell.find_last_not_of(' ');
            cells.push_back(b == std::string::npos ? "" : cell.substr(b, e - b + 1));
        }
        if (cells.size() < 3) continue;
        auto unquote = [](const std::string& c) {
            return c.size() >= 2 && c.front() == '`' && c.back() == '`' ? c.substr(1, c.size() - 2) : c;
        };
        const std::string key = unquote(cells[0]);
        std::string dflt = cells[1] == "—" ? "" : unquote(cells[1]);
        keys[key] = dflt;
    }
    return keys;
}

TEST(ConfigDocsTest, EveryKeyIsDocumentedWithItsDefault) {
    const auto documented = DocumentedKeys();
    for (const auto& key : KnownKeys()) {
        auto it = documented.find(key.path);
        if (it == documented.end()) {
            ADD_FAILURE() << key.path << " is accepted by the loader but not documented in docs/configuration.md";
            continue;
        }
        EXPECT_EQ(it->second, key.default_value) << "default of " << key.path << " differs between docs and code";
    }
}

TEST(ConfigDocsTest, EveryDocumentedKeyExists) {
    std::map<std::string, std::string> known;
    for (const auto& key : KnownKeys())
        known[key.path] = key.default_value;
    for (const auto& [path, dflt] : DocumentedKeys()) {
        EXPECT_TRUE(known.contains(path)) << path << " is documented but the loader does not accept it";
    }
}

}  // namespace
}  // namespace orderbridge::config

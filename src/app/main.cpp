// orderbridge: one binary, several subcommands (DESIGN section 3).
// Exit codes: 0 ok, 2 bad configuration or usage, 1 runtime failure.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "orderbridge/app/application.hpp"
#include "orderbridge/config/loader.hpp"
#include "orderbridge/core/build_info.hpp"
#include "orderbridge/core/log.hpp"

namespace {

using namespace orderbridge;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;

std::string DefaultConfigPath() {
    if (const char* env = std::getenv("ORDERBRIDGE_CONFIG"); env && *env) return env;
    return "config/orderbridge.yaml";
}

// Loads the configuration; prints every problem and returns false when there are any.
bool LoadConfig(const std::string& path, config::Settings& out) {
    config::ProcessEnvironment env;
    config::LoadResult result = config::LoadFromFile(path, env);
    if (!result.Ok()) {
        std::cerr << path << ": " << result.problems.size() << " configuration problem"
                  << (result.problems.size() == 1 ? "" : "s") << ":\n";
        for (const auto& p : result.problems)
            std::cerr << "  " << path << ": " << p.ToString() << "\n";
        return false;
    }
    out = std::move(result.settings);
    return true;
}

log::Settings LogSettingsFrom(const config::LogSettings& s, const std::string& level_override) {
    log::Settings ls;
    ls.level = s.level;
    ls.format = s.format;
    ls.file = s.file;
    if (!level_override.empty()) {
        if (auto l = log::ParseLevel(level_override)) ls.level = *l;
    }
    return ls;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App cli{"orderbridge: WooCommerce to ERP and 3PL integration daemon", "orderbridge"};
    cli.require_subcommand(1);
    std::string config_path = DefaultConfigPath();
    std::string log_level;
    cli.add_option("--config", config_path,
                   "Configuration file (default config/orderbridge.yaml or $ORDERBRIDGE_CONFIG)");
    cli.add_option("--log-level", log_level, "Override log.level")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

    auto* serve = cli.add_subcommand("serve", "Run the daemon");
    auto* check = cli.add_subcommand("check-config", "Validate the configuration and list every problem");
    auto* version = cli.add_subcommand("version", "Print version, git commit and build type");

    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = cli.exit(e);
        return code == 0 ? kExitOk : kExitConfig;
    }

    if (version->parsed()) {
        const auto& info = core::GetBuildInfo();
        std::cout << "orderbridge " << info.version << " (git " << info.git_sha << ", " << info.build_type << ")\n";
        return kExitOk;
    }

    config::Settings settings;
    if (!LoadConfig(config_path, settings)) return kExitConfig;

    if (check->parsed()) {
        std::cout << config_path << ": configuration OK (" << settings.stores.size() << " store"
                  << (settings.stores.size() == 1 ? "" : "s") << ", " << settings.connectors.size() << " connector"
                  << (settings.connectors.size() == 1 ? "" : "s") << ")\n";
        return kExitOk;
    }

    if (serve->parsed()) {
        app::Application::BlockSignals();
        log::Init(LogSettingsFrom(settings.log, log_level));
        try {
            app::Application application(std::move(settings));
            return application.Run();
        } catch (const std::exception& e) {
            log::Error("fatal", {{"error", e.what()}});
            log::Flush();
            return kExitRuntime;
        }
    }
    return kExitConfig;
}

// orderbridge: one binary, several subcommands (DESIGN section 3).
// Exit codes: 0 ok, 2 bad configuration or usage, 1 runtime failure.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#ifdef ORDERBRIDGE_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "orderbridge/app/admin_cli.hpp"
#include "orderbridge/app/application.hpp"
#include "orderbridge/app/demo.hpp"
#include "orderbridge/config/loader.hpp"
#include "orderbridge/core/build_info.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/model/identity.hpp"
#include "orderbridge/model/schema.hpp"
#include "orderbridge/store/store.hpp"
#include "orderbridge/woo/normalize.hpp"

namespace {

using namespace orderbridge;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitConfig = 2;
constexpr int kExitUnusable = 3;

/// The memory allocator the daemon runs with, for `orderbridge version`.
std::string AllocatorName() {
#ifdef ORDERBRIDGE_WITH_JEMALLOC
    const char* v = nullptr;
    std::size_t size = sizeof(v);
    if (mallctl("version", static_cast<void*>(&v), &size, nullptr, 0) == 0 && v) return std::string("jemalloc ") + v;
    return "jemalloc";
#elif defined(__SANITIZE_ADDRESS__)
    return "AddressSanitizer's malloc";
#else
    return "system malloc";
#endif
}

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

// `orderbridge normalize`: what a raw WooCommerce body becomes, with its findings.
int RunNormalize(const std::string& config_path, bool config_given, const std::string& store, const std::string& topic,
                 const std::string& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        std::cerr << "cannot read " << file << "\n";
        return kExitConfig;
    }
    const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    woo::NormalizeInput input;
    input.store = store;
    input.topic = topic;
    input.body = body;
    input.received_at = core::FormatRfc3339(std::chrono::system_clock::now());
    input.trace_id = model::NewTraceId();
    // The store's rules and currencies apply when the configuration knows the store.
    if (config_given || std::ifstream(config_path).good()) {
        config::Settings settings;
        if (!LoadConfig(config_path, settings)) return kExitConfig;
        for (const auto& s : settings.stores) {
            if (s.id == store) {
                input.rules = s.rules;
                input.currencies = s.currencies;
            }
        }
    }
    const woo::Normalized n = woo::Normalize(input);
    if (!n.usable) {
        std::cerr << file << ": unusable body: " << n.error << "\n";
        return kExitUnusable;
    }
    nlohmann::json findings = nlohmann::json::array();
    for (const auto& f : n.findings)
        findings.push_back({{"rule", f.rule}, {"action", f.action}, {"message", f.message}});
    nlohmann::json schema_errors = nlohmann::json::array();
    const model::SchemaValidator validator;
    nlohmann::json events = nlohmann::json::array();
    for (const auto& e : n.events) {
        events.push_back(n.EventJson(e));
        for (auto& err : validator.Validate(events.back()))
            schema_errors.push_back(e.type + " " + err);
    }
    nlohmann::json out = {{"entity_id", n.entity_id}, {"version", n.version}, {"held", n.Held()},
                          {"findings", findings},     {"events", events},     {"schema_errors", schema_errors}};
    std::cout << out.dump(2) << "\n";
    return kExitOk;
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
    auto* version = cli.add_subcommand("version", "Print version, git commit, build type and memory allocator");
    auto* migrate = cli.add_subcommand("migrate", "Apply pending database migrations and print the schema version");
    auto* normalize =
        cli.add_subcommand("normalize",
                           "Print the canonical events a raw WooCommerce webhook body becomes, with its findings "
                           "(exit 3 when the body is unusable)");
    std::string norm_store, norm_topic, norm_file;
    normalize->add_option("--store", norm_store, "Store id (as in stores[].id)")->required();
    normalize->add_option("--topic", norm_topic, "WooCommerce topic, e.g. order.updated")->required();
    normalize->add_option("file", norm_file, "File with the raw body")->required();

    app::AdminCommand admin;
    auto admin_options = [&admin](CLI::App* sub) {
        sub->add_option("--url", admin.url, "Admin API base URL (default from server.listen)");
        sub->add_option("--token", admin.token, "Bearer token (default $ORDERBRIDGE_TOKEN or from the config)");
    };
    auto* dlq = cli.add_subcommand("dlq", "Dead letters of a running daemon: list, show, replay");
    dlq->require_subcommand(1);
    auto* dlq_list = dlq->add_subcommand("list", "List dead deliveries, newest first");
    auto* dlq_show = dlq->add_subcommand("show", "One dead delivery with its payload and every attempt");
    auto* dlq_replay = dlq->add_subcommand("replay", "Replay one dead delivery (ID) or every one matching filters");
    for (auto* sub : {dlq_list, dlq_replay}) {
        admin_options(sub);
        sub->add_option("--connector", admin.connector, "Connector name");
        sub->add_option("--error-class", admin.error_class, "transient|throttled|permanent|auth");
        sub->add_option("--entity", admin.entity, "Entity id, e.g. wc:main:4101");
        sub->add_option("--from", admin.from, "Created at or after (RFC 3339)");
        sub->add_option("--to", admin.to, "Created before (RFC 3339)");
    }
    dlq_list->add_option("--limit", admin.limit, "At most this many")->check(CLI::Range(1, 500));
    dlq_list->add_flag("--json", admin.json, "Print the API's JSON");
    admin_options(dlq_show);
    dlq_show->add_option("id", admin.id, "Dead letter id")->required();
    dlq_replay->add_option("id", admin.id, "Dead letter id (omit to replay by filter)");
    dlq_replay->add_option("--reason", admin.reason, "Why (goes into the audit record)");
    auto* replay = cli.add_subcommand("replay", "Send an entity's newest delivery to a connector again");
    admin_options(replay);
    replay->add_option("--entity", admin.entity, "Entity id, e.g. wc:main:4101")->required();
    replay->add_option("--connector", admin.connector, "Connector name")->required();
    replay->add_option("--reason", admin.reason, "Why (goes into the audit record)");

    app::DemoOptions demo_options;
    auto* demo = cli.add_subcommand("demo", "Send a running daemon sample WooCommerce orders, signed like the shop's");
    demo->add_option("--orders", demo_options.orders, "How many (default 10)")->check(CLI::Range(1, 10000));
    demo->add_option("--store", demo_options.store, "Store id (default: the first configured)");
    demo->add_option("--url", demo_options.url, "The daemon's base URL (default from server.listen)");

    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = cli.exit(e);
        return code == 0 ? kExitOk : kExitConfig;
    }

    if (version->parsed()) {
        const auto& info = core::GetBuildInfo();
        std::cout << "orderbridge " << info.version << " (git " << info.git_sha << ", " << info.build_type << ", "
                  << AllocatorName() << ")\n";
        return kExitOk;
    }

    if (normalize->parsed()) {
        return RunNormalize(config_path, cli.get_option("--config")->count() > 0, norm_store, norm_topic, norm_file);
    }

    config::Settings settings;
    if (!LoadConfig(config_path, settings)) return kExitConfig;

    if (migrate->parsed()) {
        try {
            auto store = store::MakeStore(settings.storage);
            const int before = store->SchemaVersion();
            const int after = store->Migrate();
            std::cout << store->Driver() << ": schema version " << after
                      << (after == before ? " (already up to date)" : " (was " + std::to_string(before) + ")") << "\n";
            return kExitOk;
        } catch (const std::exception& e) {
            std::cerr << "migrate failed: " << e.what() << "\n";
            return kExitRuntime;
        }
    }

    if (demo->parsed()) return app::RunDemo(demo_options, settings);

    if (dlq->parsed() || replay->parsed()) {
        using K = app::AdminCommand::Kind;
        admin.kind = replay->parsed()       ? K::kReplay
                     : dlq_show->parsed()   ? K::kDlqShow
                     : dlq_replay->parsed() ? K::kDlqReplay
                                            : K::kDlqList;
        return app::RunAdmin(admin, settings);
    }

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

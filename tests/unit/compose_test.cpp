// The compose stack in docker/ (docs/docker.md) cannot be started here (no compose plugin, no image
// pulls), so it is checked statically: docker/orderbridge.yaml loads with the real configuration
// loader in the environment docker-compose.yml gives it, and docker-compose.yml, the Prometheus
// configuration and the Grafana provisioning agree with that configuration and with deploy/.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config_support.hpp"
#include "orderbridge/config/loader.hpp"

namespace orderbridge::config {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kNpos = std::string::npos;

// Lexically normal, without the trailing separator lexically_normal() leaves after "dir/..".
fs::path Normal(const fs::path& p) {
    std::string s = p.lexically_normal().generic_string();
    while (s.size() > 1 && s.back() == '/')
        s.pop_back();
    return fs::path(s);
}

fs::path Root() {
    return Normal(ORDERBRIDGE_SOURCE_DIR);
}
fs::path DockerDir() {
    return Root() / "docker";
}

// Compose resolves relative host paths against the directory of the compose file.
fs::path HostPath(const std::string& source) {
    return Normal(DockerDir() / source);
}

using test_support::FakeEnvironment;
using test_support::Messages;

// yaml-cpp throws when a missing child is used; these helpers answer "absent" instead.
bool IsMap(const YAML::Node& n) {
    return n.IsDefined() && n.IsMap();
}
bool IsScalar(const YAML::Node& n) {
    return n.IsDefined() && n.IsScalar();
}
std::size_t Size(const YAML::Node& n) {
    return n.IsDefined() && n.IsSequence() ? n.size() : 0;
}

YAML::Node Get(const YAML::Node& n, const std::string& key) {
    if (IsMap(n)) {
        YAML::Node child = n[key];
        if (child.IsDefined()) return child;
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

YAML::Node At(const YAML::Node& n, std::size_t i) {
    return n[i];
}

std::string Text(const YAML::Node& n) {
    return IsScalar(n) ? n.Scalar() : std::string{};
}

// A scalar as one string, a sequence as its scalars (command, entrypoint, targets, ...).
std::vector<std::string> Strings(const YAML::Node& n) {
    if (IsScalar(n)) return {n.Scalar()};
    std::vector<std::string> out;
    for (std::size_t i = 0; i < Size(n); ++i)
        out.push_back(Text(At(n, i)));
    return out;
}

std::string Join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts)
        out += (out.empty() ? "" : " ") + p;
    return out;
}

bool Contains(const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
}

std::vector<std::string> Split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (true) {
        const std::size_t at = s.find(sep, start);
        out.push_back(s.substr(start, at == kNpos ? kNpos : at - start));
        if (at == kNpos) break;
        start = at + 1;
    }
    return out;
}

std::string Value(const std::map<std::string, std::string>& m, const std::string& key) {
    const auto it = m.find(key);
    return it == m.end() ? std::string{} : it->second;
}

std::string HostOf(const std::string& host_port) {
    const std::size_t colon = host_port.rfind(':');
    return colon == kNpos ? host_port : host_port.substr(0, colon);
}

std::string PortOf(const std::string& host_port) {
    const std::size_t colon = host_port.rfind(':');
    return colon == kNpos ? std::string{} : host_port.substr(colon + 1);
}

YAML::Node LoadYaml(const fs::path& path) {
    try {
        return YAML::LoadFile(path.string());
    } catch (const YAML::Exception& e) {
        ADD_FAILURE() << path.string() << ": " << e.what();
    }
    return YAML::Node(YAML::NodeType::Undefined);
}

// Compose's interpolation as `docker compose up` does it with nothing set in the shell or in
// docker/.env: ${VAR:-default} and ${VAR-default} give the default, $$ is a literal $. A ${VAR}
// without a default would be empty: reported, because the stack must start as it is.
std::string ComposeValue(const std::string& in) {
    std::string out;
    std::size_t i = 0;
    while (i < in.size()) {
        if (in.compare(i, 2, "$$") == 0) {
            out += '$';
            i += 2;
        } else if (in.compare(i, 2, "${") == 0) {
            const std::size_t close = in.find('}', i + 2);
            if (close == kNpos) {
                ADD_FAILURE() << "unterminated ${ in '" << in << "'";
                return out;
            }
            const std::string expr = in.substr(i + 2, close - i - 2);
            std::size_t sep = expr.find(":-");
            std::size_t skip = 2;
            if (sep == kNpos) {
                sep = expr.find('-');
                skip = 1;
            }
            if (sep == kNpos) {
                ADD_FAILURE() << "${" << expr << "} in '" << in << "' has no default";
            } else {
                out += expr.substr(sep + skip);
            }
            i = close + 1;
        } else {
            out += in[i];
            ++i;
        }
    }
    return out;
}

// A service's environment, from the mapping or the list form, after Compose's interpolation.
std::map<std::string, std::string> ServiceEnvironment(const YAML::Node& service) {
    std::map<std::string, std::string> out;
    const YAML::Node env = Get(service, "environment");
    if (IsMap(env)) {
        for (auto it = env.begin(); it != env.end(); ++it)
            out[it->first.Scalar()] = ComposeValue(Text(it->second));
    } else {
        for (std::size_t i = 0; i < Size(env); ++i) {
            const std::string entry = Text(At(env, i));
            const std::size_t eq = entry.find('=');
            if (eq != kNpos) out[entry.substr(0, eq)] = ComposeValue(entry.substr(eq + 1));
        }
    }
    return out;
}

struct Mount {
    std::string source;  ///< host path (relative to docker/) or volume name; empty: anonymous volume
    std::string target;
    bool bind = false;
    bool read_only = false;
};

// `volumes:` of a service, short ("src:dst:ro") or long ({type, source, target, read_only}) form.
std::vector<Mount> Mounts(const YAML::Node& service) {
    std::vector<Mount> out;
    const YAML::Node volumes = Get(service, "volumes");
    for (std::size_t i = 0; i < Size(volumes); ++i) {
        const YAML::Node item = At(volumes, i);
        Mount m;
        if (IsScalar(item)) {
            const std::vector<std::string> parts = Split(item.Scalar(), ':');
            if (parts.size() == 1) {
                m.target = parts[0];
            } else {
                m.source = parts[0];
                m.target = parts[1];
                if (parts.size() > 2) m.read_only = Contains(Split(parts[2], ','), "ro");
            }
            m.bind = !m.source.empty() && (m.source[0] == '.' || m.source[0] == '/' || m.source[0] == '~');
        } else {
            m.source = Text(Get(item, "source"));
            m.target = Text(Get(item, "target"));
            m.bind = Text(Get(item, "type")) == "bind";
            m.read_only = Text(Get(item, "read_only")) == "true";
        }
        out.push_back(m);
    }
    return out;
}

struct Mapped {
    std::string container_path;
    bool read_only = false;
};

// Where a file or directory of the repository appears in the container, through the bind mount
// that covers it (the file itself or a directory above it); nullopt when none does.
std::optional<Mapped> InContainer(const std::vector<Mount>& mounts, const fs::path& host) {
    for (const Mount& m : mounts) {
        if (!m.bind) continue;
        const fs::path rel = Normal(host).lexically_relative(HostPath(m.source));
        if (rel.empty() || *rel.begin() == fs::path("..")) continue;
        std::string path = m.target;
        if (rel != fs::path(".")) path += "/" + rel.generic_string();
        return Mapped{path, m.read_only};
    }
    return std::nullopt;
}

// An image reference with a version tag (or a digest): not untagged, not `latest`.
bool PinnedImage(const std::string& image) {
    if (image.find("@sha256:") != kNpos) return true;
    const std::size_t slash = image.rfind('/');
    const std::size_t colon = image.rfind(':');
    if (colon == kNpos || (slash != kNpos && colon < slash)) return false;  // a registry port is no tag
    const std::string tag = image.substr(colon + 1);
    return !tag.empty() && tag != "latest" && tag.find('$') == kNpos &&
           std::any_of(tag.begin(), tag.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "NAME://host:port,..." -> {NAME: "host:port"}
std::map<std::string, std::string> Listeners(const std::string& spec) {
    std::map<std::string, std::string> out;
    for (const std::string& item : Split(spec, ',')) {
        const std::size_t sep = item.find("://");
        if (sep != kNpos) out[item.substr(0, sep)] = item.substr(sep + 3);
    }
    return out;
}

// "A:B,C:D" -> {A: B, C: D}
std::map<std::string, std::string> Pairs(const std::string& spec) {
    std::map<std::string, std::string> out;
    for (const std::string& item : Split(spec, ',')) {
        const std::size_t sep = item.find(':');
        if (sep != kNpos) out[item.substr(0, sep)] = item.substr(sep + 1);
    }
    return out;
}

class ComposeTest : public ::testing::Test {
  protected:
    void SetUp() override {
        try {
            compose_ = YAML::LoadFile((DockerDir() / "docker-compose.yml").string());
        } catch (const YAML::Exception& e) {
            FAIL() << "docker/docker-compose.yml: " << e.what();
        }
        ASSERT_TRUE(IsMap(Get(compose_, "services"))) << "docker/docker-compose.yml has no services";
        ASSERT_TRUE(IsMap(Service("orderbridge"))) << "docker/docker-compose.yml has no orderbridge service";
        // The environment the container gets, with every variable at its default.
        FakeEnvironment env;
        env.vars = ServiceEnvironment(Service("orderbridge"));
        config_ = LoadFromFile((DockerDir() / "orderbridge.yaml").string(), env);
        ASSERT_TRUE(config_.Ok()) << ::testing::PrintToString(Messages(config_));
    }

    YAML::Node Service(const std::string& name) const { return Get(Get(compose_, "services"), name); }

    unsigned short ListenPort() const {
        std::string host;
        unsigned short port = 0;
        EXPECT_TRUE(SplitHostPort(config_.settings.server.listen, host, port)) << config_.settings.server.listen;
        return port;
    }

    YAML::Node compose_;
    LoadResult config_;
};

TEST_F(ComposeTest, OrderbridgeConfigurationUsesPostgresAndKafka) {
    const Settings& s = config_.settings;
    EXPECT_EQ(s.storage.driver, StorageDriver::kPostgres);
    EXPECT_EQ(s.bus.driver, BusDriver::kKafka);
    std::string host;
    unsigned short port = 0;
    ASSERT_TRUE(SplitHostPort(s.server.listen, host, port));
    EXPECT_EQ(host, "0.0.0.0") << "Prometheus and the published port reach it from outside the container";
    EXPECT_FALSE(s.server.admin_tokens.empty()) << "the port is published: /v1 must need a token";

    // The DSN names the postgres service with the credentials that service is created with.
    const YAML::Node postgres = Service("postgres");
    ASSERT_TRUE(IsMap(postgres)) << "no postgres service";
    const auto pg = ServiceEnvironment(postgres);
    const std::string dsn = "postgresql://" + Value(pg, "POSTGRES_USER") + ":" + Value(pg, "POSTGRES_PASSWORD") +
                            "@postgres:5432/" + Value(pg, "POSTGRES_DB");
    EXPECT_TRUE(s.storage.postgres.dsn.starts_with(dsn)) << s.storage.postgres.dsn << " vs " << dsn;

    for (const std::string& broker : Split(s.bus.kafka.brokers, ',')) {
        EXPECT_TRUE(IsMap(Service(HostOf(broker)))) << broker << ": no such compose service";
    }
}

TEST_F(ComposeTest, EveryServiceIsBuiltOrPinsItsImage) {
    const YAML::Node services = Get(compose_, "services");
    for (auto it = services.begin(); it != services.end(); ++it) {
        const std::string name = it->first.Scalar();
        const YAML::Node service = it->second;
        if (Get(service, "build").IsDefined()) continue;
        const std::string image = Text(Get(service, "image"));
        EXPECT_TRUE(PinnedImage(image)) << name << ": image '" << image << "' needs a version tag (not latest)";
    }
    // orderbridge is built from docker/Dockerfile with the repository as the context.
    const YAML::Node build = Get(Service("orderbridge"), "build");
    ASSERT_TRUE(IsMap(build)) << "orderbridge: build must be a mapping with context and dockerfile";
    const fs::path context = HostPath(Text(Get(build, "context")));
    EXPECT_EQ(context.string(), Root().string());
    EXPECT_EQ(Normal(context / Text(Get(build, "dockerfile"))).string(), (DockerDir() / "Dockerfile").string());
}

TEST_F(ComposeTest, BindMountsExistInTheRepositoryAndNamedVolumesAreDeclared) {
    std::set<std::string> declared;
    const YAML::Node volumes = Get(compose_, "volumes");
    if (IsMap(volumes)) {
        for (auto it = volumes.begin(); it != volumes.end(); ++it)
            declared.insert(it->first.Scalar());
    }
    int binds = 0;
    const YAML::Node services = Get(compose_, "services");
    for (auto it = services.begin(); it != services.end(); ++it) {
        const std::string name = it->first.Scalar();
        for (const Mount& m : Mounts(it->second)) {
            EXPECT_FALSE(m.target.empty()) << name << ": a volume without a target";
            if (m.bind) {
                ++binds;
                const fs::path host = HostPath(m.source);
                EXPECT_TRUE(fs::exists(host))
                    << name << ": " << m.source << " (" << host.string() << ") does not exist";
                const fs::path rel = host.lexically_relative(Root());
                EXPECT_TRUE(!rel.empty() && *rel.begin() != fs::path(".."))
                    << name << ": " << m.source << " is outside the repository";
                EXPECT_TRUE(m.read_only) << name << ": mount " << m.source << " read-only";
            } else if (!m.source.empty()) {
                EXPECT_TRUE(declared.contains(m.source)) << name << ": volume " << m.source << " is not declared";
            }
        }
    }
    EXPECT_GE(binds, 5);  // orderbridge.yaml, prometheus.yml, the rules, the provisioning, the dashboard
}

TEST_F(ComposeTest, OrderbridgeReadsTheConfigurationFromDockerAndPublishesItsPort) {
    const YAML::Node ob = Service("orderbridge");
    const auto env = ServiceEnvironment(ob);
    // The image's ORDERBRIDGE_CONFIG is /etc/orderbridge/orderbridge.yaml unless the service sets it.
    const std::string config_path =
        env.contains("ORDERBRIDGE_CONFIG") ? Value(env, "ORDERBRIDGE_CONFIG") : "/etc/orderbridge/orderbridge.yaml";
    const auto mounted = InContainer(Mounts(ob), DockerDir() / "orderbridge.yaml");
    ASSERT_TRUE(mounted.has_value()) << "docker/orderbridge.yaml is not mounted into orderbridge";
    EXPECT_EQ(mounted->container_path, config_path);
    EXPECT_TRUE(mounted->read_only);

    const std::string port = std::to_string(ListenPort());
    bool published = false;
    const YAML::Node ports = Get(ob, "ports");
    for (std::size_t i = 0; i < Size(ports); ++i) {
        const YAML::Node p = At(ports, i);
        std::string container;
        if (IsScalar(p)) {
            container = Split(ComposeValue(p.Scalar()), ':').back();
            container = container.substr(0, container.find('/'));  // "8080/tcp"
        } else {
            container = Text(Get(p, "target"));
        }
        if (container == port) published = true;
    }
    EXPECT_TRUE(published) << "orderbridge does not publish port " << port << " (server.listen)";
}

TEST_F(ComposeTest, PrometheusScrapesTheListenPortAndLoadsTheShippedRules) {
    const YAML::Node prometheus = Service("prometheus");
    ASSERT_TRUE(IsMap(prometheus)) << "no prometheus service";
    std::string config_file = "/etc/prometheus/prometheus.yml";  // the image's default
    for (const std::string& arg : Strings(Get(prometheus, "command"))) {
        if (arg.starts_with("--config.file=")) config_file = arg.substr(std::string("--config.file=").size());
    }
    const std::vector<Mount> mounts = Mounts(prometheus);
    const auto config = InContainer(mounts, DockerDir() / "prometheus" / "prometheus.yml");
    ASSERT_TRUE(config.has_value()) << "docker/prometheus/prometheus.yml is not mounted";
    EXPECT_EQ(config->container_path, config_file);

    const YAML::Node prom = LoadYaml(DockerDir() / "prometheus" / "prometheus.yml");
    ASSERT_TRUE(IsMap(prom));
    const std::string wanted = "orderbridge:" + std::to_string(ListenPort());
    bool scraped = false;
    const YAML::Node jobs = Get(prom, "scrape_configs");
    for (std::size_t i = 0; i < Size(jobs); ++i) {
        const YAML::Node job = At(jobs, i);
        const YAML::Node statics = Get(job, "static_configs");
        for (std::size_t k = 0; k < Size(statics); ++k) {
            if (!Contains(Strings(Get(At(statics, k), "targets")), wanted)) continue;
            scraped = true;
            const std::string path = Text(Get(job, "metrics_path"));
            EXPECT_TRUE(path.empty() || path == "/metrics") << "metrics_path " << path;
        }
    }
    EXPECT_TRUE(scraped) << "docker/prometheus/prometheus.yml does not scrape " << wanted;

    const auto rules = InContainer(mounts, Root() / "deploy" / "prometheus" / "orderbridge-alerts.yml");
    ASSERT_TRUE(rules.has_value()) << "deploy/prometheus/orderbridge-alerts.yml is not mounted into prometheus";
    EXPECT_TRUE(rules->read_only);
    EXPECT_TRUE(Contains(Strings(Get(prom, "rule_files")), rules->container_path))
        << "rule_files does not load " << rules->container_path;
}

TEST_F(ComposeTest, GrafanaProvisionsPrometheusAndTheShippedDashboard) {
    const YAML::Node grafana = Service("grafana");
    ASSERT_TRUE(IsMap(grafana)) << "no grafana service";
    const std::vector<Mount> mounts = Mounts(grafana);

    const fs::path datasource_file = DockerDir() / "grafana" / "provisioning" / "datasources" / "prometheus.yml";
    const auto datasource = InContainer(mounts, datasource_file);
    ASSERT_TRUE(datasource.has_value()) << "the datasource provisioning is not mounted";
    EXPECT_EQ(datasource->container_path, "/etc/grafana/provisioning/datasources/prometheus.yml");
    const YAML::Node datasources = Get(LoadYaml(datasource_file), "datasources");
    bool found = false;
    for (std::size_t i = 0; i < Size(datasources); ++i) {
        const YAML::Node ds = At(datasources, i);
        if (Text(Get(ds, "type")) != "prometheus") continue;
        found = true;
        const std::string url = Text(Get(ds, "url"));
        const std::size_t scheme = url.find("://");
        ASSERT_NE(scheme, kNpos) << url;
        const std::string authority = url.substr(scheme + 3).substr(0, url.substr(scheme + 3).find('/'));
        EXPECT_EQ(HostOf(authority), "prometheus") << url;
        EXPECT_TRUE(IsMap(Service(HostOf(authority)))) << url << ": no such compose service";
        EXPECT_EQ(PortOf(authority), "9090") << url;
    }
    EXPECT_TRUE(found) << "no prometheus datasource";

    const fs::path provider_file = DockerDir() / "grafana" / "provisioning" / "dashboards" / "orderbridge.yml";
    const auto provider = InContainer(mounts, provider_file);
    ASSERT_TRUE(provider.has_value()) << "the dashboard provisioning is not mounted";
    EXPECT_EQ(provider->container_path, "/etc/grafana/provisioning/dashboards/orderbridge.yml");
    const auto dashboard = InContainer(mounts, Root() / "deploy" / "grafana" / "orderbridge-dashboard.json");
    ASSERT_TRUE(dashboard.has_value()) << "deploy/grafana/orderbridge-dashboard.json is not mounted into grafana";
    EXPECT_TRUE(dashboard->read_only);
    const YAML::Node providers = Get(LoadYaml(provider_file), "providers");
    bool loaded = false;
    for (std::size_t i = 0; i < Size(providers); ++i) {
        const std::string path = Text(Get(Get(At(providers, i), "options"), "path"));
        if (!path.empty() && (dashboard->container_path == path || dashboard->container_path.starts_with(path + "/")))
            loaded = true;
    }
    EXPECT_TRUE(loaded) << "no dashboard provider reads " << dashboard->container_path;

    const auto env = ServiceEnvironment(grafana);
    if (env.contains("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")) {
        EXPECT_EQ(Value(env, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"), dashboard->container_path);
    }
    EXPECT_FALSE(Value(env, "GF_SECURITY_ADMIN_PASSWORD").empty());
}

TEST_F(ComposeTest, KafkaRunsInKraftModeWhereOrderbridgeLooksForIt) {
    const YAML::Node kafka = Service("kafka");
    ASSERT_TRUE(IsMap(kafka)) << "no kafka service";
    EXPECT_TRUE(Text(Get(kafka, "image")).starts_with("apache/kafka:"));
    const auto env = ServiceEnvironment(kafka);
    // The image refuses KRaft mode without CLUSTER_ID.
    for (const char* key : {"CLUSTER_ID", "KAFKA_NODE_ID", "KAFKA_PROCESS_ROLES", "KAFKA_CONTROLLER_QUORUM_VOTERS",
                            "KAFKA_CONTROLLER_LISTENER_NAMES", "KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS",
                            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"}) {
        EXPECT_FALSE(Value(env, key).empty()) << key << " is not set";
    }

    const std::vector<std::string> roles = Split(Value(env, "KAFKA_PROCESS_ROLES"), ',');
    EXPECT_TRUE(Contains(roles, "broker") && Contains(roles, "controller")) << "one combined node";
    EXPECT_EQ(Value(env, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"), "1") << "one broker";

    const auto listeners = Listeners(Value(env, "KAFKA_LISTENERS"));
    const auto advertised = Listeners(Value(env, "KAFKA_ADVERTISED_LISTENERS"));
    const auto protocols = Pairs(Value(env, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"));
    for (const auto& listener : listeners) {
        EXPECT_TRUE(protocols.contains(listener.first)) << "listener " << listener.first << " has no security protocol";
    }
    const std::vector<std::string> controllers = Split(Value(env, "KAFKA_CONTROLLER_LISTENER_NAMES"), ',');
    for (const std::string& c : controllers) {
        EXPECT_TRUE(listeners.contains(c)) << "controller listener " << c << " is not in KAFKA_LISTENERS";
        EXPECT_FALSE(advertised.contains(c)) << "controller listener " << c << " must not be advertised";
    }
    const std::string inter_broker = Value(env, "KAFKA_INTER_BROKER_LISTENER_NAME");
    if (!inter_broker.empty()) {
        EXPECT_TRUE(advertised.contains(inter_broker)) << inter_broker;
    }

    // Single voter: this node, on the controller listener.
    const std::vector<std::string> voters = Split(Value(env, "KAFKA_CONTROLLER_QUORUM_VOTERS"), ',');
    ASSERT_EQ(voters.size(), 1u);
    const std::size_t at = voters[0].find('@');
    ASSERT_NE(at, kNpos) << voters[0];
    EXPECT_EQ(voters[0].substr(0, at), Value(env, "KAFKA_NODE_ID"));
    const std::string voter = voters[0].substr(at + 1);
    EXPECT_EQ(HostOf(voter), "kafka");
    ASSERT_FALSE(controllers.empty());
    EXPECT_EQ(PortOf(voter), PortOf(Value(listeners, controllers[0])));

    // Every broker orderbridge bootstraps from is advertised, on a port the broker listens on.
    for (const std::string& broker : Split(config_.settings.bus.kafka.brokers, ',')) {
        bool found = false;
        for (const auto& listener : advertised) {
            if (listener.second != broker) continue;
            found = true;
            EXPECT_EQ(PortOf(Value(listeners, listener.first)), PortOf(listener.second))
                << "listener " << listener.first;
        }
        EXPECT_TRUE(found) << broker << " (bus.kafka.brokers) is not in KAFKA_ADVERTISED_LISTENERS";
    }
}

TEST_F(ComposeTest, OrderbridgeWaitsForHealthyPostgresKafkaAndTheTopic) {
    const YAML::Node deps = Get(Service("orderbridge"), "depends_on");
    ASSERT_TRUE(IsMap(deps)) << "orderbridge: depends_on must use the long form with conditions";
    for (const char* name : {"postgres", "kafka"}) {
        EXPECT_EQ(Text(Get(Get(deps, name), "condition")), "service_healthy") << name;
        EXPECT_FALSE(Strings(Get(Get(Service(name), "healthcheck"), "test")).empty()) << name << " has no healthcheck";
    }
    EXPECT_NE(Join(Strings(Get(Get(Service("postgres"), "healthcheck"), "test"))).find("pg_isready"), kNpos);
    const std::string pg_image = Text(Get(Service("postgres"), "image"));
    EXPECT_TRUE(pg_image.starts_with("postgres:15") || pg_image.starts_with("postgres:16")) << pg_image;

    // orderbridge does not create its topic: a one-shot service does, and orderbridge waits for it.
    const std::string& topic = config_.settings.bus.kafka.topic;
    bool created = false;
    for (auto it = deps.begin(); it != deps.end(); ++it) {
        if (Text(Get(it->second, "condition")) != "service_completed_successfully") continue;
        const YAML::Node service = Service(it->first.Scalar());
        std::vector<std::string> argv = Strings(Get(service, "entrypoint"));
        for (const std::string& arg : Strings(Get(service, "command")))
            argv.push_back(arg);
        const std::string line = Join(argv);
        if (line.find("--create") != kNpos && line.find(topic) != kNpos &&
            line.find(config_.settings.bus.kafka.brokers) != kNpos)
            created = true;
    }
    EXPECT_TRUE(created) << "nothing creates topic " << topic << " before orderbridge starts";
}

}  // namespace
}  // namespace orderbridge::config

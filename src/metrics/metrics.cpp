#include "orderbridge/metrics/metrics.hpp"

#include <dirent.h>
#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "orderbridge/core/build_info.hpp"

namespace orderbridge::metrics {
namespace {

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type, double value) {
    prometheus::MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    prometheus::ClientMetric m;
    if (type == prometheus::MetricType::Counter) {
        m.counter.value = value;
    } else {
        m.gauge.value = value;
    }
    f.metric.push_back(m);
    return f;
}

struct ProcStat {
    double utime_ticks = 0;
    double stime_ticks = 0;
    double starttime_ticks = 0;
    double vsize = 0;
    double rss_pages = 0;
    double threads = 0;
};

ProcStat ReadStat() {
    ProcStat st;
    std::ifstream in("/proc/self/stat");
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // Fields after the command name, which is in parentheses and may contain spaces.
    const std::size_t close = content.rfind(')');
    if (close == std::string::npos) return st;
    std::istringstream fields(content.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (fields >> tok)
        f.push_back(tok);
    // f[0] is field 3 (state); field N is f[N - 3].
    auto at = [&](std::size_t field) { return field - 3 < f.size() ? std::stod(f[field - 3]) : 0.0; };
    st.utime_ticks = at(14);
    st.stime_ticks = at(15);
    st.threads = at(20);
    st.starttime_ticks = at(22);
    st.vsize = at(23);
    st.rss_pages = at(24);
    return st;
}

double BootTimeSeconds() {
    std::ifstream in("/proc/stat");
    std::string key;
    while (in >> key) {
        if (key == "btime") {
            double v = 0;
            in >> v;
            return v;
        }
        in.ignore(1 << 20, '\n');
    }
    return 0;
}

double CountOpenFds() {
    double n = 0;
    if (DIR* d = opendir("/proc/self/fd")) {
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] != '.') ++n;
        }
        closedir(d);
    }
    return n - 1;  // the directory handle itself
}

}  // namespace

ProcessCollector::ProcessCollector() {
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    start_time_seconds_ = BootTimeSeconds() + ReadStat().starttime_ticks / ticks;
}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
    using prometheus::MetricType;
    const ProcStat st = ReadStat();
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    std::vector<prometheus::MetricFamily> out;
    out.push_back(Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                         MetricType::Counter, (st.utime_ticks + st.stime_ticks) / ticks));
    out.push_back(Family("process_resident_memory_bytes", "Resident memory size in bytes.", MetricType::Gauge,
                         st.rss_pages * page));
    out.push_back(Family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::Gauge, st.vsize));
    out.push_back(Family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge, CountOpenFds()));
    out.push_back(Family("process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge,
                         static_cast<double>(lim.rlim_cur)));
    out.push_back(Family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
                         MetricType::Gauge, start_time_seconds_));
    out.push_back(Family("process_threads", "Number of OS threads in the process.", MetricType::Gauge, st.threads));
    return out;
}

void RegisterBuildInfo(prometheus::Registry& registry) {
    const auto& info = core::GetBuildInfo();
    prometheus::BuildGauge()
        .Name("orderbridge_build_info")
        .Help("Build of the running daemon; the value is always 1")
        .Register(registry)
        .Add({{"version", std::string(info.version)},
              {"git_sha", std::string(info.git_sha)},
              {"build_type", std::string(info.build_type)}})
        .Set(1);
}

std::string Render(const prometheus::Registry& registry, const ProcessCollector& process) {
    auto families = registry.Collect();
    auto proc = process.Collect();
    families.insert(families.end(), std::make_move_iterator(proc.begin()), std::make_move_iterator(proc.end()));
    return prometheus::TextSerializer().Serialize(families);
}

http::Handler MetricsHandler(std::shared_ptr<prometheus::Registry> registry,
                             std::shared_ptr<ProcessCollector> process) {
    return http::Sync([registry, process](http::Request&) {
        return http::Response::Text(200, Render(*registry, *process), "text/plain; version=0.0.4; charset=utf-8");
    });
}

}  // namespace orderbridge::metrics

#include "orderbridge/core/health.hpp"

namespace orderbridge::core {

void Readiness::Register(std::string name, Probe probe) {
    std::lock_guard lock(mutex_);
    probes_.emplace_back(std::move(name), std::move(probe));
}

Readiness::Report Readiness::Check() const {
    std::vector<std::pair<std::string, Probe>> probes;
    {
        std::lock_guard lock(mutex_);
        probes = probes_;
    }
    Report report;
    for (auto& [name, probe] : probes) {
        ProbeResult r;
        try {
            r = probe();
        } catch (const std::exception& e) {
            r = ProbeResult{false, e.what()};
        }
        report.ready = report.ready && r.ready;
        report.components.emplace_back(name, std::move(r));
    }
    return report;
}

}  // namespace orderbridge::core

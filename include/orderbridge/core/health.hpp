#pragma once
// Readiness of the daemon's components. Each component registers a probe; /readyz answers 200 only
// when every probe says ready. Thread-safety: Register before serving; Check from any thread.
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace orderbridge::core {

struct ProbeResult {
    bool ready = false;
    std::string detail;
};

class Readiness {
  public:
    using Probe = std::function<ProbeResult()>;
    void Register(std::string name, Probe probe);

    struct Report {
        bool ready = true;
        std::vector<std::pair<std::string, ProbeResult>> components;
    };
    Report Check() const;

  private:
    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, Probe>> probes_;
};

}  // namespace orderbridge::core

#pragma once
// Wiring and lifecycle of `orderbridge serve`. Components are constructed in dependency order and
// each pushes its stop action on a stack; shutdown pops it (inputs first: the HTTP listener, then
// workers, then outputs and storage). Not thread-safe: one instance, driven by the main thread.
#include <functional>
#include <string>
#include <vector>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::app {

class Application {
  public:
    explicit Application(config::Settings settings);
    /// Runs until SIGTERM or SIGINT; returns the process exit code. SIGHUP reopens the log file.
    /// Signals must already be blocked in the calling thread (see BlockSignals).
    int Run();

    /// Blocks SIGTERM, SIGINT and SIGHUP so that threads created later inherit the mask and only
    /// the main thread receives them through sigwait.
    static void BlockSignals();

  private:
    config::Settings settings_;
};

}  // namespace orderbridge::app

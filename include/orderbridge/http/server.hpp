#pragma once
// The HTTP/1.1 server (Boost.Beast on Asio, C++20 coroutines). Owns its io_context and io threads.
//
// Every request passes one adaptor: request id (echoed or generated), 503 while shutting down,
// routing (404/405), the handler with a deadline, error mapping, metrics and the access log.
// Connections: keep-alive, header/body limits (431/413), read/idle/write timeouts, a cap on
// concurrent connections. Handlers run on io threads and must not block; slow work goes to a
// worker and answers through the Responder.
//
// Lifecycle: Start() binds and runs; BeginShutdown() stops accepting, closes idle connections
// and answers 503 to anything new; WaitIdle() waits for in-flight requests; Stop() closes the rest
// and joins the threads. Thread-safety: all public methods may be called from any thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/http/router.hpp"

namespace prometheus {
class Registry;
}

namespace orderbridge::http {

class Server {
  public:
    Server(const config::ServerSettings& settings, bool access_log, Router router, prometheus::Registry& registry);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds the listener (throws std::runtime_error on failure) and starts the io threads.
    void Start();
    /// The bound port (useful with port 0).
    unsigned short Port() const;
    void BeginShutdown();
    /// True when no request is in flight before the deadline.
    bool WaitIdle(std::chrono::milliseconds timeout);
    void Stop();

    int InFlight() const;
    int Connections() const;
    /// Runs `fn` on an io thread (for timers and completions that belong to the server's loop).
    void Post(std::function<void()> fn);

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace orderbridge::http

#include "orderbridge/http/server.hpp"

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "orderbridge/config/loader.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/http/error_mapping.hpp"

namespace orderbridge::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
using Executor = net::strand<net::io_context::executor_type>;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
// A connection's receive buffer: enough for a usual webhook in one receive; a buffer grown past the
// larger size for a big body is given back once that request is done.
constexpr std::size_t kReadBuffer = 8 * 1024;
constexpr std::size_t kLargeReadBuffer = 64 * 1024;

namespace {

std::string NewRequestId() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{:016x}", rng());
}

bool AcceptableRequestId(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

// Writes the status line and headers directly; cheaper than Beast's generic serializer for the
// small, fully buffered responses this server sends.
void SerializeHead(const Response& response, unsigned version, bool keep_alive, std::string& out) {
    out.clear();
    const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(response.status));
    fmt::format_to(std::back_inserter(out), "HTTP/{}.{} {} {}\r\n", version / 10, version % 10, response.status,
                   std::string_view(reason.data(), reason.size()));
    for (const auto& [name, value] : response.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += "Server: orderbridge\r\n";
    const bool no_body = response.status < 200 || response.status == 204 || response.status == 304;
    if (!no_body) fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.body.size());
    if (version >= 11 && !keep_alive) out += "Connection: close\r\n";
    if (version < 11 && keep_alive) out += "Connection: keep-alive\r\n";
    out += "\r\n";
}

// Per-route metric handles, created once so the hot path does no label lookups.
struct RouteMetrics {
    prometheus::Histogram* duration = nullptr;
    std::array<prometheus::Counter*, 5> by_class{};
};

}  // namespace

struct Server::Impl {
    struct Session {
        explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
        beast::tcp_stream stream;
        bool busy = false;  // touched only on the session's strand
    };

    Impl(const config::ServerSettings& s, bool access, Router r, prometheus::Registry& registry)
        : settings(s),
          access_log(access),
          router(std::move(r)),
          requests_family(prometheus::BuildCounter()
                              .Name("orderbridge_http_requests_total")
                              .Help("HTTP requests answered, by route pattern and status class")
                              .Register(registry)),
          duration_family(prometheus::BuildHistogram()
                              .Name("orderbridge_http_request_duration_seconds")
                              .Help("Time from a request being read to its answer being ready, by route")
                              .Register(registry)),
          connections_gauge(prometheus::BuildGauge()
                                .Name("orderbridge_http_connections")
                                .Help("Open client connections")
                                .Register(registry)
                                .Add({})),
          in_flight_gauge(prometheus::BuildGauge()
                              .Name("orderbridge_http_requests_in_flight")
                              .Help("Requests being handled")
                              .Register(registry)
                              .Add({})),
          rejected_connections(prometheus::BuildCounter()
                                   .Name("orderbridge_http_connections_rejected_total")
                                   .Help("Connections closed at once because server.max_connections was reached")
                                   .Register(registry)
                                   .Add({})),
          ioc(s.io_threads > 0 ? s.io_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))) {
        const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                              0.1,    0.25,  0.5,    1,     2.5,  5,     10};
        route_metrics.resize(router.Size() + 1);
        for (std::size_t i = 0; i <= router.Size(); ++i) {
            const std::string route = i < router.Size() ? router.Pattern(i) : "unmatched";
            route_metrics[i].duration = &duration_family.Add({{"route", route}}, buckets);
            const char* classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
            for (std::size_t c = 0; c < 5; ++c) {
                route_metrics[i].by_class[c] = &requests_family.Add({{"route", route}, {"status_class", classes[c]}});
            }
        }
    }

    struct InFlightGuard {
        explicit InFlightGuard(Impl& i) : impl(i) {
            impl.in_flight.fetch_add(1);
            impl.in_flight_gauge.Increment();
        }
        ~InFlightGuard() {
            impl.in_flight_gauge.Decrement();
            if (impl.in_flight.fetch_sub(1) == 1) {
                std::lock_guard lock(impl.idle_mu);
                impl.idle_cv.notify_all();
            }
        }
        Impl& impl;
    };

    net::awaitable<void> Listen();
    net::awaitable<void> RunSession(std::shared_ptr<Session> session, std::uint64_t id);
    // Handlers that answer before they return (most of them) complete without a timer or a
    // coroutine frame; the others are awaited with a deadline, their answer posted to the strand.
    struct Exchange {
        explicit Exchange(const net::any_io_executor& ex) : timer(ex) {}
        net::steady_timer timer;
        std::optional<Response> response;
        std::thread::id handler_thread;
        std::atomic<bool> in_handler{false};  // read by the responder on other threads
        bool waiting = false;
    };
    std::shared_ptr<Exchange> Dispatch(Request& request, bool refuse, const net::any_io_executor& executor);
    net::awaitable<Response> Await(std::shared_ptr<Exchange> exchange);
    void Finish(Request& request, Response& response, std::size_t route_index);
    static Response PlainError(core::Errc errc, std::string_view message) { return ErrorResponse(errc, message); }

    config::ServerSettings settings;
    bool access_log;
    Router router;
    std::atomic<bool> shutting_down{false};
    std::atomic<int> connections{0};
    std::atomic<int> in_flight{0};
    std::mutex idle_mu;
    std::condition_variable idle_cv;

    std::mutex sessions_mu;
    std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions;
    std::atomic<std::uint64_t> next_session{1};

    prometheus::Family<prometheus::Counter>& requests_family;
    prometheus::Family<prometheus::Histogram>& duration_family;
    prometheus::Gauge& connections_gauge;
    prometheus::Gauge& in_flight_gauge;
    prometheus::Counter& rejected_connections;
    std::vector<RouteMetrics> route_metrics;

    // Declared last, destroyed first: coroutine frames that ~io_context destroys still touch the
    // members above (in_flight, idle_mu, sessions, metrics).
    net::io_context ioc;
    std::optional<tcp::acceptor> acceptor;
    std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
    std::vector<std::thread> threads;
};

net::awaitable<void> Server::Impl::Listen() {
    for (;;) {
        auto [ec, socket] = co_await acceptor->async_accept(net::make_strand(ioc), kTuple);
        if (ec) {
            if (ec == net::error::operation_aborted || shutting_down.load()) co_return;
            log::Warn("accept failed", {{"error", ec.message()}});
            // Out of descriptors and the like repeat at once: wait a little instead of spinning.
            net::steady_timer pause(acceptor->get_executor());
            pause.expires_after(std::chrono::milliseconds(100));
            co_await pause.async_wait(kTuple);
            continue;
        }
        if (connections.load() >= settings.max_connections) {
            rejected_connections.Increment();
            beast::error_code ignored;
            socket.close(ignored);
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        const std::uint64_t id = next_session.fetch_add(1);
        auto session = std::make_shared<Session>(std::move(socket));
        {
            std::lock_guard lock(sessions_mu);
            sessions.emplace(id, session);
        }
        connections.fetch_add(1);
        connections_gauge.Increment();
        auto executor = session->stream.get_executor();
        net::co_spawn(executor, RunSession(std::move(session), id), [this, id](std::exception_ptr e) {
            {
                std::lock_guard lock(sessions_mu);
                sessions.erase(id);
            }
            connections.fetch_sub(1);
            connections_gauge.Decrement();
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    log::Error("connection failed", {{"error", ex.what()}});
                }
            }
        });
    }
}

net::awaitable<void> Server::Impl::RunSession(std::shared_ptr<Session> session, std::uint64_t) {
    beast::tcp_stream& stream = session->stream;
    const net::any_io_executor executor = co_await net::this_coro::executor;
    beast::flat_buffer buffer;
    std::string head;  // reused for every response on this connection
    std::string remote;
    {
        beast::error_code ec;
        auto ep = stream.socket().remote_endpoint(ec);
        if (!ec) remote = ep.address().to_string();
    }
    bool first = true;
    for (;;) {
        session->busy = false;
        if (shutting_down.load()) break;
        // Beast receives at most the buffer's free capacity (512 bytes when it has none) at a time:
        // a 5 KB order in a buffer that stayed at 512 bytes took 11 receives. Room for a usual request
        // up front, and for the announced body once the headers are in, makes it one or two.
        if (buffer.size() == 0 && buffer.capacity() > kLargeReadBuffer) buffer.shrink_to_fit();
        buffer.reserve(kReadBuffer);
        bhttp::request_parser<bhttp::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
        parser.body_limit(settings.max_body_bytes);
        stream.expires_after(first ? settings.read_timeout : settings.idle_timeout);
        auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
        session->busy = true;
        // A request whose headers arrived before shutdown began is answered normally.
        const bool arrived_while_shutting_down = shutting_down.load();
        std::optional<Response> early;
        if (ec == bhttp::error::header_limit) {
            early = PlainError(core::Errc::kHeaderTooLarge, "request headers are too large");
        } else if (ec == bhttp::error::body_limit) {
            early = PlainError(core::Errc::kPayloadTooLarge,
                               "request body is larger than " + std::to_string(settings.max_body_bytes) + " bytes");
        } else if (ec) {
            break;  // closed, timed out, or malformed: nothing sensible to answer
        }
        // From here until its answer is written the request counts as in flight (shutdown waits).
        InFlightGuard guard(*this);
        if (!early && !parser.is_done()) {
            if (parser.get()[bhttp::field::expect] == "100-continue") {
                static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
                stream.expires_after(settings.write_timeout);
                auto [wec, wn] = co_await net::async_write(stream, net::buffer(kContinue), kTuple);
                if (wec) break;
            }
            // Beast receives at most 64 KB at a time and hands each piece to the body at once, so
            // room for a body up to that size is all a receive can use (and all a client gets
            // reserved for headers alone).
            if (const auto length = parser.content_length())
                buffer.reserve(std::min<std::size_t>(std::max<std::size_t>(buffer.size(), *length), kLargeReadBuffer));
            stream.expires_after(settings.read_timeout);
            auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
            if (bec == bhttp::error::body_limit) {
                early = PlainError(core::Errc::kPayloadTooLarge,
                                   "request body is larger than " + std::to_string(settings.max_body_bytes) + " bytes");
            } else if (bec) {
                break;
            }
        }

        Request request;
        request.received_at = std::chrono::steady_clock::now();
        request.remote_address = remote;
        auto& msg = parser.get();
        request.method = std::string(msg.method_string());
        request.target = std::string(msg.target());
        request.version = msg.version();
        for (const auto& field : msg)
            request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
        const std::string_view target = request.target;
        const std::size_t q = target.find('?');
        if (!PercentDecode(target.substr(0, q), request.path, false)) request.path = std::string(target.substr(0, q));
        if (q != std::string_view::npos) request.query = std::string(target.substr(q + 1));
        const bool keep_alive_requested = msg.keep_alive();
        std::size_t route_index = router.Size();
        Response response;
        if (early) {
            const std::string_view given = request.Header("X-Request-ID");
            request.request_id = AcceptableRequestId(given) ? std::string(given) : NewRequestId();
            response = std::move(*early);
        } else {
            request.body = std::move(msg.body());
            auto exchange = Dispatch(request, arrived_while_shutting_down, executor);
            if (exchange->response) {
                response = std::move(*exchange->response);
            } else {
                response = co_await Await(std::move(exchange));
            }
            route_index = request.route_index;
        }
        Finish(request, response, route_index);

        const bool keep_alive = keep_alive_requested && !early && !shutting_down.load();
        SerializeHead(response, request.version, keep_alive, head);
        const bool send_body = request.method != "HEAD";
        const std::array<net::const_buffer, 2> buffers{net::buffer(head),
                                                       send_body ? net::buffer(response.body) : net::const_buffer{}};
        stream.expires_after(settings.write_timeout);
        auto [wec, wn] = co_await net::async_write(stream, buffers, kTuple);
        if (wec || !keep_alive) break;
        first = false;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.close();
}

std::shared_ptr<Server::Impl::Exchange> Server::Impl::Dispatch(Request& request, bool refuse,
                                                               const net::any_io_executor& executor) {
    const std::string_view given = request.Header("X-Request-ID");
    request.request_id = AcceptableRequestId(given) ? std::string(given) : NewRequestId();
    auto exchange = std::make_shared<Exchange>(executor);
    if (refuse) {
        exchange->response =
            ErrorResponse(core::Errc::kUnavailable, "the server is shutting down", std::chrono::seconds(5));
        return exchange;
    }
    Router::Match match = router.Find(request);
    if (match.kind == Router::MatchKind::kNotFound) {
        exchange->response = ErrorResponse(core::Errc::kNotFound, "no route for " + request.path);
        return exchange;
    }
    if (match.kind == Router::MatchKind::kMethodNotAllowed) {
        exchange->response =
            ErrorResponse(core::Errc::kMethodNotAllowed, request.method + " is not allowed on " + request.path);
        exchange->response->headers.emplace_back("Allow", match.allow);
        return exchange;
    }
    Responder responder([exchange](Response r) {
        if (exchange->in_handler && exchange->handler_thread == std::this_thread::get_id()) {
            exchange->response = std::move(r);  // same thread, inside the handler call: no race
            return;
        }
        net::post(exchange->timer.get_executor(), [exchange, r = std::move(r)]() mutable {
            if (exchange->response) return;
            exchange->response = std::move(r);
            if (exchange->waiting) exchange->timer.cancel();
        });
    });
    exchange->handler_thread = std::this_thread::get_id();
    exchange->in_handler = true;
    try {
        (*match.handler)(request, std::move(responder));
    } catch (...) {
        // The responder now belongs to the handler: it answered, or dropping it answers 500.
        log::Error("handler threw", {{"route", request.route}});
    }
    exchange->in_handler = false;
    return exchange;
}

net::awaitable<Response> Server::Impl::Await(std::shared_ptr<Exchange> exchange) {
    exchange->waiting = true;
    exchange->timer.expires_after(settings.handler_timeout);
    co_await exchange->timer.async_wait(kTuple);
    exchange->waiting = false;
    if (!exchange->response) {
        exchange->response =
            ErrorResponse(core::Errc::kTimeout, "the request was not answered in time", std::chrono::seconds(1));
    }
    co_return std::move(*exchange->response);
}

void Server::Impl::Finish(Request& request, Response& response, std::size_t route_index) {
    response.SetHeader("X-Request-ID", request.request_id);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - request.received_at).count();
    RouteMetrics& m = route_metrics[std::min(route_index, route_metrics.size() - 1)];
    m.duration->Observe(seconds);
    const int cls = std::clamp(response.status / 100 - 1, 0, 4);
    m.by_class[static_cast<std::size_t>(cls)]->Increment();
    if (access_log && log::Enabled(log::Level::kInfo)) {
        log::Info("request", {{"method", request.method},
                              {"path", request.path},
                              {"status", response.status},
                              {"bytes", response.body.size()},
                              {"duration_ms", seconds * 1000.0},
                              {"request_id", request.request_id},
                              {"remote", request.remote_address}});
    }
}

Server::Server(const config::ServerSettings& settings, bool access_log, Router router, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(settings, access_log, std::move(router), registry)) {}

Server::~Server() {
    Stop();
}

void Server::Start() {
    std::string host;
    unsigned short port = 0;
    if (!config::SplitHostPort(impl_->settings.listen, host, port)) {
        throw std::runtime_error("bad listen address " + impl_->settings.listen);
    }
    beast::error_code ec;
    const auto address = net::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec) throw std::runtime_error("bad listen address " + impl_->settings.listen + ": " + ec.message());
    tcp::endpoint endpoint{address, port};
    impl_->acceptor.emplace(impl_->ioc);
    impl_->acceptor->open(endpoint.protocol());
    impl_->acceptor->set_option(net::socket_base::reuse_address(true));
    impl_->acceptor->bind(endpoint, ec);
    if (ec) throw std::runtime_error("cannot listen on " + impl_->settings.listen + ": " + ec.message());
    impl_->acceptor->listen(net::socket_base::max_listen_connections);
    impl_->work.emplace(impl_->ioc.get_executor());
    net::co_spawn(impl_->ioc, impl_->Listen(), [](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log::Error("listener failed", {{"error", ex.what()}});
            }
        }
    });
    const int n = impl_->settings.io_threads > 0 ? impl_->settings.io_threads
                                                 : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (int i = 0; i < n; ++i)
        impl_->threads.emplace_back([this] { impl_->ioc.run(); });
}

unsigned short Server::Port() const {
    return impl_->acceptor ? impl_->acceptor->local_endpoint().port() : 0;
}

void Server::BeginShutdown() {
    if (impl_->shutting_down.exchange(true)) return;
    if (impl_->acceptor) {
        net::post(impl_->ioc, [this] {
            beast::error_code ignored;
            impl_->acceptor->close(ignored);
        });
    }
    // Idle keep-alive connections are closed now; busy ones close after their answer.
    std::lock_guard lock(impl_->sessions_mu);
    for (auto& [id, weak] : impl_->sessions) {
        if (auto s = weak.lock()) {
            net::post(s->stream.get_executor(), [s] {
                if (!s->busy) s->stream.cancel();
            });
        }
    }
}

bool Server::WaitIdle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(impl_->idle_mu);
    return impl_->idle_cv.wait_for(lock, timeout, [this] { return impl_->in_flight.load() == 0; });
}

void Server::Stop() {
    if (!impl_) return;
    BeginShutdown();
    {
        std::lock_guard lock(impl_->sessions_mu);
        for (auto& [id, weak] : impl_->sessions) {
            if (auto s = weak.lock()) net::post(s->stream.get_executor(), [s] { s->stream.cancel(); });
        }
    }
    impl_->work.reset();
    impl_->ioc.stop();
    for (auto& t : impl_->threads) {
        if (t.joinable()) t.join();
    }
    impl_->threads.clear();
}

int Server::InFlight() const {
    return impl_->in_flight.load();
}
int Server::Connections() const {
    return impl_->connections.load();
}
void Server::Post(std::function<void()> fn) {
    net::post(impl_->ioc, std::move(fn));
}

}  // namespace orderbridge::http

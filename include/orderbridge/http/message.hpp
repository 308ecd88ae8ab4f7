#pragma once
// HTTP request/response values seen by handlers. Deliberately free of Beast/Asio types so that
// handler code compiles fast and can be unit-tested without sockets.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orderbridge::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

/// Case-insensitive header lookup; empty view when absent.
std::string_view FindHeader(const Headers& headers, std::string_view name);

struct Request {
    std::string method;  ///< "GET", "POST", ...
    std::string target;  ///< raw request target, path and query
    std::string path;    ///< decoded path, no query
    std::string query;   ///< raw query string without '?'
    Headers headers;
    std::string body;
    unsigned version = 11;  ///< 10 for HTTP/1.0
    std::string remote_address;
    std::string request_id;
    std::vector<std::pair<std::string, std::string>> path_params;  ///< filled by the router
    std::string route;                                             ///< matched route pattern, e.g. "/v1/orders/{id}"
    std::size_t route_index = static_cast<std::size_t>(-1);        ///< index in the router, set on a match
    std::chrono::steady_clock::time_point received_at{};

    std::string_view Header(std::string_view name) const { return FindHeader(headers, name); }
    std::string_view Param(std::string_view name) const;
    /// Percent-decoded query parameter.
    std::optional<std::string> QueryParam(std::string_view name) const;
};

struct Response {
    int status = 200;
    Headers headers;
    std::string body;

    static Response Json(int status, std::string body);
    static Response Text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
    static Response Empty(int status);
    Response& SetHeader(std::string name, std::string value);
};

/// Completes one request. Callable once from any thread; later calls are ignored. A Responder that
/// is dropped without being called answers 500, so a handler cannot leave a client hanging.
class Responder {
  public:
    using Sink = std::function<void(Response)>;
    Responder() = default;
    explicit Responder(Sink sink);

    void operator()(Response response) const;
    /// Answers with the JSON error body of the current exception (use inside catch blocks).
    void Fail(std::exception_ptr error) const;

  private:
    struct State;
    std::shared_ptr<State> state_;
};

/// A handler gets the request (with path parameters) and a Responder. It may answer before it
/// returns, or later from another thread (after a database commit, for example).
using Handler = std::function<void(Request&, Responder)>;
/// Shorthand for handlers that answer right away.
using SyncHandler = std::function<Response(Request&)>;
Handler Sync(SyncHandler handler);

/// Percent-decoding; false on malformed escapes.
bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space);

}  // namespace orderbridge::http

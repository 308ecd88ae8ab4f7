#include "orderbridge/http/message.hpp"

#include <atomic>
#include <cctype>

#include "orderbridge/http/error_mapping.hpp"

namespace orderbridge::http {

namespace {
bool IEquals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}
int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string_view FindHeader(const Headers& headers, std::string_view name) {
    for (const auto& [k, v] : headers) {
        if (IEquals(k, name)) return v;
    }
    return {};
}

std::string_view Request::Param(std::string_view name) const {
    for (const auto& [k, v] : path_params) {
        if (k == name) return v;
    }
    return {};
}

bool PercentDecode(std::string_view in, std::string& out, bool plus_as_space) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            const int hi = HexValue(in[i + 1]);
            const int lo = HexValue(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else if (c == '+' && plus_as_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return true;
}

std::optional<std::string> Request::QueryParam(std::string_view name) const {
    std::string_view q = query;
    while (!q.empty()) {
        const std::size_t amp = q.find('&');
        std::string_view pair = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        const std::size_t eq = pair.find('=');
        std::string key;
        if (!PercentDecode(pair.substr(0, eq), key, true) || key != name) continue;
        std::string value;
        if (eq != std::string_view::npos && !PercentDecode(pair.substr(eq + 1), value, true)) return std::nullopt;
        return value;
    }
    return std::nullopt;
}

Response Response::Json(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", "application/json");
    return r;
}

Response Response::Text(int status, std::string body, std::string content_type) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    r.headers.emplace_back("Content-Type", std::move(content_type));
    return r;
}

Response Response::Empty(int status) {
    Response r;
    r.status = status;
    return r;
}

Response& Response::SetHeader(std::string name, std::string value) {
    for (auto& [k, v] : headers) {
        if (IEquals(k, name)) {
            v = std::move(value);
            return *this;
        }
    }
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
}

struct Responder::State {
    explicit State(Sink s) : sink(std::move(s)) {}
    ~State() {
        if (!called.exchange(true)) {
            sink(ErrorResponse(core::Errc::kInternal, "the request was dropped without an answer"));
        }
    }
    Sink sink;
    std::atomic<bool> called{false};
};

Responder::Responder(Sink sink) : state_(std::make_shared<State>(std::move(sink))) {}

void Responder::operator()(Response response) const {
    if (state_ && !state_->called.exchange(true)) state_->sink(std::move(response));
}

void Responder::Fail(std::exception_ptr error) const {
    (*this)(ErrorResponse(error));
}

Handler Sync(SyncHandler handler) {
    return [h = std::move(handler)](Request& request, Responder responder) {
        try {
            responder(h(request));
        } catch (...) {
            responder.Fail(std::current_exception());
        }
    };
}

}  // namespace orderbridge::http

#include "orderbridge/dispatch/connector.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cctype>
#include <charconv>
#include <ctime>

namespace orderbridge::dispatch {
namespace {

std::string Hex(const unsigned char* data, std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out += kDigits[data[i] >> 4];
        out += kDigits[data[i] & 0xF];
    }
    return out;
}

std::optional<long long> ParseInt(std::string_view s) {
    while (!s.empty() && s.front() == ' ')
        s.remove_prefix(1);
    long long v = 0;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p == s.data()) return std::nullopt;
    return v;
}

// RFC 7231 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
std::optional<std::chrono::system_clock::time_point> ParseHttpDate(const std::string& s) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == nullptr) return std::nullopt;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string Snippet(const std::string& body) {
    std::string s = CleanText(body, 200);
    for (char& c : s) {
        if (c == '\n' || c == '\r') c = ' ';
    }
    return s;
}

class HttpConnector final : public Connector {
  public:
    explicit HttpConnector(config::ConnectorSettings s) : s_(std::move(s)) {
        std::string base = s_.base_url;
        while (!base.empty() && base.back() == '/')
            base.pop_back();
        url_ = base + s_.path;
    }
    const std::string& Name() const override { return s_.name; }

  protected:
    HttpCall Prepare(const store::DeliveryTask& task) override {
        HttpCall call;
        call.url = url_;
        call.body = task.payload;
        call.headers = {{"Content-Type", "application/json"},
                        {"Idempotency-Key", task.event_id},
                        {"X-Orderbridge-Event-Type", task.type},
                        {"X-Orderbridge-Entity-Id", task.entity_id},
                        {"traceparent", TraceParent(EnvelopeTraceId(task.payload), task.id, task.attempts)},
                        {"User-Agent", "orderbridge"}};
        if (!s_.auth.token.empty()) call.headers.emplace_back("Authorization", "Bearer " + s_.auth.token);
        if (!s_.signing_secret.empty()) {
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int len = 0;
            HMAC(EVP_sha256(), s_.signing_secret.data(), static_cast<int>(s_.signing_secret.size()),
                 reinterpret_cast<const unsigned char*>(call.body.data()), call.body.size(), mac, &len);
            call.headers.emplace_back(s_.signature_header, "sha256=" + Hex(mac, len));
        }
        return call;
    }

  private:
    config::ConnectorSettings s_;
    std::string url_;
};

}  // namespace

std::string UrlEncode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    return out;
}

std::string EnvelopeTraceId(std::string_view envelope) {
    static constexpr std::string_view kNeedle = "\"trace_id\":\"";
    const auto pos = envelope.find(kNeedle);
    if (pos == std::string_view::npos) return {};
    const auto start = pos + kNeedle.size();
    const auto end = envelope.find('"', start);
    return end == std::string_view::npos ? std::string{} : std::string(envelope.substr(start, end - start));
}

std::string CleanText(std::string_view in, std::size_t max_bytes) {
    std::string out;
    out.reserve(std::min(in.size(), max_bytes));
    std::size_t i = 0;
    while (i < in.size()) {
        const auto c = static_cast<unsigned char>(in[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        bool ok = len > 0 && i + len <= in.size();
        for (std::size_t k = 1; ok && k < len; ++k)
            ok = (static_cast<unsigned char>(in[i + k]) >> 6) == 0x2;
        if (ok && len == 2 && c < 0xC2) ok = false;                                                // overlong
        const std::string_view piece = ok ? in.substr(i, len) : std::string_view("\xEF\xBF\xBD");  // U+FFFD
        if (out.size() + piece.size() > max_bytes) break;  // cut on a character boundary
        if (ok && len == 1 && c < 0x20 && c != '\n' && c != '\t')
            out += ' ';
        else
            out += piece;
        i += ok ? len : 1;
    }
    return out;
}

DeliveryResult Connector::Deliver(const store::DeliveryTask& task, HttpClient& client) {
    return Classify(task, client.Send(Prepare(task)));
}

HttpCall Connector::Prepare(const store::DeliveryTask&) {
    throw std::logic_error(Name() + ": a multi-step connector must override Deliver");
}

std::optional<DeliveryResult> Connector::Lookup(const store::DeliveryTask&, HttpClient&) {
    return std::nullopt;
}

DeliveryResult Connector::Classify(const store::DeliveryTask&, const HttpAnswer& answer) {
    return ClassifyAnswer(answer);
}

std::optional<std::chrono::milliseconds> RetryAfterOf(const HttpAnswer& a, std::chrono::system_clock::time_point now) {
    using std::chrono::milliseconds;
    using std::chrono::seconds;
    if (auto v = a.Header("retry-after")) {
        if (auto n = ParseInt(*v)) return milliseconds(seconds(std::max(0LL, *n)));
        if (auto when = ParseHttpDate(*v)) {
            return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(*when - now));
        }
    }
    // ShipBob sends x-retry-after (seconds); ShipStation X-Rate-Limit-Reset (seconds until the window resets).
    for (const char* name : {"x-retry-after", "x-rate-limit-reset"}) {
        if (auto v = a.Header(name)) {
            if (auto n = ParseInt(*v)) return milliseconds(seconds(std::max(0LL, *n)));
        }
    }
    return std::nullopt;
}

DeliveryResult ClassifyAnswer(const HttpAnswer& a) {
    DeliveryResult r;
    r.http_status = a.status;
    using T = HttpAnswer::Transport;
    if (a.transport != T::kAnswered) {
        r.error_class = core::ErrorClass::kTransient;
        r.ambiguous = a.request_sent && a.transport != T::kConnectFailed;
        const char* what = a.transport == T::kTimeout         ? "timeout"
                           : a.transport == T::kConnectFailed ? "connect failed"
                           : a.transport == T::kReset         ? "connection reset"
                                                              : "transport error";
        r.reason = std::string(what) + ": " + a.error;
        return r;
    }
    if (a.status >= 200 && a.status < 300) return r;
    if (a.status >= 300 && a.status < 400) {
        r.error_class = core::ErrorClass::kPermanent;  // redirects are not followed: base_url needs fixing
        r.reason = "HTTP " + std::to_string(a.status) + " redirect to " + a.Header("location").value_or("?");
        return r;
    }
    if (a.status == 409) {
        r.error_class = core::ErrorClass::kDuplicate;
        r.reason = "already exists (409)";
        return r;
    }
    r.error_class = core::ClassifyHttpStatus(a.status);
    if (*r.error_class == core::ErrorClass::kThrottled || *r.error_class == core::ErrorClass::kTransient) {
        r.retry_after = RetryAfterOf(a, std::chrono::system_clock::now());
    }
    r.reason = "HTTP " + std::to_string(a.status) + (a.body.empty() ? "" : ": " + Snippet(a.body));
    return r;
}

std::string TraceParent(const std::string& trace_id, std::int64_t delivery_id, int attempt) {
    std::string trace = trace_id;
    if (trace.size() != 32 || trace.find_first_not_of("0123456789abcdef") != std::string::npos) {
        trace = std::string(32, '0');
        trace.back() = '1';
    }
    // A span id per attempt, derived (not random) so the same attempt is recognisable in logs.
    const std::uint64_t span = (static_cast<std::uint64_t>(delivery_id) << 8) ^ static_cast<std::uint64_t>(attempt + 1);
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(span == 0 ? 1 : span));
    return "00-" + trace + "-" + buf + "-01";
}

std::unique_ptr<Connector> MakeHttpConnector(const config::ConnectorSettings& settings) {
    return std::make_unique<HttpConnector>(settings);
}

std::vector<DeliveryResult> Connector::DeliverBatch(const std::vector<store::DeliveryTask>& tasks, HttpClient& client) {
    std::vector<DeliveryResult> out;
    out.reserve(tasks.size());
    for (const auto& t : tasks)
        out.push_back(Deliver(t, client));
    return out;
}

std::unique_ptr<Connector> MakeConnector(const config::ConnectorSettings& settings) {
    switch (settings.kind) {
        case config::ConnectorKind::kHttp:
            return MakeHttpConnector(settings);
        case config::ConnectorKind::kErpnext:
            return MakeErpNextConnector(settings);
        case config::ConnectorKind::kOdoo:
            return MakeOdooConnector(settings);
        case config::ConnectorKind::kShipstation:
            return MakeShipStationConnector(settings);
        case config::ConnectorKind::kShipbob:
            return MakeShipBobConnector(settings);
        case config::ConnectorKind::kWoocommerce:
            return MakeWooCommerceConnector(settings);
    }
    throw std::invalid_argument("unknown connector kind");
}

}  // namespace orderbridge::dispatch

// Outbound HTTP on libcurl: one easy handle per client keeps its connections alive between calls
// and brings TLS verification, proxies and timeouts that we do not write ourselves.
#include <curl/curl.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "orderbridge/dispatch/connector.hpp"

namespace orderbridge::dispatch {
namespace {

void GlobalInit() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t OnBody(char* data, std::size_t size, std::size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t n, void* user) {
    const std::string_view line(data, size * n);
    auto* headers = static_cast<Headers*>(user);
    if (line.rfind("HTTP/", 0) == 0) {
        headers->clear();  // a new response (after 100 Continue or a redirect)
        return size * n;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' '))
        value.remove_suffix(1);
    headers->emplace_back(std::move(name), std::string(value));
    return size * n;
}

}  // namespace

struct HttpClient::Impl {
    CURL* curl = nullptr;
    std::chrono::milliseconds timeout;
};

HttpClient::HttpClient(std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
    GlobalInit();
    impl_->curl = curl_easy_init();
    impl_->timeout = timeout;
}

HttpClient::~HttpClient() {
    curl_easy_cleanup(impl_->curl);
}

HttpAnswer HttpClient::Send(const HttpCall& call) {
    HttpAnswer answer;
    CURL* c = impl_->curl;
    curl_easy_reset(c);  // keeps the connection cache
    curl_easy_setopt(c, CURLOPT_URL, call.url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call.method.c_str());
    if (call.method != "GET") {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, call.body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(call.body.size()));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    // libcurl sends a request again, once, when a reused keep-alive connection dies before any
    // answer byte. For a POST or PATCH that may have been acted on (a create) that is a blind
    // duplicate, unless the request carries an Idempotency-Key; such requests get a fresh
    // connection, which libcurl never re-sends on: the failure reaches the lane as ambiguous and
    // the connector looks the entity up first.
    const bool replay_safe =
        call.method == "GET" || call.method == "HEAD" || call.method == "PUT" || call.method == "DELETE" ||
        std::any_of(call.headers.begin(), call.headers.end(),
                    [](const auto& h) { return strcasecmp(h.first.c_str(), "Idempotency-Key") == 0; });
    if (!replay_safe) curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    const auto timeout = call.timeout.value_or(impl_->timeout);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long long>(timeout.count(), 5000)));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &answer.headers);
    curl_slist* list = nullptr;
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
    for (const auto& [name, value] : call.headers)
        list = curl_slist_append(list, (name + ": " + value).c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);

    const auto started = std::chrono::steady_clock::now();
    const CURLcode rc = curl_easy_perform(c);
    answer.latency = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
    curl_slist_free_all(list);

    curl_off_t uploaded = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    long connected = 0;
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connected);
    answer.request_sent = uploaded > 0 || call.body.empty();
    if (rc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        answer.status = static_cast<int>(status);
        answer.request_sent = true;
        return answer;
    }
    answer.error = curl_easy_strerror(rc);
    switch (rc) {
        case CURLE_OPERATION_TIMEDOUT:
            answer.transport = HttpAnswer::Transport::kTimeout;
            break;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
            answer.transport = HttpAnswer::Transport::kConnectFailed;
            answer.request_sent = false;
            break;
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
            answer.transport = HttpAnswer::Transport::kReset;
            break;
        default:
            answer.transport = HttpAnswer::Transport::kOther;
    }
    return answer;
}

std::optional<std::string> HttpAnswer::Header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
        if (k == name) return v;
    }
    return std::nullopt;
}

}  // namespace orderbridge::dispatch

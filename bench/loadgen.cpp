// Load generator for signed WooCommerce order webhooks: closed loop (as wrk) or paced (open loop, as
// wrk2), over keep-alive HTTP/1.1 connections. It builds each request by copying prepared parts, so
// it costs about 15 µs of CPU per request in a closed loop, most of it the kernel's TCP path, where
// wrk running woo.lua costs 49-80 µs: the receiver under test keeps more of the machine's cores.
// Linux (epoll_pwait2); no dependencies.
//
// Inputs are the files of shared/peers/load/gen_data.js: DATADIR/body.tpl (the order body with
// {{ID}} for the order id), DATADIR/sigs.txt (line k: the signature of the body with id BASE+k) and
// DATADIR/meta.txt (base=BASE). Request i carries id BASE + (i mod COUNT) and the headers
// WooCommerce sends (the same as shared/peers/load/woo.lua and bench/paced_load.py); wrapping
// past COUNT is reported.
//
// usage: loadgen URL DATADIR [--conns 64] [--threads 2] [--duration 20] [--rate R] [--timeout 10]
//   without --rate: closed loop, each connection sends its next request when the previous one is
//     answered, for --duration seconds; latency from send to answer. Prints, as woo.lua does:
//     RESULT requests= duration_s= rps= p50_ms= p90_ms= p99_ms= max_ms= non2xx= sock_connect=
//            sock_read= sock_write= sock_timeout= status_errs= id_wraps=
//   with --rate R: request i is due at t0 + i/R for --duration seconds of schedule; latency from the
//     due time (a request waiting for a free connection, or a late generator, counts that wait).
//     Prints, as paced_load.py does:
//     RESULT mode=paced offered_rps= duration_s= requests= rps= p50_ms= p90_ms= p99_ms= p999_ms=
//            max_ms= non2xx= errors= id_wraps= send_lag_p99_ms= send_lag_max_ms=
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

std::int64_t NowNs() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void Die(const std::string& msg) {
    std::fprintf(stderr, "loadgen: %s\n", msg.c_str());
    std::exit(2);
}

std::string Slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) Die("cannot read " + path);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

struct Options {
    std::string host, port, path, netloc, datadir;
    int conns = 64, threads = 2;
    double duration_s = 20, rate = 0, timeout_s = 10;
};

struct Data {
    std::int64_t base = 0;
    std::vector<std::string> parts;  // body.tpl split at {{ID}}
    std::vector<std::string> sigs;
};

Data LoadData(const std::string& dir) {
    Data d;
    const std::string meta = Slurp(dir + "/meta.txt");
    const auto at = meta.find("base=");
    if (at == std::string::npos) Die(dir + "/meta.txt has no base=");
    d.base = std::strtoll(meta.c_str() + at + 5, nullptr, 10);
    const std::string tpl = Slurp(dir + "/body.tpl");
    for (std::size_t pos = 0;;) {
        const auto hit = tpl.find("{{ID}}", pos);
        d.parts.push_back(tpl.substr(pos, hit == std::string::npos ? std::string::npos : hit - pos));
        if (hit == std::string::npos) break;
        pos = hit + 6;
    }
    std::istringstream sigs(Slurp(dir + "/sigs.txt"));
    for (std::string line; sigs >> line;)
        d.sigs.push_back(line);
    if (d.sigs.empty()) Die(dir + "/sigs.txt is empty");
    return d;
}

// What every thread reports.
struct Tally {
    std::vector<std::uint32_t> latency_us, lag_us;
    std::int64_t non2xx = 0, connect_errors = 0, read_errors = 0, write_errors = 0, timeouts = 0;
};

class Worker {
  public:
    Worker(const Options& o, const Data& d, const addrinfo& addr, std::atomic<std::int64_t>& next, std::int64_t total,
           std::uint64_t seed)
        : o_(o), d_(d), addr_(addr), next_(next), total_(total), rng_(seed | 1) {
        head_ = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.netloc +
                "\r\nContent-Type: application/json\r\n"
                "User-Agent: WooCommerce/10.2.1 Hookshot (WordPress/6.8.3)\r\n"
                "X-WC-Webhook-Source: https://shop.example.com/\r\nX-WC-Webhook-Topic: order.created\r\n"
                "X-WC-Webhook-Resource: order\r\nX-WC-Webhook-Event: created\r\nX-WC-Webhook-ID: 42\r\n"
                "X-WC-Webhook-Signature: ";
        ep_ = epoll_create1(0);
        if (ep_ < 0) Die("epoll_create1 failed");
    }
    ~Worker() {
        for (auto& c : conns_)
            if (c.fd >= 0) close(c.fd);
        close(ep_);
    }
    void AddConnections(int n) {
        conns_.resize(static_cast<std::size_t>(n));
        active_ = n;
        for (std::size_t k = 0; k < conns_.size(); ++k) {
            conns_[k].index = k;
            Connect(conns_[k]);
        }
    }
    /// Sends from `t0` (paced: request i is due at t0 + i/rate) until the schedule is done or, in a
    /// closed loop, until `end_ns`.
    void Run(std::int64_t t0, std::int64_t end_ns) {
        t0_ = t0;
        end_ns_ = end_ns;
        if (const std::int64_t early = t0 - NowNs(); early > 0)
            std::this_thread::sleep_for(std::chrono::nanoseconds(early));
        for (auto& c : conns_)
            Take(c);
        std::vector<epoll_event> events(conns_.size() + 1);
        while (true) {
            const std::int64_t now = NowNs();
            while (!waiting_.empty() && conns_[waiting_.front()].due_ns <= now) {
                Conn& c = conns_[waiting_.front()];
                waiting_.pop_front();
                Send(c);
            }
            if (active_ == 0) break;
            if (closed_loop() && now >= end_ns_) break;
            // Until the next due request, the end of a closed-loop run, or a timeout check.
            std::int64_t wake = now + 100'000'000;
            if (!waiting_.empty()) wake = std::min(wake, conns_[waiting_.front()].due_ns);
            if (closed_loop()) wake = std::min(wake, end_ns_);
            const std::int64_t wait_ns = std::max<std::int64_t>(0, wake - now);
            const timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000), static_cast<long>(wait_ns % 1'000'000'000)};
            const int n = epoll_pwait2(ep_, events.data(), static_cast<int>(events.size()), &ts, nullptr);
            if (n < 0 && errno != EINTR) Die(std::string("epoll_pwait2: ") + std::strerror(errno));
            for (int k = 0; k < n; ++k) {
                Conn& c = conns_[events[static_cast<std::size_t>(k)].data.u64];
                if (events[static_cast<std::size_t>(k)].events & EPOLLOUT) Flush(c);
                if (events[static_cast<std::size_t>(k)].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Receive(c);
            }
            CheckTimeouts(NowNs());
        }
    }
    Tally& tally() { return tally_; }
    bool wrapped() const { return wrapped_; }

  private:
    struct Conn {
        std::size_t index = 0;
        int fd = -1;
        bool in_flight = false, want_out = false;
        std::int64_t due_ns = 0, sent_ns = 0;
        std::string out, in;
        std::size_t out_off = 0;
    };
    bool closed_loop() const { return o_.rate <= 0; }

    void Connect(Conn& c) {
        for (int attempt = 0; attempt < 50; ++attempt) {
            c.fd = socket(addr_.ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (c.fd >= 0 && connect(c.fd, addr_.ai_addr, addr_.ai_addrlen) == 0) {
                const int one = 1;
                setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                if (fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK) < 0)
                    Die("cannot make a socket non-blocking");
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.u64 = c.index;
                epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
                c.want_out = false;
                c.in.clear();
                return;
            }
            ++tally_.connect_errors;
            if (c.fd >= 0) close(c.fd);
            c.fd = -1;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        Die("cannot connect to " + o_.host + ":" + o_.port);
    }
    void Reconnect(Conn& c) {
        epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        close(c.fd);
        c.fd = -1;
        c.in_flight = false;
        Connect(c);
    }

    // Gives a free connection its next request, now or at its due time; or retires it.
    void Take(Conn& c) {
        const std::int64_t now = NowNs();
        if (closed_loop() && now >= end_ns_) return Retire();
        const std::int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
        if (i >= total_) return Retire();
        const auto count = static_cast<std::int64_t>(d_.sigs.size());
        const std::int64_t k = i % count;
        if (i >= count) wrapped_ = true;
        const std::string id = std::to_string(d_.base + k);
        std::size_t body_size = (d_.parts.size() - 1) * id.size();
        for (const auto& part : d_.parts)
            body_size += part.size();
        char delivery[33];
        std::snprintf(delivery, sizeof delivery, "%016llx%016llx", static_cast<unsigned long long>(Random()),
                      static_cast<unsigned long long>(Random()));
        c.out.clear();
        c.out += head_;
        c.out += d_.sigs[static_cast<std::size_t>(k)];
        c.out += "\r\nX-WC-Webhook-Delivery-ID: ";
        c.out += delivery;
        c.out += "\r\nContent-Length: ";
        c.out += std::to_string(body_size);
        c.out += "\r\n\r\n";
        for (std::size_t p = 0; p < d_.parts.size(); ++p) {
            if (p > 0) c.out += id;
            c.out += d_.parts[p];
        }
        c.out_off = 0;
        c.due_ns = closed_loop() ? now : t0_ + static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o_.rate);
        if (c.due_ns > now)
            waiting_.push_back(c.index);  // connections take requests in order, so due times are in order
        else
            Send(c);
    }
    void Retire() { --active_; }

    void Send(Conn& c) {
        c.sent_ns = NowNs();
        c.in_flight = true;
        Flush(c);
    }
    void Flush(Conn& c) {
        if (!c.in_flight) return SetWantOut(c, false);  // a request still waiting for its due time
        while (c.out_off < c.out.size()) {
            const ssize_t n = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
            if (n > 0) {
                c.out_off += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                SetWantOut(c, true);
                return;
            }
            ++tally_.write_errors;
            Reconnect(c);
            return Take(c);
        }
        SetWantOut(c, false);
    }
    void SetWantOut(Conn& c, bool on) {
        if (c.want_out == on) return;
        c.want_out = on;
        epoll_event ev{};
        ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
        ev.data.u64 = c.index;
        epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }

    void Receive(Conn& c) {
        char buf[16384];
        bool eof = false;
        while (true) {
            const ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
            if (n > 0) {
                c.in.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            eof = true;  // closed by the server, or broken
            break;
        }
        bool close_after = false;
        const bool answered = c.in_flight && ParseAnswer(c, close_after);
        if (eof || close_after) {
            const bool lost = c.in_flight;  // still unanswered: lost with the connection
            if (lost) ++tally_.read_errors;
            Reconnect(c);
            if (lost || answered) Take(c);
            return;
        }
        if (answered) Take(c);
    }

    // True once the answer to the request in flight is complete (one at most is outstanding).
    bool ParseAnswer(Conn& c, bool& close_after) {
        const auto end = c.in.find("\r\n\r\n");
        if (end == std::string::npos) return false;
        const std::string_view head(c.in.data(), end + 2);
        if (head.size() < 12 || head.substr(0, 5) != "HTTP/")
            Die("not an HTTP answer: " + std::string(head.substr(0, 40)));
        const int status = std::atoi(head.data() + 9);
        std::string lower(head);
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
        const auto has = [&](const char* name, const char* word) {
            const auto at = lower.find(name);
            return at != std::string::npos && lower.find(word, at) < lower.find("\r\n", at + 2);
        };
        std::size_t length = 0;
        if (const auto at = lower.find("\r\ncontent-length:"); at != std::string::npos)
            length = std::strtoull(lower.c_str() + at + 17, nullptr, 10);
        std::size_t total = end + 4 + length;
        if (has("\r\ntransfer-encoding:", "chunked")) {
            const auto last = c.in.find("\r\n0\r\n\r\n", end);
            if (last == std::string::npos) return false;
            total = last + 7;
        }
        if (c.in.size() < total) return false;
        c.in.erase(0, total);
        // Answered before the whole request was written: the rest would be read as the next request.
        close_after = has("\r\nconnection:", "close") || c.out_off < c.out.size();
        const std::int64_t now = NowNs();
        c.in_flight = false;
        if (!closed_loop() || now <= end_ns_) {
            const std::int64_t from = closed_loop() ? c.sent_ns : c.due_ns;
            tally_.latency_us.push_back(
                static_cast<std::uint32_t>(std::min<std::int64_t>((now - from) / 1000, UINT32_MAX)));
            tally_.lag_us.push_back(static_cast<std::uint32_t>(std::max<std::int64_t>(0, c.sent_ns - c.due_ns) / 1000));
            if (status < 200 || status > 299) ++tally_.non2xx;
        }
        return true;
    }

    void CheckTimeouts(std::int64_t now) {
        const auto limit = static_cast<std::int64_t>(o_.timeout_s * 1e9);
        for (auto& c : conns_) {
            if (c.in_flight && now - c.sent_ns > limit) {
                ++tally_.timeouts;
                Reconnect(c);
                Take(c);
            }
        }
    }

    std::uint64_t Random() {  // xorshift64*: delivery ids only need to differ
        rng_ ^= rng_ >> 12;
        rng_ ^= rng_ << 25;
        rng_ ^= rng_ >> 27;
        return rng_ * 2685821657736338717ULL;
    }

    std::int64_t active_ = 0;  // connections that still take requests
    const Options& o_;
    const Data& d_;
    const addrinfo& addr_;
    std::atomic<std::int64_t>& next_;
    const std::int64_t total_;
    std::int64_t t0_ = 0, end_ns_ = 0;
    std::uint64_t rng_;
    int ep_ = -1;
    std::string head_;
    bool wrapped_ = false;
    std::vector<Conn> conns_;
    std::deque<std::size_t> waiting_;
    Tally tally_;
};

}  // namespace

namespace {

std::uint32_t Percentile(const std::vector<std::uint32_t>& sorted, double p) {  // nearest rank
    if (sorted.empty()) return 0;
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size() - 1, rank > 0 ? rank - 1 : 0)];
}

Options Parse(int argc, char** argv) {
    Options o;
    std::vector<std::string> pos;
    for (int k = 1; k < argc; ++k) {
        const std::string a = argv[k];
        auto value = [&]() -> std::string {
            if (k + 1 >= argc) Die(a + " needs a value");
            return argv[++k];
        };
        if (a == "--conns")
            o.conns = std::stoi(value());
        else if (a == "--threads")
            o.threads = std::stoi(value());
        else if (a == "--duration")
            o.duration_s = std::stod(value());
        else if (a == "--rate")
            o.rate = std::stod(value());
        else if (a == "--timeout")
            o.timeout_s = std::stod(value());
        else if (a.starts_with("--"))
            Die("unknown option " + a);
        else
            pos.push_back(a);
    }
    if (pos.size() != 2)
        Die("usage: loadgen URL DATADIR [--conns 64] [--threads 2] [--duration 20] [--rate R] [--timeout 10]");
    const std::string& url = pos[0];
    if (!url.starts_with("http://")) Die("only http:// URLs: " + url);
    const auto slash = url.find('/', 7);
    o.netloc = url.substr(7, slash == std::string::npos ? std::string::npos : slash - 7);
    o.path = slash == std::string::npos ? "/" : url.substr(slash);
    const auto colon = o.netloc.rfind(':');
    o.host = colon == std::string::npos ? o.netloc : o.netloc.substr(0, colon);
    o.port = colon == std::string::npos ? "80" : o.netloc.substr(colon + 1);
    o.datadir = pos[1];
    if (o.conns < 1 || o.threads < 1 || o.duration_s <= 0) Die("--conns, --threads and --duration must be positive");
    o.threads = std::min(o.threads, o.conns);
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = Parse(argc, argv);
    const Data data = LoadData(o.datadir);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* addr = nullptr;
    if (getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &addr) != 0 || !addr) Die("cannot resolve " + o.host);

    const bool paced = o.rate > 0;
    const std::int64_t total = paced ? static_cast<std::int64_t>(o.rate * o.duration_s) : INT64_MAX;
    std::atomic<std::int64_t> next{0};
    std::vector<std::unique_ptr<Worker>> workers;
    for (int t = 0; t < o.threads; ++t) {
        workers.push_back(std::make_unique<Worker>(o, data, *addr, next, total,
                                                   static_cast<std::uint64_t>(NowNs()) * 0x9e3779b97f4a7c15ULL + t));
        workers.back()->AddConnections(o.conns / o.threads + (t < o.conns % o.threads ? 1 : 0));
    }
    // Every connection is open before the clock starts.
    const std::int64_t t0 = NowNs() + 10'000'000;
    const std::int64_t end_ns = t0 + static_cast<std::int64_t>(o.duration_s * 1e9);
    std::vector<std::thread> threads;
    for (auto& w : workers)
        threads.emplace_back([&w, t0, end_ns] { w->Run(t0, end_ns); });
    for (auto& t : threads)
        t.join();
    const double elapsed = static_cast<double>((paced ? NowNs() : end_ns) - t0) / 1e9;
    freeaddrinfo(addr);

    Tally all;
    bool wrapped = false;
    for (auto& w : workers) {
        Tally& t = w->tally();
        all.latency_us.insert(all.latency_us.end(), t.latency_us.begin(), t.latency_us.end());
        all.lag_us.insert(all.lag_us.end(), t.lag_us.begin(), t.lag_us.end());
        all.non2xx += t.non2xx;
        all.connect_errors += t.connect_errors;
        all.read_errors += t.read_errors;
        all.write_errors += t.write_errors;
        all.timeouts += t.timeouts;
        wrapped = wrapped || w->wrapped();
    }
    std::sort(all.latency_us.begin(), all.latency_us.end());
    std::sort(all.lag_us.begin(), all.lag_us.end());
    const auto ms = [](std::uint32_t us) { return static_cast<double>(us) / 1000.0; };
    const auto& lat = all.latency_us;
    const std::size_t n = lat.size();
    const std::uint32_t max = n ? lat.back() : 0;
    if (paced) {
        const std::int64_t errors = all.read_errors + all.write_errors + all.timeouts;  // requests lost
        std::printf(
            "RESULT mode=paced offered_rps=%.0f duration_s=%.3f requests=%zu rps=%.1f p50_ms=%.3f p90_ms=%.3f "
            "p99_ms=%.3f p999_ms=%.3f max_ms=%.3f non2xx=%lld errors=%lld id_wraps=%lld send_lag_p99_ms=%.3f "
            "send_lag_max_ms=%.3f\n",
            o.rate, elapsed, n, static_cast<double>(n) / elapsed, ms(Percentile(lat, 50)), ms(Percentile(lat, 90)),
            ms(Percentile(lat, 99)), ms(Percentile(lat, 99.9)), ms(max), static_cast<long long>(all.non2xx),
            static_cast<long long>(errors),
            static_cast<long long>(
                std::max<std::int64_t>(0, (total - 1) / static_cast<std::int64_t>(data.sigs.size()))),
            ms(Percentile(all.lag_us, 99)), ms(all.lag_us.empty() ? 0 : all.lag_us.back()));
    } else {
        std::printf(
            "RESULT requests=%zu duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%lld "
            "sock_connect=%lld sock_read=%lld sock_write=%lld sock_timeout=%lld status_errs=0 id_wraps=%d\n",
            n, elapsed, static_cast<double>(n) / elapsed, ms(Percentile(lat, 50)), ms(Percentile(lat, 90)),
            ms(Percentile(lat, 99)), ms(max), static_cast<long long>(all.non2xx),
            static_cast<long long>(all.connect_errors), static_cast<long long>(all.read_errors),
            static_cast<long long>(all.write_errors), static_cast<long long>(all.timeouts), wrapped ? 1 : 0);
    }
    return 0;
}

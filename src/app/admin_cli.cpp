#include "orderbridge/app/admin_cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "orderbridge/dispatch/connector.hpp"

namespace orderbridge::app {
std::string DaemonUrl(const std::string& url, const config::Settings& s) {
    if (!url.empty()) return url;
    std::string listen = s.server.listen;
    const auto colon = listen.rfind(':');
    std::string host = listen.substr(0, colon);
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") host = "127.0.0.1";
    return "http://" + host + listen.substr(colon);
}

namespace {

using nlohmann::json;

std::string Token(const AdminCommand& c, const config::Settings& s, bool action) {
    if (!c.token.empty()) return c.token;
    if (const char* env = std::getenv("ORDERBRIDGE_TOKEN"); env && *env) return env;
    for (const auto& t : s.server.admin_tokens) {
        if (!action || t.role == config::Role::kOperator) return t.token;
    }
    return "";
}

struct Reply {
    int status = 0;
    json body;
};

std::optional<Reply> Call(const AdminCommand& c, const config::Settings& s, const std::string& method,
                          const std::string& path, const json* body) {
    dispatch::HttpClient client(std::chrono::seconds(30));
    dispatch::HttpCall call;
    call.method = method;
    call.url = DaemonUrl(c.url, s) + path;
    if (const std::string token = Token(c, s, method != "GET"); !token.empty())
        call.headers.emplace_back("Authorization", "Bearer " + token);
    if (body) {
        call.headers.emplace_back("Content-Type", "application/json");
        call.body = body->dump();
    }
    const auto answer = client.Send(call);
    if (answer.transport != dispatch::HttpAnswer::Transport::kAnswered) {
        std::cerr << "cannot reach orderbridge at " << DaemonUrl(c.url, s) << ": " << answer.error << "\n";
        return std::nullopt;
    }
    Reply r{answer.status, json::parse(answer.body, nullptr, false)};
    if (r.status >= 300) {
        std::string msg = answer.body;
        if (r.body.is_object() && r.body.contains("error")) msg = r.body["error"].value("message", answer.body);
        std::cerr << "orderbridge answered " << r.status << ": " << msg << "\n";
        return std::nullopt;
    }
    return r;
}

std::string Str(const json& j, const char* key) {
    if (!j.contains(key) || j[key].is_null()) return "-";
    return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

}  // namespace

int RunAdmin(const AdminCommand& c, const config::Settings& s) {
    using K = AdminCommand::Kind;
    switch (c.kind) {
        case K::kDlqList: {
            std::string path = "/v1/dlq?limit=" + std::to_string(c.limit);
            const std::pair<const char*, const std::string*> filters[] = {{"connector", &c.connector},
                                                                          {"error_class", &c.error_class},
                                                                          {"entity_id", &c.entity},
                                                                          {"from", &c.from},
                                                                          {"to", &c.to}};
            for (const auto& [k, v] : filters) {
                if (!v->empty()) path += std::string("&") + k + "=" + dispatch::UrlEncode(*v);
            }
            const auto r = Call(c, s, "GET", path, nullptr);
            if (!r) return 1;
            if (c.json) {
                std::cout << r->body.dump(2) << "\n";
                return 0;
            }
            std::printf("%-8s %-14s %-28s %-10s %-6s %-8s %-24s %s\n", "ID", "CONNECTOR", "ENTITY", "CLASS", "HTTP",
                        "ATTEMPTS", "CREATED", "REASON");
            for (const auto& d : r->body["items"]) {
                std::printf("%-8s %-14s %-28s %-10s %-6s %-8s %-24s %s\n", Str(d, "id").c_str(),
                            Str(d, "connector").c_str(), Str(d, "entity_id").c_str(), Str(d, "error_class").c_str(),
                            Str(d, "http_status").c_str(), Str(d, "attempts").c_str(), Str(d, "created_at").c_str(),
                            Str(d, "reason").substr(0, 80).c_str());
            }
            if (!r->body["next_cursor"].is_null()) std::printf("(more: use --limit)\n");
            return 0;
        }
        case K::kDlqShow: {
            const auto r = Call(c, s, "GET", "/v1/dlq/" + dispatch::UrlEncode(c.id), nullptr);
            if (!r) return 1;
            std::cout << r->body.dump(2) << "\n";
            return 0;
        }
        case K::kDlqReplay: {
            json body = {{"reason", c.reason}};
            std::string path = "/v1/dlq/replay";
            if (!c.id.empty()) {
                path = "/v1/dlq/" + dispatch::UrlEncode(c.id) + "/replay";
            } else {
                if (c.connector.empty() && c.error_class.empty() && c.entity.empty() && c.from.empty() &&
                    c.to.empty()) {
                    std::cerr << "dlq replay: give an ID or at least one of --connector, --error-class, --entity, "
                                 "--from, --to\n";
                    return 2;
                }
                if (!c.connector.empty()) body["connector"] = c.connector;
                if (!c.error_class.empty()) body["error_class"] = c.error_class;
                if (!c.entity.empty()) body["entity_id"] = c.entity;
                if (!c.from.empty()) body["from"] = c.from;
                if (!c.to.empty()) body["to"] = c.to;
            }
            const auto r = Call(c, s, "POST", path, &body);
            if (!r) return 1;
            std::cout << "replayed " << r->body.value("replayed", 0) << " delivery(ies)\n";
            return 0;
        }
        case K::kReplay: {
            const json body = {{"entity_id", c.entity}, {"connector", c.connector}, {"reason", c.reason}};
            const auto r = Call(c, s, "POST", "/v1/replay", &body);
            if (!r) return 1;
            std::cout << "replaying " << c.entity << " on " << c.connector << " (delivery "
                      << r->body["ids"][0].get<std::string>() << ")\n";
            return 0;
        }
    }
    return 2;
}

}  // namespace orderbridge::app

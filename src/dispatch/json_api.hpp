#pragma once
// What the multi-step JSON connectors (erpnext, shipstation) share: calls with one auth header,
// money in major units, and the permanent-error shorthand.
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "orderbridge/dispatch/connector.hpp"

namespace orderbridge::dispatch::detail {

/// Minor units to the decimal number these APIs expect (JSON numbers).
inline double MajorUnits(std::int64_t minor, int exponent) {
    return static_cast<double>(minor) / std::pow(10.0, exponent);
}

inline DeliveryResult Permanent(std::string reason) {
    DeliveryResult r;
    r.error_class = core::ErrorClass::kPermanent;
    r.reason = std::move(reason);
    return r;
}

/// A JSON API at `base_url` with a fixed Authorization header value.
class JsonApi {
  public:
    JsonApi(std::string base_url, std::string authorization) : authorization_(std::move(authorization)) {
        base_ = std::move(base_url);
        while (!base_.empty() && base_.back() == '/')
            base_.pop_back();
    }
    HttpAnswer Call(HttpClient& client, const std::string& method, const std::string& path,
                    const nlohmann::json* body = nullptr) const {
        HttpCall call;
        call.method = method;
        call.url = base_ + path;
        call.headers = {
            {"Authorization", authorization_}, {"Accept", "application/json"}, {"User-Agent", "orderbridge"}};
        if (body) {
            call.headers.emplace_back("Content-Type", "application/json");
            call.body = body->dump();
        }
        return client.Send(call);
    }

  private:
    std::string base_;
    std::string authorization_;
};

}  // namespace orderbridge::dispatch::detail

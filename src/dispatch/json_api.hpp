#pragma once
// What the multi-step JSON connectors (erpnext, shipstation) share: calls with one auth header,
// money in major units, and the permanent-error shorthand.
#include <cmath>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "orderbridge/dispatch/connector.hpp"

namespace orderbridge::dispatch::detail {

/// The string member `key` of `j`; empty when `j` is not an object or the member not a string.
inline std::string Str(const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string{};
}

/// Minor units to the decimal number these APIs expect (JSON numbers).
inline double MajorUnits(std::int64_t minor, int exponent) {
    return static_cast<double>(minor) / std::pow(10.0, exponent);
}

/// The human texts of a JSON error body: the string members `keys` that are present, then every
/// `field: message` of the object member `field_errors` (ASP.NET's ModelState / errors); a body
/// that is a JSON string is its own text.
inline std::string ErrorTexts(const std::string& body, std::initializer_list<const char*> keys,
                              const char* field_errors) {
    const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_string()) return j.get<std::string>();
    if (!j.is_object()) return {};
    std::string out;
    for (const char* key : keys) {
        if (j.contains(key) && j[key].is_string() && !j[key].get<std::string>().empty())
            out += (out.empty() ? "" : " ") + j[key].get<std::string>();
    }
    if (j.contains(field_errors) && j[field_errors].is_object()) {
        for (const auto& [field, list] : j[field_errors].items()) {
            for (const auto& m : list)
                if (m.is_string()) out += " " + field + ": " + m.get<std::string>();
        }
    }
    return out;
}

inline DeliveryResult Permanent(std::string reason) {
    DeliveryResult r;
    r.error_class = core::ErrorClass::kPermanent;
    r.reason = std::move(reason);
    return r;
}

/// A number member of `j` (ints and floats alike); nullopt when `j` is not an object or the member not a number.
inline std::optional<double> Number(const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) && j[key].is_number() ? std::optional<double>(j[key].get<double>())
                                                                  : std::nullopt;
}

/// The event envelope of a delivery into `env`; a permanent failure when it carries no data object.
inline std::optional<DeliveryResult> ParseEnvelope(const std::string& payload, nlohmann::json& env) {
    env = nlohmann::json::parse(payload, nullptr, false);
    if (!env.is_object() || !env.contains("data") || !env["data"].is_object())
        return Permanent("the event is not an order envelope");
    return std::nullopt;
}

/// Whether a 3PL order is cancelled for this event (research/erp_3pl.md 7.3): cancelled or deleted in
/// WooCommerce, refunded (nothing to ship) or its payment failed.
inline bool ThreePlCancels(const std::string& type, const nlohmann::json& order) {
    const std::string status = Str(order, "canonical_status");
    return type == "order.deleted" || type == "order.cancelled" || status == "cancelled" || status == "refunded" ||
           status == "payment_failed";
}

/// What an ERP connector does with an order event (research/erp_3pl.md 7.3): cancelled or deleted
/// orders are cancelled there, unpaid ones are not sent yet, the others are created (or found).
enum class ErpOrderStep { kCancel, kNotYet, kCreate };

inline ErpOrderStep ErpStepOf(const std::string& type, const nlohmann::json& order) {
    const std::string status = Str(order, "canonical_status");
    if (type == "order.cancelled" || type == "order.deleted" || status == "cancelled") return ErpOrderStep::kCancel;
    if (status == "awaiting_payment" || status == "payment_failed") return ErpOrderStep::kNotYet;
    return ErpOrderStep::kCreate;
}

/// The success of an event that is deliberately not sent (an unpaid order).
inline DeliveryResult NotSent(const nlohmann::json& order) {
    DeliveryResult r;
    r.reason = "not sent: the order is " + Str(order, "canonical_status");
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

    /// The base URL without a trailing slash.
    const std::string& Base() const { return base_; }

  private:
    std::string base_;
    std::string authorization_;
};

}  // namespace orderbridge::dispatch::detail

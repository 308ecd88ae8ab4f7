#include "orderbridge/api/webhooks.hpp"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "orderbridge/api/checkout.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/core/log.hpp"
#include "orderbridge/dispatch/router.hpp"
#include "orderbridge/http/error_mapping.hpp"
#include "orderbridge/model/identity.hpp"
#include "orderbridge/model/schema.hpp"
#include "orderbridge/woo/normalize.hpp"
#include "orderbridge/woo/signature.hpp"

namespace orderbridge::api {
namespace {

using nlohmann::json;

// What routing filters look at; refunds are routed by the facts of their order.
dispatch::RouteFacts Facts(const woo::Normalized& n, const std::string& store) {
    dispatch::RouteFacts f;
    f.store = store;
    if (n.order) {
        const model::Order& o = *n.order;
        f.canonical_status = o.canonical_status;
        if (o.shipping_address && o.shipping_address->country_code) {
            f.shipping_country = o.shipping_address->country_code;
        } else if (o.billing_address.country_code) {
            f.shipping_country = o.billing_address.country_code;
        }
        f.skus.emplace();
        for (const auto& line : o.lines) {
            if (line.sku) f.skus->push_back(*line.sku);
        }
    } else if (n.product) {
        f.canonical_status = n.product->status;
        f.skus = std::vector<std::string>{n.product->sku};
    }
    return f;
}

void BuildEntities(const woo::Normalized& n, store::IngestRecord& rec, const dispatch::Router& router, bool relay,
                   const model::SchemaValidator* validator) {
    json findings = json::array();
    for (const auto& f : n.findings)
        findings.push_back({{"rule", f.rule}, {"action", f.action}, {"message", f.message}});
    bool held = n.Held();
    if (validator) {
        for (const auto& e : n.events) {
            for (const auto& err : validator->Validate(n.EventJson(e))) {
                findings.push_back({{"rule", "schema_violation"}, {"action", "hold"}, {"message", e.type + " " + err}});
                held = true;
            }
        }
    }
    store::EntityWrite primary;
    primary.entity_id = n.entity_id;
    primary.kind = n.entity_kind;
    primary.source_id = n.source_id;
    primary.version = n.version;
    primary.canonical_status = n.order ? n.order->canonical_status : (n.product ? n.product->status : "");
    primary.data = n.entity_text;
    primary.findings = findings.dump();
    primary.held = held;
    std::map<std::string, store::EntityWrite> refunds;
    for (const auto& r : n.refunds) {
        store::EntityWrite w;
        w.entity_id = r.id;
        w.kind = "refund";
        w.source_id = r.source_refund_id;
        w.canonical_status = "refunded";
        w.data = model::ToJsonText(r);
        w.findings = "[]";
        w.held = held;  // a held order's refunds wait with it
        refunds.emplace(r.id, std::move(w));
    }
    const dispatch::RouteFacts facts = Facts(n, rec.store_id);
    for (const auto& e : n.events) {
        // The primary entity is serialised once; its events embed that text instead of a second dump,
        // and say where, so the store can keep it once.
        store::OutboxEvent ev{e.id,      e.type, e.entity_id,
                              e.version, {},     relay ? std::vector<std::string>{} : router.Route(e.type, facts),
                              relay};
        if (e.entity_id == n.entity_id) {
            ev.payload = model::EnvelopeText(e, n.entity_text, &ev.data_at);
        } else {
            ev.payload = model::ToJsonText(e);
        }
        auto r = refunds.find(e.entity_id);
        if (r != refunds.end()) {
            r->second.version = e.version;
            r->second.events.push_back(std::move(ev));
        } else {
            primary.events.push_back(std::move(ev));
        }
    }
    rec.entities.push_back(std::move(primary));
    for (auto& [id, w] : refunds)
        rec.entities.push_back(std::move(w));
}

}  // namespace

store::IngestRecord PrepareWooRecord(const config::StoreSettings& store, const std::string& topic,
                                     const std::string& body, const std::string& trace_id,
                                     const dispatch::Router& router, bool relay,
                                     const model::SchemaValidator* validator, woo::Normalized& n) {
    store::IngestRecord rec;
    rec.store_id = store.id;
    rec.topic = topic;
    const auto now = std::chrono::system_clock::now();
    rec.received_at = core::FormatRfc3339(now);
    rec.received_ms = core::ToUnixMillis(now);
    rec.trace_id = trace_id;
    rec.headers = "{}";
    woo::NormalizeInput in;
    in.store = store.id;
    in.topic = topic;
    in.body = body;
    in.received_at = rec.received_at;
    in.trace_id = rec.trace_id;
    in.rules = store.rules;
    in.currencies = store.currencies;
    n = woo::Normalize(in);
    if (!n.usable) {
        rec.reject_reason = n.error;
    } else {
        BuildEntities(n, rec, router, relay, validator);
    }
    return rec;
}

namespace {

class WooWebhooks {
  public:
    WooWebhooks(const config::Settings& settings, store::IngestQueue& queue, prometheus::Registry& registry,
                const model::SchemaValidator* validator, const dispatch::Router& router, StockView* view)
        : view_(view),
          queue_(queue),
          router_(router),
          relay_(settings.bus.driver == config::BusDriver::kKafka),
          validator_(validator),
          received_(prometheus::BuildCounter()
                        .Name("orderbridge_webhooks_received_total")
                        .Help("WooCommerce deliveries by store, topic and outcome (accepted, held, duplicate, stale, "
                              "rejected, ignored, ping, unauthorized, unavailable)")
                        .Register(registry)),
          rejected_(prometheus::BuildCounter()
                        .Name("orderbridge_webhooks_rejected_total")
                        .Help("WooCommerce deliveries not stored as entities, by store and reason (missing_signature, "
                              "bad_signature, unsupported_topic, not_json, error_object, bad_shape)")
                        .Register(registry)),
          last_(prometheus::BuildGauge()
                    .Name("orderbridge_webhook_last_received_timestamp_seconds")
                    .Help("When the last signed delivery of a store and topic was stored (Unix seconds)")
                    .Register(registry)),
          ack_latency_(prometheus::BuildHistogram()
                           .Name("orderbridge_webhook_ack_latency_seconds")
                           .Help("Time from a delivery being read to its answer, by store")
                           .Register(registry)) {
        for (const auto& s : settings.stores) {
            stores_.emplace(s.id, s);
            // The series the webhook alerts take increase() or rate() over exist from the start, so the
            // first refused or unavailable delivery counts (a series born at 1 shows no increase).
            for (const char* reason : {"missing_signature", "bad_signature"})
                rejected_.Add({{"store", s.id}, {"reason", reason}});
            for (const char* topic : {"order.created", "order.updated"})
                received_.Add({{"store", s.id}, {"topic", topic}, {"outcome", "unavailable"}});
        }
    }

    void Handle(http::Request& req, http::Responder respond) {
        const std::string store_id(req.Param("store"));
        auto it = stores_.find(store_id);
        if (it == stores_.end()) {
            respond(http::ErrorResponse(core::Errc::kNotFound, "unknown store '" + store_id + "'"));
            return;
        }
        const config::StoreSettings& store = it->second;
        const std::string topic(req.Header("X-WC-Webhook-Topic"));
        const std::string_view signature = req.Header("X-WC-Webhook-Signature");
        if (signature.empty()) {
            // The activation ping: form body "webhook_id=N", no signature, needs exactly 200.
            if (req.body.rfind("webhook_id=", 0) == 0) {
                Count(store_id, "ping", "ping");
                respond(http::Response::Empty(200));
                return;
            }
            Count(store_id, topic, "unauthorized");
            rejected_.Add({{"store", store_id}, {"reason", "missing_signature"}}).Increment();
            respond(http::ErrorResponse(core::Errc::kUnauthorized, "X-WC-Webhook-Signature is missing"));
            return;
        }
        if (!woo::VerifySignature(req.body, signature, store.webhook_secrets, store.signature_algorithm)) {
            Count(store_id, topic, "unauthorized");
            rejected_.Add({{"store", store_id}, {"reason", "bad_signature"}}).Increment();
            log::Warn("webhook signature mismatch",
                      {{"store", store_id}, {"topic", topic}, {"delivery_id", req.Header("X-WC-Webhook-Delivery-ID")}});
            respond(http::ErrorResponse(core::Errc::kUnauthorized, "signature does not match"));
            return;
        }

        woo::Normalized n;
        store::IngestRecord rec =
            PrepareWooRecord(store, topic, req.body, TraceId(req), router_, relay_, validator_, n);
        rec.delivery_id = std::string(req.Header("X-WC-Webhook-Delivery-ID"));
        rec.headers = woo::ArchivedHeaders(req.headers);
        if (!n.usable) rejected_.Add({{"store", store_id}, {"reason", n.error_code}}).Increment();
        if (!n.usable && n.error_code == "unsupported_topic") {
            Count(store_id, topic, "ignored");
            respond(http::Response::Json(200, json{{"status", "ignored"}, {"reason", n.error}}.dump()));
            return;
        }
        if (!n.usable) log::Warn("webhook body rejected", {{"store", store_id}, {"topic", topic}, {"reason", n.error}});
        rec.body = std::move(req.body);
        const auto started = req.received_at;
        const std::string entity_id = n.entity_id;
        const std::string reason = n.error;
        std::optional<model::Product> product = n.product;
        queue_.Submit(std::move(rec), [this, respond, store_id, topic, started, entity_id, reason, product](
                                          std::optional<store::Outcome> outcome, const std::string& error) {
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            ack_latency_.Add({{"store", store_id}}, kBuckets).Observe(secs);
            if (!outcome) {
                Count(store_id, topic, "unavailable");
                respond(http::ErrorResponse(core::Errc::kUnavailable, error, std::chrono::seconds(5)));
                return;
            }
            const std::string name(store::ToString(*outcome));
            Count(store_id, topic, name);
            if (*outcome != store::Outcome::kRejected)
                last_.Add({{"store", store_id}, {"topic", KnownTopic(topic)}})
                    .Set(static_cast<double>(core::ToUnixMillis(std::chrono::system_clock::now())) / 1000.0);
            // {"entity_id":..,"reason":..,"status":..}: members in name order, as JSON answers are written.
            std::string body = "{";
            const auto member = [&body](std::string_view key, std::string_view value) {
                if (body.size() > 1) body += ',';
                model::AppendJsonString(body, key);
                body += ':';
                model::AppendJsonString(body, value);
            };
            if (!entity_id.empty()) member("entity_id", entity_id);
            if (*outcome == store::Outcome::kRejected) member("reason", reason);
            member("status", name);
            body += '}';
            const bool created = *outcome == store::Outcome::kAccepted || *outcome == store::Outcome::kHeld;
            if (created && product && view_) {
                // The store's own stock, for checkout validation of SKUs no ERP or 3PL reports.
                const bool managed = product->manage_stock != model::Json(false) && product->stock_quantity.has_value();
                view_->SetProduct(store_id, product->sku, managed, product->stock_quantity,
                                  product->status == "deleted" ? "outofstock" : product->stock_status);
            }
            respond(http::Response::Json(created ? 202 : 200, std::move(body)));
        });
    }

  private:
    static inline const prometheus::Histogram::BucketBoundaries kBuckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                         0.1,   0.25,   0.5,   1,    2.5,   5};

    static std::string TraceId(const http::Request& req) {
        // W3C traceparent: 00-<32 hex trace id>-<16 hex span>-<flags>
        const std::string_view tp = req.Header("traceparent");
        if (tp.size() >= 55 && tp[2] == '-' && tp[35] == '-') {
            const std::string id(tp.substr(3, 32));
            if (id.find_first_not_of("0123456789abcdef") == std::string::npos && id != std::string(32, '0')) return id;
        }
        return model::NewTraceId();
    }

    // Topics are bounded by WooCommerce's list; anything else is folded into "other".
    static std::string KnownTopic(const std::string& topic) {
        static const std::vector<std::string> kTopics = {"order.created",    "order.updated",    "order.deleted",
                                                         "order.restored",   "product.created",  "product.updated",
                                                         "product.deleted",  "product.restored", "customer.created",
                                                         "customer.updated", "customer.deleted", "ping"};
        return std::find(kTopics.begin(), kTopics.end(), topic) != kTopics.end() ? topic : "other";
    }

    void Count(const std::string& store, const std::string& topic, const std::string& outcome) {
        received_.Add({{"store", store}, {"topic", KnownTopic(topic)}, {"outcome", outcome}}).Increment();
    }

    std::map<std::string, config::StoreSettings> stores_;
    StockView* view_;
    store::IngestQueue& queue_;
    const dispatch::Router& router_;
    bool relay_;  ///< Kafka bus: the relay publishes, the lanes route on their side
    const model::SchemaValidator* validator_;
    prometheus::Family<prometheus::Counter>& received_;
    prometheus::Family<prometheus::Counter>& rejected_;
    prometheus::Family<prometheus::Gauge>& last_;
    prometheus::Family<prometheus::Histogram>& ack_latency_;
};

}  // namespace

void AddWebhookRoutes(http::Router& router, const config::Settings& settings, store::IngestQueue& queue,
                      prometheus::Registry& registry, const model::SchemaValidator* validator,
                      const dispatch::Router& lanes, StockView* view) {
    auto hooks = std::make_shared<WooWebhooks>(settings, queue, registry, validator, lanes, view);
    router.Add("POST", "/webhooks/woocommerce/{store}",
               [hooks](http::Request& req, http::Responder respond) { hooks->Handle(req, std::move(respond)); });
}

}  // namespace orderbridge::api

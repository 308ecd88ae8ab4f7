#pragma once
// The Kafka bus (`bus.driver: kafka`, DESIGN section 2).
//
//   relay    publishes the outbox to `bus.kafka.topic` in commit order: key = entity id (one entity
//            stays in one partition, in order), idempotent producer with acks=all, headers `type`,
//            `schema_version`, `event_id` and W3C `traceparent`. A row is marked published only
//            after its delivery report, and only as part of an unbroken prefix, so a failure never
//            reorders an entity. One relay publishes at a time (a PostgreSQL advisory lock).
//   lanes    one consumer group per connector (`<group_prefix>.<connector>`). A consumed event that
//            the connector's `subscribe`/`when` accept becomes a delivery in the store (unless it
//            exists: redelivered messages add nothing), and the dispatcher delivers it like any
//            other. A partition's offset is committed only up to the first message whose delivery
//            has not ended (delivered or dead, durably recorded), so a rebalance or a crash
//            re-reads exactly what is not finished, and the store's unique delivery per (event,
//            connector) turns the re-read into nothing new.
//
// Thread-safety: Wake and OnFinal may be called from any thread.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orderbridge/config/settings.hpp"
#include "orderbridge/dispatch/dispatcher.hpp"
#include "orderbridge/dispatch/router.hpp"
#include "orderbridge/store/store.hpp"

namespace prometheus {
class Registry;
}

namespace orderbridge::dispatch {

/// Route facts of an event envelope, for routing on the consuming side.
RouteFacts FactsFromEnvelope(const nlohmann::json& envelope);

class KafkaBus {
  public:
    KafkaBus(store::Store& store, const config::Settings& settings, Dispatcher& dispatcher,
             prometheus::Registry& registry);
    ~KafkaBus();
    KafkaBus(const KafkaBus&) = delete;
    KafkaBus& operator=(const KafkaBus&) = delete;

    void Start();
    /// Consumers commit what has ended and leave their groups; the relay flushes; threads joined.
    void Stop();
    /// An ingest commit: the relay publishes at once instead of at its next poll.
    void Wake();
    /// Deliveries whose end was committed (from the dispatcher).
    void OnFinal(const std::vector<std::int64_t>& delivery_ids);
    bool Healthy() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace orderbridge::dispatch

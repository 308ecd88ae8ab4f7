#include "orderbridge/dispatch/kafka_bus.hpp"

#include <librdkafka/rdkafka.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <unordered_map>

#include "orderbridge/core/clock.hpp"
#include "orderbridge/core/log.hpp"

namespace orderbridge::dispatch {
namespace {

using nlohmann::json;

std::string StrAt(const json& j, std::initializer_list<const char*> path) {
    const json* cur = &j;
    for (const char* key : path) {
        if (!cur->is_object() || !cur->contains(key)) return {};
        cur = &(*cur)[key];
    }
    return cur->is_string() ? cur->get<std::string>() : std::string{};
}

// Applies librdkafka properties; returns the conf, or throws with every error.
rd_kafka_conf_t* MakeConf(const config::KafkaSettings& k, const std::map<std::string, std::string>& props) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    std::map<std::string, std::string> all = props;
    all["bootstrap.servers"] = k.brokers;
    for (const auto& [name, value] : k.options)
        all[name] = value;  // the operator's options win
    for (const auto& [name, value] : all) {
        if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            throw std::invalid_argument("kafka option " + name + ": " + err);
        }
    }
    return conf;
}

void OnDelivered(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
    if (m->_private) *static_cast<int*>(m->_private) = m->err ? 1 : 0;
}

}  // namespace

RouteFacts FactsFromEnvelope(const nlohmann::json& j) {
    RouteFacts f;
    if (!j.is_object()) return f;
    f.store = StrAt(j, {"source", "store"});
    const json& data = j.contains("data") ? j["data"] : json();
    if (!data.is_object()) return f;
    const std::string type = j.value("type", "");
    if (type.rfind("order.", 0) == 0 && data.contains("lines")) {
        if (auto s = StrAt(data, {"canonical_status"}); !s.empty()) f.canonical_status = s;
        std::string country = StrAt(data, {"shipping_address", "country_code"});
        if (country.empty()) country = StrAt(data, {"billing_address", "country_code"});
        if (!country.empty()) f.shipping_country = country;
        f.skus.emplace();
        for (const auto& line : data["lines"]) {
            if (line.is_object() && line.contains("sku") && line["sku"].is_string())
                f.skus->push_back(line["sku"].get<std::string>());
        }
    } else if (type.rfind("product.", 0) == 0) {
        if (auto s = StrAt(data, {"status"}); !s.empty()) f.canonical_status = s;
        f.skus = std::vector<std::string>{StrAt(data, {"sku"})};
    }
    for (const char* key : {"location", "warehouse_id"}) {
        if (data.contains(key) && data[key].is_string() && !data[key].get<std::string>().empty())
            f.warehouses = std::vector<std::string>{data[key].get<std::string>()};
    }
    return f;
}

struct KafkaBus::Impl {
    struct Consumer;

    Impl(store::Store& s, const config::Settings& settings, Dispatcher& d, prometheus::Registry& registry)
        : store(s),
          kafka(settings.bus.kafka),
          connectors(settings.connectors),
          dispatcher(d),
          router(settings.connectors),
          published(prometheus::BuildCounter()
                        .Name("orderbridge_kafka_published_total")
                        .Help("Outbox events published to Kafka by the relay")
                        .Register(registry)
                        .Add({})),
          relay_errors(prometheus::BuildCounter()
                           .Name("orderbridge_kafka_relay_errors_total")
                           .Help("Relay rounds that could not publish everything (retried)")
                           .Register(registry)
                           .Add({})),
          passed_over(prometheus::BuildCounter()
                          .Name("orderbridge_kafka_passed_over_total")
                          .Help("Outbox events the relay can never publish and passed over, so they are not "
                                "delivered through the bus, by reason (too_large, unreadable)")
                          .Register(registry)),
          consumed(prometheus::BuildCounter()
                       .Name("orderbridge_kafka_consumed_total")
                       .Help("Events consumed per connector lane, by whether the lane takes them (routed, skipped)")
                       .Register(registry)) {}

    void RelayLoop();
    bool PublishRound(rd_kafka_t* rk, store::Session& session);

    store::Store& store;
    config::KafkaSettings kafka;
    std::vector<config::ConnectorSettings> connectors;
    Dispatcher& dispatcher;
    Router router;
    prometheus::Counter& published;
    prometheus::Counter& relay_errors;
    prometheus::Family<prometheus::Counter>& passed_over;
    prometheus::Family<prometheus::Counter>& consumed;

    std::atomic<bool> stopping{false};
    std::atomic<bool> healthy{true};
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
    std::thread relay;
    std::vector<std::unique_ptr<Consumer>> consumers;
};

// ---- relay ----------------------------------------------------------------------------------------

bool KafkaBus::Impl::PublishRound(rd_kafka_t* rk, store::Session& session) {
    if (!session.TryRelayLock()) return false;  // another daemon relays
    const auto rows = session.FetchUnpublished(500);
    if (rows.empty()) return false;
    // Per event: -1 not produced yet, 0 delivered to Kafka, 1 failed (retried in order), 2 passed over.
    std::vector<int> status(rows.size(), -1);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto& ev = rows[i].event;
        if (ev.payload.empty()) {
            // Its entity data could be read back from neither the entity row nor event_data
            // (docs/storage.md): never published as an empty message, passed over like one too large.
            log::Error(
                "kafka relay: an event's payload cannot be read (its entity data is missing); it is not "
                "published",
                {{"event_id", ev.event_id}, {"entity_id", ev.entity_id}});
            passed_over.Add({{"reason", "unreadable"}}).Increment();
            status[i] = 2;
            continue;
        }
        const std::string traceparent = TraceParent(EnvelopeTraceId(ev.payload), rows[i].id, 0);
        bool stop = false;
        for (;;) {
            const rd_kafka_resp_err_t err = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(kafka.topic.c_str()), RD_KAFKA_V_KEY(ev.entity_id.data(), ev.entity_id.size()),
                RD_KAFKA_V_VALUE(const_cast<char*>(ev.payload.data()), ev.payload.size()),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADER("type", ev.type.c_str(), -1),
                RD_KAFKA_V_HEADER("schema_version", "1", -1), RD_KAFKA_V_HEADER("event_id", ev.event_id.c_str(), -1),
                RD_KAFKA_V_HEADER("traceparent", traceparent.c_str(), -1), RD_KAFKA_V_OPAQUE(&status[i]),
                RD_KAFKA_V_END);
            if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
                continue;
            }
            if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
                // Can never be published: passed over (loudly) so the relay does not jam behind it.
                log::Error("kafka relay: event too large for the topic; it is not published",
                           {{"event_id", ev.event_id}, {"entity_id", ev.entity_id}, {"bytes", ev.payload.size()}});
                passed_over.Add({{"reason", "too_large"}}).Increment();
                status[i] = 2;
            } else if (err) {
                status[i] = 1;
                stop = true;  // nothing after it may overtake it
            }
            break;
        }
        if (stop) break;
    }
    // Delivery reports for everything produced. If they do not all come in time, purge what is
    // left so that every report (and its write into `status`) has happened before `status` goes.
    if (rd_kafka_flush(rk, 40000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(rk, 5000);
    }
    // Events passed over are marked published too, or the relay would fetch them again and stall.
    std::vector<std::int64_t> done;
    std::size_t passed_over = 0;
    for (std::size_t i = 0; i < rows.size() && (status[i] == 0 || status[i] == 2); ++i) {
        done.push_back(rows[i].id);
        if (status[i] == 2) ++passed_over;
    }
    session.MarkPublished(done);
    published.Increment(static_cast<double>(done.size() - passed_over));
    if (done.size() < rows.size()) {
        relay_errors.Increment();
        healthy = false;
        log::Warn("kafka relay: not every event was published; the rest is retried in order",
                  {{"published", done.size()}, {"batch", rows.size()}});
        return false;
    }
    healthy = true;
    return rows.size() == 500;
}

void KafkaBus::Impl::RelayLoop() {
    char err[512];
    rd_kafka_conf_t* conf = MakeConf(kafka, {{"enable.idempotence", "true"},
                                             {"acks", "all"},
                                             {"linger.ms", "5"},
                                             {"message.timeout.ms", "30000"},
                                             {"client.id", "orderbridge-relay"}});
    rd_kafka_conf_set_dr_msg_cb(conf, OnDelivered);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        log::Error("kafka relay: cannot create the producer", {{"error", err}});
        healthy = false;
        return;
    }
    std::unique_ptr<store::Session> session;
    auto pause = std::chrono::milliseconds(200);
    while (!stopping) {
        bool more = false;
        try {
            if (!session) session = store.Open();
            more = PublishRound(rk, *session);
        } catch (const std::exception& e) {
            log::Warn("kafka relay: store call failed; retrying", {{"error", e.what()}});
            session.reset();
            healthy = false;
        }
        rd_kafka_poll(rk, 0);
        // After a failed round, wait longer each time (up to 30 s) rather than re-sending a batch
        // that the cluster keeps refusing.
        pause = healthy ? std::chrono::milliseconds(200) : std::min(pause * 2, std::chrono::milliseconds(30000));
        std::unique_lock lk(mu);
        if (!more) {
            cv.wait_for(lk, pause, [&] { return stopping.load() || (woken && healthy.load()); });
        }
        woken = false;
    }
    rd_kafka_flush(rk, 5000);
    rd_kafka_destroy(rk);
}

// ---- consumers ------------------------------------------------------------------------------------

struct KafkaBus::Impl::Consumer {
    Consumer(Impl& b, config::ConnectorSettings s)
        : bus(b),
          settings(std::move(s)),
          routed(bus.consumed.Add({{"connector", settings.name}, {"lane", "routed"}})),
          skipped(bus.consumed.Add({{"connector", settings.name}, {"lane", "skipped"}})) {}

    struct Partition {
        std::multiset<std::int64_t> outstanding;  ///< offsets whose delivery has not ended
        std::int64_t next = -1;                   ///< one past the highest offset read
        std::int64_t committed = -1;
    };

    static void Rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                          void* opaque) {
        auto* self = static_cast<Consumer*>(opaque);
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
            rd_kafka_assign(rk, parts);
            return;
        }
        // Revoked: commit what has ended, forget the rest (its new owner reads it again).
        self->Commit(rk, false);
        for (int i = 0; i < parts->cnt; ++i)
            self->Forget(parts->elems[i].partition);
        rd_kafka_assign(rk, nullptr);
    }

    void Forget(std::int32_t partition) {
        parts.erase(partition);
        for (auto it = by_delivery.begin(); it != by_delivery.end();) {
            it = it->second.first == partition ? by_delivery.erase(it) : std::next(it);
        }
    }

    void Commit(rd_kafka_t* rk, bool async) {
        rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(parts.size()));
        for (auto& [p, st] : parts) {
            const std::int64_t upto = st.outstanding.empty() ? st.next : *st.outstanding.begin();
            if (upto > st.committed && upto >= 0) {
                rd_kafka_topic_partition_list_add(list, bus.kafka.topic.c_str(), p)->offset = upto;
                st.committed = upto;
            }
        }
        if (list->cnt > 0) {
            if (const auto err = rd_kafka_commit(rk, list, async ? 1 : 0); err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
                log::Warn("kafka: offset commit failed",
                          {{"connector", settings.name}, {"error", rd_kafka_err2str(err)}});
            }
        }
        rd_kafka_topic_partition_list_destroy(list);
    }

    void TakeFinals() {
        std::vector<std::int64_t> ids;
        {
            std::lock_guard lk(final_mu);
            ids.swap(finals);
        }
        for (auto id : ids) {
            auto [b, e] = by_delivery.equal_range(id);
            for (auto it = b; it != e; ++it) {
                auto p = parts.find(it->second.first);
                if (p == parts.end()) continue;
                if (auto o = p->second.outstanding.find(it->second.second); o != p->second.outstanding.end())
                    p->second.outstanding.erase(o);
            }
            by_delivery.erase(b, e);
        }
    }

    // Deliveries this lane waits for may have been finished by another daemon sharing the store
    // (its dispatcher tells only its own lanes): ask the store now and then.
    void AskStore() {
        if (by_delivery.empty() || std::chrono::steady_clock::now() - last_asked < std::chrono::seconds(1)) return;
        last_asked = std::chrono::steady_clock::now();
        std::vector<std::int64_t> ids;
        for (const auto& [id, where] : by_delivery) {
            if (ids.empty() || ids.back() != id) ids.push_back(id);
            if (ids.size() >= 1000) break;
        }
        try {
            if (!session) session = bus.store.Open();
            const auto ended = session->EndedAmong(ids);
            std::lock_guard lk(final_mu);
            finals.insert(finals.end(), ended.begin(), ended.end());
        } catch (const std::exception& e) {
            session.reset();
            log::Warn("kafka: cannot read delivery states", {{"error", e.what()}});
        }
        TakeFinals();
    }

    // Turns a batch of messages into deliveries; retried until the store takes it (or we stop).
    void Handle(std::vector<rd_kafka_message_t*>& batch) {
        std::vector<store::MaterializeItem> items;
        std::vector<std::pair<std::int32_t, std::int64_t>> where;
        const std::string now = core::FormatRfc3339(std::chrono::system_clock::now());
        for (rd_kafka_message_t* m : batch) {
            auto& st = parts[m->partition];
            st.next = std::max(st.next, m->offset + 1);
            const std::string payload(m->payload ? static_cast<const char*>(m->payload) : "", m->len);
            const json env = json::parse(payload, nullptr, false);
            // Fields read with type checks: a malformed message is skipped, never a crash.
            const std::string type = StrAt(env, {"type"});
            const bool usable = !type.empty() && !StrAt(env, {"id"}).empty() && !StrAt(env, {"entity_id"}).empty();
            const auto lanes = usable ? bus.router.Route(type, FactsFromEnvelope(env)) : std::vector<std::string>{};
            if (std::find(lanes.begin(), lanes.end(), settings.name) == lanes.end()) {
                if (!usable) {
                    log::Warn("kafka: a message is not an event envelope; skipped",
                              {{"connector", settings.name}, {"partition", m->partition}, {"offset", m->offset}});
                }
                skipped.Increment();
                continue;
            }
            routed.Increment();
            rd_kafka_timestamp_type_t tstype;
            const std::int64_t ts = rd_kafka_message_timestamp(m, &tstype);
            store::MaterializeItem item;
            item.connector = settings.name;
            item.event = store::OutboxEvent{
                StrAt(env, {"id"}), type, StrAt(env, {"entity_id"}), StrAt(env, {"version"}), payload, {}, false};
            item.created_at = now;
            item.created_ms = ts > 0 ? ts : core::ToUnixMillis(std::chrono::system_clock::now());
            items.push_back(std::move(item));
            where.emplace_back(m->partition, m->offset);
            st.outstanding.insert(m->offset);
        }
        if (items.empty()) return;
        for (int attempt = 0; !bus.stopping; ++attempt) {
            try {
                if (!session) session = bus.store.Open();
                const auto results = session->Materialize(items);
                for (std::size_t i = 0; i < results.size(); ++i) {
                    if (results[i].state == "pending") {
                        by_delivery.emplace(results[i].delivery_id, where[i]);
                    } else {  // already ended (a message read again): nothing to wait for
                        auto& out = parts[where[i].first].outstanding;
                        if (auto o = out.find(where[i].second); o != out.end()) out.erase(o);
                    }
                }
                bus.dispatcher.Wake();
                return;
            } catch (const std::exception& e) {
                session.reset();
                if (attempt == 0) log::Warn("kafka: cannot record consumed events; retrying", {{"error", e.what()}});
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
            }
        }
    }

    void Loop() {
        char err[512];
        rd_kafka_conf_t* conf;
        try {
            conf = MakeConf(bus.kafka, {{"group.id", bus.kafka.group_prefix + "." + settings.name},
                                        {"enable.auto.commit", "false"},
                                        {"enable.auto.offset.store", "false"},
                                        {"auto.offset.reset", "earliest"},
                                        {"session.timeout.ms", "6000"},
                                        {"heartbeat.interval.ms", "500"},
                                        {"client.id", "orderbridge-" + settings.name}});
        } catch (const std::exception& e) {
            log::Error("kafka: bad consumer configuration", {{"error", e.what()}});
            return;
        }
        rd_kafka_conf_set_rebalance_cb(conf, &Consumer::Rebalance);
        rd_kafka_conf_set_opaque(conf, this);
        rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
        if (!rk) {
            log::Error("kafka: cannot create the consumer", {{"connector", settings.name}, {"error", err}});
            return;
        }
        rd_kafka_poll_set_consumer(rk);
        rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, bus.kafka.topic.c_str(), RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);

        auto last_commit = std::chrono::steady_clock::now();
        while (!bus.stopping) {
            std::vector<rd_kafka_message_t*> batch;
            for (rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100); m; m = rd_kafka_consumer_poll(rk, 0)) {
                if (m->err) {
                    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        log::Warn("kafka: consumer error",
                                  {{"connector", settings.name}, {"error", rd_kafka_message_errstr(m)}});
                    rd_kafka_message_destroy(m);
                    continue;
                }
                batch.push_back(m);
                if (batch.size() >= 500) break;
            }
            Handle(batch);
            for (auto* m : batch)
                rd_kafka_message_destroy(m);
            TakeFinals();
            if (std::chrono::steady_clock::now() - last_commit >= std::chrono::milliseconds(200)) {
                AskStore();
                Commit(rk, true);
                last_commit = std::chrono::steady_clock::now();
            }
        }
        TakeFinals();
        rd_kafka_consumer_close(rk);  // revokes (committing what has ended) and leaves the group
        rd_kafka_destroy(rk);
    }

    Impl& bus;
    config::ConnectorSettings settings;
    prometheus::Counter& routed;
    prometheus::Counter& skipped;
    std::thread thread;
    std::mutex final_mu;
    std::vector<std::int64_t> finals;
    // Consumer thread only.
    std::map<std::int32_t, Partition> parts;
    std::unordered_multimap<std::int64_t, std::pair<std::int32_t, std::int64_t>> by_delivery;
    std::unique_ptr<store::Session> session;
    std::chrono::steady_clock::time_point last_asked{};
};

KafkaBus::KafkaBus(store::Store& store, const config::Settings& settings, Dispatcher& dispatcher,
                   prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(store, settings, dispatcher, registry)) {
    for (const auto& c : settings.connectors)
        impl_->consumers.push_back(std::make_unique<Impl::Consumer>(*impl_, c));
}

KafkaBus::~KafkaBus() {
    Stop();
}

void KafkaBus::Start() {
    if (impl_->relay.joinable()) return;
    impl_->relay = std::thread([this] { impl_->RelayLoop(); });
    for (auto& c : impl_->consumers)
        c->thread = std::thread([c = c.get()] { c->Loop(); });
}

void KafkaBus::Stop() {
    if (!impl_->relay.joinable()) return;
    impl_->stopping = true;
    impl_->cv.notify_all();
    for (auto& c : impl_->consumers) {
        if (c->thread.joinable()) c->thread.join();
    }
    impl_->relay.join();
}

void KafkaBus::Wake() {
    {
        std::lock_guard lk(impl_->mu);
        impl_->woken = true;
    }
    impl_->cv.notify_one();
}

void KafkaBus::OnFinal(const std::vector<std::int64_t>& ids) {
    for (auto& c : impl_->consumers) {
        std::lock_guard lk(c->final_mu);
        c->finals.insert(c->finals.end(), ids.begin(), ids.end());
    }
}

bool KafkaBus::Healthy() const {
    return impl_->healthy;
}

}  // namespace orderbridge::dispatch

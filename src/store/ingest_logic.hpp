#pragma once
// Deduplication and versioning of one delivery, shared by the SQLite and PostgreSQL drivers.
// `Tx` is the driver's open transaction with:
//   std::optional<StoredVersion> LockEntity(id)   current version and held flag, row locked
//   bool InsertEntity(const EntityWrite&, const IngestRecord&, parent, pending_events_json)
//        false when another writer inserted the same entity first (PostgreSQL, several daemons)
//   void UpdateEntity(const EntityWrite&, const IngestRecord&, pending_events_json)
//   void InsertOutbox(const OutboxEvent&, const std::string& now, std::int64_t now_ms, entity)
//        the event and one pending delivery per connector of `connectors`; `entity` (or null) is the
//        write this transaction just made of the event's entity
//   void InsertRaw(const IngestRecord&, Outcome, const std::string& entity_id)
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "orderbridge/model/identity.hpp"
#include "orderbridge/store/store.hpp"

namespace orderbridge::store::detail {

struct StoredVersion {
    std::string version;
    bool held = false;
    std::string pending_events;  ///< JSON array text of events held back; empty when none
};

inline std::string PendingEventsJson(const std::vector<OutboxEvent>& events) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& ev : events) {
        arr.push_back({{"event_id", ev.event_id},
                       {"type", ev.type},
                       {"entity_id", ev.entity_id},
                       {"version", ev.version},
                       {"payload", ev.payload},
                       {"connectors", ev.connectors},
                       {"relay", ev.relay}});
    }
    return arr.dump();
}

inline std::vector<OutboxEvent> ParsePendingEvents(const std::string& text) {
    std::vector<OutboxEvent> out;
    if (text.empty()) return out;
    for (const auto& j : nlohmann::json::parse(text)) {
        out.push_back(OutboxEvent{j.at("event_id"), j.at("type"), j.at("entity_id"), j.at("version"), j.at("payload"),
                                  j.value("connectors", std::vector<std::string>{}), j.value("relay", false)});
    }
    return out;
}

/// An event stored without the entity data its payload embeds (OutboxEvent::data_at): the payload
/// around the data, and the data's place counted in characters, as SQL's substr counts.
struct PayloadAround {
    std::string_view before, after;
    std::int64_t at_chars = 0;
};

/// How `ev` can be stored when `entity` is the write just made of its entity: without the data,
/// when it embeds exactly that version's data; nullopt: whole.
inline std::optional<PayloadAround> WithoutEntityData(const OutboxEvent& ev, const EntityWrite* entity) {
    const std::string_view p = ev.payload;
    if (!entity || ev.data_at == std::string::npos || ev.entity_id != entity->entity_id ||
        ev.version != entity->version || ev.data_at > p.size() ||
        p.substr(ev.data_at, entity->data.size()) != entity->data) {
        return std::nullopt;
    }
    PayloadAround out{p.substr(0, ev.data_at), p.substr(ev.data_at + entity->data.size()), 0};
    for (const char c : out.before)
        out.at_chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // UTF-8 lead bytes
    return out;
}

/// The payload of outbox row `o`, whole: a row with `data_at` set gets its entity's data back, from
/// the entity row while it holds the event's version, else from event_data, where it was kept when a
/// newer version replaced it (the drivers' UpdateEntity keeps it there).
inline constexpr const char* kOutboxPayloadSql =
    "CASE WHEN o.data_at IS NULL THEN o.payload ELSE substr(o.payload, 1, o.data_at) || COALESCE((SELECT e.data FROM "
    "entities e WHERE e.entity_id = o.entity_id AND e.version = o.version), (SELECT k.data FROM event_data k WHERE "
    "k.entity_id = o.entity_id AND k.version = o.version)) || substr(o.payload, o.data_at + 1) END";

/// Whether an event of entity row `e`'s version lacks its data (stored without it).
inline constexpr const char* kEventsLackDataSql =
    "(SELECT 1 FROM outbox o WHERE o.entity_id = e.entity_id AND o.version = e.version AND o.data_at IS NOT NULL "
    "LIMIT 1) IS NOT NULL";

/// After outbox rows were pruned: whether no event needs kept data `k` any more.
inline constexpr const char* kEventDataUnusedSql =
    "(SELECT 1 FROM outbox o WHERE o.entity_id = k.entity_id AND o.version = k.version LIMIT 1) IS NULL";

template <class Tx>
Outcome ApplyEntity(Tx& tx, const IngestRecord& rec, const EntityWrite& e, const std::string& parent) {
    for (int attempt = 0;; ++attempt) {
        const std::optional<StoredVersion> stored = tx.LockEntity(e.entity_id);
        if (!stored) {
            if (tx.InsertEntity(e, rec, parent, e.held ? PendingEventsJson(e.events) : std::string{})) break;
            if (attempt > 0) throw UnavailableError("entity " + e.entity_id + " keeps changing under this writer");
            continue;  // another daemon inserted it meanwhile: compare with its version
        }
        const int cmp = model::CompareVersions(e.version, stored->version);
        if (cmp < 0) return Outcome::kStale;
        if (cmp == 0 && !(stored->held && !e.held)) return Outcome::kDuplicate;
        // Newer, or the same version that is no longer held (its parent passed the rules): it
        // replaces the stored state. Events still held for the stored version are not dropped:
        // they go out first (or stay held together with the new ones).
        std::vector<OutboxEvent> events =
            stored->held ? ParsePendingEvents(stored->pending_events) : std::vector<OutboxEvent>{};
        if (cmp > 0 || events.empty()) events.insert(events.end(), e.events.begin(), e.events.end());
        tx.UpdateEntity(e, rec, e.held ? PendingEventsJson(events) : std::string{});
        if (e.held) return Outcome::kHeld;
        for (const auto& ev : events)
            tx.InsertOutbox(ev, rec.received_at, rec.received_ms, &e);
        return Outcome::kAccepted;
    }
    if (e.held) return Outcome::kHeld;
    for (const auto& ev : e.events)
        tx.InsertOutbox(ev, rec.received_at, rec.received_ms, &e);
    return Outcome::kAccepted;
}

/// The audit target of a dead-letter replay: `dlq:<id>`, or the filter and how many it matched.
inline std::string ReplayTarget(const DeliveryQuery& q, std::int64_t only_id, std::size_t count) {
    if (only_id != 0) return "dlq:" + std::to_string(only_id);
    std::string out = "dlq";
    const std::pair<const char*, const std::string*> parts[] = {{"connector", &q.connector},
                                                                {"error_class", &q.error_class},
                                                                {"entity_id", &q.entity_id},
                                                                {"from", &q.from},
                                                                {"to", &q.to}};
    for (const auto& [key, value] : parts) {
        if (!value->empty()) out += std::string(" ") + key + "=" + *value;
    }
    return out + " (" + std::to_string(count) + " replayed)";
}

template <class Tx>
Outcome ApplyRecord(Tx& tx, const IngestRecord& rec) {
    if (rec.entities.empty()) {
        tx.InsertRaw(rec, Outcome::kRejected, "");
        return Outcome::kRejected;
    }
    const Outcome primary = ApplyEntity(tx, rec, rec.entities.front(), rec.entities.front().parent_id);
    for (std::size_t i = 1; i < rec.entities.size(); ++i) {
        ApplyEntity(tx, rec, rec.entities[i], rec.entities.front().entity_id);
    }
    // A repeat of the same version adds nothing; everything else is archived with its outcome.
    if (primary != Outcome::kDuplicate) tx.InsertRaw(rec, primary, rec.entities.front().entity_id);
    return primary;
}

}  // namespace orderbridge::store::detail

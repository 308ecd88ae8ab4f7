#pragma once
// Deduplication and versioning of one delivery, shared by the SQLite and PostgreSQL drivers.
// `Tx` is the driver's open transaction with:
//   std::optional<StoredVersion> LockEntity(id)   current version and held flag, row locked
//   bool InsertEntity(const EntityWrite&, const IngestRecord&, parent, pending_events_json)
//        false when another writer inserted the same entity first (PostgreSQL, several daemons)
//   void UpdateEntity(const EntityWrite&, const IngestRecord&, pending_events_json)
//   void InsertOutbox(const OutboxEvent&, const std::string& now, std::int64_t now_ms)
//        the event and one pending delivery per connector of `connectors`
//   void InsertRaw(const IngestRecord&, Outcome, const std::string& entity_id)
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

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
            tx.InsertOutbox(ev, rec.received_at, rec.received_ms);
        return Outcome::kAccepted;
    }
    if (e.held) return Outcome::kHeld;
    for (const auto& ev : e.events)
        tx.InsertOutbox(ev, rec.received_at, rec.received_ms);
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

#pragma once
// Durable storage: raw webhook archive, canonical entities with their versions, the outbox.
//
// `Store` is a driver (SQLite or PostgreSQL) that opens `Session`s; a session is one connection
// and is used by one thread at a time. Sessions never run on an io thread: the ingest writer and
// the read workers each own one. Every ingest is one transaction (or one per group of deliveries)
// that commits the raw body, the entity and its outbox rows together.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "orderbridge/config/settings.hpp"

namespace orderbridge::store {

/// The store cannot be reached or failed for a reason that retrying may fix (503 upstream).
class UnavailableError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// The database schema is newer than this binary knows.
class SchemaTooNewError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct OutboxEvent {
    std::string event_id;
    std::string type;
    std::string entity_id;
    std::string version;
    std::string payload;                  ///< the event envelope, JSON text
    std::vector<std::string> connectors;  ///< the lanes that deliver it (routing is decided at ingest)
    bool relay = false;                   ///< published by the Kafka relay (else handed over at commit)
    /// Where `payload` embeds the data of its entity's write (byte offset), npos when it does not. A
    /// driver then stores the payload without those bytes (outbox.data_at: the place in characters)
    /// and puts them back when the event is read, from the entity row or, once a newer version
    /// replaced it, from event_data.
    std::size_t data_at = std::string::npos;
};

/// One canonical entity touched by a delivery (an order, and each refund listed on it).
struct EntityWrite {
    std::string entity_id;
    std::string kind;       ///< order, refund, product, customer, shipment, inventory
    std::string parent_id;  ///< the first entity of a record only (a shipment's order); later ones belong to the first
    std::string source_id;
    std::string version;
    std::string canonical_status;
    std::string data;      ///< canonical entity, JSON text
    std::string findings;  ///< JSON array text
    bool held = false;
    std::vector<OutboxEvent> events;
};

/// One accepted webhook delivery.
struct IngestRecord {
    std::string store_id;
    std::string topic;
    std::string delivery_id;
    std::string headers;  ///< JSON object text of the X-WC-* headers
    std::string body;
    std::string received_at;
    std::int64_t received_ms = 0;  ///< the same instant in Unix milliseconds
    std::string trace_id;
    std::vector<EntityWrite> entities;  ///< the first is the resource of the delivery; empty: rejected
    std::string reject_reason;
};

/// kRejected: a signed body that cannot be used (error object, not JSON); archived, nothing else.
enum class Outcome { kAccepted, kHeld, kDuplicate, kStale, kRejected };
std::string_view ToString(Outcome outcome);

struct OrderQuery {
    std::string store;
    std::string status;  ///< canonical status
    std::optional<bool> held;
    std::string from, to;     ///< updated_at range, RFC 3339
    std::int64_t cursor = 0;  ///< 0: from the newest
    int limit = 50;
};

struct EntityRow {
    std::int64_t seq = 0;  ///< increases with every change; the list cursor
    std::string entity_id;
    std::string kind;
    std::string store_id;
    std::string source_id;
    std::string version;
    std::string canonical_status;
    bool held = false;
    std::string findings;  ///< JSON array text
    std::string data;      ///< JSON text
    std::string trace_id;
    std::string created_at;
    std::string updated_at;
};

struct Page {
    std::vector<EntityRow> items;
    std::int64_t next_cursor = 0;  ///< 0 when there is no further page
};

struct AuditRow {
    std::int64_t id = 0;
    std::string at;
    std::string actor;
    std::string action;
    std::string target;
    std::string reason;
};

struct AuditPage {
    std::vector<AuditRow> items;  ///< newest first
    std::int64_t next_cursor = 0;
};

// --- Delivery (the store bus) -------------------------------------------------------------------
// Every outbox event has one delivery row per connector that subscribed to it, written in the
// ingest transaction. A lane claims due deliveries with a lease, one per entity at a time in outbox
// order, and records each attempt; a delivery ends delivered, dead (the dead-letter queue) or
// resolved (a dead one overtaken by a newer version of its entity that was delivered).

/// A claimed delivery, ready to send.
struct DeliveryTask {
    std::int64_t id = 0;
    std::string connector;
    std::string event_id;
    std::string entity_id;
    std::string type;
    std::string version;
    std::string payload;          ///< the envelope (or the operator's edited payload)
    int attempts = 0;             ///< attempts made before this one
    std::int64_t created_ms = 0;  ///< when the event was committed
    std::int64_t since_ms = 0;    ///< when retrying started (the commit, or the last replay): max_age counts from here
    bool reclaimed = false;       ///< its previous lease ran out unanswered (a daemon died mid-delivery)
    std::int64_t lease_until_ms = 0;  ///< this claim's lease; also its fencing token
};

/// The outcome of one attempt and what becomes of the delivery.
struct AttemptRecord {
    std::int64_t delivery_id = 0;
    std::int64_t lease_until_ms = 0;  ///< the claim's lease: a record whose lease was lost is dropped
    std::string at;                   ///< RFC 3339
    std::string error_class;          ///< "" for success, else transient|throttled|permanent|auth|duplicate
    int http_status = 0;              ///< 0 when no answer came
    std::int64_t latency_ms = 0;
    std::string reason;
    std::string external_id;
    std::string state;  ///< delivered | pending (retry at due_ms) | dead
    std::int64_t due_ms = 0;
    bool counts = true;  ///< false for throttling: it does not use up max_attempts
};

struct DeliveryRow {
    std::int64_t id = 0;
    std::string connector;
    std::string event_id;
    std::string entity_id;
    std::string type;
    std::string version;
    std::string state;  ///< pending | delivered | dead | resolved
    int attempts = 0;
    std::string created_at;
    std::string finished_at;
    std::string error_class;
    int http_status = 0;
    std::string reason;
    std::string external_id;
};

struct AttemptRow {
    std::string at;
    std::string error_class;
    int http_status = 0;
    std::int64_t latency_ms = 0;
    std::string reason;
    std::string outcome;  ///< what it made of the delivery: delivered | pending | dead
};

struct DeliveryDetail {
    DeliveryRow row;
    std::string payload;
    bool payload_edited = false;
    std::vector<AttemptRow> attempts;  ///< oldest first
};

struct DeliveryQuery {
    std::string state;  ///< "" any; "dead" for the dead-letter queue
    std::string connector;
    std::string error_class;
    std::string entity_id;
    std::string from, to;     ///< created_at range, RFC 3339
    std::int64_t cursor = 0;  ///< 0: from the newest
    int limit = 50;
};

struct DeliveryPage {
    std::vector<DeliveryRow> items;  ///< newest first
    std::int64_t next_cursor = 0;
};

struct Backlog {
    std::int64_t pending = 0;
    std::int64_t oldest_created_ms = 0;  ///< 0 when nothing is pending
    std::int64_t dead = 0;
};

/// One archived webhook delivery of an entity (for its timeline).
struct ReceiptRow {
    std::string received_at;
    std::string topic;
    std::string delivery_id;  ///< X-WC-Webhook-Delivery-ID
    std::string outcome;      ///< accepted | held | stale
};

/// An outbox event waiting for the Kafka relay.
struct OutboxRow {
    std::int64_t id = 0;
    OutboxEvent event;
    std::string created_at;
};

/// A delivery to create from an event consumed from Kafka (with the event, when this store lacks it).
struct MaterializeItem {
    std::string connector;
    OutboxEvent event;
    std::string created_at;
    std::int64_t created_ms = 0;
};

struct MaterializeResult {
    std::int64_t delivery_id = 0;
    std::string state;  ///< of the delivery, new or existing
};

/// One row of the inventory cache: the newest level of a SKU at a location.
struct StockLevel {
    std::string sku;
    std::string location;
    std::int64_t on_hand = 0;
    std::int64_t available = 0;
    std::optional<std::int64_t> reserved;
    std::string as_of;  ///< RFC 3339, from the source
    std::int64_t as_of_ms = 0;
    std::string source;
    std::string updated_at;
};

/// Who asked for a replay and why; goes into the audit record.
struct Actor {
    std::string name;
    std::string reason;
};

/// Drivers read `limit + 1` rows: the extra one only tells that a next page exists.
template <class PageT, class KeyFn>
void TrimPage(PageT& page, int limit, KeyFn key) {
    if (page.items.size() > static_cast<std::size_t>(limit)) {
        page.items.pop_back();
        page.next_cursor = key(page.items.back());
    }
}

class Session {
  public:
    virtual ~Session() = default;
    /// Applies the deliveries in one transaction; one outcome per record. Throws UnavailableError.
    virtual std::vector<Outcome> Ingest(const std::vector<const IngestRecord*>& records) = 0;
    virtual std::optional<EntityRow> GetEntity(const std::string& entity_id) = 0;
    virtual Page ListOrders(const OrderQuery& query) = 0;
    /// Releases a held entity: its pending events go to the outbox. False when it is not held.
    virtual bool Release(const std::string& entity_id, const std::string& actor, const std::string& reason) = 0;
    virtual std::int64_t CountOutbox() = 0;
    /// Held orders waiting for a person, by store (stores without any are absent).
    virtual std::map<std::string, std::int64_t> CountHeld() = 0;
    /// Records an admin action that changes nothing in the store itself (pausing a lane).
    virtual void Audit(const std::string& action, const std::string& target, const Actor& actor) = 0;
    /// Archived deliveries of an entity, oldest first (kept for storage.retention.raw_bodies).
    virtual std::vector<ReceiptRow> EntityReceipts(const std::string& entity_id) = 0;
    /// Audit records whose target is one of `targets`, oldest first.
    virtual std::vector<AuditRow> AuditFor(const std::vector<std::string>& targets) = 0;
    /// Admin actions, newest first; `cursor` 0 starts at the newest.
    virtual AuditPage ListAudit(std::int64_t cursor, int limit) = 0;
    /// Deletes those of the `limit` oldest archived raw bodies (in the order they were stored) that
    /// were received before `before` (RFC 3339). Returns the rows deleted: 0 when none of them was.
    virtual std::int64_t PruneRaw(const std::string& before, int limit) = 0;
    /// Deletes outbox events committed before `before` whose deliveries have all ended (delivered
    /// or resolved; never pending or dead), with those deliveries and their attempts; at most
    /// `limit` events. Returns the events deleted.
    virtual std::int64_t PruneOutbox(const std::string& before, int limit) = 0;
    virtual void Ping() = 0;
    /// The database's schema version: the last migration applied (0: none yet).
    virtual int SchemaVersion() = 0;
    /// Every entity of `kind` (the checkout view loads the products at start).
    virtual std::vector<EntityRow> EntitiesOfKind(const std::string& kind) = 0;
    /// Entities whose parent is `parent_id` (a shipment's order), of `kind`, oldest change first.
    virtual std::vector<EntityRow> ChildEntities(const std::string& parent_id, const std::string& kind) = 0;

    /// A named watermark (the poller's `modified_after`); empty when never set.
    virtual std::string GetWatermark(const std::string& name) = 0;
    virtual void SetWatermark(const std::string& name, const std::string& value) = 0;

    // Inventory cache
    /// Keeps each level unless the cache has a newer one (by as_of) for its SKU and location; one
    /// transaction. Returns every cached level of the SKUs given, by SKU.
    virtual std::map<std::string, std::vector<StockLevel>> UpsertStock(const std::vector<StockLevel>& levels) = 0;
    /// The cached levels of these SKUs, by SKU (SKUs without any level are absent).
    virtual std::map<std::string, std::vector<StockLevel>> GetStock(const std::vector<std::string>& skus) = 0;
    /// Every cached level, by SKU (loads the checkout view at start).
    virtual std::map<std::string, std::vector<StockLevel>> AllStock() = 0;

    // Delivery
    /// Leases up to `limit` due deliveries of `connector` until `now_ms + lease_ms`: the oldest
    /// pending delivery of each entity only, so one entity is delivered in order.
    virtual std::vector<DeliveryTask> ClaimDue(const std::string& connector, std::int64_t now_ms, int limit,
                                               std::int64_t lease_ms) = 0;
    /// Records attempts and their consequences in one transaction. A delivered one resolves the
    /// dead deliveries of older events of the same entity on the same connector. A record whose
    /// lease is no longer the delivery's (it ran out and someone else claimed it) is dropped:
    /// the other claimant's outcome counts.
    virtual void RecordAttempts(const std::vector<AttemptRecord>& records) = 0;
    struct Unclaimed {
        std::int64_t id = 0;
        std::int64_t lease_until_ms = 0;  ///< fencing, as for attempts
        std::int64_t due_ms = 0;          ///< not before (a throttled lane's Retry-After); 0: now
    };
    /// Gives claimed deliveries back without an attempt (breaker open, paused, shutting down).
    virtual void Unclaim(const std::vector<Unclaimed>& items) = 0;
    /// Which of these deliveries are no longer pending (ended by any daemon).
    virtual std::vector<std::int64_t> EndedAmong(const std::vector<std::int64_t>& ids) = 0;
    /// Ends every lease at once (a single-process store at start-up: nobody else can hold one);
    /// the deliveries are claimable again and count as reclaimed.
    virtual void DropLeases() = 0;
    virtual Backlog GetBacklog(const std::string& connector) = 0;
    virtual DeliveryPage ListDeliveries(const DeliveryQuery& query) = 0;
    virtual std::optional<DeliveryDetail> GetDelivery(std::int64_t id) = 0;
    /// Every delivery of an entity, oldest first.
    virtual std::vector<DeliveryRow> EntityDeliveries(const std::string& entity_id) = 0;
    /// Every attempt of every delivery of an entity, by delivery id, oldest first (no payloads).
    virtual std::map<std::int64_t, std::vector<AttemptRow>> EntityAttempts(const std::string& entity_id) = 0;
    /// Dead deliveries matching `query` (state is forced to dead) become pending again, due now,
    /// with a fresh attempt budget; `payload` (when given, single id only) replaces what is sent.
    /// One audit record per call. Returns the ids replayed.
    virtual std::vector<std::int64_t> ReplayDead(const DeliveryQuery& query, std::int64_t only_id,
                                                 const std::optional<std::string>& payload, const Actor& actor) = 0;
    // Kafka relay and consumers
    /// Only one relay publishes at a time (PostgreSQL: a session advisory lock; SQLite: always).
    virtual bool TryRelayLock() = 0;
    /// Events not yet published, oldest first.
    virtual std::vector<OutboxRow> FetchUnpublished(int limit) = 0;
    virtual void MarkPublished(const std::vector<std::int64_t>& outbox_ids) = 0;
    /// Creates deliveries (and the events, marked published) unless they exist; one transaction.
    virtual std::vector<MaterializeResult> Materialize(const std::vector<MaterializeItem>& items) = 0;

    /// The newest delivery of `entity_id` on `connector`, whatever its state, is sent again.
    /// Returns its id, 0 when there is none, -1 when it is being sent right now (try again).
    virtual std::int64_t ReplayEntity(const std::string& entity_id, const std::string& connector,
                                      const Actor& actor) = 0;
};

/// Waits for news of due work committed by any process (PostgreSQL LISTEN/NOTIFY).
class WorkWaiter {
  public:
    virtual ~WorkWaiter() = default;
    /// True when work was announced within `timeout`; false on timeout or a broken connection
    /// (it reconnects on the next call).
    virtual bool Wait(std::chrono::milliseconds timeout) = 0;
};

/// How the database makes a commit durable, as this daemon's own sessions see it (logged at start).
struct Durability {
    std::vector<std::pair<std::string, std::string>> settings;  // name and value, as the database reports them
    std::vector<std::string> warnings;  // settings under which an acknowledged write can be lost
    /// The value of setting `name`, or "" when it was not reported.
    std::string Setting(std::string_view name) const {
        for (const auto& [n, v] : settings)
            if (n == name) return v;
        return "";
    }
};

class Store {
  public:
    virtual ~Store() = default;
    virtual std::unique_ptr<Session> Open() = 0;
    /// Applies pending migrations; returns the schema version. Throws SchemaTooNewError.
    virtual int Migrate() = 0;
    /// Current schema version (0 for an empty database).
    virtual int SchemaVersion() = 0;
    /// The newest schema this binary knows.
    static int KnownSchemaVersion();
    virtual std::string_view Driver() const = 0;
    /// Reads the durability settings on a new session of this store.
    virtual Durability CheckDurability() = 0;
    /// Null when the driver has no cross-process notifications (SQLite: one process, in-process wake-ups).
    virtual std::unique_ptr<WorkWaiter> MakeWorkWaiter() { return nullptr; }
};

std::unique_ptr<Store> MakeSqliteStore(const config::SqliteSettings& settings);
std::unique_ptr<Store> MakePostgresStore(const config::PostgresSettings& settings);
std::unique_ptr<Store> MakeStore(const config::StorageSettings& settings);

}  // namespace orderbridge::store

#pragma once
// Durable storage: raw webhook archive, canonical entities with their versions, the outbox.
//
// `Store` is a driver (SQLite or PostgreSQL) that opens `Session`s; a session is one connection
// and is used by one thread at a time. Sessions never run on an io thread: the ingest writer and
// the read workers each own one. Every ingest is one transaction (or one per group of deliveries)
// that commits the raw body, the entity and its outbox rows together.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
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
    std::string payload;  ///< the event envelope, JSON text
};

/// One canonical entity touched by a delivery (an order, and each refund listed on it).
struct EntityWrite {
    std::string entity_id;
    std::string kind;  ///< order, refund, product, customer
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
    /// Admin actions, newest first; `cursor` 0 starts at the newest.
    virtual AuditPage ListAudit(std::int64_t cursor, int limit) = 0;
    /// Deletes archived raw bodies received before `before` (RFC 3339), at most `limit` rows.
    virtual std::int64_t PruneRaw(const std::string& before, int limit) = 0;
    virtual void Ping() = 0;
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
};

std::unique_ptr<Store> MakeSqliteStore(const config::SqliteSettings& settings);
std::unique_ptr<Store> MakePostgresStore(const config::PostgresSettings& settings);
std::unique_ptr<Store> MakeStore(const config::StorageSettings& settings);

}  // namespace orderbridge::store

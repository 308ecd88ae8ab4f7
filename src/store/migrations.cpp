#include "migrations.hpp"

namespace orderbridge::store::detail {

const std::vector<std::string>& SqliteMigrations() {
    static const std::vector<std::string> kMigrations = {
        // 1: raw archive, entities, outbox, audit
        R"SQL(
CREATE TABLE raw_deliveries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  store_id TEXT NOT NULL, topic TEXT NOT NULL, delivery_id TEXT NOT NULL, received_at TEXT NOT NULL,
  headers TEXT NOT NULL, body BLOB NOT NULL, outcome TEXT NOT NULL, entity_id TEXT NOT NULL, trace_id TEXT NOT NULL);
CREATE INDEX raw_deliveries_received ON raw_deliveries (received_at);
CREATE INDEX raw_deliveries_entity ON raw_deliveries (entity_id);
CREATE TABLE entities (
  entity_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, kind TEXT NOT NULL, store_id TEXT NOT NULL,
  source_id TEXT NOT NULL, parent_id TEXT, version TEXT NOT NULL, canonical_status TEXT NOT NULL,
  held INTEGER NOT NULL, findings TEXT NOT NULL, data TEXT NOT NULL, pending_events TEXT,
  trace_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE UNIQUE INDEX entities_seq ON entities (seq);
CREATE INDEX entities_kind_seq ON entities (kind, seq);
CREATE INDEX entities_parent ON entities (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, entity_id TEXT NOT NULL,
  type TEXT NOT NULL, version TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT);
CREATE INDEX outbox_entity ON outbox (entity_id, id);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, reason TEXT NOT NULL);
)SQL",
    };
    return kMigrations;
}

const std::vector<std::string>& PostgresMigrations() {
    static const std::vector<std::string> kMigrations = {
        R"SQL(
CREATE TABLE raw_deliveries (
  id BIGSERIAL PRIMARY KEY,
  store_id TEXT NOT NULL, topic TEXT NOT NULL, delivery_id TEXT NOT NULL, received_at TEXT NOT NULL,
  headers TEXT NOT NULL, body BYTEA NOT NULL, outcome TEXT NOT NULL, entity_id TEXT NOT NULL, trace_id TEXT NOT NULL);
CREATE INDEX raw_deliveries_received ON raw_deliveries (received_at);
CREATE INDEX raw_deliveries_entity ON raw_deliveries (entity_id);
CREATE SEQUENCE entity_seq;
CREATE TABLE entities (
  entity_id TEXT PRIMARY KEY, seq BIGINT NOT NULL, kind TEXT NOT NULL, store_id TEXT NOT NULL,
  source_id TEXT NOT NULL, parent_id TEXT, version TEXT NOT NULL, canonical_status TEXT NOT NULL,
  held INTEGER NOT NULL, findings TEXT NOT NULL, data TEXT NOT NULL, pending_events TEXT,
  trace_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE UNIQUE INDEX entities_seq ON entities (seq);
CREATE INDEX entities_kind_seq ON entities (kind, seq);
CREATE INDEX entities_parent ON entities (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE outbox (
  id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, entity_id TEXT NOT NULL,
  type TEXT NOT NULL, version TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT);
CREATE INDEX outbox_entity ON outbox (entity_id, id);
CREATE TABLE audit (
  id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, reason TEXT NOT NULL);
)SQL",
    };
    return kMigrations;
}

}  // namespace orderbridge::store::detail

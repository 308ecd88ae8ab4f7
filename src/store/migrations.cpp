#include "migrations.hpp"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace orderbridge::store::detail {
namespace {

// One schema for both drivers, written once; the few dialect differences are placeholders:
//   {serial_pk}  auto-increment primary key     {bytes}  binary column
//   {bigint}     64-bit integer                 {entity_seq}  PostgreSQL's sequence for entities.seq
// Never edit a released migration: append a new one.
const std::vector<std::string>& Templates() {
    static const std::vector<std::string> kTemplates = {
        // 1: raw archive, entities, outbox, audit
        R"SQL(
CREATE TABLE raw_deliveries (
  id {serial_pk},
  store_id TEXT NOT NULL, topic TEXT NOT NULL, delivery_id TEXT NOT NULL, received_at TEXT NOT NULL,
  headers TEXT NOT NULL, body {bytes} NOT NULL, outcome TEXT NOT NULL, entity_id TEXT NOT NULL, trace_id TEXT NOT NULL);
CREATE INDEX raw_deliveries_received ON raw_deliveries (received_at);
CREATE INDEX raw_deliveries_entity ON raw_deliveries (entity_id);
{entity_seq}
CREATE TABLE entities (
  entity_id TEXT PRIMARY KEY, seq {bigint} NOT NULL, kind TEXT NOT NULL, store_id TEXT NOT NULL,
  source_id TEXT NOT NULL, parent_id TEXT, version TEXT NOT NULL, canonical_status TEXT NOT NULL,
  held INTEGER NOT NULL, findings TEXT NOT NULL, data TEXT NOT NULL, pending_events TEXT,
  trace_id TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE UNIQUE INDEX entities_seq ON entities (seq);
CREATE INDEX entities_kind_seq ON entities (kind, seq);
CREATE INDEX entities_parent ON entities (parent_id) WHERE parent_id IS NOT NULL;
CREATE TABLE outbox (
  id {serial_pk}, event_id TEXT NOT NULL UNIQUE, entity_id TEXT NOT NULL,
  type TEXT NOT NULL, version TEXT NOT NULL, payload TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT);
CREATE INDEX outbox_entity ON outbox (entity_id, id);
CREATE TABLE audit (
  id {serial_pk}, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  target TEXT NOT NULL, reason TEXT NOT NULL);
)SQL",
        // 2: the store bus: one delivery per (event, connector), every attempt kept
        R"SQL(
CREATE TABLE deliveries (
  id {serial_pk}, connector TEXT NOT NULL, event_id TEXT NOT NULL, entity_id TEXT NOT NULL,
  type TEXT NOT NULL, version TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
  due_ms {bigint} NOT NULL, lease_until_ms {bigint} NOT NULL, created_at TEXT NOT NULL, created_ms {bigint} NOT NULL,
  since_ms {bigint} NOT NULL, finished_at TEXT, error_class TEXT NOT NULL, http_status INTEGER NOT NULL,
  reason TEXT NOT NULL, external_id TEXT NOT NULL, payload_override TEXT);
CREATE UNIQUE INDEX deliveries_event ON deliveries (event_id, connector);
CREATE INDEX deliveries_due ON deliveries (connector, due_ms) WHERE state = 'pending';
CREATE INDEX deliveries_entity_pending ON deliveries (connector, entity_id, id) WHERE state = 'pending';
CREATE INDEX deliveries_entity ON deliveries (entity_id, id);
CREATE INDEX deliveries_state ON deliveries (state, id);
CREATE TABLE delivery_attempts (
  id {serial_pk}, delivery_id {bigint} NOT NULL, at TEXT NOT NULL, error_class TEXT NOT NULL,
  http_status INTEGER NOT NULL, latency_ms {bigint} NOT NULL, reason TEXT NOT NULL);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
CREATE INDEX outbox_created ON outbox (created_at);
)SQL",
        // 3: the Kafka relay: outbox.finished_at is when an event was handed to the bus (at commit for
        // the store bus, once published for Kafka); what the relay still has to publish is indexed.
        R"SQL(
UPDATE outbox SET finished_at = created_at WHERE finished_at IS NULL;
CREATE INDEX outbox_unpublished ON outbox (id) WHERE finished_at IS NULL;
)SQL",
        // 4: what each attempt made of its delivery (delivered, pending, dead), for the timeline
        R"SQL(
ALTER TABLE delivery_attempts ADD COLUMN outcome TEXT NOT NULL DEFAULT '';
)SQL",
        // 5: the inventory cache (the newest level of each SKU at each location)
        R"SQL(
CREATE TABLE inventory_levels (
  sku TEXT NOT NULL, location TEXT NOT NULL, on_hand {bigint} NOT NULL, available {bigint} NOT NULL,
  reserved {bigint}, as_of TEXT NOT NULL, as_of_ms {bigint} NOT NULL, source TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (sku, location));
)SQL",
        // 6: watermarks of the reconciliation poller (and anything else that resumes where it stopped)
        R"SQL(
CREATE TABLE watermarks (name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
)SQL",
        // 7: PostgreSQL compresses the large values (raw bodies, entities, event payloads) with lz4
        // instead of pglz, which took a third of the server's CPU under webhook load (a server built
        // without lz4 keeps pglz), and keeps rows up to 4 KB whole. Nothing for SQLite.
        "{large_values_lz4}",
        // 8: an event whose payload embeds its entity's data is stored without it (data_at: where it
        // goes back in, in characters; NULL: the payload is whole). The entity row holds that data
        // while it holds that version; when a newer one replaces it, event_data keeps it for the
        // events that still lack it, until they are pruned.
        R"SQL(
ALTER TABLE outbox ADD COLUMN data_at INTEGER;
CREATE TABLE event_data (
  entity_id TEXT NOT NULL, version TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (entity_id, version));
{event_data_storage}
)SQL",
        // 9: cheaper indexes. One index entry fewer per stored webhook, two on PostgreSQL: retention
        // walks the raw archive in id order (the order deliveries were stored in) and needs no index
        // on received_at; on PostgreSQL `seq` comes from a sequence and is never looked up on its own
        // (lists use (kind, seq)), while SQLite keeps entities_seq to find the next seq with MAX(seq).
        // On PostgreSQL the columns that are compared (ids, keys, states, timestamps) compare bytes
        // (COLLATE "C", as SQLite always does), whatever the database's locale: see KeysCollateC.
        R"SQL(
DROP INDEX raw_deliveries_received;
{drop_entities_seq}
{keys_collate_c}
)SQL",
    };
    return kTemplates;
}

// Only new values are affected; neither statement rewrites a stored row. A compressed 5 KB order
// (about 2 KB) stays in its row instead of going to the TOAST table (a second heap and index insert
// per value), as rows up to 4 KB are kept whole; the price is that rows of 2 to 4 KB are no longer
// compressed at all.
constexpr const char* kLargeValuesLz4 = R"SQL(
ALTER TABLE raw_deliveries SET (toast_tuple_target = 4096);
ALTER TABLE entities SET (toast_tuple_target = 4096);
ALTER TABLE outbox SET (toast_tuple_target = 4096);
DO $$
BEGIN
  IF current_setting('server_version_num')::int < 140000 THEN
    RAISE NOTICE 'PostgreSQL before 14 has no per-column compression: large values stay compressed with pglz';
    RETURN;
  END IF;
  EXECUTE 'ALTER TABLE raw_deliveries ALTER COLUMN body SET COMPRESSION lz4, ALTER COLUMN headers SET COMPRESSION lz4';
  EXECUTE 'ALTER TABLE entities ALTER COLUMN data SET COMPRESSION lz4';
  EXECUTE 'ALTER TABLE outbox ALTER COLUMN payload SET COMPRESSION lz4';
  EXECUTE 'ALTER TABLE deliveries ALTER COLUMN payload_override SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'this PostgreSQL server has no lz4: large values stay compressed with pglz';
END $$;
)SQL";

// In a database created with a language's locale (en_US.UTF-8, a common default), every comparison
// of an index on text goes through that locale's collation rules: under webhook load PostgreSQL used
// a quarter to a third more CPU per webhook than in a "C" database, and such an index can come out
// of order when an operating system upgrade changes the rules. Ids, keys and timestamps need no
// language rules: their columns compare bytes. Only their indexes are rebuilt, the tables are not
// rewritten. Large text (bodies, headers, data, payloads, findings, reasons) is never compared and
// is left as it is: changing a column's type (even to the same type) would reset its compression.
const char* KeysCollateC() {
    static const std::string kSql = [] {
        // Each table and its compared columns.
        constexpr std::pair<std::string_view, std::string_view> kKeyColumns[] = {
            {"raw_deliveries", "store_id topic delivery_id received_at outcome entity_id trace_id"},
            {"entities",
             "entity_id kind store_id source_id parent_id version canonical_status trace_id created_at updated_at"},
            {"outbox", "event_id entity_id type version created_at finished_at"},
            {"audit", "at actor action target"},
            {"deliveries",
             "connector event_id entity_id type version state created_at finished_at error_class external_id"},
            {"delivery_attempts", "at error_class outcome"},
            {"inventory_levels", "sku location as_of source updated_at"},
            {"watermarks", "name updated_at"},
            {"event_data", "entity_id version"},
        };
        std::string sql;
        for (const auto& [table, columns] : kKeyColumns) {
            sql += "ALTER TABLE " + std::string(table);
            std::string_view rest = columns;
            for (const char* sep = " "; !rest.empty(); sep = ", ") {
                const auto end = std::min(rest.find(' '), rest.size());
                sql +=
                    std::string(sep) + "ALTER COLUMN " + std::string(rest.substr(0, end)) + " TYPE text COLLATE \"C\"";
                rest.remove_prefix(std::min(end + 1, rest.size()));
            }
            sql += ";\n";
        }
        return sql;
    }();
    return kSql.c_str();
}

// event_data holds entity data as `entities` does: compressed with lz4 where the server can.
constexpr const char* kEventDataLz4 = R"SQL(
ALTER TABLE event_data SET (toast_tuple_target = 4096);
DO $$
BEGIN
  IF current_setting('server_version_num')::int >= 140000 THEN
    EXECUTE 'ALTER TABLE event_data ALTER COLUMN data SET COMPRESSION lz4';
  END IF;
EXCEPTION WHEN feature_not_supported THEN
  NULL;
END $$;
)SQL";

struct Dialect {
    const char* serial_pk;
    const char* bytes;
    const char* bigint;
    const char* entity_seq;
    const char* large_values_lz4;
    const char* event_data_storage;
    const char* drop_entities_seq;
    const char* keys_collate_c;
};

/// `sql` with each `{name}` replaced by its value.
std::string FillSql(std::string sql, std::initializer_list<std::pair<std::string_view, std::string_view>> values) {
    for (const auto& [name, value] : values) {
        const std::string key = "{" + std::string(name) + "}";
        for (auto pos = sql.find(key); pos != std::string::npos; pos = sql.find(key, pos + value.size()))
            sql.replace(pos, key.size(), value);
    }
    return sql;
}

std::vector<std::string> Render(const Dialect& d) {
    std::vector<std::string> out;
    for (const std::string& sql : Templates()) {
        out.push_back(FillSql(sql, {{"serial_pk", d.serial_pk},
                                    {"bytes", d.bytes},
                                    {"bigint", d.bigint},
                                    {"entity_seq", d.entity_seq},
                                    {"large_values_lz4", d.large_values_lz4},
                                    {"event_data_storage", d.event_data_storage},
                                    {"drop_entities_seq", d.drop_entities_seq},
                                    {"keys_collate_c", d.keys_collate_c}}));
    }
    return out;
}

}  // namespace

const std::vector<std::string>& SqliteMigrations() {
    static const std::vector<std::string> kMigrations =
        Render(Dialect{"INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB", "INTEGER", "", "SELECT 1;", "", "", ""});
    return kMigrations;
}

const std::vector<std::string>& PostgresMigrations() {
    static const std::vector<std::string> kMigrations =
        Render(Dialect{"BIGSERIAL PRIMARY KEY", "BYTEA", "BIGINT", "CREATE SEQUENCE entity_seq;", kLargeValuesLz4,
                       kEventDataLz4, "DROP INDEX entities_seq;", KeysCollateC()});
    return kMigrations;
}

}  // namespace orderbridge::store::detail

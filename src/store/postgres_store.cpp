// PostgreSQL driver (libpqxx). Each session is one connection with a statement timeout; a broken
// connection is reported as UnavailableError and reopened on the next call, so the daemon recovers
// by itself when the database comes back. Rows of one entity are locked (SELECT ... FOR UPDATE), so
// several daemons can ingest into one database.
#include <algorithm>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>
#include <tuple>

#include "ingest_logic.hpp"
#include "migrations.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/store/store.hpp"

namespace orderbridge::store {
namespace {

std::string WithConnectTimeout(const std::string& dsn, core::Duration timeout) {
    const long secs =
        std::max<long>(1, static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    if (dsn.rfind("postgres://", 0) == 0 || dsn.rfind("postgresql://", 0) == 0) {
        return dsn + (dsn.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + std::to_string(secs);
    }
    return dsn + " connect_timeout=" + std::to_string(secs);
}

// Runs `fn` translating connection-level failures into UnavailableError.
template <class Fn>
auto Guard(std::unique_ptr<pqxx::connection>& conn, Fn&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const pqxx::broken_connection& e) {
        conn.reset();
        throw UnavailableError(std::string("postgres: ") + e.what());
    } catch (const pqxx::in_doubt_error& e) {
        conn.reset();
        throw UnavailableError(std::string("postgres: commit outcome unknown: ") + e.what());
    } catch (const pqxx::sql_error& e) {
        const std::string state = e.sqlstate();
        // 57014 statement timeout, 40001 serialization, 40P01 deadlock, 53xxx resources, 57P0x shutdown
        if (state == "57014" || state == "40001" || state == "40P01" || state.rfind("53", 0) == 0 ||
            state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0) {
            if (state.rfind("57P", 0) == 0 || state.rfind("08", 0) == 0) conn.reset();
            throw UnavailableError(std::string("postgres: ") + e.what());
        }
        throw;
    }
}

// A column of a group write: PostgreSQL's binary array format (what array_send writes), passed as
// one binary parameter, so values are neither quoted by us nor lexed by the server.
class ArrayParam {
  public:
    enum Oid : std::uint32_t { kBytea = 17, kInt8 = 20, kInt4 = 23, kText = 25 };
    explicit ArrayParam(Oid oid) : oid_(oid), body_(kHeader, '\0') {}

    void Add(std::string_view v) {
        Int32(static_cast<std::int32_t>(v.size()));
        body_.append(v);
        ++count_;
    }
    void Add(std::string_view first, std::string_view second) {  ///< one value: the two concatenated
        Int32(static_cast<std::int32_t>(first.size() + second.size()));
        body_.append(first).append(second);
        ++count_;
    }
    void AddNull() {
        Int32(-1);
        has_null_ = true;
        ++count_;
    }
    void AddOrNull(const std::string& v) { v.empty() ? AddNull() : Add(v); }
    bool Empty() const { return count_ == 0; }
    void Add(std::int64_t v) {
        Int32(8);
        char bytes[8];
        PutBigEndian(bytes, static_cast<std::uint64_t>(v));
        body_.append(bytes, sizeof bytes);
        ++count_;
    }
    void Add(int v) {  // int4
        Int32(4);
        Int32(v);
        ++count_;
    }

    /// The array as one parameter. Its header goes into the room kept for it at the front, so the
    /// values are not copied once more behind a header.
    pqxx::binarystring Encode() {
        // An empty array has no dimension, so neither its size nor its lower bound: a shorter header.
        const std::size_t at = count_ == 0 ? 8 : 0;
        char* head = body_.data() + at;
        PutBigEndian(head, std::uint32_t{count_ == 0 ? 0u : 1u});  // dimensions
        PutBigEndian(head + 4, std::uint32_t{has_null_ ? 1u : 0u});
        PutBigEndian(head + 8, static_cast<std::uint32_t>(oid_));
        if (count_ != 0) {
            PutBigEndian(head + 12, static_cast<std::uint32_t>(count_));
            PutBigEndian(head + 16, std::uint32_t{1});  // lower bound
        }
        return pqxx::binarystring(body_.data() + at, body_.size() - at);
    }

  private:
    static constexpr std::size_t kHeader = 20;  ///< dimensions, has nulls, type, size, lower bound
    template <typename T>
    static void PutBigEndian(char* out, T v) {
        for (std::size_t i = 0; i < sizeof(T); ++i)
            out[i] = static_cast<char>((v >> (8 * (sizeof(T) - 1 - i))) & 0xff);
    }
    void Int32(std::int32_t v) {
        char bytes[4];
        PutBigEndian(bytes, static_cast<std::uint32_t>(v));
        body_.append(bytes, sizeof bytes);
    }
    Oid oid_;
    std::string body_;
    std::size_t count_ = 0;
    bool has_null_ = false;
};

// Every write of a group in one statement: each data-modifying CTE takes its rows from arrays.
// Inserted rows keep their order (WITH ORDINALITY), so serial ids and the `seq` of new entities
// follow the order of the writes (updated entities get theirs in the same statement, in no set
// order among themselves). `kept` is the data that updates replace and events still lack
// (outbox.data_at), read by the writer beforehand: nothing here looks a row up, so no plan cached
// while the tables were small can make a group scan them.
// Prepared on every connection (PgSession::Conn), planned once per connection.
constexpr const char* kGroupWrite = "orderbridge_group_write";
constexpr const char* kGroupWriteSql = R"SQL(
WITH raw AS (
  INSERT INTO raw_deliveries (store_id, topic, delivery_id, received_at, headers, body, outcome, entity_id, trace_id)
  SELECT a, b, c, d, e, f, g, h, i FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::bytea[], $7::text[], $8::text[], $9::text[]) WITH ORDINALITY AS u(a, b, c, d, e, f, g, h, i, n) ORDER BY n),
new_entities AS (
  INSERT INTO entities (seq, entity_id, version, canonical_status, held, findings, data, pending_events, updated_at,
    kind, store_id, source_id, parent_id, trace_id, created_at)
  SELECT nextval('entity_seq'), a, b, c, d, e, f, g, h, i, j, k, l, m, o FROM unnest($10::text[], $11::text[],
    $12::text[], $13::int4[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
    $21::text[], $22::text[], $23::text[]) WITH ORDINALITY AS u(a, b, c, d, e, f, g, h, i, j, k, l, m, o, n) ORDER BY n),
changed_entities AS (
  UPDATE entities SET seq = nextval('entity_seq'), version = u.b, canonical_status = u.c, held = u.d, findings = u.e,
    data = u.f, pending_events = u.g, updated_at = u.h
  FROM unnest($24::text[], $25::text[], $26::text[], $27::int4[], $28::text[], $29::text[], $30::text[], $31::text[])
    AS u(a, b, c, d, e, f, g, h)
  WHERE entities.entity_id = u.a),
kept AS (
  INSERT INTO event_data (entity_id, version, data)
  SELECT a, b, c FROM unnest($48::text[], $49::text[], $50::text[]) AS u(a, b, c) ON CONFLICT DO NOTHING),
events AS (
  INSERT INTO outbox (event_id, entity_id, type, version, payload, created_at, finished_at, data_at)
  SELECT a, b, c, d, e, f, g, h FROM unnest($32::text[], $33::text[], $34::text[], $35::text[], $36::text[],
    $37::text[], $38::text[], $47::int4[]) WITH ORDINALITY AS u(a, b, c, d, e, f, g, h, n) ORDER BY n
  ON CONFLICT (event_id) DO NOTHING),
work AS (
  INSERT INTO deliveries (connector, event_id, entity_id, type, version, state, attempts, due_ms, lease_until_ms,
    created_at, created_ms, since_ms, error_class, http_status, reason, external_id)
  SELECT a, b, c, d, e, 'pending', 0, g, 0, f, g, g, '', 0, '', '' FROM unnest($39::text[], $40::text[], $41::text[],
    $42::text[], $43::text[], $44::text[], $45::int8[]) WITH ORDINALITY AS u(a, b, c, d, e, f, g, n) ORDER BY n
  ON CONFLICT (event_id, connector) DO NOTHING)
SELECT pg_notify('orderbridge_work', '') WHERE $46::int4 = 1
)SQL";

// Takes the transaction-scoped lock of each entity of `ids_array` (a text[] expression, see
// TextArraySql) that its writers hold until they commit. Locks are taken in the order of their keys
// (the hashes), so two transactions never wait on each other in opposite orders, even when two ids
// share a hash.
std::string LockEntitiesSql(const std::string& ids_array) {
    return "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(x) AS h FROM unnest(" + ids_array +
           ") AS x) AS k ORDER BY h";
}

// Ids as one text[] constant ('{"a","b"}'::text[]): PostgreSQL parses a single literal however many
// ids a group has, where ARRAY['a','b',...] made it lex, parse and coerce one constant per id.
std::string TextArraySql(const pqxx::transaction_base& w, const std::vector<std::string>& items) {
    std::string array = "{";
    for (const auto& item : items) {
        if (array.size() > 1) array += ',';
        array += '"';
        for (const char c : item) {
            if (c == '"' || c == '\\') array += '\\';
            array += c;
        }
        array += '"';
    }
    array += '}';
    return w.quote(array) + "::text[]";
}

// The column of entity row `e` that is its data when an event of its version lacks it, else NULL.
const std::string kLackedData = std::string("CASE WHEN ") + detail::kEventsLackDataSql + " THEN data END";

constexpr const char* kPrefetchLock = "orderbridge_prefetch_lock";
constexpr const char* kPrefetchRead = "orderbridge_prefetch_read";

// The statements of PgTx::Prefetch, prepared on each connection before its first group
// (PgSession::RefreshGroupPlan) and planned once per connection: the group's entity locks, then
// their stored versions.
const std::string& PrefetchSql() {
    static const std::string kSql = std::string("PREPARE ") + kPrefetchLock + "(text[]) AS " + LockEntitiesSql("$1") +
                                    "; PREPARE " + kPrefetchRead +
                                    "(text[]) AS SELECT entity_id, version, held, COALESCE(pending_events, ''), " +
                                    kLackedData + " FROM entities e WHERE entity_id = ANY($1)";
    return kSql;
}

// One ingest transaction. A group of distinct entities costs two round trips whatever its size:
// one statement takes a transaction-scoped advisory lock on every entity id of the group (in a
// fixed order, so writers never deadlock) and reads their stored versions; the writes are then
// collected and sent as one statement (kGroupWriteSql) whose parameters are binary arrays. Each
// further write of an entity already written in the group costs one more: the writes so far are
// sent first, as one statement can change a row only once.
class PgTx {
  public:
    explicit PgTx(pqxx::work& w) : w_(w) {}

    void Prefetch(const std::vector<const IngestRecord*>& records) {
        std::vector<std::string> ids;
        for (const IngestRecord* r : records) {
            for (const auto& e : r->entities)
                ids.push_back(e.entity_id);
        }
        std::sort(ids.begin(), ids.end());
        ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        const char* one_plan =
            w_.conn().server_version() >= 120000 ? "SET LOCAL plan_cache_mode = force_generic_plan; " : "";
        if (ids.empty()) {
            if (*one_plan) w_.exec(one_plan);
            return;
        }
        const std::string list = TextArraySql(w_, ids);
        // The group statement keeps its one plan (PostgreSQL 12+): left to choose, PostgreSQL may
        // plan it anew for every group once a fresh plan (RefreshGroupPlan) looks dearer than its
        // first custom ones. The locks and the read are statements prepared on the connection
        // (PrefetchSql), so a group's first round trip parses two short EXECUTEs instead of parsing
        // and planning both queries; each still takes its own snapshot, the read's after the locks.
        const std::string sql = std::string(one_plan) + "EXECUTE " + kPrefetchLock + "(" + list + "); EXECUTE " +
                                kPrefetchRead + "(" + list + ")";
        for (const auto& row : w_.exec(sql)) {
            Remember(row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<int>() != 0,
                     row[3].as<std::string>(), row[4]);
        }
        for (const auto& id : ids)
            prefetched_.insert(id);
    }

    std::optional<detail::StoredVersion> LockEntity(const std::string& id) {
        if (!prefetched_.contains(id)) {
            // Not part of a prefetched group (release path): lock and read it now.
            auto r = w_.exec_params("SELECT version, held, COALESCE(pending_events, ''), " + kLackedData +
                                        " FROM entities e WHERE entity_id = $1 FOR UPDATE",
                                    id);
            if (r.empty()) return std::nullopt;
            Remember(id, r[0][0].as<std::string>(), r[0][1].as<int>() != 0, r[0][2].as<std::string>(), r[0][3]);
            prefetched_.insert(id);
        }
        auto it = cache_.find(id);
        if (it == cache_.end()) return std::nullopt;
        return it->second;
    }
    bool InsertEntity(const EntityWrite& e, const IngestRecord& r, const std::string& parent,
                      const std::string& pending) {
        g_.Write(e.entity_id) = EntityRowWrite{e.entity_id, true, &e, &r, parent, pending};
        cache_[e.entity_id] = detail::StoredVersion{e.version, e.held, pending};
        prefetched_.insert(e.entity_id);
        return true;  // the advisory lock makes us the only writer of this entity until commit
    }
    void UpdateEntity(const EntityWrite& e, const IngestRecord& r, const std::string& pending) {
        // Written already in this group: that write goes first (one statement changes a row once).
        if (g_.entity_index.contains(e.entity_id)) Flush();
        // The data it replaces is kept for the events that lack it.
        if (auto it = lacked_.find(e.entity_id); it != lacked_.end()) {
            const Lacked& old = it->second;
            if (old.version != e.version || old.Data() != e.data) {
                g_.kept_id.Add(e.entity_id);
                g_.kept_version.Add(old.version);
                g_.kept_data.Add(old.Data());
            }
            lacked_.erase(it);
        }
        g_.Write(e.entity_id) = EntityRowWrite{e.entity_id, false, &e, &r, {}, pending};
        cache_[e.entity_id] = detail::StoredVersion{e.version, e.held, pending};
    }
    void InsertOutbox(const OutboxEvent& ev, const std::string& now, std::int64_t now_ms,
                      const EntityWrite* entity = nullptr) {
        if (now_ms == 0) now_ms = core::ToUnixMillis(std::chrono::system_clock::now());
        if (g_.event_ids.insert(ev.event_id).second) {  // a repeat is skipped, as ON CONFLICT DO NOTHING would
            g_.out_event_id.Add(ev.event_id);
            g_.out_entity_id.Add(ev.entity_id);
            g_.out_type.Add(ev.type);
            g_.out_version.Add(ev.version);
            if (const auto around = detail::WithoutEntityData(ev, entity)) {
                g_.out_payload.Add(around->before, around->after);
                g_.out_data_at.Add(static_cast<int>(around->at_chars));
                lacked_.insert_or_assign(ev.entity_id, Lacked{entity->version, {}, &entity->data});
            } else {
                g_.out_payload.Add(ev.payload);
                g_.out_data_at.AddNull();
            }
            g_.out_created.Add(now);
            if (ev.relay) {
                g_.out_finished.AddNull();
            } else {
                g_.out_finished.Add(now);
            }
        }
        for (const auto& connector : ev.connectors) {
            if (!g_.deliveries.emplace(ev.event_id, connector).second) continue;
            g_.dl_connector.Add(connector);
            g_.dl_event_id.Add(ev.event_id);
            g_.dl_entity_id.Add(ev.entity_id);
            g_.dl_type.Add(ev.type);
            g_.dl_version.Add(ev.version);
            g_.dl_created.Add(now);
            g_.dl_ms.Add(now_ms);
            g_.notify = true;  // delivered to listening daemons at commit (LISTEN/NOTIFY), so they claim at once
        }
    }
    void InsertRaw(const IngestRecord& r, Outcome outcome, const std::string& entity_id) {
        g_.raw_store.Add(r.store_id);
        g_.raw_topic.Add(r.topic);
        g_.raw_delivery.Add(r.delivery_id);
        g_.raw_received.Add(r.received_at);
        g_.raw_headers.Add(r.headers);
        g_.raw_body.Add(r.body);
        g_.raw_outcome.Add(ToString(outcome));
        g_.raw_entity.Add(entity_id);
        g_.raw_trace.Add(r.trace_id);
    }
    /// Sends the collected writes in one round trip.
    void Flush() {
        if (g_.entities.empty() && g_.raw_store.Empty() && g_.out_event_id.Empty() && g_.dl_connector.Empty() &&
            g_.kept_id.Empty()) {
            return;
        }
        EntityColumns inserted, updated;
        ArrayParam kind(ArrayParam::kText), store(ArrayParam::kText), source(ArrayParam::kText),
            parent(ArrayParam::kText), trace(ArrayParam::kText), created(ArrayParam::kText);
        for (const EntityRowWrite& w : g_.entities) {
            if (w.insert) {
                inserted.Add(w);
                kind.Add(w.entity->kind);
                store.Add(w.record->store_id);
                source.Add(w.entity->source_id);
                parent.AddOrNull(w.parent);
                trace.Add(w.record->trace_id);
                created.Add(w.record->received_at);
            } else {
                updated.Add(w);
            }
        }
        std::vector<pqxx::binarystring> params;
        params.reserve(50);
        for (ArrayParam* a : {&g_.raw_store,
                              &g_.raw_topic,
                              &g_.raw_delivery,
                              &g_.raw_received,
                              &g_.raw_headers,
                              &g_.raw_body,
                              &g_.raw_outcome,
                              &g_.raw_entity,
                              &g_.raw_trace,
                              &inserted.id,
                              &inserted.version,
                              &inserted.status,
                              &inserted.held,
                              &inserted.findings,
                              &inserted.data,
                              &inserted.pending,
                              &inserted.updated_at,
                              &kind,
                              &store,
                              &source,
                              &parent,
                              &trace,
                              &created,
                              &updated.id,
                              &updated.version,
                              &updated.status,
                              &updated.held,
                              &updated.findings,
                              &updated.data,
                              &updated.pending,
                              &updated.updated_at,
                              &g_.out_event_id,
                              &g_.out_entity_id,
                              &g_.out_type,
                              &g_.out_version,
                              &g_.out_payload,
                              &g_.out_created,
                              &g_.out_finished,
                              &g_.dl_connector,
                              &g_.dl_event_id,
                              &g_.dl_entity_id,
                              &g_.dl_type,
                              &g_.dl_version,
                              &g_.dl_created,
                              &g_.dl_ms})
            params.push_back(a->Encode());
        // The notify flag: a plain binary int4.
        params.emplace_back(std::string{0, 0, 0, static_cast<char>(g_.notify ? 1 : 0)});
        params.push_back(g_.out_data_at.Encode());
        for (ArrayParam* a : {&g_.kept_id, &g_.kept_version, &g_.kept_data})
            params.push_back(a->Encode());
        w_.exec_prepared(kGroupWrite, pqxx::prepare::make_dynamic_params(params));
        g_ = Group{};
    }

  private:
    struct EntityRowWrite {
        std::string entity_id;
        bool insert = false;
        const EntityWrite* entity = nullptr;  ///< the caller's records outlive Flush
        const IngestRecord* record = nullptr;
        std::string parent;
        std::string pending;
    };
    /// The columns an inserted and an updated entity both send, in the order of kGroupWriteSql.
    struct EntityColumns {
        ArrayParam id{ArrayParam::kText}, version{ArrayParam::kText}, status{ArrayParam::kText},
            held{ArrayParam::kInt4}, findings{ArrayParam::kText}, data{ArrayParam::kText}, pending{ArrayParam::kText},
            updated_at{ArrayParam::kText};
        void Add(const EntityRowWrite& w) {
            id.Add(w.entity_id);
            version.Add(w.entity->version);
            status.Add(w.entity->canonical_status);
            held.Add(w.entity->held ? 1 : 0);
            findings.Add(w.entity->findings);
            data.Add(w.entity->data);
            pending.AddOrNull(w.pending);
            updated_at.Add(w.record->received_at);
        }
    };
    /// The writes collected since the last Flush.
    struct Group {
        std::vector<EntityRowWrite> entities;  ///< in the order of their first write
        std::map<std::string, std::size_t> entity_index;
        std::set<std::string> event_ids;
        std::set<std::pair<std::string, std::string>> deliveries;  ///< (event id, connector)
        /// The pending write of an entity, a new (empty) one at the end when it has none yet.
        EntityRowWrite& Write(const std::string& entity_id) {
            auto [it, added] = entity_index.emplace(entity_id, entities.size());
            if (added) entities.emplace_back();
            return entities[it->second];
        }
        bool notify = false;
        ArrayParam raw_store{ArrayParam::kText}, raw_topic{ArrayParam::kText}, raw_delivery{ArrayParam::kText},
            raw_received{ArrayParam::kText}, raw_headers{ArrayParam::kText}, raw_body{ArrayParam::kBytea},
            raw_outcome{ArrayParam::kText}, raw_entity{ArrayParam::kText}, raw_trace{ArrayParam::kText};
        ArrayParam out_event_id{ArrayParam::kText}, out_entity_id{ArrayParam::kText}, out_type{ArrayParam::kText},
            out_version{ArrayParam::kText}, out_payload{ArrayParam::kText}, out_created{ArrayParam::kText},
            out_finished{ArrayParam::kText}, out_data_at{ArrayParam::kInt4};
        ArrayParam kept_id{ArrayParam::kText}, kept_version{ArrayParam::kText}, kept_data{ArrayParam::kText};
        ArrayParam dl_connector{ArrayParam::kText}, dl_event_id{ArrayParam::kText}, dl_entity_id{ArrayParam::kText},
            dl_type{ArrayParam::kText}, dl_version{ArrayParam::kText}, dl_created{ArrayParam::kText},
            dl_ms{ArrayParam::kInt8};
    };

    /// The data an entity holds now that some of its events lack: `fetched` from the database, or
    /// `written` by this transaction (a caller's EntityWrite).
    struct Lacked {
        std::string version;
        std::string fetched;
        const std::string* written = nullptr;
        const std::string& Data() const { return written ? *written : fetched; }
    };
    /// The stored state of an entity, and its data when events lack it (`data`: NULL or the text).
    void Remember(const std::string& id, std::string version, bool held, std::string pending, const pqxx::field& data) {
        if (!data.is_null()) lacked_.insert_or_assign(id, Lacked{version, data.as<std::string>(), nullptr});
        cache_[id] = detail::StoredVersion{std::move(version), held, std::move(pending)};
    }
    pqxx::work& w_;
    std::map<std::string, detail::StoredVersion> cache_;
    std::set<std::string> prefetched_;
    std::map<std::string, Lacked> lacked_;
    Group g_;
};

constexpr const char* kRowColumns =
    "seq, entity_id, kind, store_id, source_id, version, canonical_status, held, findings, data, trace_id, "
    "created_at, updated_at";

EntityRow ReadRow(const pqxx::row& r) {
    EntityRow e;
    e.seq = r[0].as<std::int64_t>();
    e.entity_id = r[1].as<std::string>();
    e.kind = r[2].as<std::string>();
    e.store_id = r[3].as<std::string>();
    e.source_id = r[4].as<std::string>();
    e.version = r[5].as<std::string>();
    e.canonical_status = r[6].as<std::string>();
    e.held = r[7].as<int>() != 0;
    e.findings = r[8].as<std::string>();
    e.data = r[9].as<std::string>();
    e.trace_id = r[10].as<std::string>();
    e.created_at = r[11].as<std::string>();
    e.updated_at = r[12].as<std::string>();
    return e;
}

constexpr const char* kDeliveryColumns =
    "id, connector, event_id, entity_id, type, version, state, attempts, created_at, COALESCE(finished_at, ''), "
    "error_class, http_status, reason, external_id";

DeliveryRow ReadDelivery(const pqxx::row& r) {
    return DeliveryRow{r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),  r[3].as<std::string>(),
                       r[4].as<std::string>(),  r[5].as<std::string>(), r[6].as<std::string>(),  r[7].as<int>(),
                       r[8].as<std::string>(),  r[9].as<std::string>(), r[10].as<std::string>(), r[11].as<int>(),
                       r[12].as<std::string>(), r[13].as<std::string>()};
}

void InsertAudit(pqxx::work& w, const std::string& at, const Actor& actor, const std::string& action,
                 const std::string& target) {
    w.exec_params("INSERT INTO audit (at, actor, action, target, reason) VALUES ($1, $2, $3, $4, $5)", at, actor.name,
                  action, target, actor.reason);
}

class PgSession final : public Session {
  public:
    explicit PgSession(config::PostgresSettings s) : settings_(std::move(s)) {}

    std::vector<Outcome> Ingest(const std::vector<const IngestRecord*>& records) override {
        return Guard(conn_, [&] {
            pqxx::connection& c = Conn();
            RefreshGroupPlan();  // before the transaction: a failure here fails nothing committed
            pqxx::work w(c);
            PgTx tx(w);
            tx.Prefetch(records);
            std::vector<Outcome> out;
            out.reserve(records.size());
            for (const IngestRecord* r : records)
                out.push_back(detail::ApplyRecord(tx, *r));
            tx.Flush();
            w.commit();
            ++groups_;
            return out;
        });
    }

    std::optional<EntityRow> GetEntity(const std::string& id) override {
        return Guard(conn_, [&]() -> std::optional<EntityRow> {
            pqxx::read_transaction w(Conn());
            auto r = w.exec_params(std::string("SELECT ") + kRowColumns + " FROM entities WHERE entity_id = $1", id);
            if (r.empty()) return std::nullopt;
            return ReadRow(r[0]);
        });
    }

    Page ListOrders(const OrderQuery& q) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::string sql = std::string("SELECT ") + kRowColumns +
                              " FROM entities WHERE kind = 'order' AND ($1::bigint = 0 OR seq < $1::bigint) AND ($2 = "
                              "'' OR store_id = "
                              "$2) AND ($3 = '' OR canonical_status = $3) AND ($4 < 0 OR held = $4) AND ($5 = '' OR "
                              "updated_at >= $5) AND ($6 = '' OR updated_at < $6) ORDER BY seq DESC LIMIT $7";
            auto r = w.exec_params(sql, q.cursor, q.store, q.status, q.held ? (*q.held ? 1 : 0) : -1, q.from, q.to,
                                   q.limit + 1);
            Page page;
            for (const auto& row : r)
                page.items.push_back(ReadRow(row));
            TrimPage(page, q.limit, [](const EntityRow& r) { return r.seq; });
            return page;
        });
    }

    bool Release(const std::string& id, const std::string& actor, const std::string& reason) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            const std::string now = core::FormatRfc3339(std::chrono::system_clock::now());
            const std::string which =
                " FROM entities WHERE held = 1 AND ((entity_id = $1 AND parent_id IS NULL) OR parent_id = $1)";
            // The entities' ingest locks first (PgTx::Prefetch's, in its order): a delivery of this
            // order being committed meanwhile either commits first, and its state is what is released
            // below, or reads the state this release leaves. Without them it could write back the
            // pending events it read before the release, which would list them as held again.
            w.exec_params(LockEntitiesSql("ARRAY(SELECT entity_id" + which + ")"), id);
            auto held = w.exec_params(
                "SELECT entity_id, COALESCE(pending_events, '')" + which + " ORDER BY parent_id IS NOT NULL FOR UPDATE",
                id);
            if (held.empty()) return false;  // neither the order nor any of its children is held (any more)
            PgTx tx(w);
            for (const auto& row : held) {
                for (const auto& ev : detail::ParsePendingEvents(row[1].as<std::string>()))
                    tx.InsertOutbox(ev, now, 0);
                tx.Flush();
                w.exec_params(
                    "UPDATE entities SET held = 0, pending_events = NULL, seq = nextval('entity_seq'), updated_at = $2 "
                    "WHERE entity_id = $1",
                    row[0].as<std::string>(), now);
            }
            InsertAudit(w, now, Actor{actor, reason}, "release", id);
            w.commit();
            return true;
        });
    }

    void Audit(const std::string& action, const std::string& target, const Actor& actor) override {
        Guard(conn_, [&] {
            pqxx::work w(Conn());
            InsertAudit(w, core::FormatRfc3339(std::chrono::system_clock::now()), actor, action, target);
            w.commit();
            return 0;
        });
    }

    std::vector<EntityRow> EntitiesOfKind(const std::string& kind) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::vector<EntityRow> out;
            for (const auto& r : w.exec_params(
                     std::string("SELECT ") + kRowColumns + " FROM entities WHERE kind = $1 ORDER BY seq", kind))
                out.push_back(ReadRow(r));
            return out;
        });
    }

    std::vector<EntityRow> ChildEntities(const std::string& parent_id, const std::string& kind) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::vector<EntityRow> out;
            for (const auto& r : w.exec_params(std::string("SELECT ") + kRowColumns +
                                                   " FROM entities WHERE parent_id = $1 AND kind = $2 ORDER BY seq",
                                               parent_id, kind))
                out.push_back(ReadRow(r));
            return out;
        });
    }

    std::map<std::string, std::vector<StockLevel>> UpsertStock(const std::vector<StockLevel>& levels) override {
        return Guard(conn_, [&] {
            const std::string now = core::FormatRfc3339(std::chrono::system_clock::now());
            pqxx::work w(Conn());
            std::vector<std::string> skus;
            std::string reserved;
            for (const auto& l : levels) {
                w.exec_params(
                    "INSERT INTO inventory_levels (sku, location, on_hand, available, reserved, as_of, as_of_ms, "
                    "source, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (sku, location) DO "
                    "UPDATE SET on_hand = excluded.on_hand, available = excluded.available, reserved = "
                    "excluded.reserved, as_of = excluded.as_of, as_of_ms = excluded.as_of_ms, source = "
                    "excluded.source, updated_at = excluded.updated_at WHERE inventory_levels.as_of_ms <= "
                    "excluded.as_of_ms",
                    l.sku, l.location, l.on_hand, l.available,
                    l.reserved ? reserved.assign(std::to_string(*l.reserved)).c_str()
                               : static_cast<const char*>(nullptr),
                    l.as_of, l.as_of_ms, l.source, now);
                skus.push_back(l.sku);
            }
            auto out = ReadStock(w, skus);
            w.commit();
            return out;
        });
    }

    std::map<std::string, std::vector<StockLevel>> GetStock(const std::vector<std::string>& skus) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            return ReadStock(w, skus);
        });
    }

    std::map<std::string, std::vector<StockLevel>> AllStock() override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            return ReadStock(w, std::nullopt);
        });
    }

    std::string GetWatermark(const std::string& name) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            auto r = w.exec_params("SELECT value FROM watermarks WHERE name = $1", name);
            return r.empty() ? std::string{} : r[0][0].as<std::string>();
        });
    }

    void SetWatermark(const std::string& name, const std::string& value) override {
        Guard(conn_, [&] {
            pqxx::work w(Conn());
            w.exec_params(
                "INSERT INTO watermarks (name, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE "
                "SET value = excluded.value, updated_at = excluded.updated_at",
                name, value, core::FormatRfc3339(std::chrono::system_clock::now()));
            w.commit();
            return 0;
        });
    }

    static std::map<std::string, std::vector<StockLevel>> ReadStock(
        pqxx::transaction_base& w, const std::optional<std::vector<std::string>>& skus) {
        std::map<std::string, std::vector<StockLevel>> out;
        std::string where;
        if (skus) {
            std::string list;
            for (const auto& sku : *skus)
                list += (list.empty() ? "" : ",") + w.quote(sku);
            if (list.empty()) return out;
            where = " WHERE sku IN (" + list + ")";
        }
        for (const auto& r : w.exec("SELECT sku, location, on_hand, available, reserved, as_of, as_of_ms, source, "
                                    "updated_at FROM inventory_levels" +
                                    where + " ORDER BY sku, location")) {
            StockLevel l{r[0].as<std::string>(),  r[1].as<std::string>(), r[2].as<std::int64_t>(),
                         r[3].as<std::int64_t>(), std::nullopt,           r[5].as<std::string>(),
                         r[6].as<std::int64_t>(), r[7].as<std::string>(), r[8].as<std::string>()};
            if (!r[4].is_null()) l.reserved = r[4].as<std::int64_t>();
            out[l.sku].push_back(std::move(l));
        }
        return out;
    }

    std::vector<ReceiptRow> EntityReceipts(const std::string& entity_id) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::vector<ReceiptRow> out;
            for (const auto& r : w.exec_params("SELECT received_at, topic, delivery_id, outcome FROM raw_deliveries "
                                               "WHERE entity_id = $1 ORDER BY id",
                                               entity_id)) {
                out.push_back(ReceiptRow{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                                         r[3].as<std::string>()});
            }
            return out;
        });
    }

    std::vector<AuditRow> AuditFor(const std::vector<std::string>& targets) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::string list;
            for (const auto& t : targets)
                list += (list.empty() ? "" : ",") + w.quote(t);
            std::vector<AuditRow> out;
            if (list.empty()) return out;
            for (const auto& r : w.exec("SELECT id, at, actor, action, target, reason FROM audit WHERE target IN (" +
                                        list + ") ORDER BY id")) {
                out.push_back(AuditRow{r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                                       r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>()});
            }
            return out;
        });
    }

    AuditPage ListAudit(std::int64_t cursor, int limit) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            auto r = w.exec_params(
                "SELECT id, at, actor, action, target, reason FROM audit WHERE ($1::bigint = 0 OR id < $1::bigint) "
                "ORDER BY id DESC LIMIT $2",
                cursor, limit + 1);
            AuditPage page;
            for (const auto& row : r) {
                page.items.push_back(AuditRow{row[0].as<std::int64_t>(), row[1].as<std::string>(),
                                              row[2].as<std::string>(), row[3].as<std::string>(),
                                              row[4].as<std::string>(), row[5].as<std::string>()});
            }
            TrimPage(page, limit, [](const AuditRow& a) { return a.id; });
            return page;
        });
    }

    std::int64_t CountOutbox() override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            return w.exec("SELECT COUNT(*) FROM outbox")[0][0].as<std::int64_t>();
        });
    }

    std::map<std::string, std::int64_t> CountHeld() override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::map<std::string, std::int64_t> out;
            for (const auto& r : w.exec("SELECT store_id, COUNT(*) FROM entities WHERE kind = 'order' AND held = 1 "
                                        "GROUP BY store_id"))
                out[r[0].as<std::string>()] = r[1].as<std::int64_t>();
            return out;
        });
    }

    std::int64_t PruneRaw(const std::string& before, int limit) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            auto r = w.exec_params(
                "DELETE FROM raw_deliveries WHERE id IN (SELECT id FROM (SELECT id, received_at FROM raw_deliveries "
                "ORDER BY id LIMIT $2) AS oldest WHERE received_at < $1)",
                before, limit);
            w.commit();
            return static_cast<std::int64_t>(r.affected_rows());
        });
    }

    std::int64_t PruneOutbox(const std::string& before, int limit) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            auto r = w.exec_params(
                "WITH o AS (SELECT id, event_id FROM outbox WHERE created_at < $1 AND finished_at IS NOT NULL AND NOT "
                "EXISTS (SELECT 1 FROM "
                "deliveries d WHERE d.event_id = outbox.event_id AND d.state IN ('pending', 'dead')) ORDER BY id "
                "LIMIT $2 FOR UPDATE SKIP LOCKED), "
                "d AS (DELETE FROM deliveries WHERE event_id IN (SELECT event_id FROM o) RETURNING id), "
                "a AS (DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM d)), "
                "x AS (DELETE FROM outbox WHERE id IN (SELECT id FROM o) RETURNING entity_id, version) "
                "SELECT DISTINCT entity_id, version, (SELECT COUNT(*) FROM x) FROM x",
                before, limit);
            // Kept data no event needs any more goes in a second statement, which sees the events the
            // first one deleted as gone. It takes the entities' ingest locks first (in PgTx's order),
            // so that an ingest about to keep data for one of these events, or another daemon pruning
            // the other events of the same version, has committed and is seen too.
            std::string pruned;
            std::vector<std::string> ids;
            for (const auto& row : r) {
                ids.push_back(row[0].as<std::string>());
                pruned += std::string(pruned.empty() ? "" : ",") + "(" + w.quote(ids.back()) + "," +
                          w.quote(row[1].as<std::string>()) + ")";
            }
            if (!pruned.empty()) {
                w.exec(LockEntitiesSql(TextArraySql(w, ids)) + "; DELETE FROM event_data k USING (VALUES " + pruned +
                       ") AS p(entity_id, version) WHERE k.entity_id = p.entity_id AND k.version = p.version AND " +
                       detail::kEventDataUnusedSql);
            }
            w.commit();
            return r.empty() ? std::int64_t{0} : r[0][2].as<std::int64_t>();
        });
    }

    void Ping() override {
        Guard(conn_, [&] {
            pqxx::nontransaction w(Conn());
            w.exec("SELECT 1");
            return 0;
        });
    }
    Durability CheckDurability() {
        return Guard(conn_, [&] {
            pqxx::nontransaction w(Conn());
            // reset_val is what the session started with, before Conn() set anything.
            const auto r = w.exec(
                "SELECT current_setting('fsync'), current_setting('synchronous_commit'), "
                "(SELECT reset_val FROM pg_settings WHERE name = 'synchronous_commit')")[0];
            Durability d;
            d.settings = {{"fsync", r[0].as<std::string>()},
                          {"synchronous_commit", r[1].as<std::string>()},
                          {"synchronous_commit_default", r[2].as<std::string>()}};
            if (d.Setting("fsync") == "off")
                d.warnings.push_back(
                    "PostgreSQL runs with fsync = off: a crash of its machine can lose "
                    "acknowledged orders and corrupt the database");
            if (d.Setting("synchronous_commit") == "off")
                d.warnings.push_back(
                    "PostgreSQL reports commits before they are on disk (synchronous_commit = "
                    "off): a crash of PostgreSQL or of its machine can lose acknowledged orders");
            return d;
        });
    }

    int SchemaVersion() override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            auto exists = w.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
            if (!exists[0][0].as<bool>()) return 0;
            return w.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
        });
    }

    std::vector<DeliveryTask> ClaimDue(const std::string& connector, std::int64_t now_ms, int limit,
                                       std::int64_t lease_ms) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            // SKIP LOCKED: daemons sharing the database never wait for each other's claims; a lease
            // committed by another daemon makes the row (and its entity's successors) invisible here.
            auto r = w.exec_params(
                "WITH c AS (SELECT d.id, d.lease_until_ms AS previous_lease FROM deliveries d WHERE d.connector = $1 "
                "AND d.state = 'pending' AND "
                "d.due_ms <= $2 AND d.lease_until_ms <= $2 AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE "
                "p.connector = d.connector AND p.entity_id = d.entity_id AND p.state = 'pending' AND p.id <> d.id AND "
                "(p.id < d.id OR p.lease_until_ms > $2)) ORDER BY d.due_ms, d.id LIMIT $3 FOR UPDATE SKIP LOCKED) "
                "UPDATE deliveries d SET lease_until_ms = $2 + $4 FROM c, outbox o WHERE d.id = c.id AND o.event_id = "
                "d.event_id RETURNING d.id, d.event_id, d.entity_id, d.type, d.version, COALESCE(d.payload_override, " +
                    std::string(detail::kOutboxPayloadSql) +
                    ", ''), d.attempts, d.created_ms, d.since_ms, d.due_ms, c.previous_lease > 0",
                connector, now_ms, limit, lease_ms);
            w.commit();
            std::vector<std::pair<std::int64_t, DeliveryTask>> rows;
            for (const auto& row : r) {
                rows.emplace_back(
                    row[9].as<std::int64_t>(),
                    DeliveryTask{row[0].as<std::int64_t>(), connector, row[1].as<std::string>(),
                                 row[2].as<std::string>(), row[3].as<std::string>(), row[4].as<std::string>(),
                                 row[5].as<std::string>(), row[6].as<int>(), row[7].as<std::int64_t>(),
                                 row[8].as<std::int64_t>(), row[10].as<bool>(), now_ms + lease_ms});
            }
            std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
                return std::tie(a.first, a.second.id) < std::tie(b.first, b.second.id);
            });
            std::vector<DeliveryTask> out;
            out.reserve(rows.size());
            for (auto& [due, task] : rows)
                out.push_back(std::move(task));
            return out;
        });
    }

    void RecordAttempts(const std::vector<AttemptRecord>& records) override {
        if (records.empty()) return;
        Guard(conn_, [&] {
            pqxx::work w(Conn());
            std::string sql;
            for (const auto& r : records) {
                const std::string id = std::to_string(r.delivery_id);
                // Fenced by the lease: a result whose claim was lost (the lease ran out and someone
                // else claimed it) changes nothing and leaves no attempt.
                sql += "WITH u AS (UPDATE deliveries SET state = " + w.quote(r.state) + ", attempts = attempts + " +
                       (r.counts ? "1" : "0") + ", due_ms = " + std::to_string(r.due_ms) +
                       ", lease_until_ms = 0, finished_at = " + (r.state == "pending" ? "NULL" : w.quote(r.at)) +
                       ", error_class = " + w.quote(r.error_class) +
                       ", http_status = " + std::to_string(r.http_status) + ", reason = " + w.quote(r.reason) +
                       (r.external_id.empty() ? "" : ", external_id = " + w.quote(r.external_id)) +
                       " WHERE id = " + id +
                       " AND state = 'pending' AND lease_until_ms = " + std::to_string(r.lease_until_ms) +
                       " RETURNING id) INSERT INTO delivery_attempts (delivery_id, at, error_class, http_status, "
                       "latency_ms, reason, outcome) SELECT id, " +
                       w.quote(r.at) + "," + w.quote(r.error_class) + "," + std::to_string(r.http_status) + "," +
                       std::to_string(r.latency_ms) + "," + w.quote(r.reason) + "," + w.quote(r.state) + " FROM u;";
                if (r.state == "delivered") {
                    sql +=
                        "UPDATE deliveries SET state = 'resolved', finished_at = " + w.quote(r.at) +
                        " WHERE state = 'dead' AND id < " + id +
                        " AND (connector, entity_id) = (SELECT connector, entity_id FROM deliveries WHERE id = " + id +
                        " AND state = 'delivered');";
                }
            }
            w.exec(sql);
            w.commit();
            return 0;
        });
    }

    void Unclaim(const std::vector<Unclaimed>& items) override {
        if (items.empty()) return;
        Guard(conn_, [&] {
            pqxx::work w(Conn());
            std::string sql;
            for (const auto& u : items) {
                sql += "UPDATE deliveries SET lease_until_ms = 0, due_ms = GREATEST(due_ms, " +
                       std::to_string(u.due_ms) + ") WHERE id = " + std::to_string(u.id) +
                       " AND lease_until_ms = " + std::to_string(u.lease_until_ms) + ";";
            }
            w.exec(sql);
            w.commit();
            return 0;
        });
    }

    std::vector<std::int64_t> EndedAmong(const std::vector<std::int64_t>& ids) override {
        std::vector<std::int64_t> out;
        if (ids.empty()) return out;
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::string list;
            for (auto id : ids)
                list += (list.empty() ? "" : ",") + std::to_string(id);
            for (const auto& r : w.exec("SELECT id FROM deliveries WHERE id IN (" + list + ") AND state <> 'pending'"))
                out.push_back(r[0].as<std::int64_t>());
            return out;
        });
    }

    void DropLeases() override {
        Guard(conn_, [&] {
            pqxx::work w(Conn());
            w.exec("UPDATE deliveries SET lease_until_ms = 1 WHERE state = 'pending' AND lease_until_ms > 1");
            w.commit();
            return 0;
        });
    }

    Backlog GetBacklog(const std::string& connector) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            auto r = w.exec_params(
                "SELECT COUNT(*), COALESCE(MIN(created_ms), 0), (SELECT COUNT(*) FROM deliveries WHERE connector = $1 "
                "AND state = 'dead') FROM deliveries WHERE connector = $1 AND state = 'pending'",
                connector);
            return Backlog{r[0][0].as<std::int64_t>(), r[0][1].as<std::int64_t>(), r[0][2].as<std::int64_t>()};
        });
    }

    DeliveryPage ListDeliveries(const DeliveryQuery& q) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            auto r =
                w.exec_params(std::string("SELECT ") + kDeliveryColumns +
                                  " FROM deliveries WHERE ($1::bigint = 0 OR id < $1::bigint) AND ($2 = '' OR "
                                  "state = $2) AND ($3 = '' OR connector = $3) AND ($4 = '' OR error_class = $4) "
                                  "AND ($5 = '' OR entity_id = $5) AND ($6 = '' OR created_at >= $6) AND ($7 = '' "
                                  "OR created_at < $7) ORDER BY id DESC LIMIT $8",
                              q.cursor, q.state, q.connector, q.error_class, q.entity_id, q.from, q.to, q.limit + 1);
            DeliveryPage page;
            for (const auto& row : r)
                page.items.push_back(ReadDelivery(row));
            TrimPage(page, q.limit, [](const DeliveryRow& d) { return d.id; });
            return page;
        });
    }

    std::optional<DeliveryDetail> GetDelivery(std::int64_t id) override {
        return Guard(conn_, [&]() -> std::optional<DeliveryDetail> {
            pqxx::read_transaction w(Conn());
            auto r = w.exec_params(std::string("SELECT ") + kDeliveryColumns + ", COALESCE(payload_override, (SELECT " +
                                       detail::kOutboxPayloadSql +
                                       " FROM outbox o WHERE o.event_id = deliveries.event_id), ''), payload_override "
                                       "IS NOT NULL FROM deliveries WHERE id = $1",
                                   id);
            if (r.empty()) return std::nullopt;
            DeliveryDetail d{ReadDelivery(r[0]), r[0][14].as<std::string>(), r[0][15].as<bool>(), {}};
            for (const auto& a : w.exec_params(
                     "SELECT at, error_class, http_status, latency_ms, reason, outcome FROM delivery_attempts WHERE "
                     "delivery_id = $1 ORDER BY id",
                     id)) {
                d.attempts.push_back(AttemptRow{a[0].as<std::string>(), a[1].as<std::string>(), a[2].as<int>(),
                                                a[3].as<std::int64_t>(), a[4].as<std::string>(),
                                                a[5].as<std::string>()});
            }
            return d;
        });
    }

    std::map<std::int64_t, std::vector<AttemptRow>> EntityAttempts(const std::string& entity_id) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::map<std::int64_t, std::vector<AttemptRow>> out;
            for (const auto& a : w.exec_params(
                     "SELECT a.delivery_id, a.at, a.error_class, a.http_status, a.latency_ms, a.reason, a.outcome FROM "
                     "delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.entity_id = $1 ORDER BY "
                     "a.id",
                     entity_id)) {
                out[a[0].as<std::int64_t>()].push_back(AttemptRow{a[1].as<std::string>(), a[2].as<std::string>(),
                                                                  a[3].as<int>(), a[4].as<std::int64_t>(),
                                                                  a[5].as<std::string>(), a[6].as<std::string>()});
            }
            return out;
        });
    }

    std::vector<DeliveryRow> EntityDeliveries(const std::string& entity_id) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::vector<DeliveryRow> out;
            for (const auto& row : w.exec_params(
                     std::string("SELECT ") + kDeliveryColumns + " FROM deliveries WHERE entity_id = $1 ORDER BY id",
                     entity_id)) {
                out.push_back(ReadDelivery(row));
            }
            return out;
        });
    }

    std::vector<std::int64_t> ReplayDead(const DeliveryQuery& q, std::int64_t only_id,
                                         const std::optional<std::string>& payload, const Actor& actor) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            const auto now = std::chrono::system_clock::now();
            const std::int64_t now_ms = core::ToUnixMillis(now);
            std::vector<std::int64_t> ids;
            for (const auto& row : w.exec_params(
                     "UPDATE deliveries SET state = 'pending', attempts = 0, due_ms = $7, since_ms = $7, "
                     "lease_until_ms = 0, finished_at = NULL, payload_override = COALESCE($8, payload_override) "
                     "WHERE state = 'dead' AND ($1::bigint = 0 OR id = $1::bigint) AND ($2 = '' OR connector = $2) "
                     "AND ($3 = '' OR error_class = $3) AND ($4 = '' OR entity_id = $4) AND ($5 = '' OR created_at "
                     ">= $5) AND ($6 = '' OR created_at < $6) RETURNING id",
                     only_id, q.connector, q.error_class, q.entity_id, q.from, q.to, now_ms,
                     payload ? payload->c_str() : static_cast<const char*>(nullptr))) {
                ids.push_back(row[0].as<std::int64_t>());
            }
            std::sort(ids.begin(), ids.end());
            if (!ids.empty()) {
                InsertAudit(w, core::FormatRfc3339(now), actor, payload ? "replay_edited" : "replay",
                            detail::ReplayTarget(q, only_id, ids.size()));
                w.exec("NOTIFY orderbridge_work");
            }
            w.commit();
            return ids;
        });
    }

    bool TryRelayLock() override {
        return Guard(conn_, [&] {
            if (relay_locked_ && conn_ && conn_->is_open()) return true;
            pqxx::nontransaction w(Conn());
            // Held by this connection until it closes: a relay that dies releases it with its session.
            relay_locked_ = w.exec("SELECT pg_try_advisory_lock(7263512)")[0][0].as<bool>();
            return relay_locked_;
        });
    }

    std::vector<OutboxRow> FetchUnpublished(int limit) override {
        return Guard(conn_, [&] {
            pqxx::read_transaction w(Conn());
            std::vector<OutboxRow> out;
            for (const auto& r : w.exec_params(
                     "SELECT o.id, o.event_id, o.entity_id, o.type, o.version, COALESCE(" +
                         std::string(detail::kOutboxPayloadSql) +
                         ", ''), o.created_at FROM outbox o WHERE o.finished_at IS NULL ORDER BY o.id LIMIT $1",
                     limit)) {
                out.push_back(OutboxRow{r[0].as<std::int64_t>(),
                                        OutboxEvent{r[1].as<std::string>(),
                                                    r[3].as<std::string>(),
                                                    r[2].as<std::string>(),
                                                    r[4].as<std::string>(),
                                                    r[5].as<std::string>(),
                                                    {},
                                                    true},
                                        r[6].as<std::string>()});
            }
            return out;
        });
    }

    void MarkPublished(const std::vector<std::int64_t>& ids) override {
        if (ids.empty()) return;
        Guard(conn_, [&] {
            pqxx::work w(Conn());
            std::string list;
            for (auto id : ids)
                list += (list.empty() ? "" : ",") + std::to_string(id);
            w.exec_params("UPDATE outbox SET finished_at = $1 WHERE id IN (" + list + ")",
                          core::FormatRfc3339(std::chrono::system_clock::now()));
            w.commit();
            return 0;
        });
    }

    std::vector<MaterializeResult> Materialize(const std::vector<MaterializeItem>& items) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            PgTx tx(w);
            for (const auto& item : items) {
                OutboxEvent ev = item.event;
                ev.relay = false;  // consumed: this store must not publish it again
                ev.connectors = {item.connector};
                tx.InsertOutbox(ev, item.created_at, item.created_ms);
            }
            tx.Flush();
            std::vector<MaterializeResult> out;
            for (const auto& item : items) {
                auto r = w.exec_params("SELECT id, state FROM deliveries WHERE event_id = $1 AND connector = $2",
                                       item.event.event_id, item.connector);
                out.push_back(MaterializeResult{r.at(0).at(0).as<std::int64_t>(), r.at(0).at(1).as<std::string>()});
            }
            w.commit();
            return out;
        });
    }

    std::int64_t ReplayEntity(const std::string& entity_id, const std::string& connector, const Actor& actor) override {
        return Guard(conn_, [&]() -> std::int64_t {
            pqxx::work w(Conn());
            const auto now = std::chrono::system_clock::now();
            const auto newest = w.exec_params(
                "SELECT id, state = 'pending' AND lease_until_ms > $3 FROM deliveries WHERE entity_id = $1 AND "
                "connector = $2 ORDER BY id DESC LIMIT 1 FOR UPDATE",
                entity_id, connector, core::ToUnixMillis(now));
            if (newest.empty()) return 0;
            if (newest[0][1].as<bool>()) return -1;  // being sent right now
            auto r = w.exec_params(
                "UPDATE deliveries SET state = 'pending', attempts = 0, due_ms = $2, since_ms = $2, lease_until_ms = "
                "0, finished_at = NULL WHERE id = $1 RETURNING id",
                newest[0][0].as<std::int64_t>(), core::ToUnixMillis(now));
            InsertAudit(w, core::FormatRfc3339(now), actor, "replay_entity", connector + ":" + entity_id);
            w.exec("NOTIFY orderbridge_work");
            w.commit();
            return r[0][0].as<std::int64_t>();
        });
    }

    pqxx::connection& Conn() {
        if (!conn_ || !conn_->is_open()) {
            // Set up completely before it is kept: a connection whose setup failed would otherwise be
            // reused without its settings (a timeout does not drop it, see Guard).
            conn_.reset();
            auto conn =
                std::make_unique<pqxx::connection>(WithConnectTimeout(settings_.dsn, settings_.connect_timeout));
            // The daemon's text is UTF-8 whatever the server's or the environment's default encoding.
            conn->set_client_encoding("UTF8");
            const auto ms = settings_.statement_timeout.count();
            pqxx::nontransaction w(*conn);
            // Acknowledged means on disk: synchronous_commit = off for the server, database or role (a
            // common tuning) would let PostgreSQL report a commit before its WAL is flushed, and a
            // crash would lose orders already answered 202. Its other values all flush the WAL first
            // (the stronger ones also wait for synchronous standbys) and are kept.
            w.exec("SET statement_timeout = " + std::to_string(ms) +
                   "; SET idle_in_transaction_session_timeout = " + std::to_string(std::max<long long>(ms * 4, 10000)) +
                   "; SELECT set_config('synchronous_commit', 'on', false) "
                   "WHERE current_setting('synchronous_commit') = 'off'");
            conn->prepare(kGroupWrite, kGroupWriteSql);  // sent to the server at its first use
            conn_ = std::move(conn);
            prefetch_prepared_ = false;  // before its first group (the tables may not exist yet)
            groups_ = 0;
            next_group_plan_ = 64;
        }
        return *conn_;
    }

  private:
    // PostgreSQL keeps one plan of the group statement and of the prefetch statements per connection
    // (PgTx::Prefetch asks for it), made at their first use. Made while the tables are small (a new
    // database under load), a plan may find rows by scanning the whole table, and keep doing so as the
    // table grows until autovacuum's next statistics invalidate it, minutes later. So the statements
    // are prepared again once this connection has run 64, 512, 4096, ... groups (a power of 8): their
    // plans follow the tables' size.
    void RefreshGroupPlan() {
        if (!conn_) return;
        const bool refresh = groups_ >= next_group_plan_;
        if (refresh) {
            next_group_plan_ *= 8;
            conn_->unprepare(kGroupWrite);
            conn_->prepare(kGroupWrite, kGroupWriteSql);
        }
        if (refresh || !prefetch_prepared_) {
            // PREPARE and DEALLOCATE are not undone when a later statement of the same query fails:
            // after a failure the connection's statements are unknown, so it is dropped and the next
            // group prepares them on a new one.
            try {
                pqxx::nontransaction w(*conn_);
                const std::string drop = prefetch_prepared_ ? std::string("DEALLOCATE ") + kPrefetchLock +
                                                                  "; DEALLOCATE " + kPrefetchRead + "; "
                                                            : "";
                w.exec(drop + PrefetchSql());
                prefetch_prepared_ = true;
            } catch (...) {
                conn_.reset();
                throw;
            }
        }
    }
    std::int64_t groups_ = 0;
    std::int64_t next_group_plan_ = 64;
    bool prefetch_prepared_ = false;
    config::PostgresSettings settings_;
    std::unique_ptr<pqxx::connection> conn_;
    bool relay_locked_ = false;
};

class PgWorkWaiter final : public WorkWaiter {
  public:
    explicit PgWorkWaiter(config::PostgresSettings s) : settings_(std::move(s)) {}
    ~PgWorkWaiter() override {
        receiver_.reset();  // before its connection
        conn_.reset();
    }

    bool Wait(std::chrono::milliseconds timeout) override {
        try {
            if (!conn_) {
                conn_ =
                    std::make_unique<pqxx::connection>(WithConnectTimeout(settings_.dsn, settings_.connect_timeout));
                receiver_ = std::make_unique<Receiver>(*conn_, fired_);  // LISTEN orderbridge_work
            }
            fired_ = false;
            const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
            conn_->await_notification(static_cast<long>(us / 1000000), static_cast<long>(us % 1000000));
            return fired_;
        } catch (const std::exception&) {
            receiver_.reset();
            conn_.reset();
            std::this_thread::sleep_for(timeout);  // the database is away: the pump polls meanwhile
            return false;
        }
    }

  private:
    class Receiver final : public pqxx::notification_receiver {
      public:
        Receiver(pqxx::connection& c, bool& fired)
            : pqxx::notification_receiver(c, "orderbridge_work"), fired_(fired) {}
        void operator()(const std::string&, int) override { fired_ = true; }

      private:
        bool& fired_;
    };
    config::PostgresSettings settings_;
    bool fired_ = false;
    std::unique_ptr<pqxx::connection> conn_;
    std::unique_ptr<Receiver> receiver_;
};

class PgStore final : public Store {
  public:
    explicit PgStore(config::PostgresSettings s) : settings_(std::move(s)) {}
    std::unique_ptr<Session> Open() override { return std::make_unique<PgSession>(settings_); }

    int SchemaVersion() override { return PgSession(settings_).SchemaVersion(); }
    Durability CheckDurability() override { return PgSession(settings_).CheckDurability(); }

    int Migrate() override {
        PgSession s(settings_);
        std::unique_ptr<pqxx::connection> dummy;
        return Guard(dummy, [&] {
            const auto& migrations = detail::PostgresMigrations();
            pqxx::work w(s.Conn());
            // Schema changes are not bound by the request paths' statement_timeout (a busy or slow
            // server must not fail a daemon's start half-way through; a migration of a large table
            // may take long). One migrator at a time across daemons: the others wait for it, however
            // long it takes. A table lock held by running daemons is waited for 10 s at most, as
            // the waiting ALTER holds up their work meanwhile; the start then fails and can be retried.
            w.exec("SET LOCAL statement_timeout = 0");
            w.exec("SELECT pg_advisory_xact_lock(7263511)");
            w.exec("SET LOCAL lock_timeout = '10s'");
            w.exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
            const int current = w.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
            if (current > static_cast<int>(migrations.size())) {
                throw SchemaTooNewError("database schema version " + std::to_string(current) +
                                        " is newer than this orderbridge knows (" + std::to_string(migrations.size()) +
                                        ")");
            }
            for (int v = current + 1; v <= static_cast<int>(migrations.size()); ++v) {
                w.exec(migrations[static_cast<std::size_t>(v - 1)]);
                w.exec_params("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", v,
                              core::FormatRfc3339(std::chrono::system_clock::now()));
            }
            w.commit();
            return static_cast<int>(migrations.size());
        });
    }

    std::string_view Driver() const override { return "postgres"; }
    std::unique_ptr<WorkWaiter> MakeWorkWaiter() override { return std::make_unique<PgWorkWaiter>(settings_); }

  private:
    config::PostgresSettings settings_;
};

}  // namespace

std::unique_ptr<Store> MakePostgresStore(const config::PostgresSettings& settings) {
    return std::make_unique<PgStore>(settings);
}

}  // namespace orderbridge::store

// PostgreSQL driver (libpqxx). Each session is one connection with a statement timeout; a broken
// connection is reported as UnavailableError and reopened on the next call, so the daemon recovers
// by itself when the database comes back. Rows of one entity are locked (SELECT ... FOR UPDATE), so
// several daemons can ingest into one database.
#include <algorithm>
#include <map>
#include <pqxx/pqxx>
#include <set>

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

// One ingest transaction. A group of deliveries costs two round trips whatever its size: one
// statement takes a transaction-scoped advisory lock on every entity id of the group (in a fixed
// order, so writers never deadlock) and reads their stored versions; the writes are then sent
// together as one multi-statement string with quoted literals.
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
        if (ids.empty()) return;
        std::string list;
        for (const auto& id : ids) {
            if (!list.empty()) list += ',';
            list += w_.quote(id);
        }
        // Locks are taken in the order of their keys (the hashes), so two writers never wait on each
        // other in opposite orders, even when two ids share a hash.
        const std::string sql =
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext(x) AS h FROM "
            "unnest(ARRAY[" +
            list +
            "]::text[]) AS x) AS k ORDER BY h; SELECT entity_id, "
            "version, held, COALESCE(pending_events, '') FROM entities WHERE entity_id = "
            "ANY(ARRAY[" +
            list + "]::text[])";
        for (const auto& row : w_.exec(sql)) {
            cache_[row[0].as<std::string>()] =
                detail::StoredVersion{row[1].as<std::string>(), row[2].as<int>() != 0, row[3].as<std::string>()};
        }
        for (const auto& id : ids)
            prefetched_.insert(id);
    }

    std::optional<detail::StoredVersion> LockEntity(const std::string& id) {
        if (!prefetched_.contains(id)) {
            // Not part of a prefetched group (release path): lock and read it now.
            auto r = w_.exec_params(
                "SELECT version, held, COALESCE(pending_events, '') FROM entities WHERE entity_id = $1 FOR UPDATE", id);
            if (r.empty()) return std::nullopt;
            return detail::StoredVersion{r[0][0].as<std::string>(), r[0][1].as<int>() != 0, r[0][2].as<std::string>()};
        }
        auto it = cache_.find(id);
        if (it == cache_.end()) return std::nullopt;
        return it->second;
    }
    bool InsertEntity(const EntityWrite& e, const IngestRecord& r, const std::string& parent,
                      const std::string& pending) {
        sql_ +=
            "INSERT INTO entities (seq, entity_id, kind, store_id, source_id, parent_id, version, canonical_status, "
            "held, findings, data, pending_events, trace_id, created_at, updated_at) VALUES (nextval('entity_seq'), " +
            Q(e.entity_id) + "," + Q(e.kind) + "," + Q(r.store_id) + "," + Q(e.source_id) + "," + QN(parent) + "," +
            Q(e.version) + "," + Q(e.canonical_status) + "," + (e.held ? "1" : "0") + "," + Q(e.findings) + "," +
            Q(e.data) + "," + QN(pending) + "," + Q(r.trace_id) + "," + Q(r.received_at) + "," + Q(r.received_at) +
            ");";
        cache_[e.entity_id] = detail::StoredVersion{e.version, e.held, pending};
        prefetched_.insert(e.entity_id);
        return true;  // the advisory lock makes us the only writer of this entity until commit
    }
    void UpdateEntity(const EntityWrite& e, const IngestRecord& r, const std::string& pending) {
        sql_ += "UPDATE entities SET seq = nextval('entity_seq'), version = " + Q(e.version) +
                ", canonical_status = " + Q(e.canonical_status) + ", held = " + (e.held ? "1" : "0") +
                ", findings = " + Q(e.findings) + ", data = " + Q(e.data) + ", pending_events = " + QN(pending) +
                ", updated_at = " + Q(r.received_at) + " WHERE entity_id = " + Q(e.entity_id) + ";";
        cache_[e.entity_id] = detail::StoredVersion{e.version, e.held, pending};
    }
    void InsertOutbox(const OutboxEvent& ev, const std::string& now) {
        sql_ += "INSERT INTO outbox (event_id, entity_id, type, version, payload, created_at) VALUES (" +
                Q(ev.event_id) + "," + Q(ev.entity_id) + "," + Q(ev.type) + "," + Q(ev.version) + "," + Q(ev.payload) +
                "," + Q(now) + ") ON CONFLICT (event_id) DO NOTHING;";
    }
    void InsertRaw(const IngestRecord& r, Outcome outcome, const std::string& entity_id) {
        sql_ +=
            "INSERT INTO raw_deliveries (store_id, topic, delivery_id, received_at, headers, body, outcome, "
            "entity_id, trace_id) VALUES (" +
            Q(r.store_id) + "," + Q(r.topic) + "," + Q(r.delivery_id) + "," + Q(r.received_at) + "," + Q(r.headers) +
            "," + w_.quote_raw(reinterpret_cast<const unsigned char*>(r.body.data()), r.body.size()) + "," +
            Q(std::string(ToString(outcome))) + "," + Q(entity_id) + "," + Q(r.trace_id) + ");";
    }
    /// Sends the accumulated writes in one round trip.
    void Flush() {
        if (!sql_.empty()) w_.exec(sql_);
        sql_.clear();
    }

  private:
    std::string Q(const std::string& v) const { return w_.quote(v); }
    std::string QN(const std::string& v) const { return v.empty() ? "NULL" : w_.quote(v); }
    pqxx::work& w_;
    std::map<std::string, detail::StoredVersion> cache_;
    std::set<std::string> prefetched_;
    std::string sql_;
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

class PgSession final : public Session {
  public:
    explicit PgSession(config::PostgresSettings s) : settings_(std::move(s)) {}

    std::vector<Outcome> Ingest(const std::vector<const IngestRecord*>& records) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            PgTx tx(w);
            tx.Prefetch(records);
            std::vector<Outcome> out;
            out.reserve(records.size());
            for (const IngestRecord* r : records)
                out.push_back(detail::ApplyRecord(tx, *r));
            tx.Flush();
            w.commit();
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
            auto held = w.exec_params(
                "SELECT entity_id, COALESCE(pending_events, '') FROM entities WHERE held = 1 AND ((entity_id = $1 AND "
                "parent_id IS NULL) OR "
                "parent_id = $1) ORDER BY parent_id IS NOT NULL FOR UPDATE",
                id);
            if (held.empty()) return false;  // neither the order nor any of its children is held
            PgTx tx(w);
            for (const auto& row : held) {
                for (const auto& ev : detail::ParsePendingEvents(row[1].as<std::string>()))
                    tx.InsertOutbox(ev, now);
                tx.Flush();
                w.exec_params(
                    "UPDATE entities SET held = 0, pending_events = NULL, seq = nextval('entity_seq'), updated_at = $2 "
                    "WHERE entity_id = $1",
                    row[0].as<std::string>(), now);
            }
            w.exec_params("INSERT INTO audit (at, actor, action, target, reason) VALUES ($1, $2, 'release', $3, $4)",
                          now, actor, id, reason);
            w.commit();
            return true;
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

    std::int64_t PruneRaw(const std::string& before, int limit) override {
        return Guard(conn_, [&] {
            pqxx::work w(Conn());
            auto r = w.exec_params(
                "DELETE FROM raw_deliveries WHERE id IN (SELECT id FROM raw_deliveries WHERE received_at < $1 ORDER BY "
                "id LIMIT $2)",
                before, limit);
            w.commit();
            return static_cast<std::int64_t>(r.affected_rows());
        });
    }

    void Ping() override {
        Guard(conn_, [&] {
            pqxx::nontransaction w(Conn());
            w.exec("SELECT 1");
            return 0;
        });
    }

    pqxx::connection& Conn() {
        if (!conn_ || !conn_->is_open()) {
            conn_ = std::make_unique<pqxx::connection>(WithConnectTimeout(settings_.dsn, settings_.connect_timeout));
            const auto ms = settings_.statement_timeout.count();
            pqxx::nontransaction w(*conn_);
            w.exec("SET statement_timeout = " + std::to_string(ms));
            w.exec("SET idle_in_transaction_session_timeout = " + std::to_string(std::max<long long>(ms * 4, 10000)));
        }
        return *conn_;
    }

  private:
    config::PostgresSettings settings_;
    std::unique_ptr<pqxx::connection> conn_;
};

class PgStore final : public Store {
  public:
    explicit PgStore(config::PostgresSettings s) : settings_(std::move(s)) {}
    std::unique_ptr<Session> Open() override { return std::make_unique<PgSession>(settings_); }

    int SchemaVersion() override {
        PgSession s(settings_);
        std::unique_ptr<pqxx::connection> dummy;
        return Guard(dummy, [&] {
            pqxx::read_transaction w(s.Conn());
            auto exists = w.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
            if (!exists[0][0].as<bool>()) return 0;
            return w.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int>();
        });
    }

    int Migrate() override {
        PgSession s(settings_);
        std::unique_ptr<pqxx::connection> dummy;
        return Guard(dummy, [&] {
            const auto& migrations = detail::PostgresMigrations();
            pqxx::work w(s.Conn());
            // One migrator at a time across daemons.
            w.exec("SELECT pg_advisory_xact_lock(7263511)");
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

  private:
    config::PostgresSettings settings_;
};

}  // namespace

std::unique_ptr<Store> MakePostgresStore(const config::PostgresSettings& settings) {
    return std::make_unique<PgStore>(settings);
}

}  // namespace orderbridge::store

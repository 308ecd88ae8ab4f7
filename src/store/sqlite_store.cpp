// SQLite driver: one file in WAL mode with synchronous=FULL, so a commit is on disk before it
// returns. One writer at a time (SQLite's rule); readers run concurrently on their own sessions.
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "ingest_logic.hpp"
#include "migrations.hpp"
#include "orderbridge/core/clock.hpp"
#include "orderbridge/store/store.hpp"

namespace orderbridge::store {
namespace {

class Db;

class Stmt {
  public:
    Stmt(sqlite3* db, const char* sql);
    ~Stmt() { sqlite3_finalize(stmt_); }
    Stmt(const Stmt&) = delete;
    Stmt& operator=(const Stmt&) = delete;

    Stmt& Bind(int i, const std::string& v) {
        Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Stmt& BindBlob(int i, const std::string& v) {
        Check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
        return *this;
    }
    Stmt& Bind(int i, std::int64_t v) {
        Check(sqlite3_bind_int64(stmt_, i, v));
        return *this;
    }
    Stmt& BindNull(int i) {
        Check(sqlite3_bind_null(stmt_, i));
        return *this;
    }
    /// True when a row is available.
    bool Step() {
        const int rc = sqlite3_step(stmt_);
        if (rc == SQLITE_ROW) return true;
        if (rc == SQLITE_DONE) return false;
        Fail(rc);
        return false;
    }
    void Run() {
        while (Step()) {
        }
        Reset();
    }
    void Reset() {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
    std::string Text(int col) const {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
        return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string{};
    }
    std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
    bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

  private:
    void Check(int rc) {
        if (rc != SQLITE_OK) Fail(rc);
    }
    [[noreturn]] void Fail(int rc) {
        const std::string msg = std::string("sqlite: ") + sqlite3_errmsg(db_);
        sqlite3_reset(stmt_);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED || rc == SQLITE_IOERR || rc == SQLITE_FULL ||
            rc == SQLITE_CANTOPEN) {
            throw UnavailableError(msg);
        }
        throw std::runtime_error(msg);
    }
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

Stmt::Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
        throw std::runtime_error(std::string("sqlite prepare: ") + sqlite3_errmsg(db) + " in: " + sql);
    }
}

// What the connections of one process share about one database file.
//
// SQLite has one writer at a time; a second one gets SQLITE_BUSY and its busy handler sleeps in
// growing steps (up to 100 ms), which shows as tail latency. Writers of one process therefore
// queue on `write_lock` instead, and only other processes meet the busy handler.
//
// The WAL is copied back into the database file (checkpointed) on a thread of its own instead of in
// whichever commit crossed SQLite's threshold, so no commit waits for it and the log can be longer
// (pages written again and again between two checkpoints are copied once). Each connection's WAL
// hook wakes the thread once the log holds kCheckpointFrames frames. Passes beside the writers
// copy the log until what they appended meanwhile is at most kLockedFrames; a last pass, under
// `write_lock`, copies that rest, so the whole log is in the database file and the next writer
// starts it over: the log does not grow without bound. Writers wait only for that last pass,
// whose time is mostly its two syncs (a pass syncs the log, then the database file).
class DbFile {
  public:
    static constexpr int kCheckpointFrames = 16384;  // 64 MB with 4 KB pages
    static constexpr int kLockedFrames = 256;        // about 1 MB: what the last pass copies while the writers wait
    static constexpr int kMaxPasses = 8;             // beside the writers; then the writers wait for the rest

    explicit DbFile(std::string path) : path_(std::move(path)), thread_([this] { Run(); }) {}
    ~DbFile() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }
    DbFile(const DbFile&) = delete;
    DbFile& operator=(const DbFile&) = delete;

    std::mutex& write_lock() { return write_lock_; }
    /// From a connection's WAL hook, after each commit (under `write_lock` for this process's writers).
    void Committed(int wal_frames) {
        wal_frames_.store(wal_frames);
        if (wal_frames < kCheckpointFrames) return;
        {
            std::lock_guard lock(mu_);
            due_ = true;
        }
        cv_.notify_one();
    }

    static std::shared_ptr<DbFile> For(const std::string& path) {
        static std::mutex registry_mutex;
        static std::map<std::string, std::weak_ptr<DbFile>> registry;
        std::error_code ec;
        std::string key = std::filesystem::weakly_canonical(path, ec).string();
        if (ec) key = path;
        std::lock_guard lock(registry_mutex);
        auto& slot = registry[key];
        auto file = slot.lock();
        if (!file) {
            file = std::make_shared<DbFile>(path);
            slot = file;
        }
        return file;
    }

  private:
    void Run() {
        sqlite3* db = nullptr;  // opened at the first checkpoint, when the file surely exists in WAL mode
        for (;;) {
            {
                std::unique_lock lock(mu_);
                cv_.wait(lock, [&] { return stop_ || due_; });
                if (stop_) break;
                due_ = false;
            }
            // A new connection knows the file is in WAL mode (and checkpoints it) only once it has read it.
            if (!db && (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
                            SQLITE_OK ||
                        sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", nullptr, nullptr,
                                     nullptr) != SQLITE_OK)) {
                sqlite3_close_v2(db);
                db = nullptr;
                continue;  // tried again at the next wake-up; commits go on meanwhile
            }
            // PASSIVE never waits for readers or writers; a busy or failed pass is simply repeated later.
            int copied = 0;
            for (int pass = 0; pass < kMaxPasses; ++pass) {
                if (sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, &copied) != SQLITE_OK ||
                    wal_frames_.load() - copied <= kLockedFrames)
                    break;
            }
            // Passes that end short of the log's end do not sync the database file; the last one
            // would then sync all they wrote while the writers wait. Synced here, it syncs its own rest.
            SyncDatabaseFile(db);
            {
                std::lock_guard writers(write_lock_);
                sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
            }
            // At most one round every 50 ms, even when a reader keeps the log from starting over.
            std::unique_lock lock(mu_);
            cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stop_; });
        }
        sqlite3_close_v2(db);
    }

    // Through the connection's own file: a descriptor of our own would, once closed, drop every
    // POSIX lock this process holds on the file, and another process could then take the database
    // for unused and delete its log (SQLite's "How To Corrupt", 2.2). A failed sync is left to the
    // last pass, which syncs too and keeps the log until it succeeds.
    static void SyncDatabaseFile(sqlite3* db) {
        sqlite3_file* file = nullptr;
        if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK && file && file->pMethods) {
            file->pMethods->xSync(file, SQLITE_SYNC_NORMAL);
        }
    }

    const std::string path_;
    std::mutex write_lock_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool due_ = false;
    std::atomic<int> wal_frames_{0};  // the log's length after the last commit of this process
    bool stop_ = false;
    std::thread thread_;  // last: starts once everything above exists
};

class Db {
  public:
    Db(const config::SqliteSettings& s) {
        const std::filesystem::path path(s.path);
        if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
        file_ = DbFile::For(s.path);
        if (sqlite3_open_v2(s.path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK) {
            const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
            sqlite3_close(db_);
            throw UnavailableError("cannot open " + s.path + ": " + msg);
        }
        sqlite3_busy_timeout(db_, static_cast<int>(s.busy_timeout.count()));
        Exec("PRAGMA journal_mode=WAL");
        Exec("PRAGMA synchronous=FULL");
        Exec("PRAGMA foreign_keys=ON");
        // Replaces SQLite's own checkpoint-in-the-commit (wal_autocheckpoint) on this connection.
        sqlite3_wal_hook(
            db_,
            [](void* file, sqlite3*, const char*, int frames) {
                static_cast<DbFile*>(file)->Committed(frames);
                return SQLITE_OK;
            },
            file_.get());
    }
    ~Db() { sqlite3_close_v2(db_); }
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    void Exec(const std::string& sql) {
        char* err = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : "unknown error";
            sqlite3_free(err);
            throw UnavailableError("sqlite: " + msg);
        }
    }
    sqlite3* get() const { return db_; }
    std::mutex& write_lock() { return file_->write_lock(); }

  private:
    sqlite3* db_ = nullptr;
    std::shared_ptr<DbFile> file_;
};

// RAII transaction: rolls back unless committed.
class Transaction {
  public:
    explicit Transaction(Db& db) : db_(db), lock_(db.write_lock()) { db_.Exec("BEGIN IMMEDIATE"); }
    ~Transaction() {
        if (!done_) {
            try {
                db_.Exec("ROLLBACK");
            } catch (...) {
            }
        }
    }
    void Commit() {
        db_.Exec("COMMIT");
        done_ = true;
    }

  private:
    Db& db_;
    std::unique_lock<std::mutex> lock_;
    bool done_ = false;
};

class SqliteTx {
  public:
    explicit SqliteTx(Db& db)
        : db_(db),
          lock_(db.get(), "SELECT version, held, COALESCE(pending_events, '') FROM entities WHERE entity_id = ?1"),
          next_seq_(db.get(), "SELECT COALESCE(MAX(seq), 0) + 1 FROM entities"),
          insert_entity_(db.get(),
                         "INSERT INTO entities (seq, entity_id, kind, store_id, source_id, parent_id, version, "
                         "canonical_status, held, findings, data, pending_events, trace_id, created_at, updated_at) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?14)"),
          update_entity_(db.get(),
                         "UPDATE entities SET seq = ?1, version = ?2, canonical_status = ?3, held = ?4, findings = ?5, "
                         "data = ?6, pending_events = ?7, updated_at = ?8 WHERE entity_id = ?9"),
          keep_event_data_(db.get(),
                           (std::string("INSERT INTO event_data (entity_id, version, data) SELECT e.entity_id, "
                                        "e.version, e.data FROM entities e WHERE e.entity_id = ?1 AND ") +
                            detail::kEventsLackDataSql + " ON CONFLICT DO NOTHING")
                               .c_str()),
          insert_outbox_(db.get(),
                         "INSERT INTO outbox (event_id, entity_id, type, version, payload, created_at, finished_at, "
                         "data_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (event_id) DO NOTHING"),
          insert_delivery_(
              db.get(),
              "INSERT INTO deliveries (connector, event_id, entity_id, type, version, state, attempts, "
              "due_ms, lease_until_ms, created_at, created_ms, since_ms, error_class, http_status, reason, "
              "external_id) VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, 0, ?7, ?6, ?6, '', 0, '', '') "
              "ON CONFLICT (event_id, connector) DO NOTHING"),
          insert_raw_(db.get(),
                      "INSERT INTO raw_deliveries (store_id, topic, delivery_id, received_at, headers, body, outcome, "
                      "entity_id, trace_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)") {}

    std::optional<detail::StoredVersion> LockEntity(const std::string& id) {
        lock_.Bind(1, id);
        std::optional<detail::StoredVersion> out;
        if (lock_.Step()) out = detail::StoredVersion{lock_.Text(0), lock_.Int(1) != 0, lock_.Text(2)};
        lock_.Reset();
        return out;
    }
    bool InsertEntity(const EntityWrite& e, const IngestRecord& r, const std::string& parent,
                      const std::string& pending) {
        insert_entity_.Bind(1, NextSeq()).Bind(2, e.entity_id).Bind(3, e.kind).Bind(4, r.store_id).Bind(5, e.source_id);
        if (parent.empty())
            insert_entity_.BindNull(6);
        else
            insert_entity_.Bind(6, parent);
        insert_entity_.Bind(7, e.version)
            .Bind(8, e.canonical_status)
            .Bind(9, std::int64_t{e.held})
            .Bind(10, e.findings);
        insert_entity_.Bind(11, e.data);
        if (pending.empty())
            insert_entity_.BindNull(12);
        else
            insert_entity_.Bind(12, pending);
        insert_entity_.Bind(13, r.trace_id).Bind(14, r.received_at);
        insert_entity_.Run();
        return true;  // one writer at a time: nobody can have inserted it since LockEntity
    }
    void UpdateEntity(const EntityWrite& e, const IngestRecord& r, const std::string& pending) {
        // The data about to be replaced is kept for the events that lack it.
        keep_event_data_.Bind(1, e.entity_id);
        keep_event_data_.Run();
        update_entity_.Bind(1, NextSeq()).Bind(2, e.version).Bind(3, e.canonical_status).Bind(4, std::int64_t{e.held});
        update_entity_.Bind(5, e.findings).Bind(6, e.data);
        if (pending.empty())
            update_entity_.BindNull(7);
        else
            update_entity_.Bind(7, pending);
        update_entity_.Bind(8, r.received_at).Bind(9, e.entity_id);
        update_entity_.Run();
    }
    void InsertOutbox(const OutboxEvent& ev, const std::string& now, std::int64_t now_ms,
                      const EntityWrite* entity = nullptr) {
        insert_outbox_.Bind(1, ev.event_id).Bind(2, ev.entity_id).Bind(3, ev.type).Bind(4, ev.version);
        if (const auto around = detail::WithoutEntityData(ev, entity)) {
            std::string payload;
            payload.reserve(around->before.size() + around->after.size());
            payload.append(around->before).append(around->after);
            insert_outbox_.Bind(5, payload).Bind(8, around->at_chars);
        } else {
            insert_outbox_.Bind(5, ev.payload).BindNull(8);
        }
        insert_outbox_.Bind(6, now);
        if (ev.relay)
            insert_outbox_.BindNull(7);
        else
            insert_outbox_.Bind(7, now);
        insert_outbox_.Run();
        if (now_ms == 0) now_ms = core::ToUnixMillis(std::chrono::system_clock::now());
        for (const auto& connector : ev.connectors) {
            insert_delivery_.Bind(1, connector).Bind(2, ev.event_id).Bind(3, ev.entity_id).Bind(4, ev.type);
            insert_delivery_.Bind(5, ev.version).Bind(6, now_ms).Bind(7, now);
            insert_delivery_.Run();
        }
    }
    void InsertRaw(const IngestRecord& r, Outcome outcome, const std::string& entity_id) {
        insert_raw_.Bind(1, r.store_id).Bind(2, r.topic).Bind(3, r.delivery_id).Bind(4, r.received_at);
        insert_raw_.Bind(5, r.headers).BindBlob(6, r.body).Bind(7, std::string(ToString(outcome)));
        insert_raw_.Bind(8, entity_id).Bind(9, r.trace_id);
        insert_raw_.Run();
    }

  private:
    std::int64_t NextSeq() {
        next_seq_.Step();
        const std::int64_t v = next_seq_.Int(0);
        next_seq_.Reset();
        return v;
    }
    Db& db_;
    Stmt lock_, next_seq_, insert_entity_, update_entity_, keep_event_data_, insert_outbox_, insert_delivery_,
        insert_raw_;
};

EntityRow ReadRow(const Stmt& s) {
    EntityRow r;
    r.seq = s.Int(0);
    r.entity_id = s.Text(1);
    r.kind = s.Text(2);
    r.store_id = s.Text(3);
    r.source_id = s.Text(4);
    r.version = s.Text(5);
    r.canonical_status = s.Text(6);
    r.held = s.Int(7) != 0;
    r.findings = s.Text(8);
    r.data = s.Text(9);
    r.trace_id = s.Text(10);
    r.created_at = s.Text(11);
    r.updated_at = s.Text(12);
    return r;
}

constexpr const char* kRowColumns =
    "seq, entity_id, kind, store_id, source_id, version, canonical_status, held, findings, data, trace_id, "
    "created_at, updated_at";

constexpr const char* kDeliveryColumns =
    "id, connector, event_id, entity_id, type, version, state, attempts, created_at, COALESCE(finished_at, ''), "
    "error_class, http_status, reason, external_id";

DeliveryRow ReadDelivery(const Stmt& s) {
    return DeliveryRow{s.Int(0),   s.Text(1), s.Text(2),  s.Text(3),
                       s.Text(4),  s.Text(5), s.Text(6),  static_cast<int>(s.Int(7)),
                       s.Text(8),  s.Text(9), s.Text(10), static_cast<int>(s.Int(11)),
                       s.Text(12), s.Text(13)};
}

// The last migration applied to `db` (0: none yet).
int CurrentVersion(Db& db) {
    Stmt exists(db.get(), "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
    if (!exists.Step()) return 0;
    Stmt s(db.get(), "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    s.Step();
    return static_cast<int>(s.Int(0));
}

class SqliteSession final : public Session {
  public:
    explicit SqliteSession(const config::SqliteSettings& s) : db_(s) {}

    std::vector<Outcome> Ingest(const std::vector<const IngestRecord*>& records) override {
        Transaction tx(db_);
        if (!writer_) writer_ = std::make_unique<SqliteTx>(db_);
        std::vector<Outcome> out;
        out.reserve(records.size());
        for (const IngestRecord* r : records)
            out.push_back(detail::ApplyRecord(*writer_, *r));
        tx.Commit();
        return out;
    }

    std::optional<EntityRow> GetEntity(const std::string& id) override {
        Stmt s(db_.get(), (std::string("SELECT ") + kRowColumns + " FROM entities WHERE entity_id = ?1").c_str());
        s.Bind(1, id);
        if (!s.Step()) return std::nullopt;
        return ReadRow(s);
    }

    Page ListOrders(const OrderQuery& q) override {
        std::string sql = std::string("SELECT ") + kRowColumns + " FROM entities WHERE kind = 'order'";
        if (q.cursor > 0) sql += " AND seq < ?1";
        if (!q.store.empty()) sql += " AND store_id = ?2";
        if (!q.status.empty()) sql += " AND canonical_status = ?3";
        if (q.held) sql += " AND held = ?4";
        if (!q.from.empty()) sql += " AND updated_at >= ?5";
        if (!q.to.empty()) sql += " AND updated_at < ?6";
        sql += " ORDER BY seq DESC LIMIT ?7";
        Stmt s(db_.get(), sql.c_str());
        if (q.cursor > 0) s.Bind(1, q.cursor);
        if (!q.store.empty()) s.Bind(2, q.store);
        if (!q.status.empty()) s.Bind(3, q.status);
        if (q.held) s.Bind(4, std::int64_t{*q.held});
        if (!q.from.empty()) s.Bind(5, q.from);
        if (!q.to.empty()) s.Bind(6, q.to);
        s.Bind(7, std::int64_t{q.limit} + 1);
        Page page;
        while (s.Step())
            page.items.push_back(ReadRow(s));
        TrimPage(page, q.limit, [](const EntityRow& r) { return r.seq; });
        return page;
    }

    bool Release(const std::string& id, const std::string& actor, const std::string& reason) override {
        Transaction tx(db_);
        const std::string now = core::FormatRfc3339(std::chrono::system_clock::now());
        Stmt find(db_.get(),
                  "SELECT entity_id, pending_events FROM entities WHERE held = 1 AND ((entity_id = ?1 AND parent_id IS "
                  "NULL) OR parent_id = ?1) "
                  "ORDER BY parent_id IS NOT NULL");
        find.Bind(1, id);
        std::vector<std::pair<std::string, std::string>> held;
        while (find.Step())
            held.emplace_back(find.Text(0), find.Text(1));
        if (held.empty()) return false;  // neither the order nor any of its children is held
        SqliteTx writer(db_);
        Stmt clear(db_.get(),
                   "UPDATE entities SET held = 0, pending_events = NULL, seq = (SELECT MAX(seq) + 1 FROM entities), "
                   "updated_at = ?2 WHERE entity_id = ?1");
        for (const auto& [entity_id, pending] : held) {
            for (const auto& ev : detail::ParsePendingEvents(pending))
                writer.InsertOutbox(ev, now, 0);
            clear.Bind(1, entity_id).Bind(2, now);
            clear.Run();
        }
        InsertAudit(now, Actor{actor, reason}, "release", id);
        tx.Commit();
        return true;
    }

    void InsertAudit(const std::string& at, const Actor& actor, const std::string& action, const std::string& target) {
        Stmt audit(db_.get(), "INSERT INTO audit (at, actor, action, target, reason) VALUES (?1, ?2, ?3, ?4, ?5)");
        audit.Bind(1, at).Bind(2, actor.name).Bind(3, action).Bind(4, target).Bind(5, actor.reason);
        audit.Run();
    }

    void Audit(const std::string& action, const std::string& target, const Actor& actor) override {
        InsertAudit(core::FormatRfc3339(std::chrono::system_clock::now()), actor, action, target);
    }

    std::vector<EntityRow> EntitiesOfKind(const std::string& kind) override {
        Stmt s(db_.get(),
               (std::string("SELECT ") + kRowColumns + " FROM entities WHERE kind = ?1 ORDER BY seq").c_str());
        s.Bind(1, kind);
        std::vector<EntityRow> out;
        while (s.Step())
            out.push_back(ReadRow(s));
        return out;
    }

    std::vector<EntityRow> ChildEntities(const std::string& parent_id, const std::string& kind) override {
        Stmt s(db_.get(),
               (std::string("SELECT ") + kRowColumns + " FROM entities WHERE parent_id = ?1 AND kind = ?2 ORDER BY seq")
                   .c_str());
        s.Bind(1, parent_id).Bind(2, kind);
        std::vector<EntityRow> out;
        while (s.Step())
            out.push_back(ReadRow(s));
        return out;
    }

    std::map<std::string, std::vector<StockLevel>> UpsertStock(const std::vector<StockLevel>& levels) override {
        const std::string now = core::FormatRfc3339(std::chrono::system_clock::now());
        Transaction tx(db_);
        Stmt up(db_.get(),
                "INSERT INTO inventory_levels (sku, location, on_hand, available, reserved, as_of, as_of_ms, source, "
                "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (sku, location) DO UPDATE SET "
                "on_hand = excluded.on_hand, available = excluded.available, reserved = excluded.reserved, as_of = "
                "excluded.as_of, as_of_ms = excluded.as_of_ms, source = excluded.source, updated_at = "
                "excluded.updated_at WHERE inventory_levels.as_of_ms <= excluded.as_of_ms");
        std::vector<std::string> skus;
        for (const auto& l : levels) {
            up.Bind(1, l.sku).Bind(2, l.location).Bind(3, l.on_hand).Bind(4, l.available);
            if (l.reserved)
                up.Bind(5, *l.reserved);
            else
                up.BindNull(5);
            up.Bind(6, l.as_of).Bind(7, l.as_of_ms).Bind(8, l.source).Bind(9, now);
            up.Run();
            skus.push_back(l.sku);
        }
        auto out = ReadStock(skus);
        tx.Commit();
        return out;
    }

    std::map<std::string, std::vector<StockLevel>> GetStock(const std::vector<std::string>& skus) override {
        return ReadStock(skus);
    }

    std::map<std::string, std::vector<StockLevel>> AllStock() override { return ReadStock(std::nullopt); }

    std::string GetWatermark(const std::string& name) override {
        Stmt s(db_.get(), "SELECT value FROM watermarks WHERE name = ?1");
        s.Bind(1, name);
        return s.Step() ? s.Text(0) : std::string{};
    }

    void SetWatermark(const std::string& name, const std::string& value) override {
        Transaction tx(db_);
        Stmt s(db_.get(),
               "INSERT INTO watermarks (name, value, updated_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE "
               "SET value = excluded.value, updated_at = excluded.updated_at");
        s.Bind(1, name).Bind(2, value).Bind(3, core::FormatRfc3339(std::chrono::system_clock::now()));
        s.Run();
        tx.Commit();
    }

    std::map<std::string, std::vector<StockLevel>> ReadStock(const std::optional<std::vector<std::string>>& skus) {
        Stmt s(db_.get(), skus ? "SELECT sku, location, on_hand, available, reserved, as_of, as_of_ms, source, "
                                 "updated_at FROM inventory_levels WHERE sku IN (SELECT value FROM json_each(?1)) "
                                 "ORDER BY sku, location"
                               : "SELECT sku, location, on_hand, available, reserved, as_of, as_of_ms, source, "
                                 "updated_at FROM inventory_levels ORDER BY sku, location");
        if (skus) s.Bind(1, nlohmann::json(*skus).dump());
        std::map<std::string, std::vector<StockLevel>> out;
        while (s.Step()) {
            StockLevel l{s.Text(0), s.Text(1), s.Int(2),  s.Int(3), std::nullopt,
                         s.Text(5), s.Int(6),  s.Text(7), s.Text(8)};
            if (!s.IsNull(4)) l.reserved = s.Int(4);
            out[l.sku].push_back(std::move(l));
        }
        return out;
    }

    std::vector<ReceiptRow> EntityReceipts(const std::string& entity_id) override {
        Stmt s(db_.get(),
               "SELECT received_at, topic, delivery_id, outcome FROM raw_deliveries WHERE entity_id = ?1 ORDER BY id");
        s.Bind(1, entity_id);
        std::vector<ReceiptRow> out;
        while (s.Step())
            out.push_back(ReceiptRow{s.Text(0), s.Text(1), s.Text(2), s.Text(3)});
        return out;
    }

    std::vector<AuditRow> AuditFor(const std::vector<std::string>& targets) override {
        Stmt s(db_.get(),
               "SELECT id, at, actor, action, target, reason FROM audit WHERE target IN (SELECT value FROM "
               "json_each(?1)) ORDER BY id");
        s.Bind(1, nlohmann::json(targets).dump());
        std::vector<AuditRow> out;
        while (s.Step())
            out.push_back(AuditRow{s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5)});
        return out;
    }

    AuditPage ListAudit(std::int64_t cursor, int limit) override {
        Stmt s(db_.get(),
               "SELECT id, at, actor, action, target, reason FROM audit WHERE (?1 = 0 OR id < ?1) ORDER BY id DESC "
               "LIMIT ?2");
        s.Bind(1, cursor).Bind(2, std::int64_t{limit} + 1);
        AuditPage page;
        while (s.Step())
            page.items.push_back(AuditRow{s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5)});
        TrimPage(page, limit, [](const AuditRow& a) { return a.id; });
        return page;
    }

    std::int64_t CountOutbox() override {
        Stmt s(db_.get(), "SELECT COUNT(*) FROM outbox");
        s.Step();
        return s.Int(0);
    }

    std::map<std::string, std::int64_t> CountHeld() override {
        Stmt s(db_.get(),
               "SELECT store_id, COUNT(*) FROM entities WHERE kind = 'order' AND held = 1 GROUP BY store_id");
        std::map<std::string, std::int64_t> out;
        while (s.Step())
            out[s.Text(0)] = s.Int(1);
        return out;
    }

    std::int64_t PruneRaw(const std::string& before, int limit) override {
        Stmt s(db_.get(),
               "DELETE FROM raw_deliveries WHERE id IN (SELECT id FROM (SELECT id, received_at FROM raw_deliveries "
               "ORDER BY id LIMIT ?2) AS oldest WHERE received_at < ?1)");
        s.Bind(1, before).Bind(2, std::int64_t{limit});
        s.Run();
        return sqlite3_changes(db_.get());
    }

    std::int64_t PruneOutbox(const std::string& before, int limit) override {
        Transaction tx(db_);
        Stmt find(db_.get(),
                  "SELECT id, event_id, entity_id, version FROM outbox o WHERE created_at < ?1 AND finished_at IS NOT "
                  "NULL AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = o.event_id AND d.state IN "
                  "('pending', 'dead')) ORDER BY id LIMIT ?2");
        find.Bind(1, before).Bind(2, std::int64_t{limit});
        struct Row {
            std::int64_t id;
            std::string event_id, entity_id, version;
        };
        std::vector<Row> rows;
        while (find.Step())
            rows.push_back(Row{find.Int(0), find.Text(1), find.Text(2), find.Text(3)});
        Stmt attempts(db_.get(),
                      "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id = "
                      "?1)");
        Stmt deliveries(db_.get(), "DELETE FROM deliveries WHERE event_id = ?1");
        Stmt outbox(db_.get(), "DELETE FROM outbox WHERE id = ?1");
        Stmt kept(db_.get(), (std::string("DELETE FROM event_data AS k WHERE entity_id = ?1 AND version = ?2 AND ") +
                              detail::kEventDataUnusedSql)
                                 .c_str());
        for (const auto& row : rows) {
            attempts.Bind(1, row.event_id);
            attempts.Run();
            deliveries.Bind(1, row.event_id);
            deliveries.Run();
            outbox.Bind(1, row.id);
            outbox.Run();
            kept.Bind(1, row.entity_id).Bind(2, row.version);
            kept.Run();
        }
        tx.Commit();
        return static_cast<std::int64_t>(rows.size());
    }

    void Ping() override { db_.Exec("SELECT 1"); }
    int SchemaVersion() override { return CurrentVersion(db_); }

    std::vector<DeliveryTask> ClaimDue(const std::string& connector, std::int64_t now_ms, int limit,
                                       std::int64_t lease_ms) override {
        // INDEXED BY: without statistics SQLite would check the entity condition through the
        // state index, visiting every pending delivery for every candidate.
        Transaction tx(db_);
        Stmt s(db_.get(),
               (std::string("SELECT d.id, d.event_id, d.entity_id, d.type, d.version, COALESCE(d.payload_override, ") +
                detail::kOutboxPayloadSql +
                ", ''), "
                "d.attempts, d.created_ms, d.since_ms, d.lease_until_ms > 0 FROM deliveries d JOIN outbox o ON "
                "o.event_id = d.event_id "
                "WHERE d.connector = ?1 AND d.state = 'pending' AND d.due_ms <= ?2 AND d.lease_until_ms <= ?2 "
                "AND NOT EXISTS (SELECT 1 FROM deliveries p INDEXED BY deliveries_entity_pending WHERE p.connector = "
                "d.connector AND p.entity_id = d.entity_id AND p.state = 'pending' AND p.id <> d.id AND (p.id < d.id "
                "OR p.lease_until_ms > ?2)) "
                "ORDER BY d.due_ms, d.id LIMIT ?3")
                   .c_str());
        s.Bind(1, connector).Bind(2, now_ms).Bind(3, std::int64_t{limit});
        std::vector<DeliveryTask> out;
        while (s.Step()) {
            out.push_back(DeliveryTask{s.Int(0), connector, s.Text(1), s.Text(2), s.Text(3), s.Text(4), s.Text(5),
                                       static_cast<int>(s.Int(6)), s.Int(7), s.Int(8), s.Int(9) != 0});
        }
        Stmt lease(db_.get(), "UPDATE deliveries SET lease_until_ms = ?2 WHERE id = ?1");
        for (auto& t : out) {
            t.lease_until_ms = now_ms + lease_ms;
            lease.Bind(1, t.id).Bind(2, t.lease_until_ms);
            lease.Run();
        }
        tx.Commit();
        return out;
    }

    void RecordAttempts(const std::vector<AttemptRecord>& records) override {
        if (records.empty()) return;
        Transaction tx(db_);
        Stmt attempt(db_.get(),
                     "INSERT INTO delivery_attempts (delivery_id, at, error_class, http_status, latency_ms, reason, "
                     "outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        Stmt update(db_.get(),
                    "UPDATE deliveries SET state = ?2, attempts = attempts + ?3, due_ms = ?4, lease_until_ms = 0, "
                    "finished_at = ?5, error_class = ?6, http_status = ?7, reason = ?8, "
                    "external_id = CASE WHEN ?9 = '' THEN external_id ELSE ?9 END WHERE id = ?1 AND state = "
                    "'pending' AND lease_until_ms = ?10");
        Stmt resolve(db_.get(),
                     "UPDATE deliveries SET state = 'resolved', finished_at = ?2 WHERE state = 'dead' AND id < ?1 AND "
                     "(connector, entity_id) = (SELECT connector, entity_id FROM deliveries WHERE id = ?1)");
        for (const auto& r : records) {
            update.Bind(1, r.delivery_id).Bind(2, r.state).Bind(3, std::int64_t{r.counts ? 1 : 0}).Bind(4, r.due_ms);
            if (r.state == "pending")
                update.BindNull(5);
            else
                update.Bind(5, r.at);
            update.Bind(6, r.error_class).Bind(7, std::int64_t{r.http_status}).Bind(8, r.reason).Bind(9, r.external_id);
            update.Bind(10, r.lease_until_ms);
            update.Run();
            if (sqlite3_changes(db_.get()) == 0) continue;  // the lease was lost: another claim decides
            attempt.Bind(1, r.delivery_id).Bind(2, r.at).Bind(3, r.error_class).Bind(4, std::int64_t{r.http_status});
            attempt.Bind(5, r.latency_ms).Bind(6, r.reason).Bind(7, r.state);
            attempt.Run();
            if (r.state == "delivered") {
                resolve.Bind(1, r.delivery_id).Bind(2, r.at);
                resolve.Run();
            }
        }
        tx.Commit();
    }

    void Unclaim(const std::vector<Unclaimed>& items) override {
        if (items.empty()) return;
        Transaction tx(db_);
        Stmt s(db_.get(),
               "UPDATE deliveries SET lease_until_ms = 0, due_ms = MAX(due_ms, ?2) WHERE id = ?1 AND lease_until_ms = "
               "?3");
        for (const auto& u : items) {
            s.Bind(1, u.id).Bind(2, u.due_ms).Bind(3, u.lease_until_ms);
            s.Run();
        }
        tx.Commit();
    }

    std::vector<std::int64_t> EndedAmong(const std::vector<std::int64_t>& ids) override {
        Stmt s(db_.get(),
               "SELECT id FROM deliveries WHERE id IN (SELECT value FROM json_each(?1)) AND state <> 'pending'");
        s.Bind(1, nlohmann::json(ids).dump());
        std::vector<std::int64_t> out;
        while (s.Step())
            out.push_back(s.Int(0));
        return out;
    }

    void DropLeases() override {
        db_.Exec("UPDATE deliveries SET lease_until_ms = 1 WHERE state = 'pending' AND lease_until_ms > 1");
    }

    Backlog GetBacklog(const std::string& connector) override {
        Stmt s(db_.get(),
               "SELECT COUNT(*), COALESCE(MIN(created_ms), 0) FROM deliveries WHERE connector = ?1 AND state = "
               "'pending'");
        s.Bind(1, connector);
        s.Step();
        Backlog b{s.Int(0), s.Int(1), 0};
        Stmt d(db_.get(), "SELECT COUNT(*) FROM deliveries WHERE connector = ?1 AND state = 'dead'");
        d.Bind(1, connector);
        d.Step();
        b.dead = d.Int(0);
        return b;
    }

    DeliveryPage ListDeliveries(const DeliveryQuery& q) override {
        Stmt s(db_.get(), (std::string("SELECT ") + kDeliveryColumns +
                           " FROM deliveries WHERE (?1 = 0 OR id < ?1) AND (?2 = '' OR state = ?2) AND (?3 = '' OR "
                           "connector = ?3) AND (?4 = '' OR error_class = ?4) AND (?5 = '' OR entity_id = ?5) AND "
                           "(?6 = '' OR created_at >= ?6) AND (?7 = '' OR created_at < ?7) ORDER BY id DESC LIMIT ?8")
                              .c_str());
        s.Bind(1, q.cursor).Bind(2, q.state).Bind(3, q.connector).Bind(4, q.error_class).Bind(5, q.entity_id);
        s.Bind(6, q.from).Bind(7, q.to).Bind(8, std::int64_t{q.limit} + 1);
        DeliveryPage page;
        while (s.Step())
            page.items.push_back(ReadDelivery(s));
        TrimPage(page, q.limit, [](const DeliveryRow& d) { return d.id; });
        return page;
    }

    std::optional<DeliveryDetail> GetDelivery(std::int64_t id) override {
        Stmt s(db_.get(), (std::string("SELECT ") + kDeliveryColumns + ", COALESCE(payload_override, (SELECT " +
                           std::string(detail::kOutboxPayloadSql) +
                           " FROM outbox o WHERE o.event_id = deliveries.event_id), ''), payload_override IS NOT NULL "
                           "FROM deliveries WHERE id = ?1")
                              .c_str());
        s.Bind(1, id);
        if (!s.Step()) return std::nullopt;
        DeliveryDetail d{ReadDelivery(s), s.Text(14), s.Int(15) != 0, {}};
        Stmt a(db_.get(),
               "SELECT at, error_class, http_status, latency_ms, reason, outcome FROM delivery_attempts WHERE "
               "delivery_id = ?1 "
               "ORDER BY id");
        a.Bind(1, id);
        while (a.Step())
            d.attempts.push_back(
                AttemptRow{a.Text(0), a.Text(1), static_cast<int>(a.Int(2)), a.Int(3), a.Text(4), a.Text(5)});
        return d;
    }

    std::map<std::int64_t, std::vector<AttemptRow>> EntityAttempts(const std::string& entity_id) override {
        Stmt a(db_.get(),
               "SELECT a.delivery_id, a.at, a.error_class, a.http_status, a.latency_ms, a.reason, a.outcome FROM "
               "delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.entity_id = ?1 ORDER BY a.id");
        a.Bind(1, entity_id);
        std::map<std::int64_t, std::vector<AttemptRow>> out;
        while (a.Step()) {
            out[a.Int(0)].push_back(
                AttemptRow{a.Text(1), a.Text(2), static_cast<int>(a.Int(3)), a.Int(4), a.Text(5), a.Text(6)});
        }
        return out;
    }

    std::vector<DeliveryRow> EntityDeliveries(const std::string& entity_id) override {
        Stmt s(
            db_.get(),
            (std::string("SELECT ") + kDeliveryColumns + " FROM deliveries WHERE entity_id = ?1 ORDER BY id").c_str());
        s.Bind(1, entity_id);
        std::vector<DeliveryRow> out;
        while (s.Step())
            out.push_back(ReadDelivery(s));
        return out;
    }

    std::vector<std::int64_t> ReplayDead(const DeliveryQuery& q, std::int64_t only_id,
                                         const std::optional<std::string>& payload, const Actor& actor) override {
        Transaction tx(db_);
        const auto now = std::chrono::system_clock::now();
        const std::int64_t now_ms = core::ToUnixMillis(now);
        Stmt find(db_.get(),
                  "SELECT id FROM deliveries WHERE state = 'dead' AND (?1 = 0 OR id = ?1) AND (?2 = '' OR connector = "
                  "?2) AND (?3 = '' OR error_class = ?3) AND (?4 = '' OR entity_id = ?4) AND (?5 = '' OR created_at "
                  ">= ?5) AND (?6 = '' OR created_at < ?6) ORDER BY id");
        find.Bind(1, only_id).Bind(2, q.connector).Bind(3, q.error_class).Bind(4, q.entity_id).Bind(5, q.from);
        find.Bind(6, q.to);
        std::vector<std::int64_t> ids;
        while (find.Step())
            ids.push_back(find.Int(0));
        Stmt requeue(db_.get(),
                     "UPDATE deliveries SET state = 'pending', attempts = 0, due_ms = ?2, since_ms = ?2, "
                     "lease_until_ms = 0, finished_at = NULL, payload_override = COALESCE(?3, payload_override) "
                     "WHERE id = ?1");
        for (auto id : ids) {
            requeue.Bind(1, id).Bind(2, now_ms);
            if (payload)
                requeue.Bind(3, *payload);
            else
                requeue.BindNull(3);
            requeue.Run();
        }
        if (!ids.empty()) {
            InsertAudit(core::FormatRfc3339(now), actor, payload ? "replay_edited" : "replay",
                        detail::ReplayTarget(q, only_id, ids.size()));
        }
        tx.Commit();
        return ids;
    }

    bool TryRelayLock() override { return true; }

    std::vector<OutboxRow> FetchUnpublished(int limit) override {
        Stmt s(db_.get(), ("SELECT o.id, o.event_id, o.entity_id, o.type, o.version, COALESCE(" +
                           std::string(detail::kOutboxPayloadSql) +
                           ", ''), o.created_at FROM outbox o WHERE o.finished_at IS NULL ORDER BY o.id LIMIT ?1")
                              .c_str());
        s.Bind(1, std::int64_t{limit});
        std::vector<OutboxRow> out;
        while (s.Step()) {
            out.push_back(OutboxRow{
                s.Int(0), OutboxEvent{s.Text(1), s.Text(3), s.Text(2), s.Text(4), s.Text(5), {}, true}, s.Text(6)});
        }
        return out;
    }

    void MarkPublished(const std::vector<std::int64_t>& ids) override {
        if (ids.empty()) return;
        Transaction tx(db_);
        Stmt s(db_.get(), "UPDATE outbox SET finished_at = ?2 WHERE id = ?1");
        const std::string now = core::FormatRfc3339(std::chrono::system_clock::now());
        for (auto id : ids) {
            s.Bind(1, id).Bind(2, now);
            s.Run();
        }
        tx.Commit();
    }

    std::vector<MaterializeResult> Materialize(const std::vector<MaterializeItem>& items) override {
        Transaction tx(db_);
        if (!writer_) writer_ = std::make_unique<SqliteTx>(db_);
        Stmt find(db_.get(), "SELECT id, state FROM deliveries WHERE event_id = ?1 AND connector = ?2");
        std::vector<MaterializeResult> out;
        for (const auto& item : items) {
            OutboxEvent ev = item.event;
            ev.relay = false;  // consumed: this store must not publish it again
            ev.connectors = {item.connector};
            writer_->InsertOutbox(ev, item.created_at, item.created_ms);
            find.Bind(1, ev.event_id).Bind(2, item.connector);
            find.Step();
            out.push_back(MaterializeResult{find.Int(0), find.Text(1)});
            find.Reset();
        }
        tx.Commit();
        return out;
    }

    std::int64_t ReplayEntity(const std::string& entity_id, const std::string& connector, const Actor& actor) override {
        Transaction tx(db_);
        Stmt find(db_.get(),
                  "SELECT id, state = 'pending' AND lease_until_ms > ?3 FROM deliveries WHERE entity_id = ?1 AND "
                  "connector = ?2 ORDER BY id DESC LIMIT 1");
        const auto now = std::chrono::system_clock::now();
        find.Bind(1, entity_id).Bind(2, connector).Bind(3, core::ToUnixMillis(now));
        if (!find.Step()) return 0;
        const std::int64_t id = find.Int(0);
        if (find.Int(1) != 0) return -1;  // being sent right now
        Stmt requeue(db_.get(),
                     "UPDATE deliveries SET state = 'pending', attempts = 0, due_ms = ?2, since_ms = ?2, "
                     "lease_until_ms = 0, finished_at = NULL WHERE id = ?1");
        requeue.Bind(1, id).Bind(2, core::ToUnixMillis(now));
        requeue.Run();
        InsertAudit(core::FormatRfc3339(now), actor, "replay_entity", connector + ":" + entity_id);
        tx.Commit();
        return id;
    }

    Db& db() { return db_; }

  private:
    Db db_;
    std::unique_ptr<SqliteTx> writer_;
};

class SqliteStore final : public Store {
  public:
    explicit SqliteStore(config::SqliteSettings s) : settings_(std::move(s)) {}
    std::unique_ptr<Session> Open() override { return std::make_unique<SqliteSession>(settings_); }

    int SchemaVersion() override {
        Db db(settings_);
        return CurrentVersion(db);
    }

    int Migrate() override {
        Db db(settings_);
        db.Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)");
        const int current = CurrentVersion(db);
        const auto& migrations = detail::SqliteMigrations();
        if (current > static_cast<int>(migrations.size())) {
            throw SchemaTooNewError("database schema version " + std::to_string(current) +
                                    " is newer than this orderbridge knows (" + std::to_string(migrations.size()) +
                                    ")");
        }
        for (int v = current + 1; v <= static_cast<int>(migrations.size()); ++v) {
            Transaction tx(db);
            db.Exec(migrations[static_cast<std::size_t>(v - 1)]);
            Stmt s(db.get(), "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)");
            s.Bind(1, std::int64_t{v}).Bind(2, core::FormatRfc3339(std::chrono::system_clock::now()));
            s.Run();
            tx.Commit();
        }
        return static_cast<int>(migrations.size());
    }

    std::string_view Driver() const override { return "sqlite"; }

    Durability CheckDurability() override {
        Db db(settings_);  // set up as every session's connection is
        Durability d;
        Stmt journal(db.get(), "PRAGMA journal_mode");
        journal.Step();
        d.settings.emplace_back("journal_mode", journal.Text(0));
        Stmt sync(db.get(), "PRAGMA synchronous");
        sync.Step();
        static constexpr const char* kLevels[] = {"off", "normal", "full", "extra"};
        const auto level = sync.Int(0);
        d.settings.emplace_back(
            "synchronous", level >= 0 && level <= 3 ? kLevels[static_cast<std::size_t>(level)] : std::to_string(level));
        return d;  // no warnings: Db itself sets what this reads back
    }

  private:
    config::SqliteSettings settings_;
};

}  // namespace

std::unique_ptr<Store> MakeSqliteStore(const config::SqliteSettings& settings) {
    return std::make_unique<SqliteStore>(settings);
}

}  // namespace orderbridge::store

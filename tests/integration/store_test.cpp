// The same suite on real SQLite and real PostgreSQL (ORDERBRIDGE_TEST_PG_DSN, set by
// scripts/test-services.sh, which `make test` runs).
#include "orderbridge/store/store.hpp"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <pqxx/pqxx>
#include <thread>

#include "orderbridge/model/identity.hpp"
#include "orderbridge/store/ingest_queue.hpp"

namespace orderbridge::store {
namespace {

std::string PgDsn() {
    const char* dsn = std::getenv("ORDERBRIDGE_TEST_PG_DSN");
    return dsn ? dsn : "";
}

// The first row of `sql` on the test's PostgreSQL database, as text (empty: no row), outside a
// transaction block (ALTER SYSTEM refuses to run in one).
std::vector<std::string> PgFirstRow(const std::string& sql) {
    pqxx::connection c(PgDsn());
    pqxx::nontransaction w(c);
    const auto r = w.exec(sql);
    std::vector<std::string> out;
    if (!r.empty()) {
        for (const auto& f : r[0])
            out.push_back(f.is_null() ? "" : f.as<std::string>());
    }
    return out;
}

class StoreTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        if (GetParam() == "sqlite") {
            dir_ = std::filesystem::temp_directory_path() /
                   ("ob-store-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
            std::filesystem::remove_all(dir_);
            config::SqliteSettings s;
            s.path = (dir_ / "ob.db").string();
            store_ = MakeSqliteStore(s);
        } else {
            if (PgDsn().empty()) GTEST_SKIP() << "ORDERBRIDGE_TEST_PG_DSN is not set (make test sets it)";
            pqxx::connection c(PgDsn());
            pqxx::nontransaction w(c);
            w.exec("DROP SCHEMA public CASCADE");
            w.exec("CREATE SCHEMA public");
            config::PostgresSettings s;
            s.dsn = PgDsn();
            store_ = MakePostgresStore(s);
        }
        ASSERT_EQ(store_->Migrate(), Store::KnownSchemaVersion());
        session_ = store_->Open();
    }
    void TearDown() override {
        session_.reset();
        store_.reset();
        if (!dir_.empty()) std::filesystem::remove_all(dir_);
    }

    static IngestRecord Order(const std::string& id, std::int64_t modified_ms, const std::string& content,
                              bool held = false, std::vector<std::string> connectors = {"erp"}) {
        IngestRecord r;
        r.store_id = "main";
        r.topic = "order.updated";
        r.delivery_id = "d";
        r.headers = "{}";
        r.body = "{\"id\":1,\"bytes\":\"\\u00e9\\x00\"}" + content;
        r.body.push_back('\0');  // raw bodies are bytes, not text
        r.received_at = "2026-11-26T12:00:00.000Z";
        r.trace_id = std::string(32, 'a');
        EntityWrite e;
        e.entity_id = id;
        e.kind = "order";
        e.source_id = id.substr(id.rfind(':') + 1);
        e.version = model::MakeVersion(modified_ms, content);
        e.canonical_status = content;
        e.data = Data(content);
        e.findings = "[]";
        e.held = held;
        // Like a webhook's event, it embeds the entity's data and says where (after a non-ASCII
        // character, so the place in characters differs from the one in bytes).
        OutboxEvent ev{model::EventId(id, "order.updated", e.version),
                       "order.updated",
                       id,
                       e.version,
                       Envelope(content),
                       std::move(connectors)};
        ev.data_at = ev.payload.find(e.data);
        e.events.push_back(std::move(ev));
        r.entities.push_back(e);
        return r;
    }
    static std::string Data(const std::string& content) { return "{\"c\":\"" + content + "\"}"; }
    static std::string Envelope(const std::string& content) {
        return "{\"a\":\"\u00e9\",\"data\":" + Data(content) + ",\"payload\":\"" + content + "\"}";
    }

    // The first row of a query on the database itself, as text (empty: no row).
    std::vector<std::string> RawRow(const std::string& sql) {
        std::vector<std::string> out;
        if (GetParam() == "sqlite") {
            sqlite3* db = nullptr;
            EXPECT_EQ(sqlite3_open((dir_ / "ob.db").c_str(), &db), SQLITE_OK);
            sqlite3_stmt* st = nullptr;
            EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
            if (sqlite3_step(st) == SQLITE_ROW) {
                for (int i = 0; i < sqlite3_column_count(st); ++i) {
                    const unsigned char* text = sqlite3_column_text(st, i);
                    out.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
                }
            }
            sqlite3_finalize(st);
            sqlite3_close(db);
            return out;
        }
        return PgFirstRow(sql);
    }
    // The outbox row of an event as stored: its payload column and whether it lacks its data.
    std::vector<std::string> StoredEvent(const std::string& event_id) {
        return RawRow(
            "SELECT payload, CASE WHEN data_at IS NULL THEN 'whole' ELSE 'without data' END FROM outbox "
            "WHERE event_id = '" +
            event_id + "'");
    }
    std::string KeptData() { return RawRow("SELECT COUNT(*) FROM event_data").at(0); }

    Outcome IngestOne(const IngestRecord& r) { return session_->Ingest({&r}).front(); }

    // A refund entity listed on an order (a child that follows its parent's held state).
    static EntityWrite Refund(const std::string& source_id, bool held) {
        EntityWrite refund;
        refund.entity_id = "wc:main:refund:" + source_id;
        refund.kind = "refund";
        refund.source_id = source_id;
        refund.version = model::MakeVersion(0, "r" + source_id);
        refund.canonical_status = "refunded";
        refund.data = "{}";
        refund.findings = "[]";
        refund.held = held;
        refund.events.push_back(
            OutboxEvent{"evt_r" + source_id, "refund.created", refund.entity_id, refund.version, "{}", {"erp"}});
        return refund;
    }

    // 8,000 orders of 10 KB in groups of 20: about 320 MB through SQLite's log (four copies of each
    // order), several checkpoints at 64 MB. Returns the largest size the log file reached.
    std::uintmax_t WriteThroughTheSqliteLog() {
        const std::string big(10 * 1024, 'x');
        std::uintmax_t largest = 0;
        for (int group = 0; group < 400; ++group) {
            std::vector<IngestRecord> records;
            for (int i = 0; i < 20; ++i)
                records.push_back(Order("wc:main:" + std::to_string(100000 + group * 20 + i), 1000, big));
            std::vector<const IngestRecord*> refs;
            for (const auto& r : records)
                refs.push_back(&r);
            EXPECT_EQ(session_->Ingest(refs).front(), Outcome::kAccepted);
            if (HasFailure()) break;
            std::error_code ec;
            largest = std::max(largest, std::filesystem::file_size(dir_ / "ob.db-wal", ec));
        }
        return largest;
    }

    std::filesystem::path dir_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<Session> session_;
    static inline int counter_ = 0;
};

TEST_P(StoreTest, MigrationsAreIdempotentAndANewerSchemaIsRefused) {
    EXPECT_EQ(store_->SchemaVersion(), Store::KnownSchemaVersion());
    EXPECT_EQ(store_->Migrate(), Store::KnownSchemaVersion());
    if (GetParam() == "sqlite") {
        auto other = store_->Open();
        // Simulate a database written by a newer orderbridge.
        config::SqliteSettings s;
        s.path = (dir_ / "ob.db").string();
        std::system(("sqlite3 " + s.path + " \"INSERT INTO schema_migrations VALUES (99, 'x')\"").c_str());
    } else {
        pqxx::connection c(PgDsn());
        pqxx::work w(c);
        w.exec("INSERT INTO schema_migrations VALUES (99, 'x')");
        w.commit();
    }
    EXPECT_THROW(store_->Migrate(), SchemaTooNewError);
    EXPECT_EQ(store_->SchemaVersion(), 99);
}

// Ids, keys and timestamps compare bytes whatever the database's locale; the large values that are
// never compared keep their lz4 compression (changing a column's collation would reset it).
TEST_P(StoreTest, PostgresKeysCompareBytesAndLargeValuesStayCompressedWithLz4) {
    if (GetParam() != "postgres") GTEST_SKIP() << "SQLite always compares text as bytes";
    pqxx::connection c(PgDsn());
    pqxx::read_transaction w(c);
    const auto collation = [&](const std::string& table, const std::string& column) {
        return w
            .exec_params(
                "SELECT COALESCE(co.collname, '') FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = "
                "a.attcollation WHERE a.attrelid = $1::regclass AND a.attname = $2",
                table, column)[0][0]
            .as<std::string>();
    };
    for (const auto& [table, column] : std::vector<std::pair<std::string, std::string>>{{"entities", "entity_id"},
                                                                                        {"entities", "kind"},
                                                                                        {"entities", "parent_id"},
                                                                                        {"outbox", "event_id"},
                                                                                        {"outbox", "entity_id"},
                                                                                        {"outbox", "created_at"},
                                                                                        {"raw_deliveries", "entity_id"},
                                                                                        {"deliveries", "connector"},
                                                                                        {"deliveries", "state"},
                                                                                        {"event_data", "version"},
                                                                                        {"inventory_levels", "sku"},
                                                                                        {"watermarks", "name"}}) {
        EXPECT_EQ(collation(table, column), "C") << table << "." << column;
    }
    EXPECT_EQ(collation("entities", "data"), "default");
    if (c.server_version() < 140000) return;  // no per-column compression before PostgreSQL 14
    const auto compression = [&](const std::string& table, const std::string& column) {
        return w
            .exec_params("SELECT attcompression::text FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2",
                         table, column)[0][0]
            .as<std::string>();
    };
    // The raw body (bytea) is not touched by the collation change: the text columns that schema
    // version 7 gave the same compression must still have it.
    const std::string lz4 = compression("raw_deliveries", "body");
    EXPECT_EQ(lz4, "l") << "this PostgreSQL has no lz4";
    for (const auto& [table, column] :
         std::vector<std::pair<std::string, std::string>>{{"raw_deliveries", "headers"},
                                                          {"entities", "data"},
                                                          {"outbox", "payload"},
                                                          {"deliveries", "payload_override"},
                                                          {"event_data", "data"}}) {
        EXPECT_EQ(compression(table, column), lz4) << table << "." << column;
    }
}

// The daemon's text is UTF-8: a session opened with another client encoding in the environment
// must not have PostgreSQL read its bytes as that encoding ("é" would become two characters).
TEST_P(StoreTest, PostgresSessionsSendUtf8WhateverTheEnvironmentSays) {
    if (GetParam() != "postgres") GTEST_SKIP() << "PostgreSQL's client encoding";
    setenv("PGCLIENTENCODING", "LATIN1", 1);
    auto latin = store_->Open();
    IngestRecord r = Order("wc:main:1", 1000, "caf\xC3\xA9");
    const auto outcomes = latin->Ingest({&r});
    unsetenv("PGCLIENTENCODING");
    ASSERT_EQ(outcomes, std::vector<Outcome>{Outcome::kAccepted});
    EXPECT_EQ(RawRow("SELECT length(canonical_status), octet_length(canonical_status) FROM entities"),
              (std::vector<std::string>{"4", "5"}));
    EXPECT_EQ(latin->GetEntity("wc:main:1")->canonical_status, "caf\xC3\xA9");
}

// A group's entity ids reach PostgreSQL as one array constant: quotes, backslashes, commas, braces
// and spaces must survive its quoting for the stored version to be found again.
TEST_P(StoreTest, IdsWithQuotesAndBracesAreFoundAgain) {
    const std::string odd = "wc:main:a'b\"c\\d,e{f} g";
    const std::string plain = "wc:main:7";
    IngestRecord first = Order(odd, 2000, "processing");
    IngestRecord second = Order(plain, 2000, "processing");
    ASSERT_EQ(session_->Ingest({&first, &second}), (std::vector<Outcome>{Outcome::kAccepted, Outcome::kAccepted}));
    IngestRecord repeat = Order(odd, 2000, "processing");
    IngestRecord older = Order(odd, 1000, "pending");
    IngestRecord newer = Order(plain, 3000, "completed");
    EXPECT_EQ(session_->Ingest({&repeat, &older, &newer}),
              (std::vector<Outcome>{Outcome::kDuplicate, Outcome::kStale, Outcome::kAccepted}));
    EXPECT_EQ(session_->GetEntity(odd)->data, "{\"c\":\"processing\"}");
    EXPECT_EQ(session_->GetEntity(plain)->data, "{\"c\":\"completed\"}");
    EXPECT_EQ(session_->CountOutbox(), 3);
}

TEST_P(StoreTest, NewRepeatStaleAndNewerVersions) {
    EXPECT_EQ(IngestOne(Order("wc:main:1", 2000, "processing")), Outcome::kAccepted);
    EXPECT_EQ(session_->CountOutbox(), 1);
    // The same version again adds nothing.
    EXPECT_EQ(IngestOne(Order("wc:main:1", 2000, "processing")), Outcome::kDuplicate);
    EXPECT_EQ(session_->CountOutbox(), 1);
    // An older version is recorded but neither overwrites nor produces events.
    EXPECT_EQ(IngestOne(Order("wc:main:1", 1000, "pending")), Outcome::kStale);
    EXPECT_EQ(session_->CountOutbox(), 1);
    auto row = session_->GetEntity("wc:main:1");
    ASSERT_TRUE(row);
    EXPECT_EQ(row->canonical_status, "processing");
    EXPECT_EQ(row->data, "{\"c\":\"processing\"}");
    // A newer version replaces it and produces its event.
    EXPECT_EQ(IngestOne(Order("wc:main:1", 3000, "completed")), Outcome::kAccepted);
    EXPECT_EQ(session_->CountOutbox(), 2);
    row = session_->GetEntity("wc:main:1");
    EXPECT_EQ(row->canonical_status, "completed");
    EXPECT_EQ(row->version, model::MakeVersion(3000, "completed"));
    // Same timestamp, different content: the content hash decides, the same way every time.
    const auto a = Order("wc:main:1", 3000, "completed-a");
    const auto b = Order("wc:main:1", 3000, "completed-b");
    const bool a_newer = model::CompareVersions(a.entities[0].version, b.entities[0].version) > 0;
    const Outcome first = IngestOne(a_newer ? b : a);
    const Outcome second = IngestOne(a_newer ? a : b);
    EXPECT_EQ(second, Outcome::kAccepted);
    EXPECT_TRUE(first == Outcome::kAccepted || first == Outcome::kStale);
}

TEST_P(StoreTest, StoredVersionsAreFoundBeforeAndAfterTheStatementsArePreparedAgain) {
    // PostgreSQL sessions prepare their group statements again after 64 groups (then 512, ...), so
    // that their plans follow the tables' size; every group before and after still reads what is stored.
    for (int i = 0; i < 70; ++i) {
        const auto id = "wc:main:" + std::to_string(600 + i);
        ASSERT_EQ(IngestOne(Order(id, 1000, "a")), Outcome::kAccepted) << i;
        ASSERT_EQ(IngestOne(Order(id, 1000, "a")), Outcome::kDuplicate) << i;
        ASSERT_EQ(IngestOne(Order(id, 900, "b")), Outcome::kStale) << i;
    }
    EXPECT_EQ(session_->CountOutbox(), 70);
}

TEST_P(StoreTest, SessionsWaitForTheDiskBeforeACommitIsReported) {
    const Durability d = store_->CheckDurability();
    if (GetParam() == "sqlite") {
        EXPECT_EQ(d.Setting("journal_mode"), "wal");
        EXPECT_EQ(d.Setting("synchronous"), "full");
    } else {
        EXPECT_EQ(d.Setting("fsync"), "on");
        EXPECT_EQ(d.Setting("synchronous_commit"), "on");
        EXPECT_EQ(d.Setting("synchronous_commit_default"), "on");
    }
    EXPECT_TRUE(d.warnings.empty());
}

// Sets a PostgreSQL setting for the test database (or, with `system`, the server) and resets it on
// every way out of the test. A server setting is reset only once new sessions see it reset, so the
// next test meets the server as it was.
class PgSettingForTest {
  public:
    PgSettingForTest(std::string name, const std::string& value, bool system = false)
        : name_(std::move(name)), system_(system), before_(Show()) {
        Run(system_ ? "ALTER SYSTEM SET " + name_ + " = " + value : AlterDatabase() + " SET " + name_ + " = " + value);
    }
    ~PgSettingForTest() {
        try {
            Run(system_ ? "ALTER SYSTEM RESET " + name_ : AlterDatabase() + " RESET " + name_);
            for (int i = 0; system_ && i < 100 && Show() != before_; ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
        } catch (...) {
        }
    }
    PgSettingForTest(const PgSettingForTest&) = delete;
    PgSettingForTest& operator=(const PgSettingForTest&) = delete;

  private:
    static std::string AlterDatabase() {
        return PgFirstRow("SELECT 'ALTER DATABASE ' || quote_ident(current_database())").at(0);
    }
    void Run(const std::string& sql) const {
        PgFirstRow(sql);
        if (system_) PgFirstRow("SELECT pg_reload_conf()");
    }
    std::string Show() const { return PgFirstRow("SELECT current_setting('" + name_ + "')").at(0); }
    std::string name_;
    bool system_;
    std::string before_;
};

TEST_P(StoreTest, SynchronousCommitOffForTheDatabaseIsTurnedOnInTheDaemonsSessions) {
    if (GetParam() != "postgres") GTEST_SKIP() << "a PostgreSQL setting";
    config::PostgresSettings settings;
    settings.dsn = PgDsn();
    {
        PgSettingForTest off("synchronous_commit", "off");
        const Durability d = MakePostgresStore(settings)->CheckDurability();
        EXPECT_EQ(d.Setting("synchronous_commit_default"), "off");
        EXPECT_EQ(d.Setting("synchronous_commit"), "on");
        EXPECT_TRUE(d.warnings.empty());
    }
    for (const std::string kept : {"local", "remote_apply"}) {
        PgSettingForTest other("synchronous_commit", kept);
        const Durability d = MakePostgresStore(settings)->CheckDurability();
        EXPECT_EQ(d.Setting("synchronous_commit_default"), kept);
        EXPECT_EQ(d.Setting("synchronous_commit"), kept) << "a setting that flushes is kept as it is";
    }
}

TEST_P(StoreTest, AServerWithoutFsyncIsReported) {
    if (GetParam() != "postgres") GTEST_SKIP() << "a PostgreSQL setting";
    config::PostgresSettings settings;
    settings.dsn = PgDsn();
    PgSettingForTest no_fsync("fsync", "off", true);
    // The reload reaches new sessions within moments.
    auto store = MakePostgresStore(settings);
    Durability d;
    for (int i = 0; i < 100 && d.Setting("fsync") != "off"; ++i) {
        if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        d = store->CheckDurability();
    }
    ASSERT_EQ(d.Setting("fsync"), "off");
    ASSERT_EQ(d.warnings.size(), 1u);
    EXPECT_NE(d.warnings[0].find("fsync = off"), std::string::npos) << d.warnings[0];
}

TEST_P(StoreTest, StatementsThatFailedToPrepareArePreparedOnANewConnection) {
    if (GetParam() != "postgres") GTEST_SKIP() << "PostgreSQL sessions prepare statements";
    config::PostgresSettings settings;
    settings.dsn = PgDsn();
    settings.statement_timeout = std::chrono::seconds(1);
    auto store = MakePostgresStore(settings);
    auto session = store->Open();
    // While another transaction holds `entities`, the session's first group prepares the lock
    // statement, then times out preparing the version read, which reads that table.
    pqxx::connection other(PgDsn());
    pqxx::work hold(other);
    hold.exec("LOCK TABLE entities IN ACCESS EXCLUSIVE MODE");
    const auto order = Order("wc:main:700", 1000, "a");
    EXPECT_THROW(session->Ingest({&order}), UnavailableError);
    hold.commit();
    // A half-prepared connection would refuse every later group ("already exists").
    EXPECT_EQ(session->Ingest({&order}).front(), Outcome::kAccepted);
    EXPECT_EQ(session->Ingest({&order}).front(), Outcome::kDuplicate);
}

TEST_P(StoreTest, OneTransactionForAGroupIncludingTheSameEntityTwice) {
    const auto r1 = Order("wc:main:7", 1000, "a");
    const auto r2 = Order("wc:main:8", 1000, "a");
    const auto r3 = Order("wc:main:7", 1000, "a");
    const auto r4 = Order("wc:main:7", 2000, "b");
    const auto outcomes = session_->Ingest({&r1, &r2, &r3, &r4});
    EXPECT_EQ(outcomes,
              (std::vector<Outcome>{Outcome::kAccepted, Outcome::kAccepted, Outcome::kDuplicate, Outcome::kAccepted}));
    EXPECT_EQ(session_->CountOutbox(), 3);
}

// New entities of one group are numbered in the order of their writes, not of their ids.
TEST_P(StoreTest, NewEntitiesOfAGroupAreNumberedInWriteOrder) {
    const auto r1 = Order("wc:main:9", 1000, "a");
    const auto r2 = Order("wc:main:10", 1000, "a");
    session_->Ingest({&r1, &r2});
    const Page page = session_->ListOrders(OrderQuery{});  // newest first
    ASSERT_EQ(page.items.size(), 2u);
    EXPECT_EQ(page.items[0].entity_id, "wc:main:10");
    EXPECT_EQ(page.items[1].entity_id, "wc:main:9");
}

// One event taken from the bus for two lanes at once gets a delivery for each.
TEST_P(StoreTest, OneEventMaterializedForTwoLanesGetsTwoDeliveries) {
    const auto order = Order("wc:main:77", 1000, "a", false, {});
    const OutboxEvent& ev = order.entities.front().events.front();
    const auto results = session_->Materialize(
        {MaterializeItem{"erp", ev, order.received_at, 1000}, MaterializeItem{"3pl", ev, order.received_at, 1000}});
    ASSERT_EQ(results.size(), 2u);
    EXPECT_NE(results[0].delivery_id, results[1].delivery_id);
    EXPECT_EQ(results[0].state, "pending");
    EXPECT_EQ(results[1].state, "pending");
    EXPECT_EQ(session_->CountOutbox(), 1);
}

// Several writes of one entity in one group end in its last state: created when the first delivery
// came, updated by the last, and every event of the way is kept (a held one included).
TEST_P(StoreTest, AGroupWritingOneEntitySeveralTimesKeepsItsLastStateAndEveryEvent) {
    auto first = Order("wc:main:9", 1000, "held-first", true);
    first.entities.push_back(Refund("90", true));
    first.received_at = "2026-11-26T12:00:01.000Z";
    auto second = Order("wc:main:9", 2000, "clean");
    second.entities.push_back(Refund("90", false));
    second.received_at = "2026-11-26T12:00:02.000Z";
    auto third = Order("wc:main:9", 3000, "last");
    third.received_at = "2026-11-26T12:00:03.000Z";
    const auto outcomes = session_->Ingest({&first, &second, &third});
    EXPECT_EQ(outcomes, (std::vector<Outcome>{Outcome::kHeld, Outcome::kAccepted, Outcome::kAccepted}));
    const auto order = session_->GetEntity("wc:main:9");
    ASSERT_TRUE(order.has_value());
    EXPECT_EQ(order->version, model::MakeVersion(3000, "last"));
    EXPECT_EQ(order->data, "{\"c\":\"last\"}");
    EXPECT_EQ(order->canonical_status, "last");
    EXPECT_FALSE(order->held);
    EXPECT_EQ(order->created_at, "2026-11-26T12:00:01.000Z");
    EXPECT_EQ(order->updated_at, "2026-11-26T12:00:03.000Z");
    const auto refund = session_->GetEntity("wc:main:refund:90");
    ASSERT_TRUE(refund.has_value());
    EXPECT_FALSE(refund->held);
    // The held first version's event, the refund's, the second's and the third's.
    EXPECT_EQ(session_->CountOutbox(), 4);
    EXPECT_TRUE(session_->CountHeld().empty());
    // A later group sees the coalesced state: the same last version is a repeat.
    EXPECT_EQ(IngestOne(Order("wc:main:9", 3000, "last")), Outcome::kDuplicate);
    EXPECT_EQ(IngestOne(Order("wc:main:9", 2500, "older")), Outcome::kStale);
}

// SQLite's log is copied back into the database file on a thread of its own; under a steady stream
// of commits it must still start over rather than grow with everything ever written.
TEST_P(StoreTest, TheSqliteLogStaysBoundedUnderSteadyWrites) {
    if (GetParam() != "sqlite") GTEST_SKIP() << "SQLite's write-ahead log";
    // SQLite's file keeps the largest size it reached, which stays near the checkpoint threshold.
    EXPECT_LT(WriteThroughTheSqliteLog(), 160u * 1024 * 1024);
    EXPECT_EQ(session_->CountOutbox(), 8000);
}

// Another process (the sqlite3 shell, a backup) opens and closes the file while the daemon writes
// and checkpoints. Should the daemon ever lose its POSIX locks on the file (closing a descriptor
// of its own drops them all), that process would take the database for unused when it closes,
// and delete the log the daemon still appends to: the daemon would go on, and its commits be lost.
TEST_P(StoreTest, AnotherProcessReadingTheSqliteFileLosesNoCommit) {
    if (GetParam() != "sqlite") GTEST_SKIP() << "SQLite's write-ahead log";
    ASSERT_EQ(std::system("sqlite3 -version > /dev/null 2>&1"), 0) << "the sqlite3 shell (package sqlite3) must run";
    const std::string count = "sqlite3 -batch -init /dev/null -noheader -list -cmd '.timeout 5000' '" +
                              (dir_ / "ob.db").string() + "' 'SELECT count(*) FROM outbox'";
    std::atomic<int> reads{0};
    {
        std::jthread reader([&](std::stop_token stop) {
            while (!stop.stop_requested()) {
                if (std::system((count + " > /dev/null 2>&1").c_str()) == 0) ++reads;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
        });
        WriteThroughTheSqliteLog();
    }  // the reader stops and is joined, also when the writes fail
    EXPECT_GT(reads.load(), 10);
    // Read by another process while this one still has the file open: what it committed is there.
    FILE* out = ::popen((count + " 2> /dev/null").c_str(), "r");
    ASSERT_NE(out, nullptr);
    char line[64] = {};
    const bool read = std::fgets(line, sizeof line, out) != nullptr;
    EXPECT_EQ(::pclose(out), 0);
    ASSERT_TRUE(read);
    EXPECT_EQ(std::string(line), "8000\n");
    EXPECT_EQ(session_->CountOutbox(), 8000);
}

TEST_P(StoreTest, HeldOrdersWaitForRelease) {
    auto held = Order("wc:main:5", 1000, "processing", true);
    held.entities.push_back(Refund("50", true));
    EXPECT_EQ(IngestOne(held), Outcome::kHeld);
    EXPECT_EQ(session_->CountOutbox(), 0);
    EXPECT_TRUE(session_->GetEntity("wc:main:5")->held);
    OrderQuery q;
    q.held = true;
    EXPECT_EQ(session_->ListOrders(q).items.size(), 1u);
    // The held refund is not an order: one held order in store main.
    EXPECT_EQ(session_->CountHeld(), (std::map<std::string, std::int64_t>{{"main", 1}}));
    EXPECT_FALSE(session_->Release("wc:main:refund:50", "ops", "child alone"));
    EXPECT_TRUE(session_->Release("wc:main:5", "ops", "SKU fixed in the ERP"));
    EXPECT_EQ(session_->CountOutbox(), 2);  // the order's event and its refund's
    EXPECT_FALSE(session_->GetEntity("wc:main:5")->held);
    EXPECT_FALSE(session_->GetEntity("wc:main:refund:50")->held);
    EXPECT_FALSE(session_->Release("wc:main:5", "ops", "again"));
    EXPECT_TRUE(session_->CountHeld().empty());
    const AuditPage audit = session_->ListAudit(0, 10);
    ASSERT_EQ(audit.items.size(), 1u);
    EXPECT_EQ(audit.items[0].actor, "ops");
    EXPECT_EQ(audit.items[0].target, "wc:main:5");
    EXPECT_EQ(audit.items[0].reason, "SKU fixed in the ERP");
    EXPECT_EQ(audit.next_cursor, 0);
    EXPECT_EQ(session_->CountOutbox(), 2);
    // A newer held version after release is held again; when the next clean version arrives, the
    // held event goes out before the new one: an acknowledged change is never dropped.
    EXPECT_EQ(IngestOne(Order("wc:main:5", 2000, "on-hold", true)), Outcome::kHeld);
    EXPECT_EQ(IngestOne(Order("wc:main:5", 3000, "processing")), Outcome::kAccepted);
    EXPECT_EQ(session_->CountOutbox(), 4);
    EXPECT_FALSE(session_->GetEntity("wc:main:5")->held);
}

TEST_P(StoreTest, HeldEventsAreNeverDroppedAndChildrenFollowTheirParent) {
    // A held order with a refund; the next version passes the rules.
    auto held = Order("wc:main:6", 1000, "processing", true);
    held.entities.push_back(Refund("60", true));
    EXPECT_EQ(IngestOne(held), Outcome::kHeld);
    EXPECT_EQ(session_->CountOutbox(), 0);

    auto clean = Order("wc:main:6", 2000, "completed");
    clean.entities.push_back(Refund("60", false));  // the same refund, same version, now not held
    EXPECT_EQ(IngestOne(clean), Outcome::kAccepted);
    // The held order event, the new one and the refund's: nothing acknowledged is lost.
    EXPECT_EQ(session_->CountOutbox(), 3);
    EXPECT_FALSE(session_->GetEntity("wc:main:refund:60")->held);

    // Two held versions in a row keep both events; release sends both.
    EXPECT_EQ(IngestOne(Order("wc:main:12", 1000, "a", true)), Outcome::kHeld);
    EXPECT_EQ(IngestOne(Order("wc:main:12", 2000, "b", true)), Outcome::kHeld);
    EXPECT_TRUE(session_->Release("wc:main:12", "ops", "checked"));
    EXPECT_EQ(session_->CountOutbox(), 5);
}

TEST_P(StoreTest, TheInventoryCacheKeepsTheNewestLevelPerLocation) {
    auto level = [](std::string sku, std::string location, std::int64_t available, std::int64_t as_of_ms) {
        StockLevel l;
        l.sku = std::move(sku);
        l.location = std::move(location);
        l.on_hand = available + 1;
        l.available = available;
        l.as_of_ms = as_of_ms;
        l.as_of = model::FormatUtc(as_of_ms);
        l.source = "wms";
        return l;
    };
    auto first = session_->UpsertStock({level("A", "east", 5, 1000), level("A", "west", 3, 1000)});
    ASSERT_EQ(first.size(), 1u);
    ASSERT_EQ(first["A"].size(), 2u);
    EXPECT_FALSE(first["A"][0].reserved.has_value());
    // An older level of a location changes nothing; a newer one replaces it; other SKUs are untouched.
    StockLevel reserved = level("A", "west", 9, 2000);
    reserved.reserved = 4;
    auto second = session_->UpsertStock({level("A", "east", 0, 500), reserved, level("B", "east", 1, 10)});
    ASSERT_EQ(second["A"].size(), 2u);
    EXPECT_EQ(second["A"][0].location, "east");
    EXPECT_EQ(second["A"][0].available, 5);
    EXPECT_EQ(second["A"][1].available, 9);
    EXPECT_EQ(second["A"][1].reserved, std::optional<std::int64_t>(4));
    EXPECT_EQ(second["B"].size(), 1u);
    auto read = session_->GetStock({"B", "missing"});
    EXPECT_EQ(read.size(), 1u);
    EXPECT_EQ(read["B"][0].as_of, model::FormatUtc(10));
    const auto all = session_->AllStock();
    EXPECT_EQ(all.size(), 2u);
    EXPECT_EQ(all.at("A").size(), 2u);
}

TEST_P(StoreTest, WatermarksAreKeptAndMoved) {
    EXPECT_EQ(session_->GetWatermark("poller:main"), "");
    session_->SetWatermark("poller:main", "2026-11-20T10:00:00");
    session_->SetWatermark("poller:outlet", "2026-11-01T00:00:00");
    session_->SetWatermark("poller:main", "2026-11-21T08:30:00");
    auto other = store_->Open();  // another connection sees the committed value
    EXPECT_EQ(other->GetWatermark("poller:main"), "2026-11-21T08:30:00");
    EXPECT_EQ(other->GetWatermark("poller:outlet"), "2026-11-01T00:00:00");
}

TEST_P(StoreTest, AShipmentBelongsToItsOrder) {
    ASSERT_EQ(IngestOne(Order("wc:main:70", 1000, "processing")), Outcome::kAccepted);
    IngestRecord r = Order("3pl:shipment:1", 2000, "shipped");
    r.entities[0].kind = "shipment";
    r.entities[0].parent_id = "wc:main:70";
    ASSERT_EQ(IngestOne(r), Outcome::kAccepted);
    IngestRecord other = Order("3pl:shipment:2", 2000, "shipped");
    other.entities[0].kind = "shipment";
    other.entities[0].parent_id = "wc:main:71";
    ASSERT_EQ(IngestOne(other), Outcome::kAccepted);
    const auto children = session_->ChildEntities("wc:main:70", "shipment");
    ASSERT_EQ(children.size(), 1u);
    EXPECT_EQ(children[0].entity_id, "3pl:shipment:1");
    EXPECT_TRUE(session_->ChildEntities("wc:main:70", "refund").empty());
}

TEST_P(StoreTest, RejectedBodiesAreArchivedAndPruned) {
    IngestRecord r = Order("wc:main:9", 1000, "x");
    r.entities.clear();
    EXPECT_EQ(IngestOne(r), Outcome::kRejected);
    EXPECT_EQ(session_->CountOutbox(), 0);
    EXPECT_EQ(session_->PruneRaw("2026-11-26T11:00:00Z", 10), 0);
    IngestOne(Order("wc:main:10", 1000, "y"));
    IngestOne(Order("wc:main:11", 1000, "y"));
    EXPECT_EQ(session_->PruneRaw("2026-11-27T00:00:00Z", 2), 2);
    EXPECT_EQ(session_->PruneRaw("2026-11-27T00:00:00Z", 2), 1);
    EXPECT_EQ(session_->PruneRaw("2026-11-27T00:00:00Z", 2), 0);
}

// Retention looks at the oldest stored bodies: one received later but stored first (a clock ahead,
// or a moment out of order) is kept without holding back the older ones stored after it.
TEST_P(StoreTest, PruningTakesOldBodiesBehindAYoungerOne) {
    const std::vector<std::pair<std::string, std::string>> stored = {{"wc:main:20", "2026-11-27T10:00:00.000Z"},
                                                                     {"wc:main:21", "2026-11-26T10:00:00.000Z"},
                                                                     {"wc:main:22", "2026-11-26T11:00:00.000Z"}};
    for (const auto& [id, received] : stored) {
        IngestRecord r = Order(id, 1000, "y");
        r.received_at = received;
        ASSERT_EQ(IngestOne(r), Outcome::kAccepted);
    }
    EXPECT_EQ(session_->PruneRaw("2026-11-27T00:00:00Z", 2), 1);
    EXPECT_EQ(session_->EntityReceipts("wc:main:21").size(), 0u);
    EXPECT_EQ(session_->EntityReceipts("wc:main:22").size(), 1u);
    EXPECT_EQ(session_->PruneRaw("2026-11-27T00:00:00Z", 2), 1);
    EXPECT_EQ(session_->PruneRaw("2026-11-27T00:00:00Z", 2), 0);
    EXPECT_EQ(session_->EntityReceipts("wc:main:20").size(), 1u);
    EXPECT_EQ(session_->EntityReceipts("wc:main:22").size(), 0u);
}

TEST_P(StoreTest, ListPaginatesNewestFirstWithFilters) {
    for (int i = 1; i <= 7; ++i) {
        auto r = Order("wc:main:" + std::to_string(i), 1000, i % 2 ? "ready_to_fulfil" : "cancelled");
        r.store_id = i <= 5 ? "main" : "eu";
        IngestOne(r);
    }
    OrderQuery q;
    q.limit = 3;
    Page p1 = session_->ListOrders(q);
    ASSERT_EQ(p1.items.size(), 3u);
    EXPECT_EQ(p1.items[0].entity_id, "wc:main:7");
    ASSERT_NE(p1.next_cursor, 0);
    q.cursor = p1.next_cursor;
    Page p2 = session_->ListOrders(q);
    ASSERT_EQ(p2.items.size(), 3u);
    EXPECT_EQ(p2.items[0].entity_id, "wc:main:4");
    q.cursor = p2.next_cursor;
    Page p3 = session_->ListOrders(q);
    ASSERT_EQ(p3.items.size(), 1u);
    EXPECT_EQ(p3.next_cursor, 0);
    OrderQuery f;
    f.store = "main";
    f.status = "cancelled";
    Page pf = session_->ListOrders(f);
    ASSERT_EQ(pf.items.size(), 2u);
    EXPECT_EQ(pf.items[0].entity_id, "wc:main:4");
}

TEST_P(StoreTest, ConcurrentWritersStoreEachVersionOnce) {
    // Two writers (two daemons on PostgreSQL; serialised by SQLite's lock) race on the same entities.
    std::vector<Outcome> a, b;
    auto run = [this](std::vector<Outcome>& out) {
        auto s = store_->Open();
        for (int i = 0; i < 40; ++i) {
            const auto r =
                Order("wc:main:" + std::to_string(100 + i % 10), 1000 + i / 10, "v" + std::to_string(i / 10));
            for (int attempt = 0;; ++attempt) {
                try {
                    out.push_back(s->Ingest({&r}).front());
                    break;
                } catch (const UnavailableError&) {
                    if (attempt > 50) throw;  // SQLite busy beyond its timeout
                }
            }
        }
    };
    std::thread t1(run, std::ref(a));
    std::thread t2(run, std::ref(b));
    t1.join();
    t2.join();
    int accepted = 0;
    for (const auto& v : {a, b}) {
        for (Outcome o : v)
            accepted += o == Outcome::kAccepted;
    }
    // 10 entities x 4 versions: every version accepted exactly once at most, newest always stored.
    EXPECT_LE(accepted, 40);
    EXPECT_GE(accepted, 10);
    EXPECT_EQ(session_->CountOutbox(), accepted);
    for (int e = 0; e < 10; ++e) {
        EXPECT_EQ(session_->GetEntity("wc:main:" + std::to_string(100 + e))->version, model::MakeVersion(1003, "v3"));
    }
}

// --- Group commit --------------------------------------------------------------------------------

// The groups an ingest queue committed, from its batch-size histogram: {groups, deliveries}.
std::pair<std::uint64_t, double> Groups(prometheus::Registry& registry) {
    for (const auto& family : registry.Collect()) {
        if (family.name == "orderbridge_ingest_batch_size") {
            const auto& h = family.metric.at(0).histogram;
            return {h.sample_count, h.sample_sum};
        }
    }
    return {0, 0.0};
}

// The answers of an ingest queue's completions, in the order they came.
class Answers {
  public:
    IngestQueue::Done Callback() {
        return [this](std::optional<Outcome> outcome, const std::string& error) {
            std::lock_guard lock(mutex_);
            answers_.push_back(outcome ? std::string(ToString(*outcome)) : "not stored: " + error);
            cv_.notify_all();
        };
    }
    // The answers once there are n of them, or those that came within `bound`.
    std::vector<std::string> Await(std::size_t n, std::chrono::seconds bound) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, bound, [&] { return answers_.size() >= n; });
        return answers_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::vector<std::string> answers_;
};

// A started ingest queue with two writers and the given group window.
std::unique_ptr<IngestQueue> StartedQueue(Store& store, prometheus::Registry& registry,
                                          std::chrono::milliseconds window) {
    IngestSettings settings;
    settings.writers = 2;
    settings.group_window = window;
    auto queue = std::make_unique<IngestQueue>(store, settings, registry);
    queue->Start();
    return queue;
}

TEST_P(StoreTest, DeliveriesArrivingAFewMillisecondsApartShareOneCommit) {
    prometheus::Registry registry;
    auto queue = StartedQueue(*store_, registry, std::chrono::seconds(1));
    Answers answers;
    for (int i = 0; i < 5; ++i) {
        queue->Submit(Order("wc:main:" + std::to_string(300 + i), 1000, "g"), answers.Callback());
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_EQ(answers.Await(5, std::chrono::seconds(30)), std::vector<std::string>(5, "accepted"));
    // Without the window each would have been a group of its own, 20 ms after the previous one.
    EXPECT_EQ(Groups(registry), std::make_pair(std::uint64_t{1}, 5.0));
    queue->Stop();
    EXPECT_EQ(session_->CountOutbox(), 5);
}

TEST_P(StoreTest, AGroupLargeEnoughOrAStopEndsItsWindowEarly) {
    prometheus::Registry registry;
    auto queue = StartedQueue(*store_, registry, std::chrono::seconds(60));
    Answers answers;
    // Eight deliveries share a commit well enough: they do not wait out the minute.
    for (int i = 0; i < 8; ++i)
        queue->Submit(Order("wc:main:" + std::to_string(400 + i), 1000, "g"), answers.Callback());
    EXPECT_EQ(answers.Await(8, std::chrono::seconds(30)), std::vector<std::string>(8, "accepted"));
    EXPECT_EQ(Groups(registry), std::make_pair(std::uint64_t{1}, 8.0));
    // A lone delivery gathering company is committed, not dropped, when the queue stops.
    queue->Submit(Order("wc:main:500", 1000, "g"), answers.Callback());
    const auto stop_started = std::chrono::steady_clock::now();
    queue->Stop();
    EXPECT_LT(std::chrono::steady_clock::now() - stop_started, std::chrono::seconds(30));
    EXPECT_EQ(answers.Await(9, std::chrono::seconds(1)), std::vector<std::string>(9, "accepted"));
    EXPECT_EQ(session_->CountOutbox(), 9);
}

// --- Delivery ------------------------------------------------------------------------------------

constexpr std::int64_t kNow = 1'800'000'000'000;  // far after the received_ms of the fixtures
constexpr std::int64_t kLease = 60'000;

AttemptRecord Attempt(const DeliveryTask& task, const std::string& state, const std::string& cls = "", int status = 200,
                      std::int64_t due_ms = kNow) {
    AttemptRecord r;
    r.delivery_id = task.id;
    r.lease_until_ms = task.lease_until_ms;
    r.at = "2026-11-26T12:00:01.000Z";
    r.error_class = cls;
    r.http_status = status;
    r.latency_ms = 12;
    r.reason = cls.empty() ? "" : "HTTP " + std::to_string(status);
    r.state = state;
    r.due_ms = due_ms;
    return r;
}

std::vector<std::string> Entities(const std::vector<DeliveryTask>& tasks) {
    std::vector<std::string> out;
    for (const auto& t : tasks)
        out.push_back(t.entity_id + "@" + t.version.substr(0, 13));
    std::sort(out.begin(), out.end());
    return out;
}

TEST_P(StoreTest, EventsFanOutToTheirLanesAndOneEntityIsDeliveredInOrder) {
    IngestOne(Order("wc:main:1", 1000, "a", false, {"erp", "wms"}));
    IngestOne(Order("wc:main:1", 2000, "b", false, {"erp", "wms"}));
    IngestOne(Order("wc:main:2", 1000, "c", false, {"erp"}));
    const std::string v1 = model::MakeVersion(1000, "a").substr(0, 13);

    // Only the oldest pending event of each entity is claimable.
    auto erp = session_->ClaimDue("erp", kNow, 10, kLease);
    EXPECT_EQ(Entities(erp), (std::vector<std::string>{"wc:main:1@" + v1, "wc:main:2@" + v1}));
    EXPECT_EQ(session_->ClaimDue("wms", kNow, 10, kLease).size(), 1u);
    EXPECT_TRUE(session_->ClaimDue("erp", kNow, 10, kLease).empty()) << "leased deliveries are not claimed twice";
    for (const auto& t : erp) {
        EXPECT_EQ(t.attempts, 0);
        EXPECT_FALSE(t.reclaimed);
        EXPECT_EQ(t.payload, Envelope(t.entity_id == "wc:main:1" ? "a" : "c"));
    }
    const auto first = std::find_if(erp.begin(), erp.end(), [](const auto& t) { return t.entity_id == "wc:main:1"; });
    session_->RecordAttempts({Attempt(*first, "delivered")});
    auto next = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].entity_id, "wc:main:1");
    EXPECT_EQ(next[0].version, model::MakeVersion(2000, "b"));
    EXPECT_EQ(session_->GetBacklog("erp").pending, 2);  // wc:main:1 v2 and wc:main:2 v1
    EXPECT_EQ(session_->GetBacklog("wms").pending, 2);
}

// An event is stored without the entity data its payload embeds, and is read whole: claimed,
// shown, relayed; also once a newer version replaced the entity's data, in a later transaction or in
// the same group; the data kept for it goes when the event is pruned.
TEST_P(StoreTest, EventsKeepTheirOwnDataWhenTheirEntityMovesOn) {
    const auto v1 = Order("wc:main:5", 1000, "first");
    ASSERT_EQ(IngestOne(v1), Outcome::kAccepted);
    const std::string e1 = v1.entities[0].events[0].event_id;
    EXPECT_EQ(StoredEvent(e1),
              (std::vector<std::string>{"{\"a\":\"\u00e9\",\"data\":,\"payload\":\"first\"}", "without data"}));
    auto claimed = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(claimed.size(), 1u);
    EXPECT_EQ(claimed[0].payload, Envelope("first"));
    EXPECT_EQ(KeptData(), "0");

    const auto v2 = Order("wc:main:5", 2000, "second");
    ASSERT_EQ(IngestOne(v2), Outcome::kAccepted);
    EXPECT_EQ(KeptData(), "1") << "the first version's data is kept for its event";
    EXPECT_EQ(session_->GetDelivery(claimed[0].id)->payload, Envelope("first"));
    session_->RecordAttempts({Attempt(claimed[0], "delivered")});
    auto next = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].payload, Envelope("second"));
    EXPECT_EQ(session_->GetDelivery(next[0].id)->payload, Envelope("second"));

    // Three versions of one entity in one group, relayed through the outbox: each event keeps its own.
    auto a = Order("wc:main:6", 1000, "a", false, {});
    auto b = Order("wc:main:6", 2000, "b", false, {});
    auto c = Order("wc:main:6", 3000, "c", false, {});
    for (auto* r : {&a, &b, &c})
        r->entities[0].events[0].relay = true;
    EXPECT_EQ(session_->Ingest({&a, &b, &c}),
              (std::vector<Outcome>{Outcome::kAccepted, Outcome::kAccepted, Outcome::kAccepted}));
    std::vector<std::string> relayed;
    std::vector<std::int64_t> ids;
    for (const auto& row : session_->FetchUnpublished(10)) {
        relayed.push_back(row.event.payload);
        ids.push_back(row.id);
    }
    EXPECT_EQ(relayed, (std::vector<std::string>{Envelope("a"), Envelope("b"), Envelope("c")}));
    EXPECT_EQ(KeptData(), "3");

    // Pruning an event drops the data kept for it, and only that.
    session_->MarkPublished(ids);
    session_->RecordAttempts({Attempt(next[0], "delivered")});
    EXPECT_EQ(session_->PruneOutbox("2026-11-27T00:00:00.000Z", 2), 2);  // the oldest two: wc:main:5's
    EXPECT_EQ(KeptData(), "2");
    EXPECT_EQ(session_->FetchUnpublished(10).size(), 0u);
    EXPECT_EQ(session_->PruneOutbox("2026-11-27T00:00:00.000Z", 100), 3);
    EXPECT_EQ(KeptData(), "0");
}

// A stored entity whose event lacks its data, updated twice in one group (past PostgreSQL's first
// plan refreshes, at 64 groups): every version's event keeps its own data.
TEST_P(StoreTest, AnEntityUpdatedTwiceInOneGroupKeepsEachVersionsData) {
    for (int i = 0; i < 70; ++i)
        ASSERT_EQ(IngestOne(Order("wc:main:r" + std::to_string(i), 1000, "r", false, {})), Outcome::kAccepted);
    auto relayed = [](IngestRecord r) {
        r.entities[0].events[0].relay = true;
        return r;
    };
    const auto one = relayed(Order("wc:main:7", 1000, "one", false, {}));
    ASSERT_EQ(IngestOne(one), Outcome::kAccepted);
    const auto two = relayed(Order("wc:main:7", 2000, "two", false, {}));
    const auto three = relayed(Order("wc:main:7", 3000, "three", false, {}));
    EXPECT_EQ(session_->Ingest({&two, &three}), (std::vector<Outcome>{Outcome::kAccepted, Outcome::kAccepted}));
    std::vector<std::string> payloads;
    for (const auto& row : session_->FetchUnpublished(10))
        payloads.push_back(row.event.payload);
    EXPECT_EQ(payloads, (std::vector<std::string>{Envelope("one"), Envelope("two"), Envelope("three")}));
    EXPECT_EQ(KeptData(), "2");
}

// Kept data stays while any event of its version remains.
TEST_P(StoreTest, KeptDataStaysWhileAnEventOfItsVersionRemains) {
    auto v1 = Order("wc:main:8", 1000, "one", false, {});
    OutboxEvent second = v1.entities[0].events[0];
    second.event_id += "-status";
    second.type = "order.status_changed";
    v1.entities[0].events.push_back(second);
    ASSERT_EQ(IngestOne(v1), Outcome::kAccepted);
    ASSERT_EQ(IngestOne(Order("wc:main:8", 2000, "two", false, {})), Outcome::kAccepted);
    EXPECT_EQ(KeptData(), "1");
    EXPECT_EQ(session_->PruneOutbox("2026-11-27T00:00:00.000Z", 1), 1);  // the first event of version one
    EXPECT_EQ(KeptData(), "1") << "the status event of version one still needs it";
    EXPECT_EQ(StoredEvent(second.event_id).at(1), "without data");
    EXPECT_EQ(session_->PruneOutbox("2026-11-27T00:00:00.000Z", 1), 1);
    EXPECT_EQ(KeptData(), "0");
}

TEST_P(StoreTest, RetriesWaitTheirTurnAndDeadLettersDoNotBlockTheEntity) {
    IngestOne(Order("wc:main:7", 1000, "a"));
    IngestOne(Order("wc:main:7", 2000, "b"));
    auto t = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(t.size(), 1u);
    session_->RecordAttempts({Attempt(t[0], "pending", "transient", 503, kNow + 5000)});
    EXPECT_TRUE(session_->ClaimDue("erp", kNow + 4999, 10, kLease).empty()) << "not due yet, and it blocks v2";
    t = session_->ClaimDue("erp", kNow + 5000, 10, kLease);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].attempts, 1);
    session_->RecordAttempts({Attempt(t[0], "dead", "permanent", 400)});
    const std::int64_t dead_id = t[0].id;

    // Dead: v2 goes ahead, and the dead letter is listed with its reason and attempts.
    t = session_->ClaimDue("erp", kNow + 5000, 10, kLease);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].version, model::MakeVersion(2000, "b"));
    DeliveryQuery dlq;
    dlq.state = "dead";
    auto page = session_->ListDeliveries(dlq);
    ASSERT_EQ(page.items.size(), 1u);
    EXPECT_EQ(page.items[0].id, dead_id);
    EXPECT_EQ(page.items[0].error_class, "permanent");
    EXPECT_EQ(page.items[0].http_status, 400);
    EXPECT_EQ(page.items[0].attempts, 2);
    auto detail = session_->GetDelivery(dead_id);
    ASSERT_TRUE(detail);
    ASSERT_EQ(detail->attempts.size(), 2u);
    EXPECT_EQ(detail->attempts[0].error_class, "transient");
    EXPECT_EQ(detail->attempts[1].http_status, 400);
    EXPECT_EQ(session_->GetBacklog("erp").dead, 1);

    // A newer version delivered resolves the older dead letter: it must never overwrite the newer one.
    session_->RecordAttempts({Attempt(t[0], "delivered")});
    EXPECT_EQ(session_->GetDelivery(dead_id)->row.state, "resolved");
    EXPECT_TRUE(session_->ListDeliveries(dlq).items.empty());
    EXPECT_TRUE(session_->ReplayDead(DeliveryQuery{}, dead_id, std::nullopt, Actor{"ops", "x"}).empty());
}

TEST_P(StoreTest, ReplayOneWithAnEditedPayloadOrByFilterAndAuditIt) {
    for (int i = 0; i < 3; ++i)
        IngestOne(Order("wc:main:" + std::to_string(20 + i), 1000, "a"));
    auto claimed = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(claimed.size(), 3u);
    std::vector<AttemptRecord> dead;
    for (std::size_t i = 0; i < claimed.size(); ++i)
        dead.push_back(Attempt(claimed[i], "dead", i == 0 ? "auth" : "permanent", i == 0 ? 401 : 422));
    session_->RecordAttempts(dead);

    const auto one = session_->ReplayDead(DeliveryQuery{}, claimed[1].id, std::string("{\"fixed\":true}"),
                                          Actor{"ops", "sku fixed"});
    ASSERT_EQ(one, std::vector<std::int64_t>{claimed[1].id});
    auto again = session_->ClaimDue("erp", kNow + 1, 10, kLease);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].payload, "{\"fixed\":true}");
    EXPECT_EQ(again[0].attempts, 0) << "a replay gets a fresh attempt budget";
    EXPECT_TRUE(session_->GetDelivery(claimed[1].id)->payload_edited);

    DeliveryQuery by_class;
    by_class.error_class = "auth";
    EXPECT_EQ(session_->ReplayDead(by_class, 0, std::nullopt, Actor{"ops", "new key"}),
              std::vector<std::int64_t>{claimed[0].id});
    const auto audit = session_->ListAudit(0, 10);
    ASSERT_EQ(audit.items.size(), 2u);
    EXPECT_EQ(audit.items[0].action, "replay");
    EXPECT_EQ(audit.items[0].target, "dlq error_class=auth (1 replayed)");
    EXPECT_EQ(audit.items[0].reason, "new key");
    EXPECT_EQ(audit.items[1].action, "replay_edited");
    EXPECT_EQ(audit.items[1].target, "dlq:" + std::to_string(claimed[1].id));

    // Replaying an entity sends its newest delivery again, whatever its state.
    session_->RecordAttempts({Attempt(again[0], "delivered")});
    EXPECT_EQ(session_->ReplayEntity("wc:main:21", "erp", Actor{"ops", ""}), claimed[1].id);
    EXPECT_EQ(session_->GetDelivery(claimed[1].id)->row.state, "pending");
    EXPECT_EQ(session_->ReplayEntity("wc:main:21", "nope", Actor{"ops", ""}), 0);
}

TEST_P(StoreTest, AResultWhoseLeaseWasLostChangesNothing) {
    IngestOne(Order("wc:main:35", 1000, "a"));
    auto first = session_->ClaimDue("erp", kNow, 1, 100);
    ASSERT_EQ(first.size(), 1u);
    // The first claimant is slow; its lease runs out and a second claim takes the delivery.
    auto second = session_->ClaimDue("erp", kNow + 200, 1, kLease);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_NE(second[0].lease_until_ms, first[0].lease_until_ms);
    session_->RecordAttempts({Attempt(first[0], "dead", "permanent", 400)});  // late, fenced off
    session_->Unclaim({{first[0].id, first[0].lease_until_ms, 0}});           // likewise
    auto d = session_->GetDelivery(first[0].id);
    EXPECT_EQ(d->row.state, "pending");
    EXPECT_TRUE(d->attempts.empty());
    EXPECT_TRUE(session_->ClaimDue("erp", kNow + 300, 1, kLease).empty()) << "still leased by the second claim";
    session_->RecordAttempts({Attempt(second[0], "delivered")});
    d = session_->GetDelivery(first[0].id);
    EXPECT_EQ(d->row.state, "delivered");
    ASSERT_EQ(d->attempts.size(), 1u);
    EXPECT_EQ(d->attempts[0].outcome, "delivered");
    const auto by_delivery = session_->EntityAttempts("wc:main:35");
    ASSERT_EQ(by_delivery.size(), 1u);
    EXPECT_EQ(by_delivery.at(first[0].id).size(), 1u) << "the fenced-off attempt left no row";
    EXPECT_EQ(by_delivery.at(first[0].id)[0].outcome, "delivered");
    EXPECT_EQ(session_->EndedAmong({first[0].id, 999999}), std::vector<std::int64_t>{first[0].id});
}

TEST_P(StoreTest, AnOlderEventWaitsWhileANewerOneOfItsEntityIsInFlight) {
    IngestOne(Order("wc:main:36", 1000, "a"));
    IngestOne(Order("wc:main:36", 2000, "b"));
    auto t = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(t.size(), 1u);
    session_->RecordAttempts({Attempt(t[0], "dead", "permanent", 400)});
    auto newer = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(newer.size(), 1u);
    // The dead older one is replayed while the newer one is being sent: it must wait.
    ASSERT_EQ(session_->ReplayDead(DeliveryQuery{}, t[0].id, std::nullopt, Actor{"ops", ""}).size(), 1u);
    EXPECT_TRUE(session_->ClaimDue("erp", kNow + 1, 10, kLease).empty());
    EXPECT_EQ(session_->ReplayEntity("wc:main:36", "erp", Actor{"ops", ""}), -1) << "in flight";
    session_->RecordAttempts({Attempt(newer[0], "delivered")});
    EXPECT_EQ(session_->ClaimDue("erp", kNow + 2, 10, kLease).size(), 1u);
}

TEST_P(StoreTest, HeldEventsGetTheirDeliveriesOnRelease) {
    IngestOne(Order("wc:main:30", 1000, "a", true, {"erp"}));
    EXPECT_TRUE(session_->ClaimDue("erp", kNow, 10, kLease).empty());
    ASSERT_TRUE(session_->Release("wc:main:30", "ops", "checked"));
    const auto t = session_->ClaimDue("erp", kNow, 10, kLease);
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].entity_id, "wc:main:30");
}

TEST_P(StoreTest, AReleaseWaitsForAnIngestOfTheSameOrder) {
    if (GetParam() != "postgres") GTEST_SKIP() << "SQLite has one writer at a time";
    IngestOne(Order("wc:main:31", 1000, "a", true));
    // Another daemon's ingest of this order holds its lock (as PgTx::Prefetch takes it) until it commits.
    pqxx::connection other(PgDsn());
    pqxx::work ingest(other);
    ingest.exec("SELECT pg_advisory_xact_lock(hashtext('wc:main:31'))");
    auto release = std::async(std::launch::async, [this] { return session_->Release("wc:main:31", "ops", "ok"); });
    EXPECT_EQ(release.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
    auto reader = store_->Open();  // the test's own session is the release's meanwhile
    EXPECT_TRUE(reader->GetEntity("wc:main:31")->held);
    ingest.commit();
    ASSERT_EQ(release.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_TRUE(release.get());
    EXPECT_FALSE(reader->GetEntity("wc:main:31")->held);
}

// A group that fails part-way stores none of its records, and its session goes on: the next group
// is not refused as part of a failed transaction.
TEST_P(StoreTest, AFailedGroupStoresNothingAndItsSessionGoesOn) {
    if (GetParam() != "postgres") GTEST_SKIP() << "SQLite stores any text; PostgreSQL refuses a NUL in it";
    const IngestRecord good = Order("wc:main:50", 1000, "a");
    IngestRecord bad = Order("wc:main:51", 1000, "a");
    bad.topic = std::string("order.updated\0", 14);
    EXPECT_THROW(session_->Ingest({&good, &bad}), std::exception);
    EXPECT_FALSE(session_->GetEntity("wc:main:50").has_value());
    EXPECT_EQ(IngestOne(Order("wc:main:52", 1000, "a")), Outcome::kAccepted);
    EXPECT_EQ(IngestOne(good), Outcome::kAccepted);
    EXPECT_TRUE(session_->GetEntity("wc:main:50").has_value());
}

TEST_P(StoreTest, AnAbandonedLeaseIsReclaimedAndUnclaimGivesBack) {
    IngestOne(Order("wc:main:40", 1000, "a"));
    IngestOne(Order("wc:main:41", 1000, "a"));
    auto t = session_->ClaimDue("erp", kNow, 10, 100);
    ASSERT_EQ(t.size(), 2u);
    EXPECT_TRUE(session_->ClaimDue("erp", kNow + 99, 10, 100).empty());
    auto re = session_->ClaimDue("erp", kNow + 100, 1, kLease);  // the daemon that held them died
    ASSERT_EQ(re.size(), 1u);
    EXPECT_TRUE(re[0].reclaimed);
    session_->Unclaim({{re[0].id, re[0].lease_until_ms, kNow + 1000}});
    EXPECT_EQ(session_->ClaimDue("erp", kNow + 999, 10, kLease).size(), 1u);  // only the other one
    session_->DropLeases();
    EXPECT_EQ(session_->ClaimDue("erp", kNow + 1000, 10, kLease).size(), 2u);
}

TEST_P(StoreTest, RetentionPrunesOnlyEventsWhoseDeliveriesEnded) {
    IngestOne(Order("wc:main:60", 1000, "a"));             // will be delivered
    IngestOne(Order("wc:main:61", 1000, "a"));             // will be dead
    IngestOne(Order("wc:main:62", 1000, "a"));             // stays pending
    IngestOne(Order("wc:main:63", 1000, "a", false, {}));  // no connector subscribed
    auto t = session_->ClaimDue("erp", kNow, 2, kLease);
    ASSERT_EQ(t.size(), 2u);
    session_->RecordAttempts({Attempt(t[0], "delivered"), Attempt(t[1], "dead", "permanent", 400)});
    EXPECT_EQ(session_->PruneOutbox("2026-11-26T12:00:00.000Z", 100), 0) << "nothing is older than the cutoff";
    EXPECT_EQ(session_->PruneOutbox("2026-11-27T00:00:00.000Z", 100), 2);  // the delivered one and wc:main:63
    EXPECT_EQ(session_->CountOutbox(), 2);
    EXPECT_FALSE(session_->GetDelivery(t[0].id));
    EXPECT_TRUE(session_->GetDelivery(t[1].id)) << "a dead letter keeps its payload until it is dealt with";
    EXPECT_EQ(session_->GetBacklog("erp").pending, 1);
}

TEST_P(StoreTest, OtherProcessesHearOfNewWork) {
    auto waiter = store_->MakeWorkWaiter();
    if (GetParam() == "sqlite") {
        EXPECT_EQ(waiter, nullptr) << "one process: in-process wake-ups are enough";
        return;
    }
    ASSERT_NE(waiter, nullptr);
    EXPECT_FALSE(waiter->Wait(std::chrono::milliseconds(100))) << "nothing happened yet";
    IngestOne(Order("wc:main:70", 1000, "a", false, {}));  // no connector: no delivery, no news
    EXPECT_FALSE(waiter->Wait(std::chrono::milliseconds(100)));
    IngestOne(Order("wc:main:71", 1000, "a"));
    EXPECT_TRUE(waiter->Wait(std::chrono::seconds(5)));
}

TEST_P(StoreTest, ConcurrentClaimersNeverShareADelivery) {
    // Two dispatchers (two daemons on PostgreSQL) drain one lane; every delivery is claimed once.
    std::vector<IngestRecord> records;
    for (int i = 0; i < 60; ++i)
        records.push_back(Order("wc:main:" + std::to_string(500 + i % 20), 1000 + i / 20, "v" + std::to_string(i)));
    std::vector<const IngestRecord*> ptrs;
    for (const auto& r : records)
        ptrs.push_back(&r);
    session_->Ingest(ptrs);
    std::vector<std::int64_t> seen_a, seen_b;
    auto run = [this](std::vector<std::int64_t>& seen) {
        auto s = store_->Open();
        for (int idle = 0; idle < 50;) {
            std::vector<DeliveryTask> t;
            try {
                t = s->ClaimDue("erp", kNow, 4, kLease);
            } catch (const UnavailableError&) {
                continue;  // SQLite busy: try again
            }
            if (t.empty()) {
                ++idle;
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
                continue;
            }
            std::vector<AttemptRecord> done;
            for (const auto& d : t) {
                seen.push_back(d.id);
                done.push_back(Attempt(d, "delivered"));
            }
            for (;;) {
                try {
                    s->RecordAttempts(done);
                    break;
                } catch (const UnavailableError&) {
                }
            }
        }
    };
    std::thread t1(run, std::ref(seen_a));
    std::thread t2(run, std::ref(seen_b));
    t1.join();
    t2.join();
    std::vector<std::int64_t> all = seen_a;
    all.insert(all.end(), seen_b.begin(), seen_b.end());
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a delivery was claimed twice";
    EXPECT_EQ(all.size(), 60u);
    EXPECT_EQ(session_->GetBacklog("erp").pending, 0);
}

INSTANTIATE_TEST_SUITE_P(Drivers, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace orderbridge::store

#include "orderbridge/store/store.hpp"

#include "migrations.hpp"

namespace orderbridge::store {

std::string_view ToString(Outcome outcome) {
    switch (outcome) {
        case Outcome::kAccepted:
            return "accepted";
        case Outcome::kHeld:
            return "held";
        case Outcome::kDuplicate:
            return "duplicate";
        case Outcome::kStale:
            return "stale";
        case Outcome::kRejected:
            return "rejected";
    }
    return "accepted";
}

int Store::KnownSchemaVersion() {
    return static_cast<int>(detail::SqliteMigrations().size());
}

std::unique_ptr<Store> MakeStore(const config::StorageSettings& settings) {
    if (settings.driver == config::StorageDriver::kPostgres) return MakePostgresStore(settings.postgres);
    return MakeSqliteStore(settings.sqlite);
}

}  // namespace orderbridge::store

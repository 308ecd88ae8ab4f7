#pragma once
// Versioned schema migrations rendered per driver from one list; migration N brings the schema to version N.
// Never edit a released migration: append a new one.
#include <string>
#include <vector>

namespace orderbridge::store::detail {

const std::vector<std::string>& SqliteMigrations();
const std::vector<std::string>& PostgresMigrations();

}  // namespace orderbridge::store::detail

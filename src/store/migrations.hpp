#pragma once
// Versioned schema migrations rendered per driver from one list; migration N brings the schema to version N.
// Never edit a released migration: append a new one.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orderbridge::store::detail {

/// `sql` with each `{name}` replaced by its value (the placeholders of shared SQL).
std::string FillSql(std::string sql, std::initializer_list<std::pair<std::string_view, std::string_view>> values);

const std::vector<std::string>& SqliteMigrations();
const std::vector<std::string>& PostgresMigrations();

}  // namespace orderbridge::store::detail

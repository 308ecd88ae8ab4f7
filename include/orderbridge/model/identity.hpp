#pragma once
// Identity and ordering of canonical entities: entity ids, idempotency keys, versions, event ids.
//
// A version is `<13-digit epoch milliseconds>-<16 hex of SHA-256 of the canonical content>`. The
// time comes from the source (WooCommerce `date_modified_gmt`); the hash breaks ties, so two
// different snapshots with the same timestamp still order the same way everywhere, and the same
// snapshot always has the same version. Comparing two versions is comparing the strings.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace orderbridge::model {

std::string Sha256Hex(std::string_view data);

std::string MakeVersion(std::int64_t epoch_ms, std::string_view canonical_content);
/// <0, 0, >0 like strcmp; a malformed version sorts before every well-formed one.
int CompareVersions(std::string_view a, std::string_view b);
bool IsVersion(std::string_view v);

/// `evt_` + 24 hex: the same entity, type and version always give the same id.
std::string EventId(std::string_view entity_id, std::string_view type, std::string_view version);
/// A fresh W3C trace id (32 lowercase hex, not all zero).
std::string NewTraceId();

/// WooCommerce "2025-10-14T13:41:07" (no zone; the *_gmt fields are UTC) to epoch milliseconds.
std::optional<std::int64_t> ParseWooGmt(std::string_view text);
/// Epoch milliseconds to "2025-10-14T13:41:07Z" (".123" added when milliseconds are not zero).
std::string FormatUtc(std::int64_t epoch_ms);

}  // namespace orderbridge::model

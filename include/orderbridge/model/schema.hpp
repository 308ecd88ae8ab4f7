#pragma once
// Validation of canonical events against the JSON Schemas in schemas/canonical/v1 (compiled into
// the binary, so the daemon validates exactly the contract it was built with).
// Thread-safe after construction: Validate may be called from any thread.
#include <memory>
#include <string>
#include <vector>

#include "orderbridge/model/canonical.hpp"

namespace orderbridge::model {

class SchemaValidator {
  public:
    /// Loads the embedded schemas; `root` names the top-level schema file (envelope.schema.json
    /// validates whole events, order.schema.json only an order, ...).
    explicit SchemaValidator(const std::string& root = "envelope.schema.json");
    ~SchemaValidator();
    SchemaValidator(const SchemaValidator&) = delete;
    SchemaValidator& operator=(const SchemaValidator&) = delete;

    /// Empty when valid; otherwise one line per violation ("/data/lines/0/sku: ...").
    std::vector<std::string> Validate(const Json& document) const;

    /// Names of the embedded schema files.
    static std::vector<std::string> SchemaFiles();

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace orderbridge::model

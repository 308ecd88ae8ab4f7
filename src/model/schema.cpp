#include "orderbridge/model/schema.hpp"

#include <map>
#include <stdexcept>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "embedded_schemas.hpp"

namespace orderbridge::model {
namespace {

std::string BaseName(const std::string& uri) {
    const std::size_t slash = uri.find_last_of('/');
    std::string name = slash == std::string::npos ? uri : uri.substr(slash + 1);
    const std::size_t hash = name.find('#');
    if (hash != std::string::npos) name.erase(hash);
    return name;
}

const std::map<std::string, Json>& ParsedSchemas() {
    static const std::map<std::string, Json> kSchemas = [] {
        std::map<std::string, Json> out;
        for (const auto& [name, text] : EmbeddedSchemas())
            out.emplace(std::string(name), Json::parse(text));
        return out;
    }();
    return kSchemas;
}

}  // namespace

struct SchemaValidator::Impl {
    valijson::Schema schema;
};

SchemaValidator::SchemaValidator(const std::string& root) : impl_(std::make_unique<Impl>()) {
    const auto& schemas = ParsedSchemas();
    auto it = schemas.find(root);
    if (it == schemas.end()) throw std::invalid_argument("no embedded schema " + root);
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(it->second);
    auto fetch = [&schemas](const std::string& uri) -> const Json* {
        auto found = schemas.find(BaseName(uri));
        if (found == schemas.end()) throw std::runtime_error("schema reference not found: " + uri);
        return &found->second;
    };
    auto release = [](const Json*) {};
    parser.populateSchema(adapter, impl_->schema, fetch, release);
}

SchemaValidator::~SchemaValidator() = default;

std::vector<std::string> SchemaValidator::Validate(const Json& document) const {
    valijson::Validator validator(valijson::Validator::kStrongTypes);
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(document);
    std::vector<std::string> errors;
    if (validator.validate(impl_->schema, target, &results)) return errors;
    valijson::ValidationResults::Error error;
    while (results.popError(error)) {
        std::string path;
        for (const auto& p : error.context)
            path += p;
        errors.push_back(path + ": " + error.description);
    }
    return errors;
}

std::vector<std::string> SchemaValidator::SchemaFiles() {
    std::vector<std::string> out;
    for (const auto& [name, text] : EmbeddedSchemas())
        out.emplace_back(name);
    return out;
}

}  // namespace orderbridge::model

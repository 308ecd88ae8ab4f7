#pragma once
// Rules that span several keys (driver needs its DSN, unique names, listen address shape, ...).
#include <vector>

#include "orderbridge/config/loader.hpp"

namespace orderbridge::config {

void Validate(const Settings& settings, std::vector<Problem>& problems);

/// Canonical event types a connector may subscribe to ("order.*" and "*" match several).
const std::vector<std::string>& EventTypes();

}  // namespace orderbridge::config

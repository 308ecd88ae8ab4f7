#pragma once
// Rules that span several keys (driver needs its DSN, unique names, listen address shape, ...).
#include <vector>

#include "orderbridge/config/loader.hpp"

namespace orderbridge::config {

void Validate(const Settings& settings, std::vector<Problem>& problems);

}  // namespace orderbridge::config

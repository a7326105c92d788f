#pragma once
// The host programs print as the core does (dmon/core/print.hpp: stdio, no iostreams).
#include <dmon/core/print.hpp>

namespace dmon::host {

using dmon::core::print_to;

}  // namespace dmon::host

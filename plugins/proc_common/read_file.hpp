#pragma once

#include <string>
#include <vector>

namespace dmon::plugins {

// Reads a whole (pseudo-)file; throws std::runtime_error naming the path and the OS reason.
std::string read_file(const std::string& path);

// Names of the entries of a folder; empty when it does not exist.
std::vector<std::string> list_folder(const std::string& path);

}  // namespace dmon::plugins

#pragma once

#include <string>
#include <vector>

namespace dmon::plugins {

// Reads a whole (pseudo-)file; throws std::runtime_error naming the path and the OS reason.
std::string read_file(const std::string& path);

// As read_file, for the files that may vanish or be refused in the normal course of things
// (/proc/PID/*): 0 and `out` filled, or the errno value, without an exception.
int try_read_file(const std::string& path, std::string& out);

// Names of the entries of a folder; empty when it does not exist.
std::vector<std::string> list_folder(const std::string& path);

}  // namespace dmon::plugins

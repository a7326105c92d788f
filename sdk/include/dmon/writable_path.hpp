#pragma once
// A file a sink will create or append to: whether it could, asked without creating anything.
// For `dmon check` (DMON_CREATE_CHECK_ONLY), so that a path in a missing folder is reported
// before the service starts rather than at its first write.
#include <filesystem>
#include <string>
#include <system_error>
#ifndef _WIN32
#include <unistd.h>
#endif

namespace dmon {

// Empty when `path` can be written (it exists and is writable, or its folder exists and is
// writable; with `creates_folders`, the nearest folder above it that exists is writable, for a
// sink that makes its folders); otherwise why not ("<what> PATH: folder /x does not exist").
// On Windows only existence is checked: writability is the folder's ACL, and the service
// account may differ from the account running the check.
inline std::string writable_path_problem(const std::string& path, const std::string& what,
                                         bool creates_folders = false) {
    namespace fs = std::filesystem;
    std::error_code error;
    const fs::path file(path);
    if (fs::exists(file, error)) {
        if (fs::is_directory(file, error))
            return what + " " + path + " is a folder, not a file";
#ifndef _WIN32
        if (::access(path.c_str(), W_OK) != 0)
            return what + " " + path + " exists but is not writable by this user";
#endif
        return {};
    }
    fs::path folder = file.parent_path();
    if (folder.empty())
        folder = ".";
    if (creates_folders) {
        while (!fs::exists(folder, error) && folder.has_parent_path() &&
               folder.parent_path() != folder)
            folder = folder.parent_path();
        if (!fs::exists(folder, error))
            folder = ".";
    }
    if (!fs::is_directory(folder, error))
        return what + " " + path + ": folder " + folder.string() + " does not exist";
#ifndef _WIN32
    if (::access(folder.c_str(), W_OK | X_OK) != 0)
        return what + " " + path + ": folder " + folder.string() + " is not writable by this user";
#endif
    return {};
}

}  // namespace dmon

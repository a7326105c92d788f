#pragma once
// A file holding a secret (a broker password, an HTTP token) must be readable by its owner
// alone: the one check for every reader of secrets, plugins (through the SDK) and hosts alike.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#ifndef _WIN32
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace dmon {

// Empty when `path` may hold a secret; otherwise why not ("<what> PATH may be read by others
// (mode 0644): chmod 600 it"). On Windows the folder's ACL protects it (docs/windows.md).
inline std::string secret_file_problem(const std::string& path, const std::string& what) {
#ifndef _WIN32
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0)
        return what + " " + path + ": " + std::strerror(errno);
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
        return what + " " + path + " may be read by others (mode " + mode + "): chmod 600 it";
    }
    if (info.st_uid != ::geteuid() && info.st_uid != 0)
        return what + " " + path + " belongs to another user (uid " + std::to_string(info.st_uid) +
               ")";
#else
    (void)path;
    (void)what;
#endif
    return {};
}

}  // namespace dmon

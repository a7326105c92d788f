#pragma once
// A file holding a secret (a broker password, an HTTP token) must be readable by its owner
// alone: the one check for every reader of secrets, plugins (through the SDK) and hosts alike.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
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
    // Root may use a secret its service user owns: the package's layout (amqp.password is
    // dmon's, mode 600), read by `sudo dmon check` before the unit starts as dmon.
    if (info.st_uid != ::geteuid() && info.st_uid != 0 && ::geteuid() != 0)
        return what + " " + path + " belongs to another user (uid " + std::to_string(info.st_uid) +
               ")";
#else
    (void)path;
    (void)what;
#endif
    return {};
}

// The first line of a secret file (a token, a password), without its line end: throws
// std::invalid_argument with secret_file_problem's reason, or when the line is empty.
inline std::string read_secret_file(const std::string& path, const std::string& what) {
    if (std::string problem = secret_file_problem(path, what); !problem.empty())
        throw std::invalid_argument(problem);
    // stdio, not <fstream>: the first stream a process makes costs it the C++ locale machinery.
    std::string line;
    if (std::FILE* in = std::fopen(path.c_str(), "rb")) {
        int c = 0;
        while ((c = std::fgetc(in)) != EOF && c != '\n' && line.size() < 65536)
            line += static_cast<char>(c);
        std::fclose(in);
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
        line.pop_back();
    if (line.empty())
        throw std::invalid_argument(what + " " + path + " is empty");
    return line;
}

}  // namespace dmon

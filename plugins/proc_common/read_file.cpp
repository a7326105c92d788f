#include "proc_common/read_file.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>

#ifdef _WIN32
#include <filesystem>
#include <fstream>
#include <sstream>
#else
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>
#endif

namespace dmon::plugins {

std::string read_file(const std::string& path) {
#ifdef _WIN32
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
#else
    // Plain read(2): this runs every second on every agent, and iostreams cost several times more.
    std::string text;
    if (const int error = try_read_file(path, text); error != 0)
        throw std::runtime_error("cannot read " + path + ": " + std::strerror(error));
    return text;
#endif
}

int try_read_file(const std::string& path, std::string& out) {
    out.clear();
#ifdef _WIN32
    try {
        out = read_file(path);
        return 0;
    } catch (const std::exception&) {
        return errno != 0 ? errno : EIO;
    }
#else
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    // /proc files report size 0, so read until the end rather than by size.
    char buffer[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof(buffer));
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int saved = errno;
            ::close(fd);
            return saved;
        }
        out.append(buffer, static_cast<size_t>(n));
    }
    ::close(fd);
    return 0;
#endif
}

std::vector<std::string> list_folder(const std::string& path) {
    std::vector<std::string> names;
#ifdef _WIN32
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        names.push_back(entry.path().filename().string());
    }
#else
    // opendir rather than std::filesystem: plugins link the C++ runtime statically, and
    // <filesystem> would pull locale and iostream machinery into each of them.
    DIR* folder = ::opendir(path.c_str());
    if (folder == nullptr)
        return names;
    while (const dirent* entry = ::readdir(folder)) {
        const std::string_view name = entry->d_name;
        if (name != "." && name != "..")
            names.emplace_back(name);
    }
    ::closedir(folder);
#endif
    return names;
}

}  // namespace dmon::plugins

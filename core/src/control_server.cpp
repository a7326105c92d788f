#include "dmon/core/control_server.hpp"

#include "dmon/core/logging.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace dmon::core {

// Both platforms: "ping" is answered here (a liveness probe), the rest by the handler.
std::string ControlServer::answer_to(const std::string& request) const {
    if (request == "ping")
        return "pong\n";
    try {
        return handler_(request);
    } catch (const std::exception& e) {
        return std::string("error: ") + e.what() + "\n";
    }
}

#ifdef _WIN32

// Windows: a named pipe, \\.\pipe\dmon-<node>; one client at a time, one line each way.
std::string default_control_path(const std::string& node) {
    return "\\\\.\\pipe\\dmon-" + node;
}

namespace {
std::string last_error() {
    return "Windows error " + std::to_string(GetLastError());
}

// Owns a HANDLE.
class Handle {
  public:
    explicit Handle(HANDLE handle) : handle_(handle) {}
    ~Handle() {
        if (valid())
            CloseHandle(handle_);
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    HANDLE get() const { return handle_; }
    bool valid() const { return handle_ != nullptr && handle_ != INVALID_HANDLE_VALUE; }

  private:
    HANDLE handle_;
};
}  // namespace

ControlServer::ControlServer(std::string path, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
    // The first pipe instance is made here so that a name already taken is reported at start.
    Handle probe(CreateNamedPipeA(
        path_.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 4096, 4096,
        0, nullptr));
    if (!probe.valid()) {
        throw std::runtime_error(
            path_ + ": cannot create the control pipe (" + last_error() +
            "); is another dmon host using this name? give this one another 'control:'");
    }
    // The probe instance closes here; serve() creates the instances clients connect to.
    thread_ = std::thread([this] { serve(); });
}

ControlServer::~ControlServer() {
    stopping_ = true;
    // Wake ConnectNamedPipe with a client of our own.
    Handle wake(CreateFileA(path_.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                            0, nullptr));
    if (thread_.joinable())
        thread_.join();
}

void ControlServer::serve() {
    while (!stopping_) {
        Handle pipe(CreateNamedPipeA(
            path_.c_str(), PIPE_ACCESS_DUPLEX,
            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
            PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, nullptr));
        if (!pipe.valid())
            return;
        if (!ConnectNamedPipe(pipe.get(), nullptr) && GetLastError() != ERROR_PIPE_CONNECTED)
            continue;
        if (stopping_)
            return;
        std::string request;
        char c;
        DWORD n = 0;
        while (request.size() < 256 && ReadFile(pipe.get(), &c, 1, &n, nullptr) && n == 1 &&
               c != '\n')
            request.push_back(c);
        const std::string answer = answer_to(request);
        DWORD written = 0;
        WriteFile(pipe.get(), answer.data(), static_cast<DWORD>(answer.size()), &written, nullptr);
        FlushFileBuffers(pipe.get());
        DisconnectNamedPipe(pipe.get());
    }
}

std::string control_request(const std::string& path, const std::string& request) {
    HANDLE raw = INVALID_HANDLE_VALUE;
    for (int attempt = 0; attempt < 50; ++attempt) {
        raw = CreateFileA(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0,
                          nullptr);
        if (raw != INVALID_HANDLE_VALUE)
            break;
        if (GetLastError() != ERROR_PIPE_BUSY) {
            throw std::runtime_error(path + ": no dmon host answers there (" + last_error() +
                                     "); is it running, and is this its 'control:' path?");
        }
        WaitNamedPipeA(path.c_str(), 100);
    }
    Handle pipe(raw);
    if (!pipe.valid())
        throw std::runtime_error(path + ": the dmon host is busy; try again");
    const std::string line = request + "\n";
    DWORD n = 0;
    if (!WriteFile(pipe.get(), line.data(), static_cast<DWORD>(line.size()), &n, nullptr)) {
        throw std::runtime_error(path + ": cannot send the request (" + last_error() + ")");
    }
    std::string answer;
    char buffer[4096];
    while (ReadFile(pipe.get(), buffer, sizeof(buffer), &n, nullptr) && n > 0)
        answer.append(buffer, n);
    return answer;
}

#else

std::string default_control_path(const std::string& node) {
    const char* runtime = std::getenv("XDG_RUNTIME_DIR");
    const std::string base = runtime != nullptr && *runtime ? runtime : "/tmp";
    return base + "/dmon-" + std::to_string(::getuid()) + "/" + node + ".sock";
}

namespace {
sockaddr_un address_of(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path))
        throw std::runtime_error(path + ": control socket path is too long");
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}
std::string os_error() {
    return std::strerror(errno);
}
}  // namespace

ControlServer::ControlServer(std::string path, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
    const auto folder = std::filesystem::path(path_).parent_path();
    std::error_code ec;
    if (!folder.empty() && !std::filesystem::exists(folder)) {
        std::filesystem::create_directories(folder, ec);
        ::chmod(folder.c_str(), 0700);  // only the owner may reach the socket
    }
    const sockaddr_un address = address_of(path_);
    // A socket left by a host that died is stale: if nobody answers on it, replace it.
    try {
        control_request(path_, "ping");
        throw std::runtime_error(
            path_ +
            ": another dmon host already listens here; give this one another 'control:' path");
    } catch (const std::runtime_error& e) {
        if (std::string(e.what()).find("already listens") != std::string::npos)
            throw;
    }
    ::unlink(path_.c_str());
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0)
        throw std::runtime_error(path_ + ": cannot create the control socket: " + os_error());
    if (::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
        ::chmod(path_.c_str(), 0600) != 0 || ::listen(listener_, 8) != 0) {
        const std::string reason = os_error();
        ::close(listener_);
        throw std::runtime_error(path_ + ": cannot listen on the control socket: " + reason);
    }
    thread_ = std::thread([this] { serve(); });
}

ControlServer::~ControlServer() {
    ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    if (thread_.joinable())
        thread_.join();
    ::close(listener_);
    ::unlink(path_.c_str());
}

void ControlServer::serve() {
    for (;;) {
        const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR)
                continue;
            return;  // shut down
        }
        std::string request;
        char c;
        while (request.size() < 256 && ::read(client, &c, 1) == 1 && c != '\n')
            request.push_back(c);
        const std::string answer = answer_to(request);
        size_t sent = 0;
        while (sent < answer.size()) {
            const ssize_t n = ::write(client, answer.data() + sent, answer.size() - sent);
            if (n <= 0)
                break;
            sent += static_cast<size_t>(n);
        }
        ::close(client);
    }
}

std::string control_request(const std::string& path, const std::string& request) {
    const sockaddr_un address = address_of(path);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error("cannot create a socket: " + os_error());
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        const std::string reason = os_error();
        ::close(fd);
        throw std::runtime_error(path + ": no dmon host answers there (" + reason +
                                 "); is it running, and is this its 'control:' path?");
    }
    const std::string line = request + "\n";
    if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        ::close(fd);
        throw std::runtime_error(path + ": cannot send the request: " + os_error());
    }
    std::string answer;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof(buffer))) > 0)
        answer.append(buffer, static_cast<size_t>(n));
    ::close(fd);
    return answer;
}

#endif

}  // namespace dmon::core

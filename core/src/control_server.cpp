#include "dmon/core/control_server.hpp"

#include "dmon/core/logging.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#ifdef _WIN32
#include <windows.h>
#include <sddl.h>

#include <vector>
#else
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#endif

namespace dmon::core {

std::string parse_control_request(std::string_view line) {
    if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
    while (!line.empty() && line.front() == ' ')
        line.remove_prefix(1);
    while (!line.empty() && line.back() == ' ')
        line.remove_suffix(1);
    if (line.empty() || line.size() > kMaxRequest)
        return {};
    for (const char c : line) {
        // A request is a word: lower-case letters, digits, '_' and '-' (reload, status, ...).
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return {};
    }
    return std::string(line);
}

// Both platforms: "ping" is answered here (a liveness probe), the rest by the handler.
std::string ControlServer::answer_to(const std::string& request) const {
    if (request.empty())
        return "error: not a request (one word per line: reload, status, health)\n";
    if (request == "ping")
        return "pong\n";
    try {
        return handler_(request);
    } catch (const std::exception& e) {
        return std::string("error: ") + e.what() + "\n";
    }
}

#ifdef _WIN32

// Windows: a named pipe, \\.\pipe\dmon-<node>; one line each way, each client on a thread.
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

// Who may open the pipe: SYSTEM, Administrators and the user dmon runs as; nobody else (the
// default DACL would let every local user read it). "P": not inherited from anywhere.
std::string pipe_sddl() {
    std::string user = "OW";  // owner rights, if the user's SID cannot be read
    HANDLE token = nullptr;
    if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
        DWORD size = 0;
        GetTokenInformation(token, TokenUser, nullptr, 0, &size);
        std::vector<unsigned char> buffer(size);
        LPSTR sid = nullptr;
        if (size > 0 && GetTokenInformation(token, TokenUser, buffer.data(), size, &size) &&
            ConvertSidToStringSidA(reinterpret_cast<TOKEN_USER*>(buffer.data())->User.Sid, &sid)) {
            user = sid;
            LocalFree(sid);
        }
        CloseHandle(token);
    }
    return "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;" + user + ")";
}

// Security attributes holding a descriptor made from SDDL, freed on destruction.
class PipeSecurity {
  public:
    PipeSecurity() {
        if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(
                pipe_sddl().c_str(), SDDL_REVISION_1, &descriptor_, nullptr)) {
            throw std::runtime_error("cannot build the control pipe's access list (" +
                                     last_error() + ")");
        }
        attributes_.nLength = sizeof(attributes_);
        attributes_.lpSecurityDescriptor = descriptor_;
        attributes_.bInheritHandle = FALSE;
    }
    ~PipeSecurity() { LocalFree(descriptor_); }
    PipeSecurity(const PipeSecurity&) = delete;
    PipeSecurity& operator=(const PipeSecurity&) = delete;
    SECURITY_ATTRIBUTES* get() { return &attributes_; }

  private:
    PSECURITY_DESCRIPTOR descriptor_ = nullptr;
    SECURITY_ATTRIBUTES attributes_{};
};

HANDLE new_pipe_instance(const std::string& path, SECURITY_ATTRIBUTES* security, bool first) {
    return CreateNamedPipeA(
        path.c_str(),
        PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
        PIPE_UNLIMITED_INSTANCES, 4096, 4096, 0, security);
}

// One overlapped read or write, given up (and cancelled) at the deadline.
bool pipe_io(HANDLE pipe, bool write, void* data, DWORD size, DWORD& done, DWORD timeout_ms) {
    Handle event(CreateEventA(nullptr, TRUE, FALSE, nullptr));
    OVERLAPPED overlapped{};
    overlapped.hEvent = event.get();
    const BOOL ok = write ? WriteFile(pipe, data, size, nullptr, &overlapped)
                          : ReadFile(pipe, data, size, nullptr, &overlapped);
    if (!ok && GetLastError() != ERROR_IO_PENDING)
        return false;
    if (WaitForSingleObject(event.get(), timeout_ms) != WAIT_OBJECT_0) {
        CancelIo(pipe);
        GetOverlappedResult(pipe, &overlapped, &done, TRUE);  // wait for the cancel to land
        return false;
    }
    return GetOverlappedResult(pipe, &overlapped, &done, FALSE) != 0;
}
}  // namespace

ControlServer::ControlServer(std::string path, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
    PipeSecurity security;
    // The first instance is made here, so a name already taken is reported at start; it stays
    // open and is the one the first client connects to.
    HANDLE first = new_pipe_instance(path_, security.get(), true);
    if (first == INVALID_HANDLE_VALUE) {
        throw std::runtime_error(
            path_ + ": cannot create the control pipe (" + last_error() +
            "); is another dmon host using this name? give this one another 'control:'");
    }
    stop_event_ = CreateEventA(nullptr, TRUE, FALSE, nullptr);
    thread_ = std::thread([this, first] { serve(first); });
}

ControlServer::~ControlServer() {
    stopping_ = true;
    SetEvent(stop_event_);
    if (thread_.joinable())
        thread_.join();
    std::unique_lock lock(clients_mutex_);
    clients_done_.wait(lock, [this] { return clients_ == 0; });
    lock.unlock();
    CloseHandle(stop_event_);
}

void ControlServer::serve(void* first_instance) {
    PipeSecurity security;
    HANDLE pipe = first_instance;
    Handle connected_event(CreateEventA(nullptr, TRUE, FALSE, nullptr));
    while (!stopping_) {
        OVERLAPPED overlapped{};
        ResetEvent(connected_event.get());
        overlapped.hEvent = connected_event.get();
        bool connected = ConnectNamedPipe(pipe, &overlapped) != 0;
        if (!connected && GetLastError() == ERROR_PIPE_CONNECTED)
            connected = true;
        if (!connected && GetLastError() == ERROR_IO_PENDING) {
            const HANDLE events[] = {stop_event_, connected_event.get()};
            const DWORD woke = WaitForMultipleObjects(2, events, FALSE, INFINITE);
            DWORD ignored = 0;
            if (woke == WAIT_OBJECT_0 + 1)
                connected = GetOverlappedResult(pipe, &overlapped, &ignored, FALSE) != 0;
            else {
                CancelIo(pipe);
                GetOverlappedResult(pipe, &overlapped, &ignored, TRUE);
            }
        }
        if (stopping_ || !connected) {
            CloseHandle(pipe);
            if (stopping_)
                return;
            pipe = new_pipe_instance(path_, security.get(), false);
            if (pipe == INVALID_HANDLE_VALUE)
                return;
            continue;
        }
        // The next instance exists before this client is served: the name is never free for
        // another process to take, and the next client never finds it busy.
        HANDLE next = new_pipe_instance(path_, security.get(), false);
        HANDLE client = pipe;
        bool served = false;
        {
            std::lock_guard lock(clients_mutex_);
            if (clients_ < kMaxClients) {
                ++clients_;
                served = true;
            }
        }
        if (served) {
            std::thread([this, client] {
                handle_client(client);
                FlushFileBuffers(client);
                DisconnectNamedPipe(client);
                CloseHandle(client);
                std::lock_guard lock(clients_mutex_);
                --clients_;
                clients_done_.notify_all();
            }).detach();
        } else {
            DisconnectNamedPipe(client);
            CloseHandle(client);
        }
        if (next == INVALID_HANDLE_VALUE)
            return;
        pipe = next;
    }
    CloseHandle(pipe);
}

void ControlServer::handle_client(void* pipe) const {
    const auto deadline_ms = static_cast<DWORD>(
        std::chrono::duration_cast<std::chrono::milliseconds>(kClientDeadline).count());
    std::string request;
    char buffer[256];
    const auto started = GetTickCount64();
    while (request.find('\n') == std::string::npos && request.size() <= kMaxRequest) {
        const ULONGLONG spent = GetTickCount64() - started;
        if (spent >= deadline_ms)
            return;
        DWORD n = 0;
        if (!pipe_io(pipe, false, buffer, sizeof(buffer), n,
                     deadline_ms - static_cast<DWORD>(spent)) ||
            n == 0)
            return;
        request.append(buffer, n);
    }
    if (request.find('\n') == std::string::npos)
        return;
    request.resize(request.find('\n'));
    std::string answer = answer_to(parse_control_request(request));
    DWORD written = 0;
    pipe_io(pipe, true, answer.data(), static_cast<DWORD>(answer.size()), written, deadline_ms);
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
    // root: /run/dmon, as a system service would have it (RuntimeDirectory=dmon).
    if (::geteuid() == 0)
        return "/run/dmon/" + node + ".sock";
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

// The socket's folder decides who can reach the socket: it is made 0700 when missing, and an
// existing one must be a real folder (not a symlink), ours or root's, that nobody else may
// write to (else another user could have pre-created it and swap the socket under us).
void secure_folder(const std::filesystem::path& folder) {
    if (folder.empty())
        return;
    struct stat info {};
    if (::lstat(folder.c_str(), &info) != 0) {
        if (errno != ENOENT)
            throw std::runtime_error(folder.string() + ": " + os_error());
        if (folder.has_parent_path() && folder.parent_path() != folder) {
            std::error_code ec;
            std::filesystem::create_directories(folder.parent_path(), ec);
        }
        if (::mkdir(folder.c_str(), 0700) != 0 && errno != EEXIST) {
            throw std::runtime_error(folder.string() +
                                     ": cannot create the control folder: " + os_error());
        }
        if (::lstat(folder.c_str(), &info) != 0)
            throw std::runtime_error(folder.string() + ": " + os_error());
    }
    const std::string refused = folder.string() + ": refusing this control folder: ";
    if (S_ISLNK(info.st_mode))
        throw std::runtime_error(refused + "it is a symbolic link");
    if (!S_ISDIR(info.st_mode))
        throw std::runtime_error(refused + "it is not a folder");
    if (info.st_uid != ::geteuid() && info.st_uid != 0) {
        throw std::runtime_error(refused + "it belongs to another user (uid " +
                                 std::to_string(info.st_uid) +
                                 "); remove it or set 'control:' to a folder of your own");
    }
    if ((info.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (info.st_mode & S_ISVTX) == 0) {
        char mode[8];
        std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
        throw std::runtime_error(refused + "others may write to it (mode " + mode +
                                 "); chmod 700 it");
    }
}

// Whether a host listens on the socket. Without an exception for the usual answer (nobody): the
// first exception a process throws maps the unwinder and the unwind tables of every module on
// the stack, a few hundred kB of an agent's resident memory for the rest of its life.
bool someone_listens(const sockaddr_un& address) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    const bool connected =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return connected;
}

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until the deadline; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0)
            return false;
        pollfd entry{fd, events, 0};
        const int ready = ::poll(&entry, 1, static_cast<int>(left));
        if (ready > 0)
            return true;
        if (ready < 0 && errno != EINTR)
            return false;
    }
}
}  // namespace

ControlServer::ControlServer(std::string path, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
    secure_folder(std::filesystem::path(path_).parent_path());
    const sockaddr_un address = address_of(path_);
    // A socket left by a host that died is stale: if nobody answers on it, replace it.
    if (someone_listens(address))
        throw std::runtime_error(
            path_ +
            ": another dmon host already listens here; give this one another 'control:' path");
    ::unlink(path_.c_str());
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0)
        throw std::runtime_error(path_ + ": cannot create the control socket: " + os_error());
    if (::bind(listener_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
        ::chmod(path_.c_str(), 0600) != 0 || ::listen(listener_, 16) != 0) {
        const std::string reason = os_error();
        ::close(listener_);
        throw std::runtime_error(path_ + ": cannot listen on the control socket: " + reason);
    }
    thread_ = std::thread([this] { serve(); });
}

ControlServer::~ControlServer() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    if (thread_.joinable())
        thread_.join();
    // Clients in flight end within their deadlines (or when their request's work is done).
    std::unique_lock lock(clients_mutex_);
    clients_done_.wait(lock, [this] { return clients_ == 0; });
    lock.unlock();
    ::close(listener_);
    ::unlink(path_.c_str());
}

void ControlServer::serve() {
    for (;;) {
        const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return;  // shut down
        }
        if (stopping_) {
            ::close(client);
            return;
        }
        // Each client on a thread of its own, so one that never speaks delays nobody; a bound
        // on how many keeps a flood of connections from costing more than that.
        {
            std::lock_guard lock(clients_mutex_);
            if (clients_ >= kMaxClients) {
                static constexpr char kBusy[] = "error: too many control clients; try again\n";
                ::send(client, kBusy, sizeof(kBusy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                ::close(client);
                continue;
            }
            ++clients_;
        }
        std::thread([this, client] {
            handle_client(client);
            ::close(client);
            std::lock_guard lock(clients_mutex_);
            --clients_;
            clients_done_.notify_all();
        }).detach();
    }
}

void ControlServer::handle_client(int client) const {
    // One request line within the deadline; a client that sends nothing or too much is dropped.
    const auto read_deadline = Clock::now() + kClientDeadline;
    std::string request;
    bool complete = false;
    char buffer[256];
    while (!complete && request.size() <= kMaxRequest && wait_for(client, POLLIN, read_deadline)) {
        const ssize_t n = ::recv(client, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        request.append(buffer, static_cast<size_t>(n));
        complete = request.find('\n') != std::string::npos;
    }
    if (!complete)
        return;
    request.resize(request.find('\n'));
    const std::string answer = answer_to(parse_control_request(request));
    // MSG_NOSIGNAL: a client gone before the answer (Ctrl-C on dmonctl) is no SIGPIPE for us.
    const auto write_deadline = Clock::now() + kClientDeadline;
    size_t sent = 0;
    while (sent < answer.size() && wait_for(client, POLLOUT, write_deadline)) {
        const ssize_t n =
            ::send(client, answer.data() + sent, answer.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return;
        sent += static_cast<size_t>(n);
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
    if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
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

#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace dmon::core {

// The default control socket of a node: /run/dmon/<node>.sock for root, else
// $XDG_RUNTIME_DIR (or /tmp)/dmon-<uid>/<node>.sock, in a folder only its owner may enter, so
// only the owner (and root) can reload or inspect.
std::string default_control_path(const std::string& node);

// A request line is at most this long; longer is no request.
inline constexpr size_t kMaxRequest = 64;

// The request word of one line ("status\r\n" -> "status"), or empty when the line is no
// request (too long, or other than [a-z0-9_-]). Pure: fuzzed (tests/fuzz).
std::string parse_control_request(std::string_view line);

// A local control endpoint: one request line per connection ("reload", "status"), one answer,
// then the connection closes. Each client is served on its own thread with a read and a write
// deadline, so a client that never speaks or never reads delays nobody; a client that leaves
// early costs nothing (no SIGPIPE). Linux: a Unix domain socket, mode 0600, in a folder that is
// ours and closed to others (0700 when we create it). Windows: a named pipe with an explicit
// DACL that refuses remote clients.
class ControlServer {
  public:
    using Handler = std::function<std::string(const std::string& request)>;
    // Throws std::runtime_error naming the path when the socket cannot be created.
    ControlServer(std::string path, Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;
    const std::string& path() const { return path_; }

    static constexpr std::chrono::seconds kClientDeadline{2};  // to send the request, to read
    static constexpr int kMaxClients = 16;                     // served at once

  private:
#ifdef _WIN32
    void serve(void* first_instance);
    void handle_client(void* pipe) const;
    void* stop_event_ = nullptr;
#else
    void serve();
    void handle_client(int client) const;
#endif
    std::string answer_to(const std::string& request) const;
    std::string path_;
    Handler handler_;
    int listener_ = -1;  // the Unix socket
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    std::mutex clients_mutex_;
    std::condition_variable clients_done_;
    int clients_ = 0;  // client threads running
};

// The client side, for dmonctl: sends one request and returns the answer. Throws with a clear
// message when no host listens there.
std::string control_request(const std::string& path, const std::string& request);

}  // namespace dmon::core

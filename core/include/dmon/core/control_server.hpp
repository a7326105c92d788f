#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace dmon::core {

// The default control socket of a node: $XDG_RUNTIME_DIR (or /tmp)/dmon-<uid>/<node>.sock, in
// a folder only its owner may enter, so only the owner (and root) can reload or inspect.
std::string default_control_path(const std::string& node);

// A local control endpoint: one request line per connection ("reload", "status"), one answer,
// then the connection closes. Linux: a Unix domain socket, mode 0600, in a 0700 folder.
// Windows: a named pipe that refuses remote clients.
class ControlServer {
  public:
    using Handler = std::function<std::string(const std::string& request)>;
    // Throws std::runtime_error naming the path when the socket cannot be created.
    ControlServer(std::string path, Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;
    const std::string& path() const { return path_; }

  private:
    void serve();
    std::string answer_to(const std::string& request) const;
    std::string path_;
    Handler handler_;
    int listener_ = -1;                  // the Unix socket
    std::atomic<bool> stopping_{false};  // Windows: tells the pipe loop to end
    std::thread thread_;
};

// The client side, for dmonctl: sends one request and returns the answer. Throws with a clear
// message when no host listens there.
std::string control_request(const std::string& path, const std::string& request);

}  // namespace dmon::core

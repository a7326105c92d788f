// The service manager's notification protocol and journal detection, against a datagram socket
// of the test's own (what systemd does on the other end of $NOTIFY_SOCKET).
#include "dmon/core/service_manager.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace dmon::core {
namespace {

// A datagram socket bound at `name` (a path, or "@name" for an abstract one), unbound at the end.
class Listener {
  public:
    explicit Listener(const std::string& name) : name_(name) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, name.data(), name.size());
        if (name[0] == '@')
            address.sun_path[0] = '\0';
        bound_ = ::bind(fd_, reinterpret_cast<const sockaddr*>(&address),
                        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0;
        timeval timeout{2, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    }
    ~Listener() {
        ::close(fd_);
        if (name_[0] == '/')
            ::unlink(name_.c_str());
    }
    bool bound() const { return bound_; }
    std::string receive() {
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
        return n > 0 ? std::string(buffer, static_cast<size_t>(n)) : std::string();
    }

  private:
    std::string name_;
    int fd_ = -1;
    bool bound_ = false;
};

struct Environment {
    explicit Environment(const char* name) : name_(name) {}
    ~Environment() { ::unsetenv(name_); }
    void set(const std::string& value) { ::setenv(name_, value.c_str(), 1); }
    const char* name_;
};

TEST(ServiceManager, NotifiesThroughAPathOrAnAbstractSocket) {
    Environment notify_socket("NOTIFY_SOCKET");
    const std::string path = "/tmp/dmon-notify-test-" + std::to_string(::getpid());
    Listener listener(path);
    ASSERT_TRUE(listener.bound());
    notify_socket.set(path);
    EXPECT_TRUE(notify_service_manager("READY=1\nSTATUS=collecting"));
    EXPECT_EQ(listener.receive(), "READY=1\nSTATUS=collecting");

    const std::string abstract = "@dmon-notify-test-" + std::to_string(::getpid());
    Listener abstract_listener(abstract);
    ASSERT_TRUE(abstract_listener.bound());
    notify_socket.set(abstract);
    EXPECT_TRUE(notify_service_manager("STOPPING=1"));
    EXPECT_EQ(abstract_listener.receive(), "STOPPING=1");
}

TEST(ServiceManager, WithoutAManagerNothingIsSent) {
    ::unsetenv("NOTIFY_SOCKET");
    EXPECT_FALSE(notify_service_manager("READY=1"));
    Environment notify_socket("NOTIFY_SOCKET");
    notify_socket.set("relative/path");  // neither a path nor an abstract name: refused
    EXPECT_FALSE(notify_service_manager("READY=1"));
    notify_socket.set("/nonexistent/folder/notify.sock");
    EXPECT_FALSE(notify_service_manager("READY=1"));
    notify_socket.set(std::string(200, '/'));  // longer than a socket path may be
    EXPECT_FALSE(notify_service_manager("READY=1"));
}

TEST(ServiceManager, ReloadingCarriesTheMonotonicClock) {
    const std::string state = reloading_state();
    ASSERT_EQ(state.rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << state;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    const long long usec = std::stoll(state.substr(state.find('=', 12) + 1));
    const long long expected = static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
    EXPECT_LE(usec, expected);
    EXPECT_GT(usec, expected - 5'000'000);  // the same clock, read a moment apart
}

TEST(ServiceManager, TheJournalIsRecognisedByItsDeviceAndInode) {
    Environment journal_stream("JOURNAL_STREAM");
    struct stat info {};
    ASSERT_EQ(::fstat(STDERR_FILENO, &info), 0);
    journal_stream.set(std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino));
    EXPECT_TRUE(stderr_is_journal());
    journal_stream.set(std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino + 1));
    EXPECT_FALSE(stderr_is_journal());  // inherited by a process whose stderr went elsewhere
    journal_stream.set("garbage");
    EXPECT_FALSE(stderr_is_journal());
    ::unsetenv("JOURNAL_STREAM");
    EXPECT_FALSE(stderr_is_journal());
}

}  // namespace
}  // namespace dmon::core

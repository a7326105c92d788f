// The control endpoint against careless and hostile local clients: one that leaves before the
// answer, one that never speaks, one that never finishes its line, and a socket folder that
// another user prepared.
#include "dmon/core/control_server.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

namespace dmon::core {
namespace {
using namespace std::chrono_literals;

class ControlTest : public ::testing::Test {
  protected:
    std::unique_ptr<ControlServer> serve() {
        return std::make_unique<ControlServer>(path_, [this](const std::string& request) {
            ++requests_;
            if (request == "slow")
                std::this_thread::sleep_for(300ms);
            return "answer to " + request + "\n";
        });
    }
    test::TempFolder folder_;
    std::string path_ = folder_.path("control/host.sock");
    std::atomic<int> requests_{0};
};

TEST(ControlRequest, OneWordPerLine) {
    EXPECT_EQ(parse_control_request("status"), "status");
    EXPECT_EQ(parse_control_request(" reload \r"), "reload");
    EXPECT_EQ(parse_control_request(""), "");
    EXPECT_EQ(parse_control_request("status; rm -rf /"), "");
    EXPECT_EQ(parse_control_request("\x1b[2Jstatus"), "");
    EXPECT_EQ(parse_control_request(std::string(65, 'a')), "");
    EXPECT_EQ(parse_control_request(std::string(64, 'a')), std::string(64, 'a'));
}

// Ctrl-C on `dmonctl reload`: the client is gone when the answer is written. Without
// MSG_NOSIGNAL that write raised SIGPIPE, which ends this test program as it ended dmon.
TEST_F(ControlTest, AClientThatLeavesBeforeTheAnswerHarmsNothing) {
    auto server = serve();
    for (int i = 0; i < 3; ++i) {
        test::RawClient client(path_);
        ASSERT_TRUE(client.connected());
        client.send("slow\n");
        client.close();
    }
    std::this_thread::sleep_for(500ms);  // the answers are written to closed sockets
    EXPECT_EQ(control_request(path_, "status"), "answer to status\n");
}

// One client that connects and never speaks, and one that never ends its line: another
// client's request is answered at once, and both are dropped at their deadline.
TEST_F(ControlTest, ASilentClientDelaysNobody) {
    auto server = serve();
    test::RawClient silent(path_);
    test::RawClient unfinished(path_);
    ASSERT_TRUE(silent.connected());
    unfinished.send("stat");
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(control_request(path_, "status"), "answer to status\n");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
    std::this_thread::sleep_for(ControlServer::kClientDeadline + 500ms);
    EXPECT_EQ(requests_, 1);  // neither of the two became a request
    EXPECT_EQ(control_request(path_, "nonsense!"),
              "error: not a request (one word per line: reload, status, health)\n");
}

TEST_F(ControlTest, TheFolderIsMadePrivate) {
    auto server = serve();
    struct stat info {};
    ASSERT_EQ(::stat(folder_.path("control").c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0700u);
    ASSERT_EQ(::stat(path_.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST_F(ControlTest, ASecondHostIsRefusedAndAStaleSocketReplaced) {
    {
        auto first = serve();
        try {
            serve();
            ADD_FAILURE() << "a second host took the socket of a running one";
        } catch (const std::runtime_error& e) {
            EXPECT_NE(std::string(e.what()).find("another dmon host already listens here"),
                      std::string::npos)
                << e.what();
        }
        EXPECT_EQ(control_request(path_, "x"), "answer to x\n");  // the first one still serves
    }
    // A host that died leaves its socket file behind: nobody answers there, so it is replaced.
    const int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof(address.sun_path) - 1);
    ::unlink(path_.c_str());
    ASSERT_EQ(::bind(stale, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
    ::close(stale);  // bound, never listened, closed: the file stays, nobody answers
    ASSERT_TRUE(std::filesystem::exists(path_));
    auto replacement = serve();
    EXPECT_EQ(control_request(path_, "y"), "answer to y\n");
}

std::string refusal(const std::string& path) {
    try {
        ControlServer server(path, [](const std::string&) { return std::string(); });
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "(accepted)";
}

// /tmp/dmon-<uid> pre-created by another local user, or left open to everyone, or a symlink
// to somewhere else: refused with the reason, never used.
TEST_F(ControlTest, ASquattedOrOpenFolderIsRefused) {
    const std::string open = folder_.path("open");
    std::filesystem::create_directories(open);
    ::chmod(open.c_str(), 0777);
    EXPECT_EQ(refusal(open + "/h.sock"),
              open +
                  ": refusing this control folder: others may write to it (mode 0777); chmod "
                  "700 it");
    const std::string link = folder_.path("link");
    std::filesystem::create_directory_symlink(folder_.path("."), link);
    EXPECT_EQ(refusal(link + "/h.sock"),
              link + ": refusing this control folder: it is a symbolic link");
    if (::geteuid() == 0) {  // only root can give a folder to another user (CI runs as root)
        const std::string squatted = folder_.path("squatted");
        std::filesystem::create_directories(squatted);
        ASSERT_EQ(::chown(squatted.c_str(), 65534, 65534), 0);
        EXPECT_EQ(refusal(squatted + "/h.sock"),
                  squatted +
                      ": refusing this control folder: it belongs to another user (uid "
                      "65534); remove it or set 'control:' to a folder of your own");
        EXPECT_EQ(default_control_path("web1"), "/run/dmon/web1.sock");
    }
}

}  // namespace
}  // namespace dmon::core

#pragma once
// The agent's side of fleet control: a thread that holds a connection to the broker, a queue of
// its own (dmon.control.<node>, exclusive) bound to control.node.<node>, control.group.<group>
// and control.all on the `dmon.control` topic exchange, and obeys the commands of admins.
#include "protocol.hpp"

#include <dmon/core/config.hpp>
#include <dmon/core/host.hpp>

#include <amqp.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace dmon::fleet {

class FleetListener {
  public:
    // How the host reloads: the same path as SIGHUP and `dmonctl reload` (so a service manager
    // hears RELOADING/READY), from the file or with a config given.
    struct Reloads {
        std::function<core::ReloadOutcome()> from_file;
        std::function<core::ReloadOutcome(core::HostConfig)> with_config;
    };

    FleetListener(core::Host& host, Reloads reloads);
    ~FleetListener();  // stop()
    FleetListener(const FleetListener&) = delete;
    FleetListener& operator=(const FleetListener&) = delete;

    // Starts the thread (it connects, and reconnects with back-off, on its own).
    void start();
    // Leaves the broker and joins the thread (within about 300 ms, or the command in hand).
    void stop();

    // Commands by outcome: "obeyed", "failed" (obeyed, the host said no), and the refusals
    // "not_admin", "expired", "future", "replayed", "flood", "malformed". For self-metrics
    // (dmon.fleet.commands{result=...}) and tests.
    std::map<std::string, uint64_t> counts() const;

    // What this host answers to a command it obeys. Public for the unit tests.
    Reply execute(const Command& command);

  private:
    void run();
    void serve_one_connection();
    // False when the listener is stopping; true when the socket may have a frame (or it is
    // time to let rabbitmq-c send a heartbeat).
    bool wait_for_traffic(amqp_connection_state_t state);
    void count(const std::string& result);
    // At most one log line a minute per reason, with how many since the last.
    void log_refusal(const std::string& reason, const std::string& line);

    core::Host& host_;
    Reloads reloads_;
    core::FleetConfig config_;
    std::string node_;
    CommandGate gate_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
    int wake_[2] = {-1, -1};  // stop() writes to [1]; the listener polls [0] (POSIX)
    mutable std::mutex counts_mutex_;
    std::map<std::string, uint64_t> counts_;
    struct Said {
        std::chrono::steady_clock::time_point at{};
        uint64_t since = 0;
    };
    std::map<std::string, Said> said_;  // listener thread only
};

}  // namespace dmon::fleet

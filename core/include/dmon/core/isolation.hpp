#pragma once
// Isolation (`isolate: true`, docs/plugin-sdk.md "Isolation"): an instance whose every call
// runs in a worker process, the dmon binary started as `dmon worker`, so that a crash, an abort,
// a hang or runaway memory costs a restart of the worker instead of the host.
#include "dmon/core/config.hpp"
#include "dmon/core/instance_stats.hpp"
#include "dmon/core/options.hpp"
#include "dmon/core/plugin_instance.hpp"
#include "dmon/core/plugin_library.hpp"
#include "dmon/core/worker_protocol.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace dmon::core {

// The worker process's main (`dmon worker`): serves one plugin instance over the stream socket
// `fd` until the host says stop or goes away. Returns the process's exit status.
int run_plugin_worker(int fd);

// The program started as the worker: "/proc/self/exe" (the running dmon binary, even when a
// package upgrade has replaced its file), or what a test sets.
void set_worker_program(std::string path);

// The host's side of one isolated instance. Calls are serial (the instance's own strand).
// A worker that crashes, overruns `deadline` in a call, or grows past `memory_limit` is killed,
// named in the log with the reason, counted in the instance's crashes{reason=...} counter
// (dmon.plugin.crashes) and started again, after a back-off, by the next call; that call and
// the one that was lost fail with DMON_ERROR, so the runners' own retry applies (a sink's
// batch is written again, to the new worker).
class IsolatedPlugin : public std::enable_shared_from_this<IsolatedPlugin> {
  public:
    IsolatedPlugin(const PluginLibrary& library, const InstanceConfig& config,
                   const OptionSet& options, const std::string& node, bool check_only,
                   std::shared_ptr<InstanceStats> stats);
    ~IsolatedPlugin();
    IsolatedPlugin(const IsolatedPlugin&) = delete;
    IsolatedPlugin& operator=(const IsolatedPlugin&) = delete;

    // Starts the worker and creates the instance in it; throws PluginLoadError on failure.
    void start();

    dmon_status collect(dmon_emitter& emitter, std::string& error);
    dmon_status write(const dmon_batch& batch, std::string& error);
    dmon_status flush(std::string& error);

    int pid() const { return pid_; }

  private:
    friend void remote_completion(void* ticket, dmon_status status);

    bool running() const { return pid_ > 0; }
    bool ensure_running(std::string& error);
    bool spawn(std::string& error);
    std::optional<worker::Reply> call(worker::FrameType type, const std::string& payload,
                                      const char* what, std::string& error);
    std::optional<worker::Reply> await_reply(const char* what, std::string& error);
    bool send(worker::FrameType type, const std::string& payload);
    void log_from_worker(const std::string& payload);
    void apply_counters(const worker::Reply& reply);
    // Kills and reaps the worker; counts and logs it as a crash with `reason` (signal,
    // exit, deadline, memory_limit, protocol); says in `error` what happened.
    void lost(const char* reason, const std::string& what_happened, const char* call,
              std::string& error);
    void reap(bool kill_first, std::string* how_it_ended);
    void stop_worker();
    void complete(uint64_t generation, uint64_t token, bool ok);

    std::string plugin_path_;
    std::string description_;  // "collector 'x' (plugin x)"
    InstanceConfig config_;
    worker::CreateRequest create_;
    std::shared_ptr<InstanceStats> stats_;

    int pid_ = -1;
    int fd_ = -1;
    uint64_t generation_ = 0;  // of the running worker: completions of an older one are void
    worker::FrameReader reader_;
    std::string read_buffer_;
    int crashes_in_a_row_ = 0;
    std::chrono::steady_clock::time_point restart_not_before_{};
    std::chrono::steady_clock::time_point started_at_{};  // of the running worker
    std::chrono::steady_clock::time_point last_memory_check_{};
    size_t log_lines_this_call_ = 0;
};

}  // namespace dmon::core

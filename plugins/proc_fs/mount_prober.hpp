#pragma once

#include "proc_fs/filesystems.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dmon::plugins::proc_fs {

// Asks statvfs of each mount on a worker thread, so that a mount that hangs (a dead NFS server,
// a stuck FUSE daemon) costs one timeout once and never blocks the collector or the host.
//
// One worker takes the mounts in turn. When a call has not returned after `timeout`, the worker
// is abandoned with that call (a thread blocked in the kernel cannot be stopped) and a new one
// takes the remaining mounts. The mount is then "stuck": skipped each round, without a new
// thread, until its old call returns. So hung mounts cost one parked thread each, never more.
class MountProber {
  public:
    // statvfs for one path: 0 and `out` filled, or an errno value.
    using StatFn = std::function<int(const std::string& path, FsStats& out)>;

    enum class Outcome {
        ok,
        gone,       // ENOENT/ENOTDIR: unmounted between the listing and the call
        failed,     // another errno (EACCES, EIO, ...)
        timed_out,  // the call did not return within the timeout this round
        stuck,      // an earlier call has still not returned: not asked again
    };
    struct Result {
        Outcome outcome = Outcome::failed;
        FsStats stats;
        int error = 0;
    };

    // on_abandon runs (on the caller's thread) each time a worker is left behind in a call.
    MountProber(StatFn stat, std::chrono::milliseconds timeout,
                std::function<void()> on_abandon = {});
    ~MountProber();
    MountProber(const MountProber&) = delete;
    MountProber& operator=(const MountProber&) = delete;

    // One result per path, in order. Returns within about timeout x (mounts that newly hang).
    std::vector<Result> probe(const std::vector<std::string>& paths);

    // Mount points whose call has not returned yet.
    std::vector<std::string> stuck() const;

  private:
    struct Job {
        std::string path;
        FsStats stats;
        int error = 0;
        bool done = false;
    };
    struct Worker {
        std::mutex mutex;
        std::condition_variable changed;
        std::deque<std::shared_ptr<Job>> queue;
        std::shared_ptr<Job> current;
        std::chrono::steady_clock::time_point started;
        bool stop = false;
    };
    struct Parked {
        std::shared_ptr<Worker> worker;
        std::shared_ptr<Job> job;
    };

    void start_worker();
    static void run(std::shared_ptr<Worker> worker, StatFn stat);

    StatFn stat_;
    std::chrono::milliseconds timeout_;
    std::function<void()> on_abandon_;
    std::shared_ptr<Worker> worker_;
    std::thread thread_;
    std::map<std::string, Parked> stuck_;
};

}  // namespace dmon::plugins::proc_fs

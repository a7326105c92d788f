#pragma once

#include "dmon/core/asio.hpp"
#include "dmon/core/instance_stats.hpp"
#include "dmon/core/plugin_instance.hpp"
#include "dmon/core/router.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>

namespace dmon::core {

// Runs one collector on its own strand at wall-clock-aligned ticks (an interval of 10 s
// fires at :00, :10, :20, ...), so samples of different hosts line up. A collector that
// overruns its interval skips the missed ticks (counted); one that fails is logged and backs
// off (interval x 2, x 4, ... up to 5 min), and never delays another instance.
class CollectorRunner : public std::enable_shared_from_this<CollectorRunner> {
  public:
    // Fills the emitter; returns DMON_OK or a status with a message.
    using CollectFn = std::function<dmon_status(dmon_emitter&, std::string&)>;

    CollectorRunner(asio::io_context& io, std::string name, std::chrono::nanoseconds interval,
                    CollectFn collect, std::shared_ptr<Router> router, std::string node);
    // A runner for a plugin instance.
    CollectorRunner(asio::io_context& io, std::shared_ptr<PluginInstance> instance,
                    std::chrono::nanoseconds interval, std::shared_ptr<Router> router,
                    std::string node);

    const std::string& name() const { return name_; }
    const std::shared_ptr<PluginInstance>& instance() const { return instance_; }
    const std::shared_ptr<InstanceStats>& stats() const { return stats_; }
    std::chrono::nanoseconds interval() const { return interval_; }

    void start();
    // An extra round now, beside the schedule (`dmonctl fleet collect`): collected on the
    // strand (never beside a scheduled round), stamped and routed like any round, without
    // touching the schedule or the back-off. `done` gets the samples routed and the error
    // ("" on success), on the strand.
    void collect_now(std::function<void(size_t samples, std::string error)> done);
    // Cancels the next tick and waits until no collect() runs; none starts afterwards.
    void stop();

    // The next wall-clock-aligned tick strictly after `now`.
    static std::chrono::system_clock::time_point next_tick(
        std::chrono::system_clock::time_point now, std::chrono::nanoseconds interval);

    // Calls, with DMON_ERROR, every completion the plugin is still owed (see Completions).
    ~CollectorRunner();

  private:
    void schedule(std::chrono::system_clock::time_point when);
    void run_round();
    // One collect() with a fresh emitter, its batches routed; strand-only.
    dmon_status collect_and_route(std::string& error, size_t& samples);
    void report_refusals(const dmon_emitter::Refusals& refused);  // strand-only

    // The completions the plugin is owed (emit_with_completion), each called exactly once: on
    // the strand when its batch is done, or by the destructor with DMON_ERROR when the runner
    // goes first (a batch still queued in a sink that gave up at shutdown). Until they were
    // tracked, such a completion was never called and the plugin's closure leaked.
    struct Completions {
        std::mutex mutex;
        std::map<void*, dmon_completion_fn> owed;
        bool take(void* user) {
            std::lock_guard lock(mutex);
            return owed.erase(user) == 1;
        }
    };

    std::string name_;
    std::shared_ptr<PluginInstance> instance_;
    std::chrono::nanoseconds interval_;
    CollectFn collect_;
    std::shared_ptr<Router> router_;
    std::string node_;
    Strand strand_;
    asio::system_timer timer_;
    std::shared_ptr<InstanceStats> stats_ = std::make_shared<InstanceStats>();
    std::chrono::system_clock::time_point scheduled_for_{};
    int consecutive_failures_ = 0;  // strand-only
    bool stopped_ = false;          // strand-only
    bool uses_completion_ = false;  // strand-only: fed from outside, so back-pressure applies
    std::optional<std::chrono::steady_clock::time_point> last_refusal_log_;  // strand-only
    std::optional<std::chrono::steady_clock::time_point> last_invalid_log_;  // strand-only
    std::shared_ptr<Completions> completions_ = std::make_shared<Completions>();
};

}  // namespace dmon::core

#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace dmon::core {

// The wait before retry number `failures` (1, 2, ...) of a failed write: 100 ms doubling up to
// `cap`, with "equal jitter": uniformly in [d/2, d] for `random01` in [0, 1). Many agents that
// lost the same broker must not come back in lockstep, and none waits longer than `cap`.
std::chrono::milliseconds retry_delay(int failures, double random01,
                                      std::chrono::milliseconds cap = std::chrono::seconds(30));

// What a sink runner logs about one outage: the first failure, then a summary every
// `summary_every` while it lasts (attempts, last error, what is kept and dropped), then one
// line when it ends. Pure: the caller passes the time and logs the lines it gets back.
class OutageLog {
  public:
    using Clock = std::chrono::steady_clock;
    explicit OutageLog(std::chrono::seconds summary_every = std::chrono::seconds(30))
        : summary_every_(summary_every) {}

    // A write failed. `keeping` says what is held meanwhile ("120 samples queued, 3 MiB spooled").
    std::optional<std::string> failed(Clock::time_point now, const std::string& error,
                                      const std::string& keeping);
    // Samples dropped while the outage lasts (overflow, full disk): reported in its lines.
    void dropped(uint64_t samples) { dropped_ += samples; }
    // A write succeeded: one line if an outage ends.
    std::optional<std::string> recovered(Clock::time_point now);

    bool in_outage() const { return attempts_ > 0; }
    uint64_t attempts() const { return attempts_; }

  private:
    std::chrono::seconds summary_every_;
    uint64_t attempts_ = 0;
    uint64_t dropped_ = 0;
    Clock::time_point started_{};
    Clock::time_point last_line_{};
};

}  // namespace dmon::core

#pragma once

#include "dmon/core/sample_batch.hpp"
#include "dmon/core/sink_runner.hpp"

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace dmon::core {

// Hands every collected batch to every sink. The sink set is swapped as a whole (hot reload
// replaces it in one step), so a batch always sees one consistent set, never none.
class Router {
  public:
    using SinkList = std::vector<std::shared_ptr<SinkRunner>>;

    void set_sinks(SinkList sinks);
    std::shared_ptr<const SinkList> sinks() const;

    // Freezes the batch and enqueues it on every sink; a token is told how many sinks to await.
    void route(std::shared_ptr<SampleBatch> batch) const;

    // True when any sink's queue is full: sources fed from outside should wait.
    bool congested() const;

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const SinkList> sinks_ = std::make_shared<const SinkList>();
    // Held shared by route() while it enqueues, exclusively by set_sinks(): once set_sinks()
    // returns, no batch is still on its way to a sink of the old set (which may then be drained).
    mutable std::shared_mutex in_flight_;
};

}  // namespace dmon::core

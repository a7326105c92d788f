#include "dmon/core/router.hpp"

namespace dmon::core {

void Router::set_sinks(SinkList sinks) {
    auto replacement = std::make_shared<const SinkList>(std::move(sinks));
    std::unique_lock wait_for_routes(in_flight_);
    std::lock_guard lock(mutex_);
    sinks_ = std::move(replacement);
}

std::shared_ptr<const Router::SinkList> Router::sinks() const {
    std::lock_guard lock(mutex_);
    return sinks_;
}

void Router::route(std::shared_ptr<SampleBatch> batch) const {
    std::shared_lock routing(in_flight_);
    const auto targets = sinks();
    SharedBatch frozen = std::move(batch);
    if (frozen->token())
        frozen->token()->expect(targets->size());
    for (const auto& sink : *targets)
        sink->enqueue(frozen);
}

bool Router::congested() const {
    const auto targets = sinks();
    for (const auto& sink : *targets) {
        if (sink->congested())
            return true;
    }
    return false;
}

}  // namespace dmon::core

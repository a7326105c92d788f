// amqp_publish: sends each batch as one persistent message of line protocol to a topic
// exchange, with publisher confirms. While the broker is away, batches wait in memory (up to
// buffer_limit samples) and go out in order when it is back; what the limit forces out is
// counted (dmon.plugin.dropped_samples) and logged.
#include "amqp_common/options.hpp"
#include "amqp_publish/publisher.hpp"

#include <dmon/line_protocol.hpp>

#include <chrono>
#include <thread>

namespace dmon::plugins::amqp {

constexpr dmon_option_decl kOptions[] = {
    DMON_AMQP_CONNECTION_OPTIONS,
    sdk::option("buffer_limit", DMON_OPT_INT, "1000000",
                "samples kept in memory while the broker is away"),
};

class AmqpPublish : public sdk::Sink {
  public:
    explicit AmqpPublish(const sdk::Context& context)
        : host_(context.host),
          publisher_(connection_settings(context.options), *context.options.string("exchange")),
          buffer_limit_(static_cast<size_t>(*context.options.integer("buffer_limit"))),
          routing_key_("metrics." + routing_word(context.node) + "." +
                       routing_word(context.instance_name)),
          id_prefix_(context.node + ":" + std::to_string(host_.now_ns()) + ":") {
        if (buffer_limit_ == 0)
            throw sdk::InvalidInput("buffer_limit must be at least 1");
        host_.info("publishing to " + publisher_.where() + " with routing key " + routing_key_);
    }

    void write(const sdk::Batch& batch) override {
        OutgoingMessage message;
        for (size_t i = 0; i < batch.size(); ++i) {
            if (!line_protocol::append_sample(message.body, *batch[i].raw))
                host_.count("unencodable_samples");
        }
        message.samples = batch.size();
        message.message_id = id_prefix_ + std::to_string(++sequence_);
        message.routing_key = routing_key_;
        message.timestamp_ns = host_.now_ns();
        buffered_samples_ += message.samples;
        pending_.push_back(std::move(message));
        enforce_limit();
        try_send(false);
    }

    void flush() override {
        // Stopping: keep trying for a while, then say plainly what is lost.
        const auto deadline = std::chrono::steady_clock::now() + 2 * publisher_.timeout();
        while (!pending_.empty() && std::chrono::steady_clock::now() < deadline) {
            try_send(true);
            if (!pending_.empty())
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
        if (!pending_.empty()) {
            host_.count("dropped_samples", buffered_samples_);
            throw std::runtime_error(std::to_string(buffered_samples_) + " samples in " +
                                     std::to_string(pending_.size()) +
                                     " message(s) were never confirmed by the broker and are lost");
        }
    }

  private:
    // Routing keys split on '.', so a host name like web1.example.com must not add levels.
    static std::string routing_word(std::string word) {
        for (char& c : word) {
            if (c == '.' || c == '*' || c == '#')
                c = '_';
        }
        return word;
    }

    void enforce_limit() {
        while (buffered_samples_ > buffer_limit_ && pending_.size() > 1) {
            const auto& oldest = pending_.front();
            buffered_samples_ -= oldest.samples;
            host_.count("dropped_samples", oldest.samples);
            host_.warn("buffer_limit of " + std::to_string(buffer_limit_) +
                       " samples reached while the broker is away: dropped " +
                       std::to_string(oldest.samples) + " samples of message " + oldest.message_id);
            pending_.pop_front();
        }
    }

    void try_send(bool force) {
        if (pending_.empty())
            return;
        if (!force && std::chrono::steady_clock::now() < next_attempt_)
            return;
        const size_t before = pending_.size();
        try {
            publisher_.send(pending_);
            if (backoff_.failures() > 0) {
                host_.info("broker reachable again: " + std::to_string(before) +
                           " buffered message(s) confirmed");
            }
            backoff_.reset();
        } catch (const AmqpError& e) {
            const auto wait = backoff_.next();
            next_attempt_ = std::chrono::steady_clock::now() + wait;
            host_.count("send_failures");
            // First failure of an outage, then every tenth: an outage must not flood the log.
            if (backoff_.failures() == 1 || backoff_.failures() % 10 == 0) {
                host_.warn(std::string(e.what()) + "; " + std::to_string(pending_.size()) +
                           " message(s) buffered, retry in " + std::to_string(wait.count()) +
                           " ms");
            }
        }
        buffered_samples_ = 0;
        for (const auto& message : pending_)
            buffered_samples_ += message.samples;
    }

    sdk::Host host_;
    Publisher publisher_;
    size_t buffer_limit_;
    std::string routing_key_;
    std::string id_prefix_;  // node:start_ns: so ids are unique across restarts and increasing
    uint64_t sequence_ = 0;
    std::deque<OutgoingMessage> pending_;
    size_t buffered_samples_ = 0;
    Backoff backoff_;
    std::chrono::steady_clock::time_point next_attempt_{};
};

}  // namespace dmon::plugins::amqp

DMON_SINK_PLUGIN(dmon::plugins::amqp::AmqpPublish, "amqp_publish", "1.0.0",
                 "publishes batches as line protocol to a RabbitMQ topic exchange, with confirms",
                 dmon::plugins::amqp::kOptions)

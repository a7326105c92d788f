// amqp_publish: sends each batch as one persistent message of line protocol to a topic
// exchange and returns only once the broker confirmed it. It keeps nothing of its own: a batch
// it could not deliver is a failed write(), and the host's sink runner keeps it (in memory or
// in the spool) and writes it again later, under the same id, which is the message_id.
#include "amqp_common/options.hpp"
#include "amqp_common/publisher.hpp"

#include <dmon/line_protocol.hpp>

namespace dmon::plugins::amqp {

constexpr dmon_option_decl kOptions[] = {
    DMON_AMQP_CONNECTION_OPTIONS,
    // Declared only to refuse it with a pointer to what replaced it.
    sdk::option("buffer_limit", DMON_OPT_INT, nullptr,
                "removed: use the sink entry's queue_size and spool / spool_size"),
};

class AmqpPublish : public sdk::Sink {
  public:
    explicit AmqpPublish(const sdk::Context& context)
        : host_(context.host),
          publisher_(connection_settings(context.options),
                     context.options.string_value("exchange")),
          routing_key_("metrics." + routing_word(context.node) + "." +
                       routing_word(context.instance_name)),
          fallback_id_prefix_(context.node + ":" + std::to_string(host_.now_ns()) + ":") {
        if (context.options.integer("buffer_limit")) {
            throw sdk::InvalidInput(
                "buffer_limit was removed: the host keeps undelivered batches now; set "
                "queue_size (samples in memory) and spool: FOLDER with spool_size (on disk, "
                "survives restarts) on this sink entry instead");
        }
        host_.info("publishing to " + publisher_.where() + " with routing key " + routing_key_);
    }

    void write(const sdk::Batch& batch) override {
        OutgoingMessage message;
        for (size_t i = 0; i < batch.size(); ++i) {
            if (!line_protocol::append_sample(message.body, *batch[i].raw))
                host_.count("unencodable_samples");
        }
        message.samples = batch.size();
        // The host's batch id is the same on every retry and across restarts (spool), so the
        // controller stores a batch once however often it is sent.
        message.message_id = batch.id().empty() ? fallback_id_prefix_ + std::to_string(++sequence_)
                                                : std::string(batch.id());
        message.routing_key = routing_key_;
        message.timestamp_ns = host_.now_ns();
        publisher_.publish(message);  // throws AmqpError: a failed write the host retries
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

    sdk::Host host_;
    Publisher publisher_;
    std::string routing_key_;
    std::string fallback_id_prefix_;  // for a host older than ABI 1.1, which gives no batch id
    uint64_t sequence_ = 0;
};

}  // namespace dmon::plugins::amqp

DMON_SINK_PLUGIN(dmon::plugins::amqp::AmqpPublish, "amqp_publish", "1.1.0",
                 "publishes batches as line protocol to a RabbitMQ topic exchange, with confirms",
                 dmon::plugins::amqp::kOptions)

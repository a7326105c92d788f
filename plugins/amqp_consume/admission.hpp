#pragma once
// What amqp_consume lets in, separated from the broker so that it is tested with recorded
// messages: the size and shape limits of line protocol, the timestamp window, and who may
// write which host (docs/operations.md, "Security").
#include <dmon/line_protocol.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace dmon::plugins::amqp {

// An AMQP user and the host globs it may write ("agent-web1=web1", "fleet=web*,db*").
struct SenderRule {
    std::string user;
    std::vector<std::string> hosts;
};

// "user=glob,glob" -> rule; throws std::invalid_argument with what is wrong.
SenderRule parse_sender_rule(std::string_view text);

struct AdmissionSettings {
    line_protocol::Limits limits;  // oldest_ns / newest_ns are set per message from the two below
    int64_t max_age_ns = 7LL * 24 * 3600 * 1'000'000'000;
    int64_t max_future_ns = 10LL * 60 * 1'000'000'000;
    // true (the default): the host is the node of the routing key, metrics.<node>.<instance>;
    // a `host` label that says otherwise is refused. false: the body's host label is trusted.
    bool host_from_routing_key = true;
    std::vector<SenderRule> senders;  // empty: any user; else user_id required and checked
};

// One message as it came off the queue.
struct IncomingMessage {
    std::string_view body;
    std::string_view routing_key;
    std::string_view user_id;     // empty when the publisher set none (the broker checks it)
    std::string_view message_id;  // empty when the publisher set none
};

class Admission {
  public:
    explicit Admission(AdmissionSettings settings) : settings_(std::move(settings)) {}

    // Parses and checks one message; on success `out` holds its samples, each label set with
    // the right `host` label first-class (added when the line had none). Costs memory linear
    // in the message.
    line_protocol::Rejection admit(const IncomingMessage& message, int64_t now_ns,
                                   line_protocol::ParsedMessage& out) const;

    // Who sent it, for deduplication: the routing key's node and the AMQP user when there is
    // one (the broker checks it). Two senders' message ids never collide: the store keys on
    // "<sender>/<message_id>".
    static std::string origin(const IncomingMessage& message);

    const AdmissionSettings& settings() const { return settings_; }

  private:
    AdmissionSettings settings_;
};

// The node a routing key names: "metrics.web1.proc_cpu" -> "web1"; empty if it names none.
std::string_view routing_key_node(std::string_view routing_key);
// A host name as a routing-key word: '.', '*' and '#' become '_' (amqp_publish does the same).
std::string routing_word(std::string_view word);

}  // namespace dmon::plugins::amqp

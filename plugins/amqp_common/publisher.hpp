#pragma once

#include "amqp_common/connection.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace dmon::plugins::amqp {

// One message waiting for the broker's confirm.
struct OutgoingMessage {
    std::string message_id;
    std::string routing_key;
    std::string body;
    size_t samples = 0;
    int64_t timestamp_ns = 0;
    // Extra headers (amqp_consume's dead letters carry x-dmon-reject-reason and the sender).
    std::vector<std::pair<std::string, std::string>> headers;
};

// Publishes persistent messages to a topic exchange with publisher confirms. Messages stay in
// `pending` until the broker confirms them; a message published but unconfirmed when the
// connection drops is published again (same message_id, so the controller stores it once).
class Publisher {
  public:
    Publisher(ConnectionSettings settings, std::string exchange,
              std::string exchange_type = "topic")
        : settings_(std::move(settings)),
          exchange_(std::move(exchange)),
          exchange_type_(std::move(exchange_type)) {}

    // Connects if needed, publishes every pending message in order and waits (up to the
    // connection timeout) for their confirms. Confirmed messages leave `pending`. Throws
    // AmqpError (and drops the connection) on any failure; what is left stays pending.
    void send(std::deque<OutgoingMessage>& pending);
    // One message: returns once the broker confirmed it and a queue took it; throws otherwise.
    void publish(const OutgoingMessage& message);

    bool connected() const { return connection_ != nullptr; }
    void disconnect() { connection_.reset(); }
    std::string where() const { return describe_brokers(settings_, cursor_); }
    std::chrono::milliseconds timeout() const { return settings_.timeout; }

  private:
    void connect();
    void wait_for_confirms(std::deque<OutgoingMessage>& pending, uint64_t first_tag);

    ConnectionSettings settings_;
    std::string exchange_;
    std::string exchange_type_;
    std::unique_ptr<Connection> connection_;
    uint64_t next_tag_ = 1;  // delivery tags of this connection's channel, from 1
    size_t cursor_ = 0;      // settings_.urls: the broker connected to, or tried next
};

}  // namespace dmon::plugins::amqp

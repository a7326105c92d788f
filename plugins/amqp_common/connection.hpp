#pragma once

#include <amqp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dmon::plugins::amqp {

class AmqpError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Where and how to connect. The password comes from the URL, or (preferred) from a file or an
// environment variable; it is never logged or put in an error message.
struct ConnectionSettings {
    // One broker, or the nodes of a cluster (or independent brokers behind one queue name):
    // tried in turn, see connect_any.
    std::vector<std::string> urls{"amqp://guest:guest@127.0.0.1:5672/"};
    std::string password_file;
    std::string password_env;
    std::string tls_ca;    // amqps: CA bundle that signs the broker's certificate (verified)
    std::string tls_cert;  // amqps: client certificate (optional)
    std::string tls_key;   // amqps: client key (optional)
    std::chrono::milliseconds timeout{5000};
};

// One open connection with channel 1, closed on destruction. Every failure throws AmqpError
// naming the broker (without the password) and what was being done.
class Connection {
  public:
    // Connects to settings.urls[index].
    Connection(const ConnectionSettings& settings, size_t index);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    amqp_connection_state_t state() const { return state_.get(); }
    const std::string& user() const { return user_; }
    const std::string& where() const { return where_; }  // amqp://user@host:port/vhost

    // Throws if the last synchronous call on the connection failed.
    void check(const std::string& doing);
    // After a failure: close without the polite close handshake, which a broker that blocks
    // the connection (alarm) or has gone away would only make us wait for.
    void abandon() { open_ = false; }

  private:
    struct StateDeleter {
        void operator()(amqp_connection_state_t state) const { amqp_destroy_connection(state); }
    };
    // Owned from the first line of the constructor, so a connect or login that throws still
    // releases it (the destructor does not run for a half-built object).
    std::unique_ptr<amqp_connection_state_t_, StateDeleter> state_;
    std::string user_;
    std::string where_;
    bool open_ = false;
};

// Connects to the first broker of settings.urls that answers, starting at `cursor`, and leaves
// `cursor` on it. Throws AmqpError with every broker's reason when none does. After losing a
// connection, a caller moves the cursor on (next_broker) so that a node that went away is tried
// last, not first.
std::unique_ptr<Connection> connect_any(const ConnectionSettings& settings, size_t& cursor);
inline void next_broker(const ConnectionSettings& settings, size_t& cursor) {
    cursor = settings.urls.empty() ? 0 : (cursor + 1) % settings.urls.size();
}
// The brokers as they may be logged: "amqp://u@a:5672/" or "amqp://u@a:5672/ (1 of 3: ...)".
std::string describe_brokers(const ConnectionSettings& settings, size_t cursor);

// Refuses a password file that others may read or that belongs to another user (throws
// AmqpError saying which and how to fix it).
void check_password_file(const std::string& path);

// A human sentence for an rpc reply ("connection closed by the broker: 403 ACCESS_REFUSED ...").
std::string describe(const amqp_rpc_reply_t& reply);

// True when the URL carries a password (amqp://user:password@...).
bool url_has_password(const std::string& url);

// The broker, as it may be logged: amqp://user@host:port/vhost (no password). Throws on a bad URL.
std::string safe_url(const std::string& url);

inline amqp_bytes_t bytes(const std::string& text) {
    return amqp_bytes_t{text.size(), const_cast<char*>(text.data())};
}
inline std::string text(amqp_bytes_t bytes) {
    return std::string(static_cast<const char*>(bytes.bytes), bytes.len);
}

// Arguments of a queue declaration (x-dead-letter-exchange, x-max-length-bytes, ...), owning
// their text so that table() stays valid while this object lives.
class QueueArguments {
  public:
    void add(const std::string& key, const std::string& value) {
        keys_.push_back(std::make_unique<std::string>(key));
        values_.push_back(std::make_unique<std::string>(value));
        amqp_table_entry_t entry{bytes(*keys_.back()), {AMQP_FIELD_KIND_UTF8, {}}};
        entry.value.value.bytes = bytes(*values_.back());
        entries_.push_back(entry);
    }
    void add(const std::string& key, int64_t value) {
        keys_.push_back(std::make_unique<std::string>(key));
        amqp_table_entry_t entry{bytes(*keys_.back()), {AMQP_FIELD_KIND_I64, {}}};
        entry.value.value.i64 = value;
        entries_.push_back(entry);
    }
    amqp_table_t table() {
        return entries_.empty() ? amqp_empty_table
                                : amqp_table_t{static_cast<int>(entries_.size()), entries_.data()};
    }

  private:
    std::vector<std::unique_ptr<std::string>> keys_, values_;
    std::vector<amqp_table_entry_t> entries_;
};

// Exponential back-off with jitter for reconnects: 0.5 s doubling to 30 s, +-25%.
class Backoff {
  public:
    std::chrono::milliseconds next();
    void reset() { failures_ = 0; }
    int failures() const { return failures_; }

  private:
    int failures_ = 0;
};

}  // namespace dmon::plugins::amqp

#pragma once
// Fleet control (docs/operations.md, "Running a fleet"): the messages an admin's `dmonctl fleet`
// sends to agents through the broker's `dmon.control` exchange, and the agents' answers.
// Parsing and checking only, no sockets: the listener (listener.hpp) and dmonctl do the I/O,
// and the unit tests feed recorded bytes.
//
// A command is a JSON object in the message body:
//   {"v": 1, "id": "5f0c...", "at_ms": 1796000000000, "command": "status",
//    "nodes": "web-*",                      (optional: a glob the node name must match)
//    "config": "node: ...\ncollectors: ...", (apply: the new config document)
//    "collectors": ["cpu", "mem"]}           (collect: which collectors; none = all)
// with the AMQP properties reply_to, correlation_id (= id) and user_id (checked by the broker).
// An answer is a JSON object on the admin's reply queue:
//   {"v": 1, "id": "5f0c...", "node": "web-1", "groups": ["web"], "ok": true, "error": "",
//    "generation": 3, ...what the command returns}
#include <common/name_filter.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::fleet {

// The largest command accepted (an `apply` carries a config document) and the largest answer a
// client reads (a `status` of a host with many instances). Larger ones are refused unread.
constexpr size_t kMaxCommandBytes = 1 << 20;
constexpr size_t kMaxReplyBytes = 4 << 20;
// Ids remembered to refuse replays: a command older than max_age is refused anyway, so only
// the ids of the last max_age are kept; more than this many in that window are refused too
// (an admin does not send 10,000 commands in 30 s; a flood does).
constexpr size_t kMaxRememberedIds = 10000;

enum class Verb { ping, status, reload, apply, collect };
std::optional<Verb> parse_verb(std::string_view word);
const char* to_string(Verb verb);

struct Command {
    std::string id;     // 8 to 64 of [0-9A-Za-z-_]
    int64_t at_ms = 0;  // when the admin sent it (Unix ms)
    Verb verb = Verb::ping;
    std::string nodes;   // a glob ('*', '?') the node must match; "" = every node addressed
    std::string config;  // apply
    std::vector<std::string> collectors;  // collect
};

// Parses a command body. Returns the command, or nullopt and a reason in `error` (for the log
// and the refusal count; never echoed whole: it is hostile).
std::optional<Command> parse_command(std::string_view body, std::string& error);
std::string encode_command(const Command& command);

// '*' any run of characters, '?' one; everything else literal (the plugins' include/exclude
// globs: one implementation).
using dmon::plugins::glob_match;

// Why a well-formed command is not obeyed, or `obey`.
enum class Verdict { obey, not_admin, expired, future, replayed, flood };
const char* to_string(Verdict verdict);

// Who may command, how old a command may be, and which ids were seen: one per listener.
class CommandGate {
  public:
    CommandGate(std::vector<std::string> admins, std::chrono::milliseconds max_age)
        : admins_(std::move(admins)), max_age_(max_age) {}
    // `user_id` is the AMQP property the broker checked ("" when absent). The id is remembered
    // only when the command is obeyed.
    Verdict check(const Command& command, std::string_view user_id, int64_t now_ms);
    size_t remembered() const { return seen_.size(); }

  private:
    std::vector<std::string> admins_;
    std::chrono::milliseconds max_age_;
    std::map<std::string, int64_t> seen_;                // id -> at_ms
    std::deque<std::pair<int64_t, std::string>> order_;  // (at_ms, id), to forget the old
};

// One agent's answer.
struct Reply {
    std::string id;
    std::string node;
    std::vector<std::string> groups;
    bool ok = false;
    std::string error;
    uint64_t generation = 0;
    std::string detail;  // one line: what happened ("generation 3 -> 4: added cpu", "12 samples")
    std::string health;  // status: the `dmonctl health` line
    struct Instance {
        std::string name, kind, plugin, state;
        uint64_t samples = 0, errors = 0;
        // Sinks: what `dmonctl status` shows of delivery (samples held in memory, in the
        // spool, dropped), and for both kinds the last error ("" when none).
        uint64_t queued = 0, spooled = 0, dropped = 0;
        std::string last_error;
    };
    std::vector<Instance> instances;  // status
};

std::string encode_reply(const Reply& reply);
std::optional<Reply> parse_reply(std::string_view body, std::string& error);

// A new id for a command: 32 hex digits from the system's random source.
std::string new_command_id();

int64_t unix_ms_now();

}  // namespace dmon::fleet

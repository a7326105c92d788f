#include "protocol.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>

namespace dmon::fleet {

using json = nlohmann::json;

namespace {

constexpr int kVersion = 1;
constexpr size_t kMaxCollectors = 1000;
constexpr size_t kMaxNameBytes = 256;

bool plain_id(std::string_view id) {
    return id.size() >= 8 && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      c == '-' || c == '_';
           });
}

// A string member, or nullopt when absent; `error` set when present but not a string.
std::optional<std::string> string_member(const json& object, const char* key, size_t max_bytes,
                                         std::string& error) {
    const auto found = object.find(key);
    if (found == object.end() || found->is_null())
        return std::nullopt;
    if (!found->is_string()) {
        error = std::string("'") + key + "' must be a string";
        return std::nullopt;
    }
    const auto& text = found->get_ref<const std::string&>();
    if (text.size() > max_bytes) {
        error = std::string("'") + key + "' is longer than " + std::to_string(max_bytes) + " bytes";
        return std::nullopt;
    }
    return text;
}

}  // namespace

std::optional<Verb> parse_verb(std::string_view word) {
    if (word == "ping")
        return Verb::ping;
    if (word == "status")
        return Verb::status;
    if (word == "reload")
        return Verb::reload;
    if (word == "apply")
        return Verb::apply;
    if (word == "collect")
        return Verb::collect;
    return std::nullopt;
}

const char* to_string(Verb verb) {
    switch (verb) {
        case Verb::ping:
            return "ping";
        case Verb::status:
            return "status";
        case Verb::reload:
            return "reload";
        case Verb::apply:
            return "apply";
        case Verb::collect:
            return "collect";
    }
    return "?";
}

const char* to_string(Verdict verdict) {
    switch (verdict) {
        case Verdict::obey:
            return "obey";
        case Verdict::not_admin:
            return "not_admin";
        case Verdict::expired:
            return "expired";
        case Verdict::future:
            return "future";
        case Verdict::replayed:
            return "replayed";
        case Verdict::flood:
            return "flood";
    }
    return "?";
}

std::optional<Command> parse_command(std::string_view body, std::string& error) {
    if (body.size() > kMaxCommandBytes) {
        error = "the command is " + std::to_string(body.size()) + " bytes, more than " +
                std::to_string(kMaxCommandBytes);
        return std::nullopt;
    }
    // No exceptions for bad input, and a depth bound: a hostile body nests brackets deeply.
    size_t depth = 0, deepest = 0;
    for (const char c : body) {
        if (c == '[' || c == '{')
            deepest = std::max(deepest, ++depth);
        else if ((c == ']' || c == '}') && depth > 0)
            --depth;
    }
    if (deepest > 8) {
        error = "the command nests deeper than 8 levels";
        return std::nullopt;
    }
    const json object = json::parse(body.begin(), body.end(), nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
        error = "the body is not a JSON object";
        return std::nullopt;
    }
    const auto version = object.find("v");
    if (version == object.end() || !version->is_number_integer() || *version != kVersion) {
        error = "'v' must be 1 (this agent speaks version 1 of the fleet protocol)";
        return std::nullopt;
    }
    Command command;
    const auto id = string_member(object, "id", 64, error);
    if (!error.empty())
        return std::nullopt;
    if (!id || !plain_id(*id)) {
        error = "'id' must be 8 to 64 letters, digits, '-' or '_'";
        return std::nullopt;
    }
    command.id = *id;
    const auto at = object.find("at_ms");
    if (at == object.end() || !at->is_number_integer()) {
        error = "'at_ms' (when it was sent, Unix milliseconds) is missing";
        return std::nullopt;
    }
    command.at_ms = at->get<int64_t>();
    const auto verb_text = string_member(object, "command", 32, error);
    if (!error.empty())
        return std::nullopt;
    const auto verb = verb_text ? parse_verb(*verb_text) : std::nullopt;
    if (!verb) {
        error = "'command' must be ping, status, reload, apply or collect";
        return std::nullopt;
    }
    command.verb = *verb;
    command.nodes = string_member(object, "nodes", kMaxNameBytes, error).value_or("");
    if (!error.empty())
        return std::nullopt;
    if (command.verb == Verb::apply) {
        const auto config = string_member(object, "config", kMaxCommandBytes, error);
        if (!error.empty())
            return std::nullopt;
        if (!config || config->empty()) {
            error = "apply needs 'config': the new config document";
            return std::nullopt;
        }
        command.config = *config;
    }
    if (command.verb == Verb::collect) {
        const auto names = object.find("collectors");
        if (names != object.end() && !names->is_null()) {
            if (!names->is_array() || names->size() > kMaxCollectors) {
                error = "'collectors' must be a list of at most 1000 names";
                return std::nullopt;
            }
            for (const auto& name : *names) {
                if (!name.is_string() || name.get_ref<const std::string&>().empty() ||
                    name.get_ref<const std::string&>().size() > kMaxNameBytes) {
                    error = "'collectors' must hold names (strings of 1 to 256 bytes)";
                    return std::nullopt;
                }
                command.collectors.push_back(name.get<std::string>());
            }
        }
    }
    return command;
}

std::string encode_command(const Command& command) {
    json object = {{"v", kVersion},
                   {"id", command.id},
                   {"at_ms", command.at_ms},
                   {"command", to_string(command.verb)}};
    if (!command.nodes.empty())
        object["nodes"] = command.nodes;
    if (command.verb == Verb::apply)
        object["config"] = command.config;
    if (command.verb == Verb::collect && !command.collectors.empty())
        object["collectors"] = command.collectors;
    return object.dump(-1, ' ', false, json::error_handler_t::replace);
}

Verdict CommandGate::check(const Command& command, std::string_view user_id, int64_t now_ms) {
    if (user_id.empty() || std::find(admins_.begin(), admins_.end(), user_id) == admins_.end())
        return Verdict::not_admin;
    const int64_t max_age = max_age_.count();
    if (command.at_ms < now_ms - max_age)
        return Verdict::expired;
    // A clock ahead by more than max_age would let a command be replayed after we forgot it.
    if (command.at_ms > now_ms + max_age)
        return Verdict::future;
    while (!order_.empty() && order_.front().first < now_ms - max_age) {
        seen_.erase(order_.front().second);
        order_.pop_front();
    }
    if (seen_.contains(command.id))
        return Verdict::replayed;
    if (seen_.size() >= kMaxRememberedIds)
        return Verdict::flood;
    // An id is forgotten max_age after the later of its sending time and now, so a command
    // whose time lies ahead (a clock a little fast) is remembered until it has expired too.
    const int64_t forget_after = std::max(command.at_ms, now_ms);
    seen_.emplace(command.id, forget_after);
    // Kept in order of forget_after (appended mostly in order; a rare early one is inserted).
    auto at = order_.end();
    while (at != order_.begin() && std::prev(at)->first > forget_after)
        --at;
    order_.insert(at, {forget_after, command.id});
    return Verdict::obey;
}

std::string encode_reply(const Reply& reply) {
    json object = {{"v", kVersion},
                   {"id", reply.id},
                   {"node", reply.node},
                   {"groups", reply.groups},
                   {"ok", reply.ok},
                   {"error", reply.error},
                   {"generation", reply.generation},
                   {"detail", reply.detail}};
    if (!reply.health.empty())
        object["health"] = reply.health;
    if (!reply.instances.empty()) {
        json list = json::array();
        for (const auto& each : reply.instances) {
            list.push_back({{"name", each.name},
                            {"kind", each.kind},
                            {"plugin", each.plugin},
                            {"state", each.state},
                            {"samples", each.samples},
                            {"errors", each.errors},
                            {"queued", each.queued},
                            {"spooled", each.spooled},
                            {"dropped", each.dropped},
                            {"last_error", each.last_error}});
        }
        object["instances"] = std::move(list);
    }
    return object.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<Reply> parse_reply(std::string_view body, std::string& error) {
    if (body.size() > kMaxReplyBytes) {
        error = "an answer of " + std::to_string(body.size()) + " bytes";
        return std::nullopt;
    }
    const json object = json::parse(body.begin(), body.end(), nullptr, false);
    if (object.is_discarded() || !object.is_object()) {
        error = "an answer that is not a JSON object";
        return std::nullopt;
    }
    Reply reply;
    try {
        reply.id = object.at("id").get<std::string>();
        reply.node = object.at("node").get<std::string>();
        reply.ok = object.at("ok").get<bool>();
        reply.error = object.value("error", "");
        reply.generation = object.value("generation", uint64_t{0});
        reply.detail = object.value("detail", "");
        reply.health = object.value("health", "");
        if (const auto groups = object.find("groups"); groups != object.end())
            reply.groups = groups->get<std::vector<std::string>>();
        if (const auto list = object.find("instances"); list != object.end()) {
            for (const auto& each : *list) {
                reply.instances.push_back(
                    {each.value("name", ""), each.value("kind", ""), each.value("plugin", ""),
                     each.value("state", ""), each.value("samples", uint64_t{0}),
                     each.value("errors", uint64_t{0}), each.value("queued", uint64_t{0}),
                     each.value("spooled", uint64_t{0}), each.value("dropped", uint64_t{0}),
                     each.value("last_error", "")});
            }
        }
    } catch (const json::exception& e) {
        error = std::string("an answer without the expected members: ") + e.what();
        return std::nullopt;
    }
    if (reply.node.empty()) {
        error = "an answer without a node";
        return std::nullopt;
    }
    return reply;
}

std::string new_command_id() {
    std::random_device random;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 8; ++i) {
        const uint32_t word = random();
        for (int nibble = 0; nibble < 4; ++nibble)
            id += kHex[(word >> (4 * nibble)) & 15];
    }
    return id;
}

int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace dmon::fleet

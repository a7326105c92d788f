#include "dmon/core/yaml.hpp"

#include <dmon/str.hpp>

#include <yaml.h>

#include <map>
#include <set>
#include <optional>

namespace dmon::core::yaml {

Node Node::make_null(Mark mark) {
    Node node;
    node.mark_ = mark;
    return node;
}

Node Node::make_scalar(std::string text, Mark mark) {
    Node node;
    node.kind_ = Kind::scalar;
    node.text_ = std::move(text);
    node.mark_ = mark;
    return node;
}

Node Node::make_map(Mark mark) {
    Node node;
    node.kind_ = Kind::map;
    node.mark_ = mark;
    return node;
}

Node Node::make_sequence(Mark mark) {
    Node node;
    node.kind_ = Kind::sequence;
    node.mark_ = mark;
    return node;
}

const Node* Node::find(std::string_view key) const {
    for (const auto& [k, v] : entries_) {
        if (k.is_scalar() && k.scalar() == key)
            return &v;
    }
    return nullptr;
}

void Node::add(Node key, Node value) {
    entries_.emplace_back(std::move(key), std::move(value));
}

namespace {

void append_fingerprint(const Node& node, std::string& out) {
    switch (node.kind()) {
        case Node::Kind::null:
            out += '~';
            break;
        case Node::Kind::scalar:
            out += 's' + std::to_string(node.scalar().size()) + ':' + node.scalar();
            break;
        case Node::Kind::sequence:
            out += '[' + std::to_string(node.items().size()) + ':';
            for (const auto& item : node.items())
                append_fingerprint(item, out);
            out += ']';
            break;
        case Node::Kind::map:
            out += '{' + std::to_string(node.entries().size()) + ':';
            for (const auto& [key, value] : node.entries()) {
                append_fingerprint(key, out);
                append_fingerprint(value, out);
            }
            out += '}';
            break;
    }
}

Mark mark_of(const yaml_mark_t& mark) {
    return Mark{static_cast<int>(mark.line) + 1, static_cast<int>(mark.column) + 1};
}

// A key or an alias quoted in an error: one line, no terminal control, bounded (the one
// escaping rule of the house, dmon::escape_text).
std::string shown(std::string_view text) {
    return escape_text(text, 60);
}

bool is_null_word(std::string_view text) {
    return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

// What a node holds, to bound what an alias to it adds.
struct Size {
    size_t nodes = 0;
    size_t bytes = 0;
    size_t height = 0;
};

Size size_of(const Node& node) {
    Size size{1, node.scalar().size(), 1};
    const auto add = [&](const Node& child) {
        const Size s = size_of(child);
        size.nodes += s.nodes;
        size.bytes += s.bytes;
        size.height = std::max(size.height, s.height + 1);
    };
    for (const auto& item : node.items())
        add(item);
    for (const auto& [key, value] : node.entries()) {
        add(key);
        add(value);
    }
    return size;
}

class Builder {
  public:
    explicit Builder(const Limits& limits) : limits_(limits) {}

    // Takes one event; true when the stream has ended.
    bool take(const yaml_event_t& event) {
        switch (event.type) {
            case YAML_STREAM_START_EVENT:
            case YAML_DOCUMENT_END_EVENT:
            case YAML_NO_EVENT:
                return false;
            case YAML_STREAM_END_EVENT:
                return true;
            case YAML_DOCUMENT_START_EVENT:
                if (++documents_ > 1)
                    throw ParseError(
                        "a second document ('---') in one file: dmon reads one document",
                        mark_of(event.start_mark));
                return false;
            case YAML_SCALAR_EVENT: {
                const auto& scalar = event.data.scalar;
                const std::string_view text(reinterpret_cast<const char*>(scalar.value),
                                            scalar.length);
                const Mark mark = mark_of(event.start_mark);
                Node node = scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_word(text)
                                ? Node::make_null(mark)
                                : Node::make_scalar(std::string(text), mark);
                count(Size{1, text.size(), 1}, mark);
                remember(scalar.anchor, node);
                add(std::move(node));
                return false;
            }
            case YAML_SEQUENCE_START_EVENT:
            case YAML_MAPPING_START_EVENT: {
                const Mark mark = mark_of(event.start_mark);
                if (stack_.size() >= limits_.max_depth)
                    throw ParseError(
                        "nested deeper than " + std::to_string(limits_.max_depth) + " levels",
                        mark);
                count(Size{1, 0, 1}, mark);
                const yaml_char_t* anchor = event.type == YAML_SEQUENCE_START_EVENT
                                                ? event.data.sequence_start.anchor
                                                : event.data.mapping_start.anchor;
                stack_.push_back(
                    Frame{event.type == YAML_SEQUENCE_START_EVENT ? Node::make_sequence(mark)
                                                                  : Node::make_map(mark),
                          anchor != nullptr ? std::string(reinterpret_cast<const char*>(anchor))
                                            : std::string(),
                          std::nullopt});
                return false;
            }
            case YAML_SEQUENCE_END_EVENT:
            case YAML_MAPPING_END_EVENT: {
                Frame frame = std::move(stack_.back());
                stack_.pop_back();
                if (!frame.anchor.empty())
                    anchors_[frame.anchor] = Anchored{frame.node, size_of(frame.node)};
                add(std::move(frame.node));
                return false;
            }
            case YAML_ALIAS_EVENT: {
                const Mark mark = mark_of(event.start_mark);
                const std::string name(reinterpret_cast<const char*>(event.data.alias.anchor));
                auto it = anchors_.find(name);
                if (it == anchors_.end())
                    throw ParseError("alias '*" + shown(name) + "' names no anchor before it",
                                     mark);
                if (stack_.size() + it->second.size.height > limits_.max_depth)
                    throw ParseError("alias '*" + shown(name) + "' nests deeper than " +
                                         std::to_string(limits_.max_depth) + " levels",
                                     mark);
                count(it->second.size, mark);
                add(it->second.node);
                return false;
            }
        }
        return false;
    }

    Node root() && { return root_ ? std::move(*root_) : Node(); }

  private:
    struct Frame {
        Node node;
        std::string anchor;
        std::optional<Node> key;            // a map's key waiting for its value
        std::set<std::string> scalar_keys;  // to refuse a key given twice without a quadratic scan
    };
    struct Anchored {
        Node node;
        Size size;
    };

    void count(const Size& size, Mark mark) {
        nodes_ += size.nodes;
        bytes_ += size.bytes;
        if (nodes_ > limits_.max_nodes)
            throw ParseError("more than " + std::to_string(limits_.max_nodes) +
                                 " values (aliases counted as what they repeat)",
                             mark);
        if (bytes_ > limits_.max_text_bytes)
            throw ParseError("more than " + std::to_string(limits_.max_text_bytes) +
                                 " bytes of values (aliases counted as what they repeat)",
                             mark);
    }

    void remember(const yaml_char_t* anchor, const Node& node) {
        if (anchor != nullptr)
            anchors_[reinterpret_cast<const char*>(anchor)] = Anchored{node, size_of(node)};
    }

    void add(Node value) {
        if (stack_.empty()) {
            root_ = std::move(value);
            return;
        }
        Frame& top = stack_.back();
        if (top.node.is_sequence()) {
            top.node.items().push_back(std::move(value));
            return;
        }
        if (!top.key) {
            top.key = std::move(value);
            return;
        }
        if (top.key->is_scalar() && !top.scalar_keys.insert(top.key->scalar()).second)
            throw ParseError("key '" + shown(top.key->scalar()) + "' is given twice in this map",
                             top.key->mark());
        top.node.add(std::move(*top.key), std::move(value));
        top.key.reset();
    }

    const Limits& limits_;
    std::vector<Frame> stack_;
    std::map<std::string, Anchored> anchors_;
    std::optional<Node> root_;
    size_t documents_ = 0;
    size_t nodes_ = 0;
    size_t bytes_ = 0;
};

}  // namespace

std::string Node::fingerprint() const {
    std::string out;
    append_fingerprint(*this, out);
    return out;
}

Node parse(std::string_view text, const Limits& limits) {
    struct Parser {
        yaml_parser_t parser;
        Parser() {
            if (yaml_parser_initialize(&parser) == 0)
                throw ParseError("cannot start the YAML parser (out of memory)", {});
        }
        ~Parser() { yaml_parser_delete(&parser); }
    } state;
    yaml_parser_set_input_string(&state.parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    Builder builder(limits);
    for (;;) {
        yaml_event_t event;
        if (yaml_parser_parse(&state.parser, &event) == 0) {
            const yaml_parser_t& p = state.parser;
            std::string message = p.problem != nullptr ? p.problem : "cannot be read";
            if (p.error == YAML_READER_ERROR) {
                message += " at byte " + std::to_string(p.problem_offset);
                throw ParseError(message, {});
            }
            if (p.context != nullptr)
                message += " (" + std::string(p.context) + " at line " +
                           std::to_string(p.context_mark.line + 1) + ", column " +
                           std::to_string(p.context_mark.column + 1) + ")";
            throw ParseError(message, mark_of(p.problem_mark));
        }
        struct EventGuard {
            yaml_event_t* event;
            ~EventGuard() { yaml_event_delete(event); }
        } guard{&event};
        if (builder.take(event))
            break;
    }
    return std::move(builder).root();
}

}  // namespace dmon::core::yaml

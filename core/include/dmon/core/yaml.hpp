#pragma once
// The YAML documents dmon reads (its config), as a small tree built from libyaml's C event
// parser. Not yaml-cpp: yaml-cpp reads through iostreams, and the first stream a process makes
// initialises the C++ locale machinery, about 0.9 MB of an agent's resident memory for its whole
// life (bench/README.md, "What a plugin costs"). A config is small and read seldom: a tree of
// values with their positions is all the host needs.
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dmon::core::yaml {

struct Mark {
    int line = 0;    // 1-based; 0: no position (a node made in code)
    int column = 0;  // 1-based
};

class Node {
  public:
    enum class Kind { null, scalar, sequence, map };

    Node() = default;
    static Node make_null(Mark mark = {});
    static Node make_scalar(std::string text, Mark mark = {});
    static Node make_map(Mark mark = {});
    static Node make_sequence(Mark mark = {});

    Kind kind() const { return kind_; }
    bool is_null() const { return kind_ == Kind::null; }
    bool is_scalar() const { return kind_ == Kind::scalar; }
    bool is_sequence() const { return kind_ == Kind::sequence; }
    bool is_map() const { return kind_ == Kind::map; }
    Mark mark() const { return mark_; }

    // The text of a scalar ("" for anything else).
    const std::string& scalar() const { return text_; }
    void set_scalar(std::string text) { text_ = std::move(text); }

    // A sequence's items.
    const std::vector<Node>& items() const { return items_; }
    std::vector<Node>& items() { return items_; }

    // A map's entries, in the file's order. Keys are nodes (with their positions); a key that
    // is not a scalar is kept, for the caller to refuse with its position.
    const std::vector<std::pair<Node, Node>>& entries() const { return entries_; }
    std::vector<std::pair<Node, Node>>& entries() { return entries_; }

    // The value of the scalar key `key` in a map, or nullptr.
    const Node* find(std::string_view key) const;
    // Adds an entry to a map.
    void add(Node key, Node value);

    // A canonical text of the node (kinds and lengths spelled out), equal for equal trees and
    // different for different ones: to tell a changed config from the same.
    std::string fingerprint() const;

  private:
    Kind kind_ = Kind::null;
    Mark mark_;
    std::string text_;
    std::vector<Node> items_;
    std::vector<std::pair<Node, Node>> entries_;
};

// Bounds on what a document may make: a config is small, and a hostile or broken file must not
// make the host recurse or allocate without end (aliases can multiply a tree: "billion laughs").
struct Limits {
    size_t max_depth = 64;
    size_t max_nodes = 100000;                 // after aliases are expanded
    size_t max_text_bytes = size_t{16} << 20;  // of scalars, after aliases are expanded
};

class ParseError : public std::runtime_error {
  public:
    ParseError(std::string message, Mark mark)
        : std::runtime_error(std::move(message)), mark_(mark) {}
    Mark mark() const { return mark_; }

  private:
    Mark mark_;
};

// Parses one document. Plain scalars "", "~", "null", "Null" and "NULL" are null; quoted ones are
// text. Anchors and aliases are expanded (within the limits); tags are ignored; a key given twice
// in one map, or a second document, is an error. Throws ParseError.
Node parse(std::string_view text, const Limits& limits = {});

}  // namespace dmon::core::yaml

#include "apply_document.hpp"

#include <dmon/core/yaml.hpp>

#include <vector>

namespace dmon::fleet {

namespace {

bool is_local_key(std::string_view key) {
    for (const char* local : kLocalKeys)
        if (key == local)
            return true;
    return false;
}

// The top-level blocks of a block-style YAML file whose key is a local key: the key's line and
// every following line that is blank, a comment, indented or a top-level list item ("- x").
std::string local_blocks(std::string_view text) {
    std::string out;
    bool inside = false;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string_view::npos)
            end = text.size();
        const std::string_view line = text.substr(start, end - start);
        const bool continuation = line.empty() || line[0] == ' ' || line[0] == '\t' ||
                                  line[0] == '#' || line[0] == '-' || line[0] == '\r';
        if (!continuation) {
            const size_t colon = line.find(':');
            inside = colon != std::string_view::npos && is_local_key(line.substr(0, colon));
        }
        if (inside) {
            out.append(line);
            out += '\n';
        }
        start = end + 1;
    }
    return out;
}

}  // namespace

std::string compose_applied_config(std::string_view document, std::string_view local_text,
                                   std::string& error) {
    core::yaml::Node root;
    try {
        root = core::yaml::parse(document);
    } catch (const core::yaml::ParseError& e) {
        error = "the document is not YAML: line " + std::to_string(e.mark().line) + ": " + e.what();
        return {};
    }
    if (!root.is_map()) {
        error = "the document must be a config: a map of keys (interval, collectors, sinks, ...)";
        return {};
    }
    for (const auto& [key, value] : root.entries()) {
        if (key.is_scalar() && is_local_key(key.scalar())) {
            error = "the document sets '" + key.scalar() +
                    "', which is each host's own (node, plugin_paths and fleet are kept from "
                    "the host's file): leave it out";
            return {};
        }
    }
    std::string out(document);
    if (!out.empty() && out.back() != '\n')
        out += '\n';
    const std::string kept = local_blocks(local_text);
    if (!kept.empty())
        out += "\n# Kept from this host's own file by `dmonctl fleet apply`:\n" + kept;
    return out;
}

}  // namespace dmon::fleet

#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dmon::plugins {

// Shell-style pattern match: '*' any run of characters, '?' one character.
bool glob_match(std::string_view pattern, std::string_view text);

// Include/exclude lists of glob patterns, as in `devices: ["sd*"]`, `exclude: ["loop*"]`.
// An empty include list includes everything; exclude wins over include.
class NameFilter {
  public:
    NameFilter() = default;
    NameFilter(std::vector<std::string> include, std::vector<std::string> exclude)
        : include_(std::move(include)), exclude_(std::move(exclude)) {}
    bool accepts(std::string_view name) const;
    bool has_include() const { return !include_.empty(); }

  private:
    std::vector<std::string> include_;
    std::vector<std::string> exclude_;
};

}  // namespace dmon::plugins

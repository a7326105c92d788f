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

// A warning for each pattern of `option` that matches none of `names` (what exists on this
// machine), naming the option, the pattern and the names there are instead (at most 20), e.g.
//   option 'devices': pattern 'sdx*' matches nothing here; there are: sda, sdb, nvme0n1
// Patterns listed in `ignore` (a default list) are not checked: a default matching nothing is
// normal. Empty when every pattern matches something.
std::vector<std::string> unmatched_pattern_warnings(std::string_view option,
                                                    const std::vector<std::string>& patterns,
                                                    const std::vector<std::string>& names,
                                                    std::string_view ignore = {});

}  // namespace dmon::plugins

#pragma once
// A POSIX extended regular expression (as grep -E), searched in a text. On Linux it is libc's
// regcomp/regexec: std::regex would put about 0.9 MB of template code into the plugin's
// resident memory, more than all the rest of it. Windows has no regcomp: std::regex in its
// `extended` grammar there, the same syntax.
#include <memory>
#include <string>

namespace dmon::plugins::proc_process {

class Pattern {
  public:
    // Throws std::invalid_argument with the compiler's reason when `expression` is not one.
    explicit Pattern(const std::string& expression);
    ~Pattern();
    Pattern(Pattern&&) noexcept;
    Pattern& operator=(Pattern&&) noexcept;

    bool found_in(const std::string& text) const;
    const std::string& text() const { return expression_; }

  private:
    struct Compiled;
    std::string expression_;
    std::unique_ptr<Compiled> compiled_;
};

}  // namespace dmon::plugins::proc_process

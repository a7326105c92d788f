#include "proc_process/pattern.hpp"

#include <stdexcept>

#ifdef _WIN32
#include <regex>
#else
#include <regex.h>
#endif

namespace dmon::plugins::proc_process {

#ifdef _WIN32
struct Pattern::Compiled {
    std::regex regex;
};

Pattern::Pattern(const std::string& expression) : expression_(expression) {
    try {
        compiled_ = std::make_unique<Compiled>(
            Compiled{std::regex(expression, std::regex::extended | std::regex::nosubs)});
    } catch (const std::regex_error& e) {
        throw std::invalid_argument(e.what());
    }
}

bool Pattern::found_in(const std::string& text) const {
    return std::regex_search(text, compiled_->regex);
}
#else
struct Pattern::Compiled {
    regex_t regex{};
    bool compiled = false;  // regfree only what regcomp made
    ~Compiled() {
        if (compiled)
            ::regfree(&regex);
    }
};

Pattern::Pattern(const std::string& expression) : expression_(expression) {
    auto compiled = std::make_unique<Compiled>();
    if (const int error = ::regcomp(&compiled->regex, expression.c_str(), REG_EXTENDED | REG_NOSUB);
        error != 0) {
        char reason[256];
        ::regerror(error, &compiled->regex, reason, sizeof(reason));
        throw std::invalid_argument(reason);
    }
    compiled->compiled = true;
    compiled_ = std::move(compiled);
}

bool Pattern::found_in(const std::string& text) const {
    return ::regexec(&compiled_->regex, text.c_str(), 0, nullptr, 0) == 0;
}
#endif

Pattern::~Pattern() = default;
Pattern::Pattern(Pattern&&) noexcept = default;
Pattern& Pattern::operator=(Pattern&&) noexcept = default;

}  // namespace dmon::plugins::proc_process

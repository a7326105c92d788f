#include "exec/child_process.hpp"

#include <algorithm>
#include <cctype>

namespace dmon::plugins::exec {

void set_variable(std::vector<std::string>& environment, const std::string& entry) {
    const size_t equals = entry.find('=');
    const auto same_name = [&](const std::string& existing) {
        if (existing.size() <= equals || existing[equals] != '=')
            return false;
#ifdef _WIN32
        return std::equal(existing.begin(), existing.begin() + static_cast<long>(equals),
                          entry.begin(), [](char a, char b) {
                              return std::toupper(static_cast<unsigned char>(a)) ==
                                     std::toupper(static_cast<unsigned char>(b));
                          });
#else
        return existing.compare(0, equals, entry, 0, equals) == 0;
#endif
    };
    std::erase_if(environment, same_name);
    environment.push_back(entry);
}

}  // namespace dmon::plugins::exec

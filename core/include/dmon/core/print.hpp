#pragma once
// What dmon prints on its terminal, through stdio: no iostreams in the host, because the first
// stream a process makes initialises the C++ locale machinery, about 0.9 MB of resident memory
// for the agent's whole life (bench/README.md, "What a plugin costs").
#include <cstdio>
#include <string_view>

namespace dmon::core {

inline void print_to(std::FILE* to, std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), to);
    std::fflush(to);
}

}  // namespace dmon::core

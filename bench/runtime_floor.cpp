// The least a C++ program with the shared runtime is resident at (bench/agent_overhead.sh,
// "floor"): a thread, a string, a vector, a caught exception, then it sleeps to be measured.
// No iostreams (dmon has none either). Built as dmon is: g++ -O2, libstdc++.so.
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
    std::vector<std::string> words(argv, argv + argc);
    try {
        if (words.size() < 100)
            throw std::runtime_error("caught");
    } catch (const std::exception& e) {
        words.emplace_back(e.what());
    }
    std::thread sleeper([] { std::this_thread::sleep_for(std::chrono::seconds(30)); });
    sleeper.join();
    return static_cast<int>(words.size()) == 0;
}

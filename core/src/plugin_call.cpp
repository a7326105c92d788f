#include "dmon/core/plugin_call.hpp"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>

#ifdef _WIN32
#include <io.h>
#else
#include <unistd.h>
#endif

namespace dmon::core {

namespace {

// Plain pointers: read from a signal handler, where only lock-free, allocation-free access is
// allowed.
thread_local const char* t_instance = nullptr;
thread_local const char* t_call = nullptr;

void write_stderr(const char* text) noexcept {
    if (text == nullptr)
        return;
    const size_t size = std::strlen(text);
#ifdef _WIN32
    (void)_write(2, text, static_cast<unsigned>(size));
#else
    (void)!::write(2, text, size);
#endif
}

const char* signal_name(int signal) noexcept {
    switch (signal) {
        case SIGSEGV:
            return "SIGSEGV (invalid memory access)";
        case SIGFPE:
            return "SIGFPE (arithmetic error)";
        case SIGILL:
            return "SIGILL (illegal instruction)";
        case SIGABRT:
            return "SIGABRT (abort)";
#ifdef SIGBUS
        case SIGBUS:
            return "SIGBUS (bad memory access)";
#endif
        default:
            return "a fatal signal";
    }
}

const char* g_consequence = ": the host stops with it (in-process plugins share its fate)\n";

// Async-signal-safe: write(2), and re-raising with the default action restored.
void report_where(const char* what) noexcept {
    write_stderr("dmon: ");
    write_stderr(what);
    if (t_instance != nullptr) {
        write_stderr(" in ");
        write_stderr(t_call);
        write_stderr("() of ");
        write_stderr(t_instance);
        write_stderr(g_consequence);
    } else {
        write_stderr(" (not inside a plugin call)\n");
    }
}

extern "C" void on_fatal_signal(int signal) {
    report_where(signal_name(signal));
    std::signal(signal, SIG_DFL);
    std::raise(signal);
}

void on_terminate() noexcept {
    report_where("std::terminate (an exception nobody could catch, or noexcept broken)");
    std::signal(SIGABRT, SIG_DFL);  // one report, not a second one from the SIGABRT handler
    std::abort();
}

}  // namespace

PluginCallScope::PluginCallScope(const std::string& instance, const char* call) noexcept
    : previous_instance_(t_instance), previous_call_(t_call) {
    t_instance = instance.c_str();
    t_call = call;
}

PluginCallScope::~PluginCallScope() {
    t_instance = previous_instance_;
    t_call = previous_call_;
}

const char* current_plugin_instance() noexcept {
    return t_instance;
}

const char* describe_signal(int signal) noexcept {
    return signal_name(signal);
}

void set_crash_consequence(const char* consequence) noexcept {
    g_consequence = consequence;
}

void install_crash_reporter() {
    static std::once_flag once;
    std::call_once(once, [] {
        for (int signal : {SIGSEGV, SIGFPE, SIGILL, SIGABRT})
            std::signal(signal, &on_fatal_signal);
#ifdef SIGBUS
        std::signal(SIGBUS, &on_fatal_signal);
#endif
        std::set_terminate(&on_terminate);
    });
}

}  // namespace dmon::core

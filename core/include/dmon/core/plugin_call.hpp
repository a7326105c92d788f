// What a thread is doing inside a plugin, for the reports of a plugin that takes the process
// down: a fatal signal (a crash, an abort) or std::terminate names the plugin and the call
// instead of leaving "Segmentation fault" and exit 139. In-process plugins cannot be survived;
// they can be named.
#pragma once

#include <string>

namespace dmon::core {

// Marks this thread as inside `call` (e.g. "collect") of `instance` (e.g. "collector 'x'
// (plugin x)") until destroyed. Both strings must outlive the scope. Nests.
class PluginCallScope {
  public:
    PluginCallScope(const std::string& instance, const char* call) noexcept;
    ~PluginCallScope();
    PluginCallScope(const PluginCallScope&) = delete;
    PluginCallScope& operator=(const PluginCallScope&) = delete;

  private:
    const char* previous_instance_;
    const char* previous_call_;
};

// The plugin call this thread is in, or nullptr (for tests).
const char* current_plugin_instance() noexcept;

// Installs, once per process, handlers for SIGSEGV, SIGBUS, SIGFPE, SIGILL and SIGABRT and a
// std::terminate handler that write one line naming the plugin call in progress (if any) to
// stderr, then let the process end as it would have (the default action: a core dump where
// enabled, the same exit status).
void install_crash_reporter();

// What the report says happens next (a static string, ending in a line end); by default
// ": the host stops with it (in-process plugins share its fate)". A worker says the host lives on.
void set_crash_consequence(const char* consequence) noexcept;

// "SIGSEGV (invalid memory access)", "SIGABRT (abort)", ... for any signal number.
const char* describe_signal(int signal) noexcept;

}  // namespace dmon::core

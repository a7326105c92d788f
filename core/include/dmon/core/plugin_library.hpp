#pragma once

#include <dmon/plugin.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dmon::core {

class PluginLoadError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A loaded plugin library and its checked descriptor. The library stays loaded while any
// shared_ptr to this object lives (every instance created from it holds one).
class PluginLibrary {
  public:
    PluginLibrary(std::string path, std::shared_ptr<void> handle,
                  const dmon_plugin_descriptor& descriptor, std::string stamp = {});
    const std::string& path() const { return path_; }
    const dmon_plugin_descriptor& descriptor() const { return descriptor_; }
    std::string name() const { return descriptor_.name; }
    std::string version() const { return descriptor_.version ? descriptor_.version : "?"; }
    dmon_plugin_kind kind() const { return static_cast<dmon_plugin_kind>(descriptor_.kind); }
    // The file's size and modification time when it was loaded: a rebuilt file has another.
    const std::string& stamp() const { return stamp_; }

  private:
    std::string path_;
    std::string stamp_;
    std::shared_ptr<void> handle_;       // the boost::dll::shared_library; null for built-ins
    dmon_plugin_descriptor descriptor_;  // the plugin's struct_size bytes, the rest zeroed
};

// The part of a v1.0 descriptor every plugin must provide: everything up to `flush`.
constexpr size_t kMinDescriptorSize =
    offsetof(dmon_plugin_descriptor, flush) + sizeof(dmon_plugin_descriptor::flush);

// Checks a descriptor returned by a plugin. Returns the copy the host keeps (size-limited, so
// fields a newer host knows and an older plugin lacks are zero), or throws PluginLoadError
// with a message naming `where` and the reason.
dmon_plugin_descriptor check_descriptor(const dmon_plugin_descriptor* descriptor,
                                        const std::string& where);

// Finds plugin libraries by name in a list of folders, loads each once, and hands out shared
// references. Built-in descriptors (compiled into the host or a test) are found first.
class PluginCatalog {
  public:
    explicit PluginCatalog(std::vector<std::string> folders);

    void add_builtin(const std::string& name, const dmon_plugin_descriptor* descriptor);
    std::shared_ptr<const PluginLibrary> load(const std::string& name);
    const std::vector<std::string>& folders() const { return folders_; }

    // <exe dir>/../lib/dmon: where the build and `cmake --install` put plugins.
    static std::string default_folder();
    static std::string file_name(const std::string& plugin);  // proc_cpu -> proc_cpu.so / .dll

  private:
    std::shared_ptr<const PluginLibrary> load_file(const std::string& path);
    std::shared_ptr<void> open_library(const std::string& path, const std::string& load_from);

    std::vector<std::string> folders_;
    std::map<std::string, const dmon_plugin_descriptor*> builtins_;
    std::map<std::string, std::weak_ptr<const PluginLibrary>> loaded_;  // by path
    std::mutex mutex_;
};

}  // namespace dmon::core

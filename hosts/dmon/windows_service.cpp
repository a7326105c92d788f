// dmon as a Windows service. `install` registers `dmon.exe service run --config FILE` with the
// Service Control Manager; `run` is what the SCM starts: it registers with the SCM before
// loading any plugin (so a slow start is reported as START_PENDING, not killed), runs the
// host, and on STOP or SHUTDOWN flushes the sinks and exits cleanly.
#include "windows_service.hpp"

#include "installed_data.hpp"
#include "print.hpp"

#include <string>

#ifdef _WIN32
#include <dmon/core/config.hpp>
#include <dmon/core/duration.hpp>
#include <dmon/core/host.hpp>
#include <dmon/core/logging.hpp>
#include <listener.hpp>

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>
#include <vector>
#endif

namespace dmon::host {

#ifndef _WIN32

int service_command(int, char**) {
    print_to(stderr,
             "dmon: 'service' is for Windows; on Linux run `dmon run` under your init system\n");
    return 2;
}

#else

namespace {

struct ServiceArguments {
    std::string action;
    std::string config;
    std::string name = "dmon";
    std::string data;             // prepare, remove-data: the data folder (ProgramData\dmon)
    std::string defaults;         // prepare: the shipped configs (Program Files\dmon\share\config)
    std::string timeout = "60s";  // stop: how long to wait for the service's process to end
};

std::string last_error_text() {
    const DWORD code = GetLastError();
    char* text = nullptr;
    FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, 0, reinterpret_cast<char*>(&text), 0, nullptr);
    std::string message = text != nullptr ? text : "";
    LocalFree(text);
    while (!message.empty() && (message.back() == '\n' || message.back() == '\r'))
        message.pop_back();
    return message + " (error " + std::to_string(code) + ")";
}

// Owns an SC_HANDLE.
class ServiceHandle {
  public:
    explicit ServiceHandle(SC_HANDLE handle) : handle_(handle) {}
    ~ServiceHandle() {
        if (handle_ != nullptr)
            CloseServiceHandle(handle_);
    }
    ServiceHandle(const ServiceHandle&) = delete;
    ServiceHandle& operator=(const ServiceHandle&) = delete;
    SC_HANDLE get() const { return handle_; }
    explicit operator bool() const { return handle_ != nullptr; }

  private:
    SC_HANDLE handle_;
};

// State shared with the SCM's callbacks (they get no user pointer of ours in ServiceMain).
struct ServiceState {
    std::string name;
    std::string config;
    SERVICE_STATUS_HANDLE status_handle = nullptr;
    HANDLE stop_event = nullptr;
    int exit_code = 0;
    dmon::core::Host* host = nullptr;  // set while the host runs
};
ServiceState g_service;

void report(DWORD state, DWORD exit_code = NO_ERROR, DWORD wait_hint = 0) {
    static DWORD checkpoint = 1;
    SERVICE_STATUS status{};
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    // STOP is accepted while starting too: a start that takes long (plugins, WMI) must not
    // make `net stop` fail with "invalid service control"; the stop is honoured once the host
    // has started (service_main), and PARAMCHANGE only once it runs.
    status.dwControlsAccepted =
        state == SERVICE_START_PENDING
            ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN
            : SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PARAMCHANGE;
    status.dwWin32ExitCode = exit_code;
    status.dwWaitHint = wait_hint;
    status.dwCheckPoint = (state == SERVICE_RUNNING || state == SERVICE_STOPPED) ? 0 : checkpoint++;
    SetServiceStatus(g_service.status_handle, &status);
}

DWORD WINAPI control_handler(DWORD control, DWORD, void*, void*) {
    switch (control) {
        case SERVICE_CONTROL_STOP:
        case SERVICE_CONTROL_SHUTDOWN:
            report(SERVICE_STOP_PENDING, NO_ERROR, 15000);
            SetEvent(g_service.stop_event);
            return NO_ERROR;
        case SERVICE_CONTROL_PARAMCHANGE:
            // `sc control dmon paramchange`: reload the config, off the SCM's thread.
            if (g_service.host != nullptr) {
                std::thread([host = g_service.host] { host->reload_from_file(); }).detach();
            }
            return NO_ERROR;
        case SERVICE_CONTROL_INTERROGATE:
            return NO_ERROR;
        default:
            return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

void WINAPI service_main(DWORD, LPSTR*) {
    // Register first: the SCM gives a service 30 s to call in before it gives up on it.
    g_service.status_handle =
        RegisterServiceCtrlHandlerExA(g_service.name.c_str(), control_handler, nullptr);
    if (g_service.status_handle == nullptr)
        return;
    g_service.stop_event = CreateEventA(nullptr, TRUE, FALSE, nullptr);
    report(SERVICE_START_PENDING, NO_ERROR, 30000);
    try {
        auto config = dmon::core::load_config(g_service.config);
        dmon::core::set_log_level(config.log_level);
        auto catalog =
            std::make_shared<dmon::core::PluginCatalog>(dmon::core::plugin_folders(config));
        dmon::core::Host host(std::move(config), catalog);
        host.start();
        g_service.host = &host;
        // `fleet:` as under `dmon run` (docs/operations.md, "Running a fleet").
        std::optional<dmon::fleet::FleetListener> fleet;
        if (host.config()->fleet.enabled) {
            fleet.emplace(host, dmon::fleet::FleetListener::Reloads{
                                    [&host] { return host.reload_from_file(); },
                                    [&host](dmon::core::HostConfig next) {
                                        return host.reload(std::move(next));
                                    }});
            fleet->start();
        }
        // A STOP that came while starting already reported STOP_PENDING: not RUNNING again.
        if (WaitForSingleObject(g_service.stop_event, 0) != WAIT_OBJECT_0)
            report(SERVICE_RUNNING);
        WaitForSingleObject(g_service.stop_event, INFINITE);
        if (fleet)
            fleet->stop();
        g_service.host = nullptr;
        dmon::core::logger().info("[host] service stop requested: stopping");
        host.stop();
        report(SERVICE_STOPPED);
    } catch (const std::exception& e) {
        dmon::core::logger().error("[host] service failed: {}", e.what());
        report(SERVICE_STOPPED, ERROR_SERVICE_SPECIFIC_ERROR);
    }
    CloseHandle(g_service.stop_event);
}

int install(const ServiceArguments& args) {
    if (args.config.empty()) {
        print_to(stderr, std::string("dmon: 'service install' needs --config FILE\n"));
        return 2;
    }
    char exe[MAX_PATH];
    GetModuleFileNameA(nullptr, exe, MAX_PATH);
    const std::string config = std::filesystem::absolute(args.config).string();
    dmon::core::load_config(config);  // refuse to install a service that cannot start
    const std::string command = "\"" + std::string(exe) + "\" service run --name " + args.name +
                                " --config \"" + config + "\"";
    ServiceHandle manager(OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CREATE_SERVICE));
    if (!manager) {
        print_to(stderr, std::string("error: cannot open the Service Control Manager: ") +
                             last_error_text() + "\n");
        return 1;
    }
    ServiceHandle service(CreateServiceA(manager.get(), args.name.c_str(), "dmon monitoring agent",
                                         SERVICE_ALL_ACCESS, SERVICE_WIN32_OWN_PROCESS,
                                         SERVICE_AUTO_START, SERVICE_ERROR_NORMAL, command.c_str(),
                                         nullptr, nullptr, nullptr, nullptr, nullptr));
    if (!service) {
        print_to(stderr, std::string("error: cannot create service '") + args.name +
                             "': " + last_error_text() + "\n");
        return 1;
    }
    print_to(stdout, std::string("service '") + args.name + "' installed: " + command + "\n");
    return 0;
}

int uninstall(const ServiceArguments& args) {
    ServiceHandle manager(OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) {
        print_to(stderr, std::string("error: cannot open the Service Control Manager: ") +
                             last_error_text() + "\n");
        return 1;
    }
    ServiceHandle service(OpenServiceA(manager.get(), args.name.c_str(),
                                       SERVICE_STOP | DELETE | SERVICE_QUERY_STATUS));
    if (!service) {
        print_to(stderr,
                 std::string("error: no service '") + args.name + "': " + last_error_text() + "\n");
        return 1;
    }
    SERVICE_STATUS status{};
    ControlService(service.get(), SERVICE_CONTROL_STOP,
                   &status);  // stopping a stopped service fails: fine
    if (!DeleteService(service.get())) {
        print_to(stderr, std::string("error: cannot delete service '") + args.name +
                             "': " + last_error_text() + "\n");
        return 1;
    }
    print_to(stdout, std::string("service '") + args.name + "' uninstalled\n");
    return 0;
}

// Stops the service and waits until its process has ended, not only until it reported STOPPED:
// its image and plugin DLLs stay in use until then. The installer runs this between
// StopServices and RemoveFiles. Windows Installer's StopServices already waits for STOPPED
// (then this returns at once), but Wine's sends the control and goes on, so without this the
// files of a service still draining its sinks were left behind for a reboot.
int stop(const ServiceArguments& args) {
    const auto timeout = dmon::core::parse_duration(args.timeout);
    if (!timeout) {
        print_to(stderr, "dmon: --timeout '" + args.timeout + "' is not a duration (e.g. 60s)\n");
        return 2;
    }
    ServiceHandle manager(OpenSCManagerA(nullptr, nullptr, SC_MANAGER_CONNECT));
    if (!manager) {
        print_to(stderr, std::string("error: cannot open the Service Control Manager: ") +
                             last_error_text() + "\n");
        return 1;
    }
    ServiceHandle service(
        OpenServiceA(manager.get(), args.name.c_str(), SERVICE_STOP | SERVICE_QUERY_STATUS));
    if (!service) {
        print_to(stdout, "service '" + args.name + "': not installed, nothing to stop\n");
        return 0;
    }
    const auto deadline = std::chrono::steady_clock::now() + *timeout;
    SERVICE_STATUS_PROCESS status{};
    DWORD needed = 0;
    DWORD process_id = 0;
    bool asked = false;
    while (QueryServiceStatusEx(service.get(), SC_STATUS_PROCESS_INFO,
                                reinterpret_cast<BYTE*>(&status), sizeof status, &needed)) {
        if (status.dwProcessId != 0)
            process_id = status.dwProcessId;
        if (status.dwCurrentState == SERVICE_STOPPED)
            break;
        if (!asked && status.dwCurrentState != SERVICE_STOP_PENDING) {
            SERVICE_STATUS ignored{};
            ControlService(service.get(), SERVICE_CONTROL_STOP, &ignored);
            asked = true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            print_to(stderr, "error: service '" + args.name + "' did not stop within " +
                                 args.timeout + "\n");
            return 1;
        }
        Sleep(100);
    }
    if (process_id != 0) {
        HANDLE process = OpenProcess(SYNCHRONIZE, FALSE, process_id);
        if (process != nullptr) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            const DWORD waited = WaitForSingleObject(
                process, static_cast<DWORD>(std::max<long long>(0, left.count())));
            CloseHandle(process);
            if (waited != WAIT_OBJECT_0) {
                print_to(stderr, "error: the process of service '" + args.name + "' (pid " +
                                     std::to_string(process_id) + ") did not end within " +
                                     args.timeout + "\n");
                return 1;
            }
        }
    }
    print_to(stdout, "service '" + args.name + "': stopped\n");
    return 0;
}

// Run by the installer after it copied the files (as SYSTEM): the data folder made and
// restricted, the password file created once, the shipped configs installed as conffiles.
int prepare(const ServiceArguments& args) {
    if (args.data.empty() || args.defaults.empty()) {
        print_to(stderr, std::string("dmon: 'service prepare' needs --data DIR --defaults DIR\n"));
        return 2;
    }
    const std::filesystem::path data = std::filesystem::path(args.data).lexically_normal();
    std::filesystem::create_directories(data);
    restrict_to_administrators(data);
    // The stock broker account, as the Debian package does: the agent starts and spools until
    // an admin writes the real password here.
    if (create_file_once(data / "amqp.password", "guest\n"))
        print_to(stdout, (data / "amqp.password").string() + ": created (guest)\n");
    for (const ConfigUpdate& update : install_shipped_configs(args.defaults, data))
        print_to(stdout, (data / update.file).string() + ": " + to_string(update.action) + "\n");
    return 0;
}

// Run by the installer on an uninstall that is not an upgrade: the data folder goes, spool and
// edited configs included. Only a folder `prepare` made is removed (it holds shipped/), so a
// wrong --data cannot delete anything else.
int remove_data(const ServiceArguments& args) {
    if (args.data.empty()) {
        print_to(stderr, std::string("dmon: 'service remove-data' needs --data DIR\n"));
        return 2;
    }
    const std::filesystem::path data = std::filesystem::path(args.data).lexically_normal();
    std::error_code error;
    if (!std::filesystem::exists(data, error)) {
        print_to(stdout, data.string() + ": already gone\n");
        return 0;
    }
    if (!std::filesystem::is_directory(data / "shipped", error)) {
        print_to(stderr, "error: " + data.string() +
                             " was not prepared by the installer (no shipped\\): left in place\n");
        return 1;
    }
    // The service has reported STOPPED, but its process may still be closing the spool's lock
    // file for a moment: asked again for up to 10 s.
    std::uintmax_t removed = 0;
    for (int attempt = 0; attempt < 50; ++attempt) {
        error.clear();
        const std::uintmax_t now = std::filesystem::remove_all(data, error);
        if (!error) {  // on error remove_all returns -1, not a count
            removed += now;
            break;
        }
        Sleep(200);
    }
    if (error) {
        print_to(stderr, "error: cannot remove " + data.string() + ": " + error.message() + "\n");
        return 1;
    }
    print_to(stdout, data.string() + ": removed (" + std::to_string(removed) + " entries)\n");
    return 0;
}

}  // namespace

int service_command(int argc, char** argv) {
    ServiceArguments args;
    if (argc < 3) {
        print_to(stderr,
                 std::string(
                     "usage: dmon service install --config FILE [--name NAME] | uninstall [--name "
                     "NAME] | stop [--name NAME] [--timeout 60s]\n       dmon service prepare "
                     "--data DIR --defaults DIR | remove-data "
                     "--data DIR   (the installer's steps)\n"));
        return 2;
    }
    args.action = argv[2];
    for (int i = 3; i + 1 < argc; i += 2) {
        const std::string word = argv[i];
        if (word == "--config")
            args.config = argv[i + 1];
        else if (word == "--name")
            args.name = argv[i + 1];
        else if (word == "--data")
            args.data = argv[i + 1];
        else if (word == "--defaults")
            args.defaults = argv[i + 1];
        else if (word == "--timeout")
            args.timeout = argv[i + 1];
        else {
            print_to(stderr, std::string("dmon: unknown option '") + word + "' for 'service'\n");
            return 2;
        }
    }
    try {
        if (args.action == "install")
            return install(args);
        if (args.action == "uninstall")
            return uninstall(args);
        if (args.action == "stop")
            return stop(args);
        if (args.action == "prepare")
            return prepare(args);
        if (args.action == "remove-data")
            return remove_data(args);
        if (args.action == "run") {
            g_service.name = args.name;
            g_service.config = args.config;
            SERVICE_TABLE_ENTRYA table[] = {{g_service.name.data(), service_main},
                                            {nullptr, nullptr}};
            if (!StartServiceCtrlDispatcherA(table)) {
                print_to(stderr,
                         "error: 'service run' is started by the Service Control Manager (" +
                             last_error_text() +
                             "); to run in a console use `dmon run --config FILE`\n");
                return 1;
            }
            return 0;
        }
    } catch (const std::exception& e) {
        print_to(stderr, std::string("error: ") + e.what() + "\n");
        return 2;
    }
    print_to(stderr, std::string("dmon: unknown service action '") + args.action +
                         "' (install, uninstall, stop, run, prepare, remove-data)\n");
    return 2;
}

#endif

}  // namespace dmon::host

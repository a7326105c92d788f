// run_program on Windows. The program starts suspended, is put in a job object of its own, then
// resumed: everything it starts is in the job too, so an overrun (or what it leaves running when
// it exits) is ended with TerminateJobObject, and the job is set to kill what is left when its
// handle closes, whatever path this function leaves by. Anonymous pipes have no overlapped I/O:
// they are polled (PeekNamedPipe) in short slices while the process handle is waited on.
#include "exec/child_process.hpp"

#include <windows.h>

#include <algorithm>
#include <array>
#include <utility>

namespace dmon::plugins::exec {
namespace {

class Handle {
  public:
    Handle() = default;
    explicit Handle(HANDLE handle) : handle_(handle == INVALID_HANDLE_VALUE ? nullptr : handle) {}
    ~Handle() { reset(); }
    Handle(Handle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
    Handle& operator=(Handle&& other) noexcept {
        if (this != &other) {
            reset();
            handle_ = std::exchange(other.handle_, nullptr);
        }
        return *this;
    }
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    HANDLE get() const { return handle_; }
    HANDLE* out() {
        reset();
        return &handle_;
    }
    explicit operator bool() const { return handle_ != nullptr; }
    void reset() {
        if (handle_ != nullptr)
            ::CloseHandle(handle_);
        handle_ = nullptr;
    }

  private:
    HANDLE handle_ = nullptr;
};

std::wstring widen(const std::string& text) {
    if (text.empty())
        return {};
    const int size =
        ::MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), nullptr, 0);
    std::wstring out(static_cast<size_t>(std::max(size, 0)), L'\0');
    ::MultiByteToWideChar(CP_UTF8, 0, text.data(), static_cast<int>(text.size()), out.data(), size);
    return out;
}

std::string narrow(const wchar_t* text, size_t length) {
    if (length == 0)
        return {};
    const int size = ::WideCharToMultiByte(CP_UTF8, 0, text, static_cast<int>(length), nullptr, 0,
                                           nullptr, nullptr);
    std::string out(static_cast<size_t>(std::max(size, 0)), '\0');
    ::WideCharToMultiByte(CP_UTF8, 0, text, static_cast<int>(length), out.data(), size, nullptr,
                          nullptr);
    return out;
}

std::string error_text(DWORD code) {
    char* buffer = nullptr;
    const DWORD length = ::FormatMessageA(
        FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
        nullptr, code, 0, reinterpret_cast<char*>(&buffer), 0, nullptr);
    std::string text = length > 0 && buffer != nullptr ? std::string(buffer, length) : "";
    if (buffer != nullptr)
        ::LocalFree(buffer);
    while (!text.empty() &&
           (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' || text.back() == '.'))
        text.pop_back();
    return (text.empty() ? "error" : text) + " (" + std::to_string(code) + ")";
}

// One argument as the C runtime's parser (CommandLineToArgvW) reads it back: backslashes are
// literal except before a quote, where they are doubled.
void append_argument(std::wstring& line, const std::wstring& argument) {
    if (!line.empty())
        line += L' ';
    if (!argument.empty() && argument.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
        line += argument;
        return;
    }
    line += L'"';
    size_t backslashes = 0;
    for (const wchar_t c : argument) {
        if (c == L'\\') {
            ++backslashes;
            continue;
        }
        line.append(c == L'"' ? backslashes * 2 + 1 : backslashes, L'\\');
        backslashes = 0;
        line += c;
    }
    line.append(backslashes * 2, L'\\');
    line += L'"';
}

std::wstring command_line(const RunSpec& spec) {
    if (!spec.shell_command.empty()) {
        // cmd /s /c strips the first and the last quote and runs the rest as typed.
        return L"cmd.exe /d /s /c \"" + widen(spec.shell_command) + L"\"";
    }
    std::wstring line;
    for (const auto& argument : spec.argv)
        append_argument(line, widen(argument));
    return line;
}

// KEY=value\0...\0\0, sorted by name as Windows expects of an environment block.
std::wstring environment_block(std::vector<std::string> environment) {
    std::sort(environment.begin(), environment.end(),
              [](const std::string& a, const std::string& b) {
                  return ::lstrcmpiA(a.c_str(), b.c_str()) < 0;
              });
    std::wstring block;
    for (const auto& entry : environment) {
        block += widen(entry);
        block += L'\0';
    }
    block += L'\0';
    if (environment.empty())
        block += L'\0';
    return block;
}

// Appends what is waiting in `pipe` to `into`, without blocking. False when the pipe is closed
// (every writer is gone) or broken.
bool drain_available(Handle& pipe, std::string& into, size_t& read_now) {
    std::array<char, 16384> buffer;
    for (;;) {
        DWORD available = 0;
        if (!::PeekNamedPipe(pipe.get(), nullptr, 0, nullptr, &available, nullptr))
            return false;
        if (available == 0)
            return true;
        DWORD got = 0;
        if (!::ReadFile(pipe.get(), buffer.data(),
                        std::min<DWORD>(available, static_cast<DWORD>(buffer.size())), &got,
                        nullptr))
            return false;
        into.append(buffer.data(), got);
        read_now += got;
        if (read_now > (1u << 20))
            return true;  // let the caller check its limits and the clock
    }
}

}  // namespace

std::vector<std::string> minimal_environment() {
    std::vector<std::string> out;
    for (const wchar_t* name : {L"PATH", L"PATHEXT", L"SystemRoot", L"SystemDrive", L"windir",
                                L"ComSpec", L"TEMP", L"TMP"}) {
        const DWORD size = ::GetEnvironmentVariableW(name, nullptr, 0);
        if (size == 0)
            continue;
        std::wstring value(size, L'\0');
        const DWORD length = ::GetEnvironmentVariableW(name, value.data(), size);
        value.resize(length);
        const std::wstring entry = std::wstring(name) + L"=" + value;
        out.push_back(narrow(entry.data(), entry.size()));
    }
    return out;
}

std::vector<std::string> host_environment() {
    std::vector<std::string> out;
    wchar_t* block = ::GetEnvironmentStringsW();
    if (block == nullptr)
        return out;
    for (const wchar_t* entry = block; *entry != L'\0';) {
        const size_t length = ::wcslen(entry);
        // "=C:=C:\dir" entries are cmd's per-drive folders, not variables.
        if (entry[0] != L'=')
            out.push_back(narrow(entry, length));
        entry += length + 1;
    }
    ::FreeEnvironmentStringsW(block);
    return out;
}

RunResult run_program(const RunSpec& spec) {
    RunResult result;
    const auto started = std::chrono::steady_clock::now();
    if (spec.argv.empty() && spec.shell_command.empty()) {
        result.start_error = "no command";
        return result;
    }
    SECURITY_ATTRIBUTES inheritable{sizeof(SECURITY_ATTRIBUTES), nullptr, TRUE};
    Handle out_read, out_write, err_read, err_write;
    if (!::CreatePipe(out_read.out(), out_write.out(), &inheritable, 0) ||
        !::CreatePipe(err_read.out(), err_write.out(), &inheritable, 0)) {
        result.start_error = "CreatePipe: " + error_text(::GetLastError());
        return result;
    }
    ::SetHandleInformation(out_read.get(), HANDLE_FLAG_INHERIT, 0);
    ::SetHandleInformation(err_read.get(), HANDLE_FLAG_INHERIT, 0);
    Handle input(::CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                               &inheritable, OPEN_EXISTING, 0, nullptr));
    if (!input) {
        result.start_error = "NUL: " + error_text(::GetLastError());
        return result;
    }

    // Only these three handles reach the program: another run starting at the same moment on
    // another thread must not inherit this one's pipe (it would hold it open past our exit).
    std::array<HANDLE, 3> inherited{input.get(), out_write.get(), err_write.get()};
    SIZE_T attribute_size = 0;
    ::InitializeProcThreadAttributeList(nullptr, 1, 0, &attribute_size);
    std::vector<unsigned char> attribute_storage(attribute_size);
    auto* attributes = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(attribute_storage.data());
    if (!::InitializeProcThreadAttributeList(attributes, 1, 0, &attribute_size)) {
        result.start_error = "InitializeProcThreadAttributeList: " + error_text(::GetLastError());
        return result;
    }
    struct AttributeListGuard {
        LPPROC_THREAD_ATTRIBUTE_LIST list;
        ~AttributeListGuard() { ::DeleteProcThreadAttributeList(list); }
    } attribute_guard{attributes};
    ::UpdateProcThreadAttribute(attributes, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherited.data(),
                                sizeof(HANDLE) * inherited.size(), nullptr, nullptr);

    STARTUPINFOEXW startup{};
    startup.StartupInfo.cb = sizeof(startup);
    startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    startup.StartupInfo.hStdInput = input.get();
    startup.StartupInfo.hStdOutput = out_write.get();
    startup.StartupInfo.hStdError = err_write.get();
    startup.lpAttributeList = attributes;

    Handle job(::CreateJobObjectW(nullptr, nullptr));
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    // Closing the job kills what is left in it; a crash in the program ends it instead of
    // opening an error dialog that would hold it until the timeout.
    limits.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
    if (!job || !::SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &limits,
                                           sizeof(limits))) {
        result.start_error = "job object: " + error_text(::GetLastError());
        return result;
    }

    std::wstring line = command_line(spec);
    std::wstring environment = environment_block(spec.environment);
    const std::wstring folder = widen(spec.working_directory);
    PROCESS_INFORMATION process{};
    if (!::CreateProcessW(nullptr, line.data(), nullptr, nullptr, TRUE,
                          CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW |
                              EXTENDED_STARTUPINFO_PRESENT,
                          environment.data(), folder.empty() ? nullptr : folder.c_str(),
                          &startup.StartupInfo, &process)) {
        const std::string program =
            spec.shell_command.empty() ? spec.argv[0] : std::string("cmd.exe");
        result.start_error = program + ": " + error_text(::GetLastError());
        return result;
    }
    Handle process_handle(process.hProcess), thread_handle(process.hThread);
    if (!::AssignProcessToJobObject(job.get(), process_handle.get())) {
        result.start_error = "AssignProcessToJobObject: " + error_text(::GetLastError());
        ::TerminateProcess(process_handle.get(), 1);
        ::WaitForSingleObject(process_handle.get(), INFINITE);
        return result;
    }
    ::ResumeThread(thread_handle.get());
    thread_handle.reset();
    result.started = true;
    // Our copies of the write ends go: the pipes then close when the program's (and its
    // children's) do.
    out_write.reset();
    err_write.reset();
    input.reset();

    const auto deadline = started + spec.timeout;
    std::chrono::steady_clock::time_point drain_until{};
    bool exited = false;
    const auto end_job = [&] { ::TerminateJobObject(job.get(), 1); };
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (!exited && ::WaitForSingleObject(process_handle.get(), 0) == WAIT_OBJECT_0) {
            exited = true;
            end_job();  // what it left running does not outlive it
        }
        if (!exited && !result.timed_out && now >= deadline) {
            result.timed_out = true;
            end_job();
        }
        if ((exited || result.timed_out) && drain_until == std::chrono::steady_clock::time_point{})
            drain_until = now + std::chrono::seconds(1);
        if (!out_read && !err_read && (exited || result.timed_out))
            break;
        if (drain_until != std::chrono::steady_clock::time_point{} && now >= drain_until)
            break;

        size_t read_now = 0;
        if (out_read) {
            std::string chunk;
            const bool open = drain_available(out_read, chunk, read_now);
            if (result.output.size() + chunk.size() > spec.max_output_bytes) {
                result.output_overflow = true;
                result.output.clear();
                out_read.reset();
                end_job();
            } else if (!result.output_overflow) {
                result.output += chunk;
            }
            if (!open)
                out_read.reset();
        }
        if (err_read) {
            std::string chunk;
            const bool open = drain_available(err_read, chunk, read_now);
            if (result.errors.size() < spec.max_error_bytes)
                result.errors.append(chunk, 0, spec.max_error_bytes - result.errors.size());
            if (!open)
                err_read.reset();
        }
        if (read_now == 0) {
            // Short slices: output is noticed within them, and so is the exit.
            if (!exited)
                ::WaitForSingleObject(process_handle.get(), 20);
            else
                ::Sleep(10);
        }
    }
    if (!exited) {
        end_job();
        ::WaitForSingleObject(process_handle.get(), INFINITE);
    }
    DWORD code = 0;
    if (!result.timed_out && !result.output_overflow &&
        ::GetExitCodeProcess(process_handle.get(), &code))
        result.exit_code = static_cast<int>(code);
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return result;
}

}  // namespace dmon::plugins::exec

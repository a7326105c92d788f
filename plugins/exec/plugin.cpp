// exec: runs a program each interval and takes the line protocol it prints as samples. The way
// to add a metric in any language without writing a plugin (docs/configuration.md, "exec").
#include "exec/child_process.hpp"
#include "exec/exec_output.hpp"

#include <dmon/plugin.hpp>

#include <chrono>

namespace dmon::plugins::exec {

constexpr dmon_option_decl kOptions[] = {
    sdk::option("command", DMON_OPT_STRING_LIST, nullptr,
                "the program and its arguments, e.g. [/usr/local/bin/probe, --fast]; no shell",
                true),
    sdk::option("shell", DMON_OPT_BOOL, "false",
                "run `command` (one string) with /bin/sh -c (Windows: cmd.exe /c): pipes and "
                "globs, at the cost of quoting"),
    sdk::option("timeout", DMON_OPT_DURATION, "10s",
                "the longest a run may take; then it is killed with its children"),
    sdk::option("env", DMON_OPT_STRING_LIST, nullptr, "KEY=value entries for its environment"),
    sdk::option("inherit_env", DMON_OPT_BOOL, "false",
                "start from dmon's own environment (default: only PATH, LANG and `env`; on "
                "Windows PATH and the system's folders)"),
    sdk::option("working_directory", DMON_OPT_STRING, "", "where it runs (default: dmon's)"),
    sdk::option("max_output", DMON_OPT_INT, "1048576",
                "bytes of standard output a run may print; more is refused and counted"),
};

class Exec : public sdk::Collector {
  public:
    explicit Exec(const sdk::Context& context) : host_(context.host) {
        const auto& options = context.options;
        spec_.argv = options.list("command");
        if (spec_.argv.empty() || spec_.argv[0].empty())
            throw sdk::InvalidInput("option 'command' is empty");
        if (options.bool_value("shell")) {
            if (spec_.argv.size() != 1)
                throw sdk::InvalidInput(
                    "option 'command' must be one string when shell: true (it is given to "
                    "the shell)");
            spec_.shell_command = spec_.argv[0];
        }
        spec_.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::nanoseconds(options.duration_value_ns("timeout")));
        if (spec_.timeout.count() <= 0)
            throw sdk::InvalidInput("option 'timeout' must be more than 0");
        const int64_t max_output = options.integer_value("max_output");
        if (max_output < 1 || max_output > (64 << 20))
            throw sdk::InvalidInput("option 'max_output' must be between 1 and 67108864 bytes");
        spec_.max_output_bytes = static_cast<size_t>(max_output);
        limits_.max_message_bytes = spec_.max_output_bytes;
        spec_.working_directory = options.string_value("working_directory");
        spec_.environment =
            options.bool_value("inherit_env") ? host_environment() : minimal_environment();
        for (const auto& entry : options.list("env")) {
            const size_t equals = entry.find('=');
            if (equals == std::string::npos || equals == 0)
                throw sdk::InvalidInput("option 'env': '" + entry + "' is not KEY=value");
            set_variable(spec_.environment, entry);
        }
    }

    void collect(sdk::Emitter& out) override {
        const RunResult run = run_program(spec_);
        if (!run.started)
            throw sdk::InvalidInput("cannot start " + run.start_error);
        log_errors(run.errors);
        const std::string program =
            escape_text(spec_.shell_command.empty() ? spec_.argv[0] : spec_.shell_command, 80);
        if (run.timed_out) {
            host_.count("exec.failures{reason=timeout}");
            throw std::runtime_error("killed after the timeout of " +
                                     std::to_string(spec_.timeout.count()) +
                                     " ms (with its children); nothing of this run is kept");
        }
        if (run.output_overflow) {
            host_.count("exec.failures{reason=output_too_large}");
            throw std::runtime_error("printed more than max_output (" +
                                     std::to_string(spec_.max_output_bytes) +
                                     " bytes): killed, nothing of this run is kept");
        }
        if (run.signal != 0) {
            host_.count("exec.failures{reason=signal}");
            throw std::runtime_error("ended by signal " + std::to_string(run.signal));
        }
        if (run.exit_code != 0)
            host_.count("exec.failures{reason=exit_code}");
        const int64_t now = host_.now_ns();
        limits_.oldest_ns = now - int64_t{24} * 3600 * 1'000'000'000;
        limits_.newest_ns = now + int64_t{10} * 60 * 1'000'000'000;
        const ExecOutput parsed = parse_exec_output(run.output, now, limits_);
        uint64_t refused = 0;
        for (const auto& [reason, lines] : parsed.refused) {
            host_.count("exec.refused{reason=" + reason + "}", lines);
            refused += lines;
        }
        if (refused > 0 && refusal_log_.allow(now))
            host_.warn(std::to_string(refused) + " line(s) refused, e.g. " +
                       escape_text(parsed.first_refusal, 200) +
                       " (counted in dmon.exec.refused; said at most once a minute)");
        std::vector<sdk::Label> labels;
        for (const auto& sample : parsed.samples.samples) {
            labels.clear();
            for (const auto& [key, value] : parsed.samples.labels(sample))
                labels.push_back({key, value});
            out.add(sample.name, labels.begin(), labels.end(), sample.value, sample.type,
                    sample.timestamp_ns);
        }
        // Not an error of the round (that would back off): a probe may report, then fail.
        if (run.exit_code != 0 && exit_log_.allow(now))
            host_.warn(program + " exited with code " + std::to_string(run.exit_code) + "; its " +
                       std::to_string(parsed.samples.samples.size()) +
                       " sample(s) are kept (counted in dmon.exec.failures; said at most once a "
                       "minute)");
    }

  private:
    // At most `burst` lines, then one a minute: a program that floods its standard error must
    // not flood the log.
    struct Throttle {
        int64_t window_start = 0;
        int in_window = 0;
        int burst = 1;
        uint64_t suppressed = 0;
        bool allow(int64_t now) {
            if (now - window_start >= int64_t{60} * 1'000'000'000) {
                window_start = now;
                in_window = 0;
            }
            if (in_window < burst) {
                ++in_window;
                return true;
            }
            ++suppressed;
            return false;
        }
    };

    void log_errors(const std::string& errors) {
        const int64_t now = host_.now_ns();
        size_t start = 0;
        while (start < errors.size()) {
            size_t end = errors.find('\n', start);
            if (end == std::string::npos)
                end = errors.size();
            const std::string_view line(errors.data() + start, end - start);
            start = end + 1;
            if (line.empty())
                continue;
            if (stderr_log_.allow(now)) {
                std::string text = "stderr: " + escape_text(line, 300);
                if (stderr_log_.suppressed > 0)
                    text += " (" + std::to_string(stderr_log_.suppressed) +
                            " earlier line(s) not logged)";
                stderr_log_.suppressed = 0;
                host_.warn(text);
            }
        }
    }

    sdk::Host host_;
    RunSpec spec_;
    line_protocol::Limits limits_;
    Throttle stderr_log_{0, 0, 10, 0};
    Throttle refusal_log_{};
    Throttle exit_log_{};
};

}  // namespace dmon::plugins::exec

DMON_COLLECTOR_PLUGIN(dmon::plugins::exec::Exec, "exec", "1.0.0",
                      "runs a program each interval and takes the line protocol it prints",
                      dmon::plugins::exec::kOptions, 0)

#pragma once
// What the four WMI collectors share: one WMI connection per instance, made at create and
// reused; each round one query, on the instance's own strand, with a bounded wait.
#include "wmi_common/wmi_session.hpp"

#include <dmon/plugin.hpp>

namespace dmon::plugins::wmi {

#define DMON_WMI_TIMEOUT_OPTION                             \
    ::dmon::sdk::option("timeout", DMON_OPT_DURATION, "5s", \
                        "the longest a WMI query may wait for a row")

class WmiCollector : public sdk::Collector {
  protected:
    WmiCollector(const sdk::Context& context, std::string cls, std::vector<std::string> properties)
        : cls_(std::move(cls)),
          properties_(std::move(properties)),
          timeout_(std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::nanoseconds(context.options.duration_value_ns("timeout")))) {}
    std::vector<WmiRow> rows() { return session_.query(cls_, properties_, timeout_); }

  private:
    WmiSession session_;
    std::string cls_;
    std::vector<std::string> properties_;
    std::chrono::milliseconds timeout_;
};

}  // namespace dmon::plugins::wmi

#pragma once
// dmon's OpenTelemetry-style names as Prometheus names, following OpenTelemetry's
// "Prometheus and OpenMetrics compatibility" rules (docs/metrics.md has the table):
//   system.cpu.time (counter, s)       -> system_cpu_time_seconds_total
//   system.memory.limit (gauge, By)    -> system_memory_limit_bytes
//   system.cpu.utilization (gauge, 1)  -> system_cpu_utilization_ratio
// One owner for both Prometheus sinks, so that a series has the same name whether it was
// scraped or remote-written.
#include <dmon/plugin.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dmon::plugins::prometheus {

// The suffix a unit adds: "By" -> "bytes", "s" -> "seconds", "1" -> "ratio" (gauges only),
// "ms" -> "milliseconds", "By/s" -> "bytes_per_second"; "" for none or an annotation
// ("{packets}").
std::string unit_suffix(std::string_view unit, dmon_sample_type type);

// The metric family's name without "_total": what OpenMetrics' # TYPE and # UNIT lines name.
std::string family_name(std::string_view name, std::string_view unit, dmon_sample_type type);

// The name of the samples: the family name, and "_total" for a counter.
std::string metric_name(std::string_view name, std::string_view unit, dmon_sample_type type);

// A label name Prometheus accepts: [a-zA-Z_][a-zA-Z0-9_]*; others become '_', a leading digit
// gets "key_" in front, and a leading "__" (reserved: "__name__" would rename the series)
// gets "key" in front.
std::string label_name(std::string_view key);

// Prometheus refuses a label value that is not UTF-8 (a whole scrape fails on one); a byte that
// does not start a well-formed UTF-8 sequence becomes U+FFFD.
std::string valid_utf8(std::string_view text);

// A sample's labels with sanitised names and UTF-8 values; labels whose names collide after
// sanitising are merged, their values joined with ';' in the order they came (Prometheus refuses a
// series with a label twice).
std::vector<std::pair<std::string, std::string>> sanitized_labels(const dmon_sample& sample);

}  // namespace dmon::plugins::prometheus

#pragma once
// The prometheus sink's table: the latest value of every series, and its rendering in the
// Prometheus text format (0.0.4) or OpenMetrics (1.0.0). No sockets: the sink feeds it batches
// and the HTTP server asks it for text, so the rules are tested on their own with exact text.
#include <dmon/plugin.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

namespace dmon::plugins::prometheus {

enum class Format { text, openmetrics };

// The format a scraper asked for in its Accept header (Prometheus asks for OpenMetrics first).
Format negotiate(std::string_view accept);
std::string_view content_type(Format format);

class Exposition {
  public:
    struct Settings {
        int64_t expire_ns = 5LL * 60 * 1000000000;  // a series not refreshed for this long goes
        size_t max_series = 100000;                 // new series past this are refused
    };
    enum class Update { stored, refused_max_series, refused_type_conflict };

    explicit Exposition(Settings settings) : settings_(settings) {}

    // Keeps the sample as its series' latest value (a sample older than the one kept is
    // ignored: batches may arrive out of order after a retry). now_ns: when it arrived.
    Update update(const dmon_sample& sample, int64_t now_ns);
    // Forgets series not refreshed for `expire`; returns how many went.
    size_t expire(int64_t now_ns);
    // The whole exposition, series not refreshed for `expire` left out; time linear in the
    // series.
    void render(Format format, int64_t now_ns, std::string& out) const;

    size_t series() const { return series_; }

  private:
    struct Point {
        double value = 0;
        int64_t timestamp_ns = 0;
        int64_t updated_ns = 0;
    };
    struct Family {
        dmon_sample_type type = DMON_GAUGE;
        std::string sample_name;              // with "_total" for counters
        std::string help;                     // escaped for a # HELP line
        std::string unit;                     // OpenMetrics # UNIT, "" for none
        std::map<std::string, Point> series;  // key: the label text, "{a=\"b\"}"
    };
    struct Names {
        std::string family;
        dmon_sample_type type;
    };

    Settings settings_;
    std::map<std::string, Family> families_;  // by family name: sorted, stable output
    // dmon name and type -> family name, so that a batch does not re-derive names per sample.
    std::unordered_map<std::string, Names> names_;
    size_t series_ = 0;
};

}  // namespace dmon::plugins::prometheus

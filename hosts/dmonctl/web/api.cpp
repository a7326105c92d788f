#include "api.hpp"

#include "../overview.hpp"
#include "../units.hpp"

#include <dmon/core/duration.hpp>
#include <dmon/core/text.hpp>
#include <dmon/store/schema.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

namespace dmon::ctl::web {

namespace {

// Keys in the order written: the documented order of docs/http-api.md.
using json = nlohmann::ordered_json;
constexpr int64_t kMs = 1'000'000;

// A bad request: the status, the message and the parameter it is about.
struct ApiError : std::runtime_error {
    ApiError(int status, const std::string& message, std::string parameter = {})
        : std::runtime_error(message), status(status), parameter(std::move(parameter)) {}
    int status;
    std::string parameter;
    json extra = json::object();
};

std::string dump(const json& value) {
    // Stored text may be any bytes: invalid UTF-8 is replaced, never an exception.
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Query parameters, in order; a name may repeat (label=).
class Parameters {
  public:
    explicit Parameters(std::string_view query) {
        size_t count = 0;
        while (!query.empty()) {
            const size_t amp = query.find('&');
            const std::string_view pair = query.substr(0, amp);
            query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
            if (pair.empty())
                continue;
            if (++count > 64)
                throw ApiError(400, "more than 64 query parameters");
            const size_t eq = pair.find('=');
            auto name = url_decode(pair.substr(0, eq));
            auto value = url_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
            if (!name || !value)
                throw ApiError(400, "a query parameter has a malformed %-escape");
            values_.emplace_back(std::move(*name), std::move(*value));
        }
    }
    std::optional<std::string> get(std::string_view name) const {
        for (const auto& [key, value] : values_)
            if (key == name)
                return value;
        return std::nullopt;
    }
    std::vector<std::string> all(std::string_view name) const {
        std::vector<std::string> out;
        for (const auto& [key, value] : values_)
            if (key == name)
                out.push_back(value);
        return out;
    }
    // Refuses a parameter the endpoint does not know: a typo is not silently ignored.
    void only(std::initializer_list<std::string_view> known) const {
        for (const auto& [key, value] : values_)
            if (std::find(known.begin(), known.end(), key) == known.end())
                throw ApiError(400, "unknown parameter '" + key + "'", key);
    }

  private:
    std::vector<std::pair<std::string, std::string>> values_;
};

int64_t parse_int(const std::string& name, const std::string& text) {
    if (text.empty() || text.size() > 18 ||
        text.find_first_not_of("0123456789", text[0] == '-' ? 1 : 0) != std::string::npos ||
        text == "-")
        throw ApiError(400, name + " must be an integer; got '" + text + "'", name);
    return std::stoll(text);
}

int64_t parse_duration_ns(const std::string& name, const std::string& text) {
    auto parsed = core::parse_duration(text);
    if (!parsed || parsed->count() <= 0)
        throw ApiError(
            400, name + " must be a duration such as 30s, 15m or 24h; got '" + text + "'", name);
    return parsed->count();
}

// A moment: ms since the epoch, an RFC 3339 UTC time (2024-11-24T16:00:00Z, fraction allowed),
// "now", or "now-15m".
int64_t parse_moment_ns(const std::string& name, const std::string& text, int64_t now_ns) {
    // Moments from 1970 to 2255: any range between two of them, and any bucket start, fits.
    constexpr int64_t kLatest = 9'000'000'000'000'000'000;
    auto bounded = [&](int64_t ns) {
        if (ns < 0 || ns > kLatest)
            throw ApiError(400, name + " is outside 1970..2255; got '" + text + "'", name);
        return ns;
    };
    if (text == "now")
        return now_ns;
    if (text.rfind("now-", 0) == 0)
        return bounded(now_ns - parse_duration_ns(name, text.substr(4)));
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
        const int64_t ms = parse_int(name, text);
        return bounded(ms <= kLatest / kMs ? ms * kMs : -1);
    }
    if (auto parsed = core::parse_time_utc(text))
        return bounded(*parsed);
    throw ApiError(400,
                   name +
                       " must be ms since the epoch, a UTC time such as 2024-11-24T16:00:00Z, "
                       "now or now-15m; got '" +
                       text + "'",
                   name);
}

json labels_object(const std::string& labels) {
    json out = json::object();
    for (auto& [key, value] : store::split_series_labels(labels))
        out[key] = value;
    return out;
}

// Six significant digits: a chart needs no more, and the body is half the size.
json rounded(double value, int digits = 6) {
    if (!std::isfinite(value))
        return nullptr;
    // to_chars/from_chars: exact, and several times faster than printf and strtod.
    char buffer[32];
    const auto end =
        std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general, digits)
            .ptr;
    double out = value;
    std::from_chars(buffer, end, out);
    return out;
}

// label=key=value filters: every one must match.
using LabelFilters = std::vector<std::pair<std::string, std::string>>;

LabelFilters parse_label_filters(const Parameters& parameters) {
    LabelFilters filters;
    for (const auto& text : parameters.all("label")) {
        const size_t eq = text.find('=');
        if (eq == std::string::npos || eq == 0)
            throw ApiError(400, "label must be key=value; got '" + text + "'", "label");
        filters.emplace_back(text.substr(0, eq), text.substr(eq + 1));
    }
    return filters;
}

bool matches(const std::string& labels, const LabelFilters& filters) {
    if (filters.empty())
        return true;
    const auto pairs = store::split_series_labels(labels);
    for (const auto& filter : filters)
        if (std::find(pairs.begin(), pairs.end(), filter) == pairs.end())
            return false;
    return true;
}

// The metric's type, or 404 with the closest names.
std::string metric_type(store::Reader& reader, const std::string& metric) {
    if (auto type = reader.metric_type(metric))
        return *type;
    std::vector<std::string> names;
    for (const auto& info : reader.metrics())
        names.push_back(info.name);
    ApiError error(404, "no metric '" + metric + "' in the store", "metric");
    error.extra["suggestions"] = closest_names(metric, names);
    throw error;
}

std::string required(const Parameters& parameters, const std::string& name) {
    auto value = parameters.get(name);
    if (!value || value->empty())
        throw ApiError(400, "missing parameter '" + name + "'", name);
    return *value;
}

bool parse_bool(const Parameters& parameters, const std::string& name) {
    auto value = parameters.get(name);
    if (!value)
        return false;
    if (*value == "true" || *value == "1" || value->empty())
        return true;
    if (*value == "false" || *value == "0")
        return false;
    throw ApiError(400, name + " must be true or false; got '" + *value + "'", name);
}

json host_json(const HostOverview& host) {
    return {{"host", host.host},
            {"last_seen", host.last_seen_ns / kMs},
            {"interval",
             std::round(static_cast<double>(host.interval_ns) / 1e6) / 1e3},  // s, to the ms
            {"stale", host.stale}};
}

json optional_number(const std::optional<double>& value) {
    return value ? rounded(*value) : json();
}

// ---- endpoints ----

json hosts(const Parameters& parameters, store::Reader& reader, int64_t now_ns) {
    parameters.only({});
    json list = json::array();
    OverviewOptions options{now_ns};
    options.values = false;
    for (const auto& host : overview(reader, options))
        list.push_back(host_json(host));
    return {{"now", now_ns / kMs}, {"hosts", list}};
}

json overview_json(const Parameters& parameters, store::Reader& reader, int64_t now_ns) {
    parameters.only({"window", "points"});
    OverviewOptions options{now_ns};
    if (auto points = parameters.get("points")) {
        const int64_t buckets = parse_int("points", *points);
        if (buckets < 2 || buckets > 600)
            throw ApiError(400, "points must be 2..600", "points");
        options.buckets = static_cast<int>(buckets);
    }
    if (auto window = parameters.get("window")) {
        options.window_ns = parse_duration_ns("window", *window);
        if (options.window_ns > 24LL * 3600 * 1'000'000'000)
            throw ApiError(400, "window must be 24h or less", "window");
    }
    json list = json::array();
    const auto hosts = overview(reader, options);
    for (const auto& host : hosts) {
        json item = host_json(host);
        item["cpu"] = optional_number(host.cpu);
        item["memory"] = {{"used", optional_number(host.memory_used)},
                          {"limit", optional_number(host.memory_limit)}};
        item["disk"] = {{"read", optional_number(host.disk_read)},
                        {"write", optional_number(host.disk_write)}};
        item["network"] = {{"receive", optional_number(host.network_receive)},
                           {"transmit", optional_number(host.network_transmit)}};
        // On the shared grid: a null where the host has no point in that bucket; three digits
        // for a 24-pixel line.
        json v = json::array();
        for (const auto& value : host.cpu_recent)
            v.push_back(value ? rounded(*value, 3) : json());
        item["cpu_recent"] = std::move(v);
        list.push_back(std::move(item));
    }
    json grid = json::array();
    for (const int64_t t : sparkline_grid(options))
        grid.push_back(t / kMs);
    return {{"now", now_ns / kMs},
            {"window", static_cast<double>(options.window_ns) / 1e9},
            {"cpu_recent_t", grid},
            {"hosts", list}};
}

json metrics(const Parameters& parameters, store::Reader& reader) {
    parameters.only({"host"});
    json list = json::array();
    if (auto host = parameters.get("host")) {
        // One host: its series, counted by metric.
        std::map<std::pair<std::string, std::string>, int64_t> counts;
        for (const auto& series : reader.series("", *host))
            ++counts[{series.name, series.type}];
        for (const auto& [key, count] : counts)
            list.push_back({{"name", key.first},
                            {"type", key.second},
                            {"unit", metric_unit(key.first)},
                            {"series", count},
                            {"hosts", 1}});
    } else {
        for (const auto& info : reader.metrics())
            list.push_back({{"name", info.name},
                            {"type", info.type},
                            {"unit", metric_unit(info.name)},
                            {"series", info.series},
                            {"hosts", info.hosts}});
    }
    return {{"metrics", list}};
}

json series(const Parameters& parameters, store::Reader& reader) {
    parameters.only({"metric", "host", "label"});
    const std::string metric = required(parameters, "metric");
    const std::string type = metric_type(reader, metric);
    const auto filters = parse_label_filters(parameters);
    json list = json::array();
    for (const auto& s : reader.series(metric, parameters.get("host")))
        if (matches(s.labels, filters))
            list.push_back({{"host", s.host}, {"labels", labels_object(s.labels)}});
    return {{"metric", metric}, {"type", type}, {"unit", metric_unit(metric)}, {"series", list}};
}

json latest(const Parameters& parameters, store::Reader& reader, const ApiLimits& limits) {
    parameters.only({"host", "metric"});
    const std::string metric = parameters.get("metric").value_or("");
    if (!metric.empty())
        metric_type(reader, metric);
    json list = json::array();
    bool truncated = false;
    for (const auto& row : reader.latest(parameters.get("host"), metric)) {
        if (static_cast<int64_t>(list.size()) >= limits.max_latest_rows) {
            truncated = true;
            break;
        }
        list.push_back({{"host", row.host},
                        {"name", row.name},
                        {"labels", labels_object(row.labels)},
                        {"type", row.type},
                        {"unit", metric_unit(row.name)},
                        {"t", row.timestamp_ns / kMs},
                        {"value", std::isfinite(row.value) ? json(row.value) : json()}});
    }
    json out = {{"latest", list}};
    if (truncated) {
        out["truncated"] = true;
        out["limit"] = limits.max_latest_rows;
    }
    return out;
}

json points(const Parameters& parameters, store::Reader& reader, int64_t now_ns,
            const ApiLimits& limits) {
    parameters.only({"metric", "host", "label", "from", "until", "step", "points", "rate", "agg"});
    const std::string metric = required(parameters, "metric");
    const int64_t until = parse_moment_ns("until", parameters.get("until").value_or("now"), now_ns);
    const int64_t from = parse_moment_ns("from", parameters.get("from").value_or("now-1h"), now_ns);
    if (from >= until)
        throw ApiError(400, "from must be before until", "from");
    if (until - from > limits.max_range_ns)
        throw ApiError(400,
                       "the range is longer than " +
                           std::to_string(limits.max_range_ns / (86400 * 1'000'000'000LL)) +
                           " days",
                       "from");
    int64_t max_points = limits.default_points;
    if (auto text = parameters.get("points")) {
        max_points = parse_int("points", *text);
        if (max_points < 2 || max_points > limits.max_points)
            throw ApiError(400, "points must be 2.." + std::to_string(limits.max_points), "points");
    }
    // The step: what was asked, made coarser until the range holds no more than `points`
    // buckets, in whole milliseconds (the page's time unit). Buckets are aligned to the epoch,
    // so a range of span s covers at most ceil(s / step) + 1 of them.
    int64_t step = 0;
    if (auto text = parameters.get("step"))
        step = parse_duration_ns("step", *text);
    const int64_t span = until - from;
    step = std::max(step, (span + max_points - 2) / (max_points - 1));
    step = std::max<int64_t>(kMs, (step + kMs - 1) / kMs * kMs);
    const bool rate = parse_bool(parameters, "rate");
    const std::string type = metric_type(reader, metric);
    if (rate && type != "counter")
        throw ApiError(
            400, "rate turns a counter into per-second rates; " + metric + " is a " + type, "rate");
    std::set<std::string> aggregates;
    {
        const std::string text = parameters.get("agg").value_or("mean");
        size_t start = 0;
        while (start <= text.size()) {
            const size_t comma = std::min(text.find(',', start), text.size());
            const std::string agg = text.substr(start, comma - start);
            if (agg != "min" && agg != "mean" && agg != "max" && agg != "last" && agg != "count")
                throw ApiError(
                    400, "agg must list min, mean, max, last or count; got '" + agg + "'", "agg");
            aggregates.insert(agg);
            start = comma + 1;
        }
    }
    const auto filters = parse_label_filters(parameters);
    const auto host = parameters.get("host");
    int64_t matching = 0;
    for (const auto& s : reader.series(metric, host))
        matching += matches(s.labels, filters) ? 1 : 0;
    if (matching > limits.max_series)
        throw ApiError(400,
                       "the filter matches " + std::to_string(matching) + " series, more than " +
                           std::to_string(limits.max_series) +
                           " in one response: filter by host "
                           "or label",
                       "metric");

    // Buckets aligned to multiples of the step since the epoch, shared by every series: one
    // time axis for all (what uPlot draws), a null where a series has no point.
    auto floor_div = [](int64_t a, int64_t b) { return a / b - (a % b < 0 ? 1 : 0); };
    const int64_t first_bucket = floor_div(from, step);
    const int64_t buckets = floor_div(until, step) - first_bucket + 1;
    json t = json::array();
    for (int64_t b = 0; b < buckets; ++b)
        t.push_back((first_bucket + b) * step / kMs);
    json list = json::array();
    const auto deadline = std::chrono::steady_clock::now() + limits.deadline;
    bool late = false;
    struct Bucket {
        double min, max, sum, last;
        int64_t count = 0;
    };
    std::vector<Bucket> acc;
    reader.scan(
        metric, host, {from, until}, rate,
        [&](const store::Row& s, const std::vector<store::Point>& series_points) {
            acc.assign(static_cast<size_t>(buckets), Bucket{});
            // Points are in time order: a division only when one leaves the current bucket.
            int64_t b = -1, bucket_start = 0, bucket_end = std::numeric_limits<int64_t>::min();
            for (const auto& p : series_points) {
                if (p.ts >= bucket_end || p.ts < bucket_start) {
                    b = floor_div(p.ts, step) - first_bucket;
                    bucket_start = (first_bucket + b) * step;
                    bucket_end = bucket_start + step;
                }
                if (b < 0 || b >= buckets)
                    continue;
                Bucket& bucket = acc[static_cast<size_t>(b)];
                if (bucket.count == 0) {
                    bucket.min = bucket.max = p.value;
                    bucket.sum = 0;
                }
                bucket.min = std::min(bucket.min, p.value);
                bucket.max = std::max(bucket.max, p.value);
                bucket.sum += p.value;
                bucket.last = p.value;
                ++bucket.count;
            }
            json item = {{"host", s.host}, {"labels", labels_object(s.labels)}};
            for (const auto& agg : aggregates) {
                json values = json::array();
                for (const auto& bucket : acc) {
                    if (bucket.count == 0)
                        values.push_back(nullptr);
                    else if (agg == "min")
                        values.push_back(rounded(bucket.min));
                    else if (agg == "max")
                        values.push_back(rounded(bucket.max));
                    else if (agg == "last")
                        values.push_back(rounded(bucket.last));
                    else if (agg == "count")
                        values.push_back(bucket.count);
                    else
                        values.push_back(rounded(bucket.sum / static_cast<double>(bucket.count)));
                }
                item[agg] = std::move(values);
            }
            list.push_back(std::move(item));
            late = std::chrono::steady_clock::now() > deadline;
            return !late;
        },
        [&](const store::Row& s) { return matches(s.labels, filters); });
    if (late)
        throw ApiError(503, "the query took longer than " +
                                std::to_string(limits.deadline.count()) +
                                " ms: ask for a shorter range or fewer series");
    return {{"metric", metric},
            {"type", rate ? "rate" : type},
            {"unit", metric_unit(metric)},
            {"rate", rate},
            {"from", from / kMs},
            {"until", until / kMs},
            {"step", step / kMs},
            {"t", t},
            {"series", list}};
}

}  // namespace

std::optional<std::string> url_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%') {
            if (i + 2 >= text.size())
                return std::nullopt;
            auto hex = [](char h) -> int {
                if (h >= '0' && h <= '9')
                    return h - '0';
                if (h >= 'a' && h <= 'f')
                    return h - 'a' + 10;
                if (h >= 'A' && h <= 'F')
                    return h - 'A' + 10;
                return -1;
            };
            const int high = hex(text[i + 1]), low = hex(text[i + 2]);
            if (high < 0 || low < 0)
                return std::nullopt;
            out.push_back(static_cast<char>(high * 16 + low));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

ApiResponse Api::handle(std::string_view target, store::Reader& reader, int64_t now_ns) const {
    const size_t question = target.find('?');
    const std::string_view path = target.substr(0, question);
    const std::string_view query =
        question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
    try {
        const Parameters parameters(query);
        json body;
        if (path == "/api/v1/hosts")
            body = hosts(parameters, reader, now_ns);
        else if (path == "/api/v1/overview")
            body = overview_json(parameters, reader, now_ns);
        else if (path == "/api/v1/metrics")
            body = metrics(parameters, reader);
        else if (path == "/api/v1/series")
            body = series(parameters, reader);
        else if (path == "/api/v1/latest")
            body = latest(parameters, reader, limits_);
        else if (path == "/api/v1/points")
            body = points(parameters, reader, now_ns, limits_);
        else
            throw ApiError(404,
                           "no such endpoint: " + std::string(path) + " (see docs/http-api.md)");
        return {200, dump(body)};
    } catch (const ApiError& e) {
        json body = {{"error", e.what()}};
        if (!e.parameter.empty())
            body["parameter"] = e.parameter;
        body.update(e.extra);
        return {e.status, dump(body)};
    } catch (const std::exception& e) {
        // The store could not be read (a damaged chunk, a locked or missing file).
        return {500, dump({{"error", std::string("the store could not be read: ") + e.what()}})};
    }
}

}  // namespace dmon::ctl::web

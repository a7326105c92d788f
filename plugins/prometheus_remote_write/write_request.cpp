#include "write_request.hpp"

#include "prometheus_common/naming.hpp"
#include "remote.pb.h"

#include <dmon/metric_catalog.hpp>
#include <dmon/str.hpp>

#include <snappy-c.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <map>
#include <unordered_map>
#include <vector>

namespace dmon::plugins::prometheus {
namespace {

// Prometheus reads one NaN bit pattern as "this series went stale"; a NaN a collector measured
// is sent as Prometheus' ordinary NaN so that it is never mistaken for that marker.
constexpr uint64_t kPrometheusNaN = 0x7ff8000000000001ULL;

struct Series {
    ::prometheus::TimeSeries* proto = nullptr;
    std::vector<std::pair<int64_t, double>> points;
};

}  // namespace

EncodedRequest encode_write_request(const dmon_sample* samples, size_t count, size_t sample_size,
                                    bool with_metadata) {
    ::prometheus::WriteRequest request;
    EncodedRequest encoded;
    // Series in the order they first appear; the key is the name and the sorted labels.
    std::unordered_map<std::string, size_t> index;
    std::vector<Series> series;
    std::map<std::string, const dmon_sample*> families;  // for metadata, one per family
    std::string key;
    const auto* base = reinterpret_cast<const unsigned char*>(samples);
    for (size_t i = 0; i < count; ++i) {
        const auto& sample = *reinterpret_cast<const dmon_sample*>(base + i * sample_size);
        const std::string_view name = to_view(sample.name);
        const auto type = static_cast<dmon_sample_type>(sample.type);
        const MetricInfo* info = find_metric(name);
        const std::string_view unit = info != nullptr ? info->unit : std::string_view{};
        std::string metric = metric_name(name, unit, type);
        auto labels = sanitized_labels(sample);
        labels.emplace_back("__name__", metric);
        std::sort(labels.begin(), labels.end());
        key.clear();
        for (const auto& [label, value] : labels) {
            key += label;
            key += '\x01';
            key += value;
            key += '\x02';
        }
        auto [it, created] = index.try_emplace(key, series.size());
        if (created) {
            Series added;
            added.proto = request.add_timeseries();
            for (auto& [label, value] : labels) {
                auto* proto_label = added.proto->add_labels();
                proto_label->set_name(std::move(label));
                proto_label->set_value(std::move(value));
            }
            series.push_back(std::move(added));
            if (with_metadata)
                families.try_emplace(family_name(name, unit, type), &sample);
        }
        double value = sample.value;
        if (std::isnan(value))
            value = std::bit_cast<double>(kPrometheusNaN);
        // Milliseconds: what Prometheus keeps. Two samples of a series in one millisecond
        // would be refused as a duplicate; collectors are far slower than that.
        series[it->second].points.emplace_back(sample.timestamp_ns / 1000000, value);
    }
    for (Series& one : series) {
        std::stable_sort(one.points.begin(), one.points.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        for (const auto& [timestamp, value] : one.points) {
            auto* proto_sample = one.proto->add_samples();
            proto_sample->set_timestamp(timestamp);
            proto_sample->set_value(value);
        }
        encoded.samples += one.points.size();
    }
    encoded.series = series.size();
    for (const auto& [family, sample] : families) {
        const std::string_view name = to_view(sample->name);
        const auto type = static_cast<dmon_sample_type>(sample->type);
        const MetricInfo* info = find_metric(name);
        auto* metadata = request.add_metadata();
        metadata->set_type(type == DMON_COUNTER ? ::prometheus::MetricMetadata::COUNTER
                                                : ::prometheus::MetricMetadata::GAUGE);
        metadata->set_metric_family_name(family);
        metadata->set_help(info != nullptr ? std::string(info->help)
                                           : "dmon metric " + valid_utf8(name));
        metadata->set_unit(unit_suffix(info != nullptr ? info->unit : "", type));
    }
    const std::string serialized = request.SerializeAsString();
    size_t compressed_size = snappy_max_compressed_length(serialized.size());
    encoded.body.resize(compressed_size);
    if (snappy_compress(serialized.data(), serialized.size(), encoded.body.data(),
                        &compressed_size) != SNAPPY_OK)
        throw std::runtime_error("snappy could not compress a write request");
    encoded.body.resize(compressed_size);
    return encoded;
}

std::string decode_write_request_text(const std::string& body) {
    size_t size = 0;
    if (snappy_uncompressed_length(body.data(), body.size(), &size) != SNAPPY_OK ||
        size > 64 * 1024 * 1024)
        return {};
    std::string raw(size, '\0');
    if (snappy_uncompress(body.data(), body.size(), raw.data(), &size) != SNAPPY_OK)
        return {};
    ::prometheus::WriteRequest request;
    if (!request.ParseFromString(raw))
        return {};
    std::string out;
    for (const auto& series : request.timeseries()) {
        std::string name, labels;
        for (const auto& label : series.labels()) {
            if (label.name() == "__name__") {
                name = label.value();
                continue;
            }
            labels += (labels.empty() ? "" : ",") + label.name() + "=\"" + label.value() + "\"";
        }
        for (const auto& sample : series.samples()) {
            char value[40];
            std::snprintf(value, sizeof(value), "%.17g", sample.value());
            out += name + "{" + labels + "} " + value + " " + std::to_string(sample.timestamp()) +
                   "\n";
        }
    }
    for (const auto& metadata : request.metadata())
        out += "# " + metadata.metric_family_name() + " " +
               ::prometheus::MetricMetadata::MetricType_Name(metadata.type()) + " " +
               metadata.unit() + "\n";
    return out;
}

}  // namespace dmon::plugins::prometheus

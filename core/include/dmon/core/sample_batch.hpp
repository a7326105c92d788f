#pragma once

#include <dmon/plugin.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dmon::core {

// Completion of a batch fed from outside (e.g. a broker message): done(true) runs once every
// sink the batch was routed to has durably written it; done(false) as soon as one gave up.
class CompletionToken {
  public:
    explicit CompletionToken(std::function<void(bool)> done) : done_(std::move(done)) {}
    ~CompletionToken() { finish(false); }  // never routed or dropped on the floor: not durable
    CompletionToken(const CompletionToken&) = delete;
    CompletionToken& operator=(const CompletionToken&) = delete;

    // Called by the router before handing the batch to `sinks` sinks.
    void expect(size_t sinks) {
        pending_.store(sinks);
        if (sinks == 0)
            finish(true);
    }
    void sink_succeeded() {
        if (pending_.fetch_sub(1) == 1)
            finish(true);
    }
    void sink_failed() { finish(false); }

  private:
    void finish(bool ok) {
        if (!finished_.exchange(true) && done_)
            done_(ok);
    }
    std::function<void(bool)> done_;
    std::atomic<size_t> pending_{0};
    std::atomic<bool> finished_{false};
};

// The samples of one emission, with the strings of all samples in one arena so that a batch
// is a handful of allocations, not a few per sample. Views into it (to_c) stay valid while
// the batch is alive and no longer grows.
class SampleBatch {
  public:
    explicit SampleBatch(std::string source = {}) : source_(std::move(source)) {}

    const std::string& source() const { return source_; }
    size_t size() const { return samples_.size(); }
    bool empty() const { return samples_.empty(); }

    // Appends a sample; a `host` label is put first, unless the sample already has one.
    void add(const dmon_sample& sample, std::string_view host_label, int64_t default_timestamp);
    void add(std::string_view name,
             std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
             double value, dmon_sample_type type, int64_t timestamp_ns);

    // Appends C views of every sample to `samples`; labels go to `labels`, which must have been
    // reserved with label_count() more entries so that its storage does not move.
    void to_c(std::vector<dmon_sample>& samples, std::vector<dmon_label>& labels) const;
    size_t label_count() const { return labels_.size(); }
    // Memory the batch's samples take, roughly: for dmon.sink.queued{unit=bytes}.
    size_t bytes() const {
        return arena_.size() + samples_.size() * sizeof(Record) +
               labels_.size() * sizeof(labels_[0]);
    }

    // The input this batch came from (e.g. an AMQP message_id), for sinks that store once.
    void set_origin(std::string origin) { origin_ = std::move(origin); }
    const std::string& origin() const { return origin_; }

    void set_token(std::shared_ptr<CompletionToken> token) { token_ = std::move(token); }
    const std::shared_ptr<CompletionToken>& token() const { return token_; }

  private:
    struct Span {
        uint32_t offset;
        uint32_t size;
    };
    struct Record {
        Span name;
        uint32_t label_begin, label_end;
        double value;
        int64_t timestamp_ns;
        uint32_t type;
    };
    Span store(std::string_view text);
    dmon_str view(Span span) const { return dmon_str{arena_.data() + span.offset, span.size}; }

    std::string source_;
    std::string origin_;
    std::string arena_;
    std::vector<std::pair<Span, Span>> labels_;
    std::vector<Record> samples_;
    std::shared_ptr<CompletionToken> token_;
};

using SharedBatch = std::shared_ptr<const SampleBatch>;

}  // namespace dmon::core

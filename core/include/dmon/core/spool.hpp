#pragma once

#include "dmon/core/instance_stats.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dmon::core {

class SpoolError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class OverflowPolicy { drop_oldest, drop_newest };
const char* to_string(OverflowPolicy policy);

struct SpoolOptions {
    std::filesystem::path folder;
    uint64_t max_bytes = uint64_t{1} << 30;  // spool_size
    OverflowPolicy overflow = OverflowPolicy::drop_oldest;
    // 0: max_bytes / 8, between 64 KiB and 64 MiB. Dropping the oldest data frees a whole
    // segment, so a segment is a small part of the spool.
    uint64_t segment_bytes = 0;
};

// A durable FIFO of records in a folder of append-only segment files.
//
// Record: magic "DSP1" | payload length u32 | samples u32 | CRC32C(payload) u32 | payload.
// append() returns only after fdatasync: a record it accepted survives SIGKILL, OOM and power
// loss. The read position ("head") is written without sync: after a crash the last few
// delivered records may be sent again, which the batch ids make harmless downstream.
// A torn or corrupt record (bad magic, length or checksum) is reported once with its
// position, skipped, and reading resumes at the next valid record.
//
// One Spool per folder in a process (open() shares it; a replaced sink instance hands its
// spool to its successor) and per machine (an exclusive lock file: a second process is refused).
// Thread-safe.
class Spool {
  public:
    struct Record {
        std::string payload;
        uint32_t samples = 0;
        uint64_t segment = 0;  // where it is, so pop() of a record that overflow already
        uint64_t offset = 0;   // dropped removes nothing else
    };
    struct AppendResult {
        bool stored = false;
        uint64_t dropped_samples = 0;  // older records dropped (drop_oldest) or this one
        DropReason reason = DropReason::spool_full;  // why, when dropped_samples > 0
        std::string error;                           // for the log
        uint64_t segment = 0, offset = 0;            // where it was stored
    };
    // Called (without the spool's lock) for each corrupt stretch found while reading.
    using CorruptionReport = std::function<void(const std::string& message)>;

    static std::shared_ptr<Spool> open(const SpoolOptions& options);
    ~Spool();
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;

    AppendResult append(const std::string& payload, uint32_t samples);
    // The oldest record, or nullopt when the spool is empty. Skips (and reports) corrupt data.
    std::optional<Record> front(const CorruptionReport& report = {});
    // Removes `record` if it is still the oldest (overflow may have dropped it meanwhile).
    void pop(const Record& record);
    // True when the oldest record is the one stored at (segment, offset): lets a reader that
    // still holds what it appended skip reading it back.
    bool head_is(uint64_t segment, uint64_t offset);

    uint64_t bytes() const;
    uint64_t samples() const;
    uint64_t records() const;
    uint64_t corrupt_records() const;
    const std::filesystem::path& folder() const { return options_.folder; }
    void set_limits(uint64_t max_bytes, OverflowPolicy overflow);

    // One reader at a time: a sink replaced by hot reload keeps sending until it is drained,
    // and its successor, sharing the spool, waits for it so nothing goes out twice or reordered.
    bool claim_reader(const void* owner);
    void release_reader(const void* owner);

  private:
    explicit Spool(SpoolOptions options);
    struct Segment {
        uint64_t number = 0;
        uint64_t size = 0;
        uint64_t samples = 0;  // of records at or after the head
        uint64_t records = 0;
    };
    void recover();
    void scan_segment(Segment& segment, uint64_t from, bool truncate_torn_tail);
    int start_segment();  // 0, or the errno of a segment that could not be created
    uint64_t bytes_locked() const;
    void drop_head_segment(AppendResult& result);
    void advance_head_past_empty_segments();
    void save_head();
    std::filesystem::path segment_path(uint64_t number) const;
    bool read_at(uint64_t segment, uint64_t offset, void* into, size_t size);
    std::optional<uint64_t> resync(uint64_t segment, uint64_t from);

    SpoolOptions options_;
    mutable std::mutex mutex_;
    std::vector<Segment> segments_;  // oldest first; the last one takes appends
    uint64_t head_offset_ = 0;       // in segments_.front()
    uint64_t next_segment_ = 1;      // numbers only grow, so the order of files is the order
    uint64_t corrupt_records_ = 0;
    int lock_fd_ = -1;
    int head_fd_ = -1;
    int write_fd_ = -1;
    int read_fd_ = -1;
    uint64_t read_segment_ = 0;
    const void* reader_ = nullptr;
};

// CRC32C (Castagnoli), as in iSCSI, ext4 and LevelDB.
uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

// "1GiB", "512MiB", "64KiB", "1000000" (bytes); nullopt when not a size.
std::optional<uint64_t> parse_byte_size(const std::string& text);

}  // namespace dmon::core

#include "dmon/core/spool.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>

#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <share.h>
#include <sys/stat.h>
#else
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

namespace dmon::core {
namespace fs = std::filesystem;

namespace {

constexpr uint32_t kMagic = 0x31505344;  // "DSP1" in the file
constexpr size_t kHeaderSize = 16;
constexpr uint64_t kMaxRecord = uint64_t{256} << 20;  // a length beyond this is corruption
// A segment that has been read to its end is deleted once it is this large, and the next
// record starts a new one: delivered data does not sit on disk until a segment is full.
constexpr uint64_t kRecycleBytes = 1024 * 1024;

struct Header {
    uint32_t magic = kMagic;
    uint32_t length = 0;
    uint32_t samples = 0;
    uint32_t crc = 0;
};
static_assert(sizeof(Header) == kHeaderSize);

// The few file calls the spool needs, on POSIX and on Windows (mingw's POSIX-like CRT).
namespace file {
#ifdef _WIN32
int open_rw(const fs::path& path, bool exclusive_create) {
    int fd = -1;
    const int flags = _O_RDWR | _O_BINARY | _O_CREAT | (exclusive_create ? _O_EXCL : 0);
    _wsopen_s(&fd, path.c_str(), flags, _SH_DENYNO, _S_IREAD | _S_IWRITE);
    return fd;
}
int lock(const fs::path& path) {
    int fd = -1;  // deny-read/write sharing: a second process cannot open it
    _wsopen_s(&fd, path.c_str(), _O_RDWR | _O_BINARY | _O_CREAT, _SH_DENYRW, _S_IREAD | _S_IWRITE);
    return fd;
}
bool read_at(int fd, uint64_t offset, void* into, size_t size) {
    if (_lseeki64(fd, static_cast<int64_t>(offset), SEEK_SET) < 0)
        return false;
    return _read(fd, into, static_cast<unsigned>(size)) == static_cast<int>(size);
}
bool write_at(int fd, uint64_t offset, const void* data, size_t size) {
    if (_lseeki64(fd, static_cast<int64_t>(offset), SEEK_SET) < 0)
        return false;
    return _write(fd, data, static_cast<unsigned>(size)) == static_cast<int>(size);
}
bool sync(int fd) {
    return _commit(fd) == 0;
}
bool truncate(int fd, uint64_t size) {
    return _chsize_s(fd, static_cast<int64_t>(size)) == 0;
}
void close(int fd) {
    if (fd >= 0)
        _close(fd);
}
void sync_folder(const fs::path&) {}  // NTFS makes a created file's entry durable with the file
#else
int open_rw(const fs::path& path, bool exclusive_create) {
    return ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (exclusive_create ? O_EXCL : 0),
                  0600);
}
int lock(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}
bool read_at(int fd, uint64_t offset, void* into, size_t size) {
    auto* out = static_cast<char*>(into);
    while (size > 0) {
        const ssize_t got = ::pread(fd, out, size, static_cast<off_t>(offset));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        out += got;
        offset += static_cast<uint64_t>(got);
        size -= static_cast<size_t>(got);
    }
    return true;
}
bool write_at(int fd, uint64_t offset, const void* data, size_t size) {
    const auto* in = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t put = ::pwrite(fd, in, size, static_cast<off_t>(offset));
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return false;
        in += put;
        offset += static_cast<uint64_t>(put);
        size -= static_cast<size_t>(put);
    }
    return true;
}
bool sync(int fd) {
    return ::fdatasync(fd) == 0;
}
bool truncate(int fd, uint64_t size) {
    return ::ftruncate(fd, static_cast<off_t>(size)) == 0;
}
void close(int fd) {
    if (fd >= 0)
        ::close(fd);
}
// A new segment's directory entry must be durable too, or power loss can lose the whole file.
void sync_folder(const fs::path& folder) {
    const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}
#endif
}  // namespace file

DropReason failure_reason(int error) {
    return error == ENOSPC ? DropReason::disk_full : DropReason::io_error;
}

std::mutex registry_mutex;
std::map<std::string, std::weak_ptr<Spool>>& registry() {
    static std::map<std::string, std::weak_ptr<Spool>> spools;
    return spools;
}

}  // namespace

const char* to_string(OverflowPolicy policy) {
    return policy == OverflowPolicy::drop_oldest ? "drop_oldest" : "drop_newest";
}

uint32_t crc32c(const void* data, size_t size, uint32_t crc) {
    static const auto table = [] {
        std::array<uint32_t, 256> t{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k)
                c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            t[i] = c;
        }
        return t;
    }();
    const auto* bytes = static_cast<const uint8_t*>(data);
    crc = ~crc;
    for (size_t i = 0; i < size; ++i)
        crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

std::optional<uint64_t> parse_byte_size(const std::string& text) {
    size_t used = 0;
    double number = 0;
    try {
        number = std::stod(text, &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    if (number < 0)
        return std::nullopt;
    std::string unit = text.substr(used);
    unit.erase(0, unit.find_first_not_of(' '));
    static const std::map<std::string, uint64_t> units = {{"", 1},
                                                          {"B", 1},
                                                          {"KiB", 1ull << 10},
                                                          {"MiB", 1ull << 20},
                                                          {"GiB", 1ull << 30},
                                                          {"TiB", 1ull << 40},
                                                          {"KB", 1000},
                                                          {"MB", 1000000},
                                                          {"GB", 1000000000}};
    const auto it = units.find(unit);
    if (it == units.end())
        return std::nullopt;
    const double bytes = number * static_cast<double>(it->second);
    // NaN, or more than a uint64_t holds (2^64 bytes is 16 EiB): not a size (found by fuzz_config).
    if (!(bytes < 18446744073709551616.0))
        return std::nullopt;
    return static_cast<uint64_t>(bytes);
}

std::shared_ptr<Spool> Spool::open(const SpoolOptions& options) {
    std::error_code ec;
    fs::create_directories(options.folder, ec);
    if (ec)
        throw SpoolError("spool " + options.folder.string() +
                         ": cannot create the folder: " + ec.message());
#ifndef _WIN32
    ::chmod(options.folder.c_str(), 0700);  // batches are the host's data, not other users'
#endif
    const std::string key = fs::weakly_canonical(fs::absolute(options.folder)).string();
    std::lock_guard lock(registry_mutex);
    if (auto existing = registry()[key].lock()) {
        // A replaced sink instance hands its spool to its successor, which may have new limits.
        existing->set_limits(options.max_bytes, options.overflow);
        return existing;
    }
    std::shared_ptr<Spool> spool(new Spool(options));
    registry()[key] = spool;
    return spool;
}

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
    if (options_.segment_bytes == 0) {
        options_.segment_bytes =
            std::clamp<uint64_t>(options_.max_bytes / 8, uint64_t{64} << 10, uint64_t{64} << 20);
    }
    lock_fd_ = file::lock(options_.folder / "lock");
    if (lock_fd_ < 0) {
        throw SpoolError("spool " + options_.folder.string() +
                         ": in use by another dmon process (its lock file is held); give each "
                         "host its own spool folder");
    }
    recover();
}

Spool::~Spool() {
    file::close(head_fd_);
    file::close(read_fd_);
    file::close(write_fd_);
    file::close(lock_fd_);
}

fs::path Spool::segment_path(uint64_t number) const {
    char name[32];
    std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(number));
    return options_.folder / name;
}

void Spool::recover() {
    std::vector<uint64_t> numbers;
    for (const auto& entry : fs::directory_iterator(options_.folder)) {
        const std::string name = entry.path().filename().string();
        if (name.size() == 24 && name.ends_with(".seg") &&
            name.find_first_not_of("0123456789") == 20) {
            numbers.push_back(std::stoull(name.substr(0, 20)));
        }
    }
    std::sort(numbers.begin(), numbers.end());
    uint64_t head_segment = 0, head_offset = 0;
    {
        const int fd = file::open_rw(options_.folder / "head", false);
        char text[64] = {};
        if (fd >= 0 && file::read_at(fd, 0, text, 42)) {
            unsigned long long segment = 0, offset = 0;
            if (std::sscanf(text, "%llu %llu", &segment, &offset) == 2) {
                head_segment = segment;
                head_offset = offset;
            }
        }
        file::close(fd);
    }
    for (const uint64_t number : numbers)
        next_segment_ = std::max(next_segment_, number + 1);
    next_segment_ = std::max(next_segment_, head_segment + 1);
    for (const uint64_t number : numbers) {
        if (number < head_segment) {  // delivered before the last stop
            fs::remove(segment_path(number));
            continue;
        }
        std::error_code ec;
        Segment segment{number, static_cast<uint64_t>(fs::file_size(segment_path(number), ec))};
        segments_.push_back(segment);
    }
    if (!segments_.empty() && segments_.front().number == head_segment)
        head_offset_ = std::min(head_offset, segments_.front().size);
    for (size_t i = 0; i < segments_.size(); ++i)
        scan_segment(segments_[i], i == 0 ? head_offset_ : 0, i + 1 == segments_.size());
    if (!segments_.empty()) {
        write_fd_ = file::open_rw(segment_path(segments_.back().number), false);
        if (write_fd_ < 0)
            throw SpoolError("spool " + options_.folder.string() + ": cannot open " +
                             segment_path(segments_.back().number).string() + ": " +
                             std::strerror(errno));
    }
    save_head();
}

// Counts the valid records from `from`. In the segment that takes appends, a record cut short
// by a crash (nothing valid after it) is cut off, so new records follow the last good one.
void Spool::scan_segment(Segment& segment, uint64_t from, bool truncate_torn_tail) {
    const int fd = file::open_rw(segment_path(segment.number), false);
    if (fd < 0)
        return;
    std::string payload;
    uint64_t offset = from;
    while (offset + kHeaderSize <= segment.size) {
        Header header;
        bool valid = file::read_at(fd, offset, &header, kHeaderSize) && header.magic == kMagic &&
                     header.length <= segment.size - offset - kHeaderSize;
        if (valid) {
            payload.resize(header.length);
            valid = file::read_at(fd, offset + kHeaderSize, payload.data(), payload.size()) &&
                    crc32c(payload.data(), payload.size()) == header.crc;
        }
        if (valid) {
            segment.records++;
            segment.samples += header.samples;
            offset += kHeaderSize + header.length;
            continue;
        }
        file::close(fd);
        const auto next = resync(segment.number, offset + 1);
        if (!next) {
            if (truncate_torn_tail) {
                const int rw = file::open_rw(segment_path(segment.number), false);
                if (rw >= 0 && file::truncate(rw, offset))
                    segment.size = offset;
                file::close(rw);
            }
            return;
        }
        scan_segment(segment, *next, truncate_torn_tail);
        return;
    }
    if (offset < segment.size && truncate_torn_tail) {  // a header cut short
        if (file::truncate(fd, offset))
            segment.size = offset;
    }
    file::close(fd);
}

// The offset of the next valid record in a segment at or after `from`, if any.
std::optional<uint64_t> Spool::resync(uint64_t number, uint64_t from) {
    const int fd = file::open_rw(segment_path(number), false);
    if (fd < 0)
        return std::nullopt;
    std::error_code ec;
    const uint64_t size = fs::file_size(segment_path(number), ec);
    std::string chunk(64 * 1024, '\0');
    std::string payload;
    std::optional<uint64_t> found;
    for (uint64_t base = from; base + kHeaderSize <= size && !found;) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk.size(), size - base));
        if (!file::read_at(fd, base, chunk.data(), want))
            break;
        for (size_t i = 0; i + 4 <= want; ++i) {
            uint32_t magic;
            std::memcpy(&magic, chunk.data() + i, 4);
            if (magic != kMagic)
                continue;
            const uint64_t at = base + i;
            Header header;
            if (at + kHeaderSize > size || !file::read_at(fd, at, &header, kHeaderSize) ||
                header.length > size - at - kHeaderSize) {
                continue;
            }
            payload.resize(header.length);
            if (file::read_at(fd, at + kHeaderSize, payload.data(), payload.size()) &&
                crc32c(payload.data(), payload.size()) == header.crc) {
                found = at;
                break;
            }
        }
        if (want < 4)
            break;
        base += want - 3;  // a magic may straddle two chunks
    }
    file::close(fd);
    return found;
}

void Spool::set_limits(uint64_t max_bytes, OverflowPolicy overflow) {
    std::lock_guard lock(mutex_);
    options_.max_bytes = max_bytes;
    options_.overflow = overflow;
}

bool Spool::claim_reader(const void* owner) {
    std::lock_guard lock(mutex_);
    if (reader_ != nullptr && reader_ != owner)
        return false;
    reader_ = owner;
    return true;
}

void Spool::release_reader(const void* owner) {
    std::lock_guard lock(mutex_);
    if (reader_ == owner)
        reader_ = nullptr;
}

int Spool::start_segment() {
    const uint64_t number = next_segment_;
    const int fd = file::open_rw(segment_path(number), true);
    if (fd < 0)
        return errno;
    file::sync_folder(options_.folder);
    file::close(write_fd_);
    write_fd_ = fd;
    ++next_segment_;
    if (segments_.empty())
        head_offset_ = 0;
    segments_.push_back(Segment{number, 0, 0, 0});
    return 0;
}

void Spool::drop_head_segment(AppendResult& result) {
    const Segment& head = segments_.front();
    result.dropped_samples += head.samples;
    if (read_fd_ >= 0 && read_segment_ == head.number) {
        file::close(read_fd_);
        read_fd_ = -1;
    }
    fs::remove(segment_path(head.number));
    segments_.erase(segments_.begin());
    head_offset_ = 0;
    save_head();
}

Spool::AppendResult Spool::append(const std::string& payload, uint32_t samples) {
    AppendResult result;
    const uint64_t record_size = kHeaderSize + payload.size();
    std::lock_guard lock(mutex_);
    auto refuse = [&](DropReason reason, std::string error) {
        result.dropped_samples += samples;
        result.reason = reason;
        result.error = std::move(error);
        return result;
    };
    auto cannot_create = [&](int error) {
        return refuse(failure_reason(error), "cannot create segment " +
                                                 segment_path(next_segment_).string() + ": " +
                                                 std::strerror(error));
    };
    if (record_size > options_.max_bytes || payload.size() > kMaxRecord) {
        return refuse(DropReason::spool_full, "a batch of " + std::to_string(record_size) +
                                                  " bytes is larger than spool_size");
    }
    while (bytes_locked() + record_size > options_.max_bytes) {
        if (options_.overflow == OverflowPolicy::drop_newest)
            return refuse(
                DropReason::spool_full,
                "the spool is full (spool_size " + std::to_string(options_.max_bytes) + " bytes)");
        // So that the oldest data is a whole segment to drop.
        if (segments_.size() == 1) {
            if (const int error = start_segment())
                return cannot_create(error);
        }
        drop_head_segment(result);
        result.reason = DropReason::spool_full;
    }
    if (segments_.empty() || (segments_.back().size > 0 &&
                              segments_.back().size + record_size > options_.segment_bytes)) {
        if (const int error = start_segment())
            return cannot_create(error);
    }
    Segment& tail = segments_.back();
    Header header{kMagic, static_cast<uint32_t>(payload.size()), samples,
                  crc32c(payload.data(), payload.size())};
    std::string record(reinterpret_cast<const char*>(&header), kHeaderSize);
    record += payload;
    if (!file::write_at(write_fd_, tail.size, record.data(), record.size()) ||
        !file::sync(write_fd_)) {
        const int error = errno;
        file::truncate(write_fd_, tail.size);  // no half record for the next append to follow
        return refuse(failure_reason(error), "writing " + segment_path(tail.number).string() +
                                                 ": " + std::strerror(error));
    }
    result.segment = tail.number;
    result.offset = tail.size;
    tail.size += record.size();
    tail.samples += samples;
    tail.records++;
    result.stored = true;
    return result;
}

void Spool::advance_head_past_empty_segments() {
    while (segments_.size() > 1 && head_offset_ >= segments_.front().size) {
        if (read_fd_ >= 0 && read_segment_ == segments_.front().number) {
            file::close(read_fd_);
            read_fd_ = -1;
        }
        fs::remove(segment_path(segments_.front().number));
        segments_.erase(segments_.begin());
        head_offset_ = 0;
    }
}

bool Spool::read_at(uint64_t segment, uint64_t offset, void* into, size_t size) {
    if (read_fd_ < 0 || read_segment_ != segment) {
        file::close(read_fd_);
        read_fd_ = file::open_rw(segment_path(segment), false);
        read_segment_ = segment;
    }
    return read_fd_ >= 0 && file::read_at(read_fd_, offset, into, size);
}

std::optional<Spool::Record> Spool::front(const CorruptionReport& report) {
    std::vector<std::string> reports;
    std::optional<Record> record;
    {
        std::lock_guard lock(mutex_);
        for (;;) {
            advance_head_past_empty_segments();
            if (segments_.empty() || head_offset_ >= segments_.front().size)
                break;
            Segment& head = segments_.front();
            Header header;
            std::string why;
            if (head.size - head_offset_ < kHeaderSize ||
                !read_at(head.number, head_offset_, &header, kHeaderSize)) {
                why = "a record header cut short";
            } else if (header.magic != kMagic) {
                why = "no record starts here (bad magic)";
            } else if (header.length > head.size - head_offset_ - kHeaderSize) {
                why = "a record longer than its segment (torn write)";
            } else {
                Record candidate{std::string(header.length, '\0'), header.samples, head.number,
                                 head_offset_};
                if (!read_at(head.number, head_offset_ + kHeaderSize, candidate.payload.data(),
                             candidate.payload.size())) {
                    why = "a record that cannot be read";
                } else if (crc32c(candidate.payload.data(), candidate.payload.size()) !=
                           header.crc) {
                    why = "a checksum mismatch";
                } else {
                    record = std::move(candidate);
                    break;
                }
            }
            corrupt_records_++;
            const auto next = resync(head.number, head_offset_ + 1);
            const uint64_t resume = next.value_or(head.size);
            reports.push_back("spool " + options_.folder.string() + ": segment " +
                              segment_path(head.number).filename().string() + " at byte " +
                              std::to_string(head_offset_) + ": " + why + "; skipped " +
                              std::to_string(resume - head_offset_) +
                              " bytes to the next valid record");
            head_offset_ = resume;
            save_head();
        }
    }
    if (report) {
        for (const auto& message : reports)
            report(message);
    }
    return record;
}

void Spool::pop(const Record& record) {
    std::lock_guard lock(mutex_);
    if (segments_.empty() || segments_.front().number != record.segment ||
        head_offset_ != record.offset) {
        return;  // dropped by the overflow policy while it was being written
    }
    Segment& head = segments_.front();
    head_offset_ += kHeaderSize + record.payload.size();
    head.samples -= std::min<uint64_t>(head.samples, record.samples);
    head.records -= std::min<uint64_t>(head.records, 1);
    advance_head_past_empty_segments();
    if (segments_.size() == 1 && head_offset_ >= segments_.front().size &&
        segments_.front().size >= kRecycleBytes) {
        // Everything is delivered: drop the file rather than let it grow to segment_bytes.
        if (read_fd_ >= 0) {
            file::close(read_fd_);
            read_fd_ = -1;
        }
        file::close(write_fd_);
        write_fd_ = -1;
        fs::remove(segment_path(segments_.front().number));
        segments_.clear();
        head_offset_ = 0;
    }
    save_head();
}

bool Spool::head_is(uint64_t segment, uint64_t offset) {
    std::lock_guard lock(mutex_);
    advance_head_past_empty_segments();
    return !segments_.empty() && segments_.front().number == segment && head_offset_ == offset &&
           head_offset_ < segments_.front().size;
}

void Spool::save_head() {
    // Not synced: a head that is a little behind after power loss re-sends records whose ids
    // the receiver already has. Written in place so that it is one small write per delivery.
    static thread_local char text[64];
    const uint64_t segment = segments_.empty() ? 0 : segments_.front().number;
    std::snprintf(text, sizeof text, "%020llu %020llu\n", static_cast<unsigned long long>(segment),
                  static_cast<unsigned long long>(head_offset_));
    if (head_fd_ < 0)
        head_fd_ = file::open_rw(options_.folder / "head", false);
    if (head_fd_ >= 0)
        file::write_at(head_fd_, 0, text, 42);
}

uint64_t Spool::bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_locked();
}

uint64_t Spool::bytes_locked() const {
    uint64_t total = 0;
    for (const auto& segment : segments_)
        total += segment.size;
    return segments_.empty() ? 0 : total - head_offset_;
}

uint64_t Spool::samples() const {
    std::lock_guard lock(mutex_);
    uint64_t total = 0;
    for (const auto& segment : segments_)
        total += segment.samples;
    return total;
}

uint64_t Spool::records() const {
    std::lock_guard lock(mutex_);
    uint64_t total = 0;
    for (const auto& segment : segments_)
        total += segment.records;
    return total;
}

uint64_t Spool::corrupt_records() const {
    std::lock_guard lock(mutex_);
    return corrupt_records_;
}

}  // namespace dmon::core

#pragma once
// Fixed-width numbers and length-prefixed texts, in the machine's byte order: the spool's record
// payload and the frames between the host and an isolated plugin's worker. Both ends run on one
// machine (the spool is read back where it was written; a worker is a child process), so the
// order is the machine's. The reader treats its input as untrusted: every read is bounds-checked
// and reports failure instead of reading past the end.
#include <dmon/plugin.h>
#include <dmon/str.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace dmon::core {

class ByteWriter {
  public:
    explicit ByteWriter(std::string& out) : out_(out) {}
    template <typename T>
    void number(T value) {
        char bytes[sizeof(T)];
        std::memcpy(bytes, &value, sizeof(T));
        out_.append(bytes, sizeof(T));
    }
    void text(std::string_view value) {
        number(static_cast<uint32_t>(value.size()));
        out_.append(value);
    }
    void text(dmon_str value) { text(to_view(value)); }

  private:
    std::string& out_;
};

class ByteReader {
  public:
    explicit ByteReader(std::string_view in) : in_(in) {}
    template <typename T>
    bool number(T& value) {
        if (in_.size() < sizeof(T))
            return false;
        std::memcpy(&value, in_.data(), sizeof(T));
        in_.remove_prefix(sizeof(T));
        return true;
    }
    bool text(std::string_view& value) {
        uint32_t size = 0;
        if (!number(size) || in_.size() < size)
            return false;
        value = in_.substr(0, size);
        in_.remove_prefix(size);
        return true;
    }
    bool text(std::string& value) {
        std::string_view view;
        if (!text(view))
            return false;
        value = std::string(view);
        return true;
    }
    size_t left() const { return in_.size(); }

  private:
    std::string_view in_;
};

}  // namespace dmon::core

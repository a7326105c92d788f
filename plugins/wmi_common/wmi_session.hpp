#pragma once
// A small RAII layer over COM and WMI (Windows only). Every COM out-pointer, BSTR and VARIANT
// gets its owner at the call itself: `locator.out()` hands COM the slot the ComPtr owns, so
// no path frees anything by hand.
#include "wmi_common/wmi_metrics.hpp"

#include <wbemidl.h>
#include <windows.h>

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace dmon::plugins::wmi {

class WmiError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Puts the calling thread in COM's multithreaded apartment, once per thread, for the thread's
// life. Host threads come from a pool, so every WMI entry point calls this first.
void ensure_com_on_this_thread();

template <typename T>
class ComPtr {
  public:
    ComPtr() = default;
    ~ComPtr() { reset(); }
    ComPtr(const ComPtr&) = delete;
    ComPtr& operator=(const ComPtr&) = delete;
    ComPtr(ComPtr&& other) noexcept : p_(other.p_) { other.p_ = nullptr; }
    ComPtr& operator=(ComPtr&& other) noexcept {
        std::swap(p_, other.p_);
        return *this;
    }
    T** out() {
        reset();
        return &p_;
    }
    void** out_void() { return reinterpret_cast<void**>(out()); }
    T* get() const { return p_; }
    T* operator->() const { return p_; }
    explicit operator bool() const { return p_ != nullptr; }
    void reset() {
        if (p_ != nullptr)
            p_->Release();
        p_ = nullptr;
    }

  private:
    T* p_ = nullptr;
};

class Bstr {
  public:
    explicit Bstr(const std::wstring& text) : s_(SysAllocString(text.c_str())) {}
    ~Bstr() { SysFreeString(s_); }
    Bstr(const Bstr&) = delete;
    Bstr& operator=(const Bstr&) = delete;
    BSTR get() const { return s_; }

  private:
    BSTR s_;
};

class Variant {
  public:
    Variant() { VariantInit(&v_); }
    ~Variant() { VariantClear(&v_); }
    Variant(const Variant&) = delete;
    Variant& operator=(const Variant&) = delete;
    VARIANT* out() {
        VariantClear(&v_);
        return &v_;
    }
    // The value as text (64-bit integers arrive from WMI as strings); nullopt for NULL/empty.
    std::optional<std::string> text() const;

  private:
    VARIANT v_;
};

// One connection to a WMI namespace, made once and reused for every query.
class WmiSession {
  public:
    explicit WmiSession(const std::wstring& wmi_namespace = L"ROOT\\CIMV2");

    // SELECT properties FROM cls. Forward-only, semi-synchronous, and never waits longer than
    // `timeout` for a row (WMI providers are known to hang for minutes).
    std::vector<WmiRow> query(const std::string& cls, const std::vector<std::string>& properties,
                              std::chrono::milliseconds timeout);

  private:
    ComPtr<IWbemLocator> locator_;
    ComPtr<IWbemServices> services_;
};

std::string describe_hresult(HRESULT hr);

}  // namespace dmon::plugins::wmi

#include "wmi_common/wmi_session.hpp"

#include <cstdio>

namespace dmon::plugins::wmi {
namespace {

std::wstring widen(const std::string& text) {
    return std::wstring(text.begin(), text.end());
}  // ASCII names

std::string narrow(const wchar_t* text) {
    if (text == nullptr)
        return {};
    const int size = WideCharToMultiByte(CP_UTF8, 0, text, -1, nullptr, 0, nullptr, nullptr);
    std::string out(size > 0 ? size - 1 : 0, '\0');
    if (size > 1)
        WideCharToMultiByte(CP_UTF8, 0, text, -1, out.data(), size, nullptr, nullptr);
    return out;
}

class ComThread {
  public:
    ComThread() {
        const HRESULT hr = CoInitializeEx(nullptr, COINIT_MULTITHREADED);
        owns_ = SUCCEEDED(hr);  // RPC_E_CHANGED_MODE: the thread already has an apartment; use it
        // Once per process; RPC_E_TOO_LATE means someone already set it, which is fine.
        CoInitializeSecurity(nullptr, -1, nullptr, nullptr, RPC_C_AUTHN_LEVEL_DEFAULT,
                             RPC_C_IMP_LEVEL_IMPERSONATE, nullptr, EOAC_NONE, nullptr);
    }
    ~ComThread() {
        if (owns_)
            CoUninitialize();
    }

  private:
    bool owns_ = false;
};

}  // namespace

void ensure_com_on_this_thread() {
    thread_local ComThread com;
}

std::string describe_hresult(HRESULT hr) {
    char code[16];
    std::snprintf(code, sizeof(code), "0x%08lX", static_cast<unsigned long>(hr));
    switch (static_cast<unsigned long>(hr)) {
        case 0x80041002UL:
            return std::string(code) + " WBEM_E_NOT_FOUND";
        case 0x80041010UL:
            return std::string(code) + " WBEM_E_INVALID_CLASS";
        case 0x80041017UL:
            return std::string(code) + " WBEM_E_INVALID_QUERY";
        case 0x80041003UL:
            return std::string(code) + " WBEM_E_ACCESS_DENIED";
        case 0x8004100EUL:
            return std::string(code) + " WBEM_E_INVALID_NAMESPACE";
        default:
            return code;
    }
}

std::optional<std::string> Variant::text() const {
    switch (v_.vt) {
        case VT_BSTR:
            return narrow(v_.bstrVal);
        case VT_I1:
            return std::to_string(v_.cVal);
        case VT_UI1:
            return std::to_string(v_.bVal);
        case VT_I2:
            return std::to_string(v_.iVal);
        case VT_UI2:
            return std::to_string(v_.uiVal);
        case VT_I4:
            return std::to_string(v_.lVal);
        case VT_UI4:
            return std::to_string(v_.ulVal);
        case VT_INT:
            return std::to_string(v_.intVal);
        case VT_UINT:
            return std::to_string(v_.uintVal);
        case VT_I8:
            return std::to_string(v_.llVal);
        case VT_UI8:
            return std::to_string(v_.ullVal);
        case VT_BOOL:
            return std::string(v_.boolVal ? "1" : "0");
        default:
            return std::nullopt;  // VT_NULL, VT_EMPTY, arrays: not a sample
    }
}

WmiSession::WmiSession(const std::wstring& wmi_namespace) {
    ensure_com_on_this_thread();
    HRESULT hr = CoCreateInstance(CLSID_WbemLocator, nullptr, CLSCTX_INPROC_SERVER,
                                  IID_IWbemLocator, locator_.out_void());
    if (FAILED(hr))
        throw WmiError("cannot create the WMI locator: " + describe_hresult(hr));
    const Bstr ns(wmi_namespace);
    hr = locator_->ConnectServer(ns.get(), nullptr, nullptr, nullptr, 0, nullptr, nullptr,
                                 services_.out());
    if (FAILED(hr))
        throw WmiError("cannot connect to WMI namespace " + narrow(wmi_namespace.c_str()) + ": " +
                       describe_hresult(hr));
    hr = CoSetProxyBlanket(services_.get(), RPC_C_AUTHN_WINNT, RPC_C_AUTHZ_NONE, nullptr,
                           RPC_C_AUTHN_LEVEL_CALL, RPC_C_IMP_LEVEL_IMPERSONATE, nullptr, EOAC_NONE);
    if (FAILED(hr))
        throw WmiError("cannot set the WMI proxy's security: " + describe_hresult(hr));
}

std::vector<WmiRow> WmiSession::query(const std::string& cls,
                                      const std::vector<std::string>& properties,
                                      std::chrono::milliseconds timeout) {
    ensure_com_on_this_thread();
    std::string wql = "SELECT ";
    for (size_t i = 0; i < properties.size(); ++i)
        wql += (i ? ", " : "") + properties[i];
    wql += " FROM " + cls;
    const Bstr language(L"WQL");
    const Bstr text(widen(wql));
    ComPtr<IEnumWbemClassObject> rows;
    HRESULT hr = services_->ExecQuery(language.get(), text.get(),
                                      WBEM_FLAG_RETURN_IMMEDIATELY | WBEM_FLAG_FORWARD_ONLY,
                                      nullptr, rows.out());
    auto unavailable = [&](HRESULT code) {
        return WmiError("WMI class " + cls + " is not available on this system (" +
                        describe_hresult(code) + ")");
    };
    if (FAILED(hr))
        throw unavailable(hr);
    std::vector<WmiRow> result;
    std::vector<std::wstring> names;
    for (const auto& property : properties)
        names.push_back(widen(property));
    for (;;) {
        ComPtr<IWbemClassObject> row;
        ULONG returned = 0;
        hr = rows->Next(static_cast<long>(timeout.count()), 1, row.out(), &returned);
        if (hr == WBEM_S_TIMEDOUT) {
            throw WmiError("WMI query on " + cls + " gave no row within " +
                           std::to_string(timeout.count()) + " ms");
        }
        if (FAILED(hr))
            throw unavailable(hr);
        if (returned == 0)
            break;  // WBEM_S_FALSE: no more rows
        WmiRow values;
        for (size_t i = 0; i < names.size(); ++i) {
            Variant value;
            if (SUCCEEDED(row->Get(names[i].c_str(), 0, value.out(), nullptr, nullptr))) {
                if (auto text_value = value.text())
                    values[properties[i]] = *text_value;
            }
        }
        result.push_back(std::move(values));
    }
    if (result.empty()) {
        // Some WMI implementations (Wine's among them) answer a query on a class they do not
        // have with no rows instead of an error: ask for the class itself to tell the two apart.
        const Bstr class_name(widen(cls));
        ComPtr<IWbemClassObject> definition;
        hr = services_->GetObject(class_name.get(), 0, nullptr, definition.out(), nullptr);
        if (FAILED(hr))
            throw unavailable(hr);
    }
    return result;
}

}  // namespace dmon::plugins::wmi

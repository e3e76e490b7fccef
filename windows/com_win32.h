// Owners for what COM hands out (an interface pointer, a BSTR, a VARIANT) and COM itself on a
// thread, for the Windows code that calls WMI (windows/smb_mapping_api_wmi_win32.cpp).
#pragma once

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <oleauto.h>

#include <utility>

namespace dsvm::windows_platform {

// Owns one COM interface pointer and releases it once.
template <class T>
class Com {
  public:
    Com() = default;
    Com(const Com&) = delete;
    Com& operator=(const Com&) = delete;
    Com(Com&& other) noexcept : m_pointer(std::exchange(other.m_pointer, nullptr)) {}
    Com& operator=(Com&& other) noexcept {
        if (this != &other) {
            reset();
            m_pointer = std::exchange(other.m_pointer, nullptr);
        }
        return *this;
    }
    ~Com() { reset(); }

    T* get() const { return m_pointer; }
    T* operator->() const { return m_pointer; }
    explicit operator bool() const { return m_pointer != nullptr; }
    // For a call that hands out a new reference: the old one released first.
    T** out() {
        reset();
        return &m_pointer;
    }
    void** out_void() { return reinterpret_cast<void**>(out()); }

  private:
    void reset() {
        if (m_pointer != nullptr) {
            m_pointer->Release();
            m_pointer = nullptr;
        }
    }
    T* m_pointer = nullptr;
};

class Bstr {
  public:
    explicit Bstr(const wchar_t* text) : m_bstr(::SysAllocString(text)) {}
    Bstr(const Bstr&) = delete;
    Bstr& operator=(const Bstr&) = delete;
    ~Bstr() { ::SysFreeString(m_bstr); }
    BSTR get() const { return m_bstr; }

  private:
    BSTR m_bstr;
};

class Variant {
  public:
    Variant() { ::VariantInit(&m_value); }
    Variant(const Variant&) = delete;
    Variant& operator=(const Variant&) = delete;
    ~Variant() { ::VariantClear(&m_value); }
    VARIANT* get() { return &m_value; }
    const VARIANT& value() const { return m_value; }

  private:
    VARIANT m_value;
};

// COM on this thread for one call: the multithreaded apartment, or the one the thread is in
// already (RPC_E_CHANGED_MODE), which serves as well.
class ComApartment {
  public:
    ComApartment() : m_result(::CoInitializeEx(nullptr, COINIT_MULTITHREADED)) {}
    ComApartment(const ComApartment&) = delete;
    ComApartment& operator=(const ComApartment&) = delete;
    ~ComApartment() {
        if (SUCCEEDED(m_result)) {
            ::CoUninitialize();
        }
    }
    HRESULT result() const { return m_result == RPC_E_CHANGED_MODE ? S_OK : m_result; }

  private:
    HRESULT m_result;
};

}  // namespace dsvm::windows_platform

// WmiSmbMappingApi: MSFT_SmbGlobalMapping in ROOT\Microsoft\Windows\SMB, the class behind
// New-SmbGlobalMapping, called through COM (IWbemLocator, IWbemServices) in this process:
//   static uint32 Create([in] string LocalPath, [in] string RemotePath, [in] string Credential,
//                        [in] boolean Persistent, [in] boolean RequireIntegrity,
//                        [in] boolean RequirePrivacy, [in] string FullAccess[],
//                        [in] string DenyAccess[], [in] boolean UseWriteThrough,
//                        [out] MSFT_SmbGlobalMapping CreatedMapping);
//   uint32 Remove([in] boolean Force);   (on an instance)
// plus the properties RemotePath and Status of each instance. Only RemotePath, Credential and
// Persistent are passed to Create; the others keep the provider's defaults.
//
// It compiles for Windows and cannot be tried under wine, which has no SMB provider (opening the
// namespace fails there); it is checked on a Windows Server DSVM (docs/windows.md).
#include "windows/smb_mapping_api.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <oleauto.h>
#include <wbemidl.h>

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <utility>

#include "common/text.h"
#include "common/windows_api_win32.h"
#include "windows/com_win32.h"

namespace dsvm::windows_platform {

namespace {

constexpr const wchar_t* k_namespace = L"ROOT\\Microsoft\\Windows\\SMB";
constexpr const wchar_t* k_class = L"MSFT_SmbGlobalMapping";
constexpr std::wstring_view k_windows_error_type = L"Windows System Error";

// "user:key", the form in which a CIM method takes a credential as a string: the user name with
// '\' and ':' escaped by a backslash, ':', then the password. Written straight into a BSTR of its
// final length, so no copy is left behind by a growing buffer, and wiped before it is freed.
class CredentialString {
  public:
    CredentialString(std::string_view user, std::string_view key) {
        std::size_t escaped = 0;
        for (const char c : user) {
            escaped += c == '\\' || c == ':' ? 2 : 1;
        }
        const auto length = static_cast<UINT>(escaped + 1 + key.size());
        m_bstr = ::SysAllocStringLen(nullptr, length);
        if (m_bstr == nullptr) {
            return;
        }
        // Byte by byte: the user name and the key are ASCII (the callers check it).
        std::size_t at = 0;
        for (const char c : user) {
            if (c == '\\' || c == ':') {
                m_bstr[at++] = L'\\';
            }
            m_bstr[at++] = static_cast<wchar_t>(static_cast<unsigned char>(c));
        }
        m_bstr[at++] = L':';
        for (const char c : key) {
            m_bstr[at++] = static_cast<wchar_t>(static_cast<unsigned char>(c));
        }
    }
    CredentialString(const CredentialString&) = delete;
    CredentialString& operator=(const CredentialString&) = delete;
    ~CredentialString() {
        if (m_bstr != nullptr) {
            ::SecureZeroMemory(m_bstr, ::SysStringByteLen(m_bstr));
            ::SysFreeString(m_bstr);
        }
    }
    BSTR get() const { return m_bstr; }

  private:
    BSTR m_bstr = nullptr;
};

bool is_ascii(std::string_view text) {
    for (const char c : text) {
        if (static_cast<unsigned char>(c) > 0x7f) {
            return false;
        }
    }
    return true;
}

std::wstring string_property(IWbemClassObject* object, const wchar_t* name) {
    Variant value;
    if (FAILED(object->Get(name, 0, value.get(), nullptr, nullptr)) ||
        value.value().vt != VT_BSTR || value.value().bstrVal == nullptr) {
        return {};
    }
    return {value.value().bstrVal, ::SysStringLen(value.value().bstrVal)};
}

// A uint32 property: WMI hands it out as VT_I4.
std::uint32_t number_property(IWbemClassObject* object, const wchar_t* name) {
    Variant value;
    if (FAILED(object->Get(name, 0, value.get(), nullptr, nullptr))) {
        return 0;
    }
    if (value.value().vt == VT_I4) {
        return static_cast<std::uint32_t>(value.value().lVal);
    }
    if (value.value().vt == VT_UI4) {
        return value.value().ulVal;
    }
    return 0;
}

// WMI's own codes that a call here may meet, in words (the system has no text for them).
std::string_view wmi_code_words(HRESULT result) {
    switch (static_cast<unsigned long>(result)) {
        case WBEM_E_FAILED:
            return "generic failure ";
        case WBEM_E_NOT_FOUND:
            return "not found ";
        case WBEM_E_ACCESS_DENIED:
            return "access denied ";
        case WBEM_E_INVALID_NAMESPACE:
            return "no such namespace (the SMB client's WMI provider is missing) ";
        case WBEM_E_INVALID_CLASS:
            return "no such class ";
        default:
            return "";
    }
}

std::string wmi_code(HRESULT result) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%08lX", static_cast<unsigned long>(result));
    return std::string("(WMI error ") + code + ")";
}

std::string hresult_text(HRESULT result) {
    if (HRESULT_FACILITY(result) == FACILITY_WIN32) {
        return windows_error_text(HRESULT_CODE(result));
    }
    return std::string(wmi_code_words(result)) + wmi_code(result);
}

// What a failed call said. The provider describes it in an extended status object (an
// MSFT_WmiError): its Windows error code when it names one ("Windows System Error" 1326: a wrong
// key), else its message; the HRESULT alone when there is none.
std::string failure_text(HRESULT result) {
    Com<IErrorInfo> info;
    if (::GetErrorInfo(0, info.out()) != S_OK || !info) {
        return hresult_text(result);
    }
    Com<IWbemClassObject> status;
    if (FAILED(info->QueryInterface(IID_IWbemClassObject, status.out_void())) || !status) {
        return hresult_text(result);
    }
    if (string_property(status.get(), L"error_Type") == k_windows_error_type) {
        if (const auto code = number_property(status.get(), L"error_Code"); code != 0) {
            return windows_error_text(code);
        }
    }
    const std::string message(trim(narrow(string_property(status.get(), L"Message")), " \r\n."));
    if (message.empty()) {
        return hresult_text(result);
    }
    return message + " " + wmi_code(result);
}

Error refused(const std::string& what, HRESULT result) {
    return failure(what + ": " + failure_text(result));
}

Result<Com<IWbemServices>> connect() {
    Com<IWbemLocator> locator;
    HRESULT result = ::CoCreateInstance(CLSID_WbemLocator, nullptr, CLSCTX_INPROC_SERVER,
                                        IID_IWbemLocator, locator.out_void());
    if (FAILED(result)) {
        return refused("cannot start WMI", result);
    }
    const Bstr space(k_namespace);
    Com<IWbemServices> services;
    result = locator->ConnectServer(space.get(), nullptr, nullptr, nullptr, 0, nullptr, nullptr,
                                    services.out());
    if (FAILED(result)) {
        return refused("cannot open the WMI namespace ROOT\\Microsoft\\Windows\\SMB", result);
    }
    // The provider acts as this account (impersonation), and the calls' data, a key among them,
    // is encrypted on its way to the WMI service.
    result = ::CoSetProxyBlanket(services.get(), RPC_C_AUTHN_WINNT, RPC_C_AUTHZ_NONE, nullptr,
                                 RPC_C_AUTHN_LEVEL_PKT_PRIVACY, RPC_C_IMP_LEVEL_IMPERSONATE,
                                 nullptr, EOAC_NONE);
    if (FAILED(result)) {
        return refused("cannot secure the WMI connection", result);
    }
    return services;
}

// A mapping as listed, with the object path its Remove is called on.
struct Listed {
    GlobalMapping mapping;
    std::wstring remote_path;
    std::wstring object_path;
};

Result<std::vector<Listed>> enumerate(IWbemServices* services) {
    const Bstr name(k_class);
    Com<IEnumWbemClassObject> instances;
    HRESULT result = services->CreateInstanceEnum(
        name.get(), WBEM_FLAG_FORWARD_ONLY | WBEM_FLAG_RETURN_IMMEDIATELY, nullptr,
        instances.out());
    std::vector<Listed> listed;
    while (SUCCEEDED(result)) {
        Com<IWbemClassObject> instance;
        ULONG returned = 0;
        result = instances->Next(static_cast<long>(WBEM_INFINITE), 1, instance.out(), &returned);
        if (FAILED(result) || returned == 0) {
            break;
        }
        Listed entry;
        entry.remote_path = string_property(instance.get(), L"RemotePath");
        entry.object_path = string_property(instance.get(), L"__PATH");
        entry.mapping.remote_path = narrow(entry.remote_path);
        entry.mapping.status =
            static_cast<SmbMappingStatus>(number_property(instance.get(), L"Status"));
        listed.push_back(std::move(entry));
    }
    if (FAILED(result)) {
        return refused("cannot list the SMB global mappings", result);
    }
    return listed;
}

// The in-parameters of `method`, to be filled in.
Result<Com<IWbemClassObject>> parameters_of(IWbemServices* services, const wchar_t* method) {
    const Bstr name(k_class);
    Com<IWbemClassObject> definition;
    HRESULT result = services->GetObject(name.get(), 0, nullptr, definition.out(), nullptr);
    if (FAILED(result)) {
        return refused("cannot read the class MSFT_SmbGlobalMapping", result);
    }
    Com<IWbemClassObject> signature;
    result = definition->GetMethod(method, 0, signature.out(), nullptr);
    if (FAILED(result) || !signature) {
        return refused("cannot read MSFT_SmbGlobalMapping." + narrow(method), result);
    }
    Com<IWbemClassObject> parameters;
    result = signature->SpawnInstance(0, parameters.out());
    if (FAILED(result)) {
        return refused("cannot prepare MSFT_SmbGlobalMapping." + narrow(method), result);
    }
    return parameters;
}

Result<void> put_boolean(IWbemClassObject* parameters, const wchar_t* name, bool value) {
    Variant variant;
    variant.get()->vt = VT_BOOL;
    variant.get()->boolVal = value ? VARIANT_TRUE : VARIANT_FALSE;
    if (const HRESULT result = parameters->Put(name, 0, variant.get(), 0); FAILED(result)) {
        return refused("cannot set " + narrow(name), result);
    }
    return {};
}

Result<void> put_string(IWbemClassObject* parameters, const wchar_t* name, BSTR value) {
    // Put copies the string; the caller keeps (and wipes) its own.
    VARIANT variant;
    ::VariantInit(&variant);
    variant.vt = VT_BSTR;
    variant.bstrVal = value;
    if (const HRESULT result = parameters->Put(name, 0, &variant, 0); FAILED(result)) {
        return refused("cannot set " + narrow(name), result);
    }
    return {};
}

Result<void> execute(IWbemServices* services, const std::wstring& object, const wchar_t* method,
                     IWbemClassObject* parameters, const std::string& what) {
    const Bstr path(object.c_str());
    const Bstr name(method);
    Com<IWbemClassObject> results;
    const HRESULT result = services->ExecMethod(path.get(), name.get(), 0, nullptr, parameters,
                                                results.out(), nullptr);
    if (FAILED(result)) {
        return refused(what, result);
    }
    if (results) {
        if (const auto returned = number_property(results.get(), L"ReturnValue"); returned != 0) {
            return failure(what + ": MSFT_SmbGlobalMapping." + narrow(method) + " returned " +
                           std::to_string(returned));
        }
    }
    return {};
}

// Runs `work` with COM started on this thread and the namespace open; what it returns, or why
// either could not be had.
template <class Work>
auto in_session(Work work) -> decltype(work(static_cast<IWbemServices*>(nullptr))) {
    const ComApartment apartment;
    if (FAILED(apartment.result())) {
        return refused("cannot start COM", apartment.result());
    }
    auto services = connect();
    if (!services) {
        return services.error();
    }
    return work(services->get());
}

}  // namespace

Result<std::vector<GlobalMapping>> WmiSmbMappingApi::list() {
    return in_session([](IWbemServices* services) -> Result<std::vector<GlobalMapping>> {
        auto listed = enumerate(services);
        if (!listed) {
            return listed.error();
        }
        std::vector<GlobalMapping> mappings;
        for (auto& entry : *listed) {
            mappings.push_back(std::move(entry.mapping));
        }
        return mappings;
    });
}

Result<void> WmiSmbMappingApi::remove(const std::string& remote_path) {
    return in_session([&remote_path](IWbemServices* services) -> Result<void> {
        auto listed = enumerate(services);
        if (!listed) {
            return listed.error();
        }
        const std::wstring wanted = widen(remote_path);
        const auto found = std::find_if(listed->begin(), listed->end(), [&](const Listed& entry) {
            return ::CompareStringOrdinal(entry.remote_path.c_str(), -1, wanted.c_str(), -1,
                                          TRUE) == CSTR_EQUAL;
        });
        const std::string what = "cannot remove the SMB global mapping of " + remote_path;
        if (found == listed->end()) {
            return failure(what + ": " + windows_error_text(k_not_mapped));
        }
        auto parameters = parameters_of(services, L"Remove");
        if (!parameters) {
            return parameters.error();
        }
        // Force: files a user left open on the share do not keep the mapping.
        if (auto put = put_boolean(parameters->get(), L"Force", true); !put) {
            return put;
        }
        return execute(services, found->object_path, L"Remove", parameters->get(), what);
    });
}

Result<void> WmiSmbMappingApi::create(const std::string& remote_path, const std::string& user,
                                      const SecretBytes& key) {
    const std::string what = "cannot map " + remote_path + " as " + user;
    if (!is_ascii(user) || !is_ascii(key.view())) {
        return invalid(what + ": the user name and the key must be ASCII");
    }
    return in_session([&](IWbemServices* services) -> Result<void> {
        auto parameters = parameters_of(services, L"Create");
        if (!parameters) {
            return parameters.error();
        }
        const Bstr remote(widen(remote_path).c_str());
        const CredentialString credential(user, key.view());
        if (credential.get() == nullptr) {
            return failure(what + ": " + windows_error_text(ERROR_NOT_ENOUGH_MEMORY));
        }
        IWbemClassObject* in = parameters->get();
        if (auto put = put_string(in, L"RemotePath", remote.get()); !put) {
            return put;
        }
        if (auto put = put_string(in, L"Credential", credential.get()); !put) {
            return put;
        }
        // Not persistent: a persistent mapping keeps its own copy of the key in the system's
        // credential store, and the key is only ever in the credentials file
        // (docs/security.md). The service maps again at each boot.
        if (auto put = put_boolean(in, L"Persistent", false); !put) {
            return put;
        }
        // Encrypted, or not mapped at all: a server that cannot encrypt fails closed.
        if (auto put = put_boolean(in, L"RequirePrivacy", true); !put) {
            return put;
        }
        auto created = execute(services, k_class, L"Create", in, what);
        // The parameters object holds a copy of the credential: cleared before it is released.
        Variant cleared;
        cleared.get()->vt = VT_NULL;
        in->Put(L"Credential", 0, cleared.get(), 0);
        return created;
    });
}

}  // namespace dsvm::windows_platform

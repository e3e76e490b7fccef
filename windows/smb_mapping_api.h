// The SMB global mappings of this machine (docs/windows-backends.md, §6): the share mapped once
// for every user and service, with the storage account's key, as New-SmbGlobalMapping does. The
// real one is WMI's MSFT_SmbGlobalMapping (ROOT\Microsoft\Windows\SMB) through COM; wine has no
// such provider, so the tests use a recording fake (tests/support/fake_smb_mapping_api.h). No
// PowerShell and no process: the key goes from the credentials file's SecretBytes into the WMI
// call's parameters in memory, never into a command line, a log or a message.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace dsvm::windows_platform {

// MSFT_SmbGlobalMapping.Status.
enum class SmbMappingStatus : std::uint32_t {
    Ok = 0,
    Paused = 1,
    Disconnected = 2,
    NetworkError = 3,
    Connecting = 4,
    Reconnecting = 5,
    Unavailable = 6,
};

// One global mapping as WMI lists it. `remote_path` is as WMI gives it (\\HOST\share: its case
// may differ from the one it was made with).
struct GlobalMapping {
    std::string remote_path;
    SmbMappingStatus status = SmbMappingStatus::Ok;

    bool operator==(const GlobalMapping&) const = default;
};

// The Win32 code of "this network connection does not exist" (ERROR_NOT_CONNECTED): what remove()
// reports for a path that has no mapping.
inline constexpr std::uint32_t k_not_mapped = 2250;

// Each call is one request to WMI. A refusal is a Runtime error whose message is the system's
// text and its code ("... (error 1326)", or "(WMI error 0x80041001)" for WMI's own codes); it never
// holds the key.
class SmbMappingApi {
  public:
    virtual ~SmbMappingApi() = default;
    // Every global mapping of the machine.
    virtual Result<std::vector<GlobalMapping>> list() = 0;
    // Removes the mapping of `remote_path` (\\host\share, compared without regard to case), even
    // while files on it are open (Force). No such mapping: an error with code k_not_mapped.
    virtual Result<void> remove(const std::string& remote_path) = 0;
    // Maps `remote_path` (\\host\share) for everyone, authenticated as `user` ("localhost\acct"
    // for a storage account) with `key`; not persistent (the service maps again at each boot).
    virtual Result<void> create(const std::string& remote_path, const std::string& user,
                                const SecretBytes& key) = 0;
};

// MSFT_SmbGlobalMapping through COM (windows/smb_mapping_api_wmi_win32.cpp): each call connects
// to ROOT\Microsoft\Windows\SMB as the calling account (the service's, SYSTEM: creating and
// removing global mappings needs an administrator). Not usable under wine, which has no SMB
// provider: every call there fails opening the namespace.
class WmiSmbMappingApi final : public SmbMappingApi {
  public:
    Result<std::vector<GlobalMapping>> list() override;
    Result<void> remove(const std::string& remote_path) override;
    Result<void> create(const std::string& remote_path, const std::string& user,
                        const SecretBytes& key) override;
};

}  // namespace dsvm::windows_platform

// An SmbMappingApi for the Windows tests (wine has no SMB provider): an in-memory table of global
// mappings that records every call. A key is recorded only as its SHA-256, never in clear, so a
// test can tell which key was passed and the recording itself holds no secret.
//
// What it does:
// - create() adds a mapping (status Ok) with the remote path as given; one that exists already
//   (in any case) is refused with ERROR_ALREADY_ASSIGNED (85), as Windows refuses it;
// - remove() takes the mapping away (compared without regard to case); none: k_not_mapped;
// - list() gives the table; a test can plant mappings with add_mapping (in any case, as WMI may
//   show them);
// - fail(call, code) makes the next such call fail with that Win32 code (and change nothing).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/text.h"
#include "common/windows_api_win32.h"
#include "windows/smb_mapping_api.h"

namespace dsvm::test {

class FakeSmbMappingApi final : public windows_platform::SmbMappingApi {
  public:
    enum class Kind { List, Remove, Create };
    struct Call {
        Kind kind = Kind::List;
        std::string remote_path;  // Remove, Create
        std::string user;         // Create
        std::string key_sha256;   // Create: the key's digest, never the key
        bool ok = true;
    };

    Result<std::vector<windows_platform::GlobalMapping>> list() override {
        m_calls.push_back({Kind::List, {}, {}, {}, true});
        if (auto refused = take_failure(Kind::List, "cannot list the SMB global mappings")) {
            return *refused;
        }
        return m_mappings;
    }

    Result<void> remove(const std::string& remote_path) override {
        m_calls.push_back({Kind::Remove, remote_path, {}, {}, true});
        const std::string what = "cannot remove the SMB global mapping of " + remote_path;
        if (auto refused = take_failure(Kind::Remove, what)) {
            return *refused;
        }
        const auto found = find(remote_path);
        if (found == m_mappings.end()) {
            return refuse(what, windows_platform::k_not_mapped);
        }
        m_mappings.erase(found);
        return {};
    }

    Result<void> create(const std::string& remote_path, const std::string& user,
                        const SecretBytes& key) override {
        m_calls.push_back({Kind::Create, remote_path, user, sha256_hex(key.view()), true});
        const std::string what = "cannot map " + remote_path + " as " + user;
        if (auto refused = take_failure(Kind::Create, what)) {
            return *refused;
        }
        if (find(remote_path) != m_mappings.end()) {
            return refuse(what, ERROR_ALREADY_ASSIGNED);
        }
        m_mappings.push_back({remote_path, windows_platform::SmbMappingStatus::Ok});
        return {};
    }

    // A mapping made by someone else (or shown by WMI in another case).
    void add_mapping(const std::string& remote_path, windows_platform::SmbMappingStatus status =
                                                         windows_platform::SmbMappingStatus::Ok) {
        m_mappings.push_back({remote_path, status});
    }
    // The next call of this kind fails with the Win32 `code`.
    void fail(Kind kind, std::uint32_t code) { m_failures[kind] = code; }

    const std::vector<Call>& calls() const { return m_calls; }
    std::vector<Call> calls_of(Kind kind) const {
        std::vector<Call> out;
        for (const auto& call : m_calls) {
            if (call.kind == kind) {
                out.push_back(call);
            }
        }
        return out;
    }
    const std::vector<windows_platform::GlobalMapping>& mappings() const { return m_mappings; }

  private:
    std::vector<windows_platform::GlobalMapping>::iterator find(const std::string& remote_path) {
        for (auto at = m_mappings.begin(); at != m_mappings.end(); ++at) {
            if (ascii_lower(at->remote_path) == ascii_lower(remote_path)) {
                return at;
            }
        }
        return m_mappings.end();
    }

    Error refuse(const std::string& what, std::uint32_t code) {
        m_calls.back().ok = false;
        return failure(what + ": " + windows_error_text(code));
    }

    std::optional<Error> take_failure(Kind kind, const std::string& what) {
        const auto found = m_failures.find(kind);
        if (found == m_failures.end()) {
            return std::nullopt;
        }
        const std::uint32_t code = found->second;
        m_failures.erase(found);
        return refuse(what, code);
    }

    std::vector<windows_platform::GlobalMapping> m_mappings;
    std::vector<Call> m_calls;
    std::map<Kind, std::uint32_t> m_failures;
};

}  // namespace dsvm::test

// A SecretVault for unit tests: secrets by name, failures on demand, and a record of every read,
// so engine passes with keyVault run in-process without a metadata service or TLS.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/key_vault.h"

namespace dsvm::test {

class FakeVault final : public config::SecretVault {
  public:
    struct Call {
        std::string vault;
        std::string client_id;
        std::string name;
    };

    void set(const std::string& name, const std::string& value) { m_values[name] = value; }
    // Every read fails with `kind` (VaultFailure::None: reads succeed again).
    void fail(config::VaultFailure kind) { m_failure = kind; }

    config::VaultRead read_secret(const std::string& vault, const std::string& client_id,
                                  const std::string& name) override {
        m_calls.push_back({vault, client_id, name});
        config::VaultRead read;
        const auto found = m_values.find(name);
        if (m_failure != config::VaultFailure::None) {
            read.error = {m_failure, "secret " + name + " in vault " + vault + ": refused (fake)"};
        } else if (found == m_values.end()) {
            read.error = {config::VaultFailure::NotFound,
                          "secret " + name + " in vault " + vault + ": not found (fake)"};
        } else {
            read.value = SecretBytes(found->second.size());
            read.value.append(found->second);
        }
        return read;
    }

    const std::vector<Call>& calls() const { return m_calls; }

  private:
    std::map<std::string, std::string> m_values;
    config::VaultFailure m_failure = config::VaultFailure::None;
    std::vector<Call> m_calls;
};

}  // namespace dsvm::test

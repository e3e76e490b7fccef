// Reading secrets from Azure Key Vault with the instance's managed identity (docs/pool-config.md,
// "keyVault"): a token from the metadata service's identity endpoint, then the secret from the
// vault's REST API over verified TLS. Neither the token nor a secret is ever logged, put in an
// error, or held outside SecretBytes by this code.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "common/secret.h"
#include "config/http.h"
#include "config/imds.h"

namespace dsvm::config {

// The largest secret value read (a storage key is 88 characters, a registry key at most 256).
inline constexpr std::size_t k_max_vault_secret = 4096;

struct KeyVaultEndpoints {
    // The metadata service, for the identity endpoint: "http://169.254.169.254".
    std::string imds;
    // For tests only (--test-key-vault-url, --test-key-vault-ca): the vault's base URL instead
    // of https://<vault>.vault.azure.net, and a CA bundle instead of the system's store.
    std::string vault_url;
    std::string ca_file;
};

// Why a read failed, for status and for when to try again.
enum class VaultFailure {
    None,
    NoIdentity,   // the VM has no managed identity (or not the one keyVault.clientId names)
    Denied,       // 401/403: the identity may not read the vault's secrets
    NotFound,     // 404: no such secret (or it is disabled)
    Unreachable,  // transport failure, 429 or 5xx until the deadline
    Unusable,     // an answer that is not what the API documents
};

struct VaultError {
    VaultFailure kind = VaultFailure::None;
    std::string message;  // one line, naming the vault and the secret, never a value
};

// One secret read from a vault: the value, or why there is none.
struct VaultRead {
    SecretBytes value;
    VaultError error;
    bool ok() const { return error.kind == VaultFailure::None; }
};

// The seam the engine reads keyVault's secrets through: KeyVaultClient on an Azure instance, a
// fake in tests.
class SecretVault {
  public:
    virtual ~SecretVault() = default;
    // The value of secret `name` in `vault`, read with the identity `client_id` (empty: the
    // system-assigned one).
    virtual VaultRead read_secret(const std::string& vault, const std::string& client_id,
                                  const std::string& name) = 0;
};

class KeyVaultClient final : public SecretVault {
  public:
    // policy bounds the token's retries (the identity endpoint answers 410 for up to 70 s after
    // boot, like the rest of IMDS); a vault read retries 429 and 5xx for at most 30 s of it.
    KeyVaultClient(HttpClient& http, Clock& clock, KeyVaultEndpoints endpoints, RetryPolicy policy,
                   std::uint64_t seed);

    // The token is kept (in SecretBytes) until five minutes before it expires, and dropped when
    // the vault refuses it.
    VaultRead read_secret(const std::string& vault, const std::string& client_id,
                          const std::string& name) override;

    // HTTP requests the last read_secret made (token and vault), for tests.
    int attempts() const { return m_attempts; }

  private:
    VaultError fetch_token(const std::string& client_id);
    // GETs with the retry rules; `retry` says which statuses are retried.
    struct Answer {
        long status = 0;
        std::string transport_error;  // set when there was no HTTP answer at the deadline
        int tries = 0;
    };
    Answer get_with_retries(const HttpRequest& request, SecretBytes& body,
                            std::chrono::milliseconds deadline, bool (*retry)(long));

    HttpClient& m_http;
    Clock& m_clock;
    KeyVaultEndpoints m_endpoints;
    RetryPolicy m_policy;
    std::uint64_t m_seed;
    int m_attempts = 0;
    SecretBytes m_token;
    std::string m_token_client;
    std::chrono::steady_clock::time_point m_token_until{};
};

}  // namespace dsvm::config

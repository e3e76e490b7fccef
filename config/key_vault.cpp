#include "config/key_vault.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <random>

#include <nlohmann/json.hpp>

#include "common/json_fields.h"
#include "common/text.h"

namespace dsvm::config {

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A token response and a secret's document are a few KiB; these bound what a broken peer can
// make us hold.
constexpr std::size_t k_max_token_body = 32 * 1024;
constexpr std::size_t k_max_token = 16 * 1024;
constexpr std::size_t k_max_vault_body = 64 * 1024;
// A vault that throttles or fails is retried this long at most within one read.
constexpr milliseconds k_vault_deadline{30000};
// A cached token is renewed this long before it expires.
constexpr seconds k_token_margin{300};
constexpr std::string_view k_api_version = "7.4";

bool retry_token(long status) {
    return status == 404 || status == 410 || status == 429 || (status >= 500 && status <= 599);
}

bool retry_vault(long status) {
    return status == 429 || (status >= 500 && status <= 599);
}

// Text from a peer, for a message: escaped and cut short.
std::string peer_text(std::string_view text) {
    return "\"" + printable_line(text, 160) + "\"";
}

// The error codes of a Key Vault error document, {"error": {"code": ..., "innererror":
// {"code": ...}}}, as "Forbidden/ForbiddenByRbac"; empty when there are none. Error documents
// hold no secret, so they may be parsed as usual.
std::string vault_error_codes(std::string_view body) {
    const auto document = nlohmann::json::parse(body, nullptr, false);
    if (!document.is_object()) {
        return {};
    }
    std::string codes;
    const nlohmann::json* error = document.contains("error") ? &document["error"] : nullptr;
    for (int depth = 0; depth < 4 && error != nullptr && error->is_object(); ++depth) {
        const auto code = error->find("code");
        if (code != error->end() && code->is_string()) {
            codes += (codes.empty() ? "" : "/") + code->get<std::string>();
        }
        const auto inner = error->find("innererror");
        error = inner != error->end() ? &*inner : nullptr;
    }
    return codes.size() > 160 ? codes.substr(0, 160) : codes;
}

std::string http_text(long status, const std::string& codes) {
    return "HTTP " + std::to_string(status) + (codes.empty() ? "" : " " + codes);
}

// %-encodes everything but unreserved characters (RFC 3986).
std::string url_encoded(std::string_view text) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += k_hex[byte >> 4];
            out += k_hex[byte & 0x0F];
        }
    }
    return out;
}

}  // namespace

KeyVaultClient::KeyVaultClient(HttpClient& http, Clock& clock, KeyVaultEndpoints endpoints,
                               RetryPolicy policy, std::uint64_t seed)
    : m_http(http),
      m_clock(clock),
      m_endpoints(std::move(endpoints)),
      m_policy(policy),
      m_seed(seed) {
    for (std::string* url : {&m_endpoints.imds, &m_endpoints.vault_url}) {
        while (!url->empty() && url->back() == '/') {
            url->pop_back();
        }
    }
}

KeyVaultClient::Answer KeyVaultClient::get_with_retries(const HttpRequest& base, SecretBytes& body,
                                                        milliseconds limit, bool (*retry)(long)) {
    std::mt19937_64 random(m_seed);
    m_seed = random();
    HttpRequest request = base;
    const auto deadline = m_clock.now() + limit;
    Answer answer;
    for (;;) {
        ++answer.tries;
        ++m_attempts;
        limit_try(request, m_policy, deadline - m_clock.now());
        body.set_size(0);
        auto status = m_http.get_secret(request, body);
        if (status && !retry(*status)) {
            answer.status = *status;
            answer.transport_error.clear();
            return answer;
        }
        answer.status = status ? *status : 0;
        answer.transport_error = status ? "" : status.error().message;
        spdlog::debug("{} try {} failed: {}", request.url.substr(0, request.url.find('?')),
                      answer.tries,
                      status ? "HTTP " + std::to_string(*status) : status.error().message);
        const auto now = m_clock.now();
        if (now >= deadline) {
            return answer;
        }
        const milliseconds delay = std::min(retry_delay(m_policy, answer.tries, random),
                                            std::chrono::ceil<milliseconds>(deadline - now));
        m_clock.sleep_for(delay);
    }
}

VaultError KeyVaultClient::fetch_token(const std::string& client_id) {
    HttpRequest request;
    request.url = m_endpoints.imds +
                  "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=" +
                  url_encoded("https://vault.azure.net");
    if (!client_id.empty()) {
        request.url += "&client_id=" + url_encoded(client_id);
    }
    request.headers = {{"Metadata", "true"}};
    const std::string identity =
        client_id.empty() ? "the system-assigned identity" : "identity " + client_id;

    SecretBytes body(k_max_token_body);
    const Answer answer = get_with_retries(request, body, m_policy.deadline, retry_token);
    if (answer.status == 200) {
        SecretBytes token(k_max_token);
        std::string expires_in;
        std::array fields{JsonField{"access_token", &token, nullptr},
                          JsonField{"expires_in", nullptr, &expires_in}};
        const auto read = read_json_fields(body.view(), fields);
        long long lifetime = 0;
        const auto [end, parsed] =
            std::from_chars(expires_in.data(), expires_in.data() + expires_in.size(), lifetime);
        if (!read || !fields[0].found || token.empty() || parsed != std::errc() ||
            end != expires_in.data() + expires_in.size() || lifetime <= 0) {
            return {
                VaultFailure::Unusable,
                "the metadata service's token for " + identity + " is unusable (" +
                    (read ? std::string("no access_token or expires_in") : read.error().message) +
                    ")"};
        }
        m_token = std::move(token);
        m_token_client = client_id;
        m_token_until = m_clock.now() + std::max(seconds(lifetime) - k_token_margin, seconds(0));
        return {};
    }
    if (answer.status == 0) {
        return {VaultFailure::Unreachable,
                "no token from the metadata service's identity endpoint after " +
                    std::to_string(answer.tries) + " tries: " + answer.transport_error};
    }
    // Error answers hold no token: {"error": "...", "error_description": "..."}.
    std::string error;
    std::string description;
    std::array fields{JsonField{"error", nullptr, &error},
                      JsonField{"error_description", nullptr, &description}};
    static_cast<void>(read_json_fields(body.view(), fields));
    std::string said = "HTTP " + std::to_string(answer.status);
    if (!description.empty() || !error.empty()) {
        said += " " + peer_text(description.empty() ? error : description);
    }
    if (answer.status == 400) {
        return {VaultFailure::NoIdentity,
                "no managed identity to read Key Vault with: the metadata service answered " +
                    said + " for " + identity +
                    "; give the scale set a system-assigned identity (az vmss identity assign), "
                    "or set keyVault.clientId to the client id of a user-assigned identity it "
                    "has"};
    }
    if (retry_token(answer.status)) {
        return {VaultFailure::Unreachable,
                "no token from the metadata service's identity "
                "endpoint after " +
                    std::to_string(answer.tries) + " tries: " + said};
    }
    return {VaultFailure::Unusable,
            "the metadata service's identity endpoint answered " + said + " for " + identity};
}

VaultRead KeyVaultClient::read_secret(const std::string& vault, const std::string& client_id,
                                      const std::string& name) {
    m_attempts = 0;
    VaultRead out;
    const std::string base = m_endpoints.vault_url.empty() ? "https://" + vault + ".vault.azure.net"
                                                           : m_endpoints.vault_url;
    const std::string what = "secret " + name + " in vault " + vault;
    HttpRequest request;
    request.url = base + "/secrets/" + name + "?api-version=" + std::string(k_api_version);
    request.ca_file = m_endpoints.ca_file;
    SecretBytes body(k_max_vault_body);
    const milliseconds limit = std::min(k_vault_deadline, m_policy.deadline);

    for (int round = 0; round < 2; ++round) {
        if (m_token.empty() || m_token_client != client_id || m_clock.now() >= m_token_until) {
            m_token = SecretBytes();
            if (VaultError error = fetch_token(client_id); error.kind != VaultFailure::None) {
                out.error = std::move(error);
                return out;
            }
        }
        request.bearer_token = m_token.view();
        const Answer answer = get_with_retries(request, body, limit, retry_vault);
        if (answer.status == 200) {
            SecretBytes value(k_max_vault_secret);
            std::array fields{JsonField{"value", &value, nullptr}};
            const auto read = read_json_fields(body.view(), fields);
            if (!read || !fields[0].found) {
                out.error = {VaultFailure::Unusable,
                             "vault " + vault + " answered the read of secret " + name + " with " +
                                 (read ? std::string("no value") : read.error().message)};
                return out;
            }
            out.value = std::move(value);
            return out;
        }
        if (answer.status == 0) {
            out.error = {VaultFailure::Unreachable, "vault " + vault + " unreachable after " +
                                                        std::to_string(answer.tries) +
                                                        " tries: " + answer.transport_error};
            return out;
        }
        const std::string said = http_text(answer.status, vault_error_codes(body.view()));
        if (answer.status == 401 && round == 0) {
            // A token revoked or expired early: one more round with a new one.
            m_token = SecretBytes();
            continue;
        }
        if (answer.status == 403 && said.find("SecretDisabled") != std::string::npos) {
            out.error = {VaultFailure::NotFound,
                         what + " is disabled (" + said +
                             "): enable it with az keyvault secret set-attributes --vault-name " +
                             vault + " --name " + name + " --enabled true"};
        } else if (answer.status == 401 || answer.status == 403) {
            out.error = {VaultFailure::Denied,
                         "this VM's managed identity may not read " + what + " (" + said +
                             "): give it the Key Vault Secrets User role on the vault (role "
                             "assignments take a few minutes to apply)"};
        } else if (answer.status == 404) {
            out.error = {VaultFailure::NotFound,
                         "vault " + vault + " has no secret " + name + " (" + said +
                             "): store it with az keyvault secret set --vault-name " + vault +
                             " --name " + name};
        } else if (retry_vault(answer.status)) {
            out.error = {VaultFailure::Unreachable, "vault " + vault + " unavailable after " +
                                                        std::to_string(answer.tries) + " tries (" +
                                                        said + ")"};
        } else {
            out.error = {VaultFailure::Unusable,
                         "vault " + vault + " answered " + said + " to the read of secret " + name};
        }
        return out;
    }
    return out;
}

}  // namespace dsvm::config

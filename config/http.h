// The HTTP seam. The real client is libcurl; tests talk to a real server on loopback.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace dsvm::config {

// The largest body get() reads, on every platform. IMDS documents are a few KiB (userData is at
// most 64 KiB); anything much larger is a broken or hostile peer, and buffering it would let that
// peer exhaust our memory.
inline constexpr std::size_t k_max_http_body_bytes = 1024 * 1024;

struct HttpRequest {
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds connect_timeout{2000};
    // Whole-request limit, so a server that accepts and then hangs cannot stall a pass.
    std::chrono::milliseconds total_timeout{5000};
    // https: the CA bundle to verify the server against instead of the system's store. Empty (the
    // default, and the only value outside tests) means the system's store. Verification of the
    // chain and of the host name is never turned off.
    std::string ca_file;
    // Sent as "Authorization: Bearer <token>" when not empty; the header is built in a buffer
    // that is wiped afterwards, and it is never logged.
    std::string_view bearer_token;
};

struct HttpResponse {
    long status = 0;
    std::string body;
};

class HttpClient {
  public:
    virtual ~HttpClient() = default;
    // Performs a GET. A transport failure (refused, timed out, reset) is an Error, and so is a
    // body over k_max_http_body_bytes; any HTTP status, 4xx and 5xx included, is a response.
    virtual Result<HttpResponse> get(const HttpRequest& request) = 0;
    // The same, for a body that is a secret (a token, a Key Vault secret): it goes into `body`,
    // whose capacity is the size limit (a bigger body is an error), never into a std::string.
    // Returns the HTTP status.
    virtual Result<long> get_secret(const HttpRequest& request, SecretBytes& body) = 0;
};

// libcurl: no proxy (IMDS must never go through one), no redirects, no signals.
class CurlHttpClient final : public HttpClient {
  public:
    Result<HttpResponse> get(const HttpRequest& request) override;
    Result<long> get_secret(const HttpRequest& request, SecretBytes& body) override;
};

}  // namespace dsvm::config

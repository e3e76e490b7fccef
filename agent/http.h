// The HTTP seam. The real client is libcurl; tests talk to a real server on loopback.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace dsvm {

struct HttpRequest {
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::chrono::milliseconds connect_timeout{2000};
    // Whole-request limit, so a server that accepts and then hangs cannot stall a pass.
    std::chrono::milliseconds total_timeout{5000};
};

struct HttpResponse {
    long status = 0;
    std::string body;
};

class HttpClient {
  public:
    virtual ~HttpClient() = default;
    // Performs a GET. A transport failure (refused, timed out, reset) is an Error; any HTTP
    // status, 4xx and 5xx included, is a response.
    virtual Result<HttpResponse> get(const HttpRequest& request) = 0;
};

// libcurl: no proxy (IMDS must never go through one), no redirects, no signals.
class CurlHttpClient final : public HttpClient {
  public:
    Result<HttpResponse> get(const HttpRequest& request) override;
};

}  // namespace dsvm

// The HTTP seam (config/http.h) on Windows: WinHTTP, with the contract of the Linux client.
#pragma once

#include "common/result.h"
#include "common/secret.h"
#include "config/http.h"

namespace dsvm::windows_platform {

// WinHTTP, synchronous: never through a proxy (not even one configured in the environment or
// the registry), no redirects (a 3xx is a response), the request's connect and whole-request
// timeouts, its headers and its bearer token (built in a wiped buffer, never logged), https with
// the system's store and host name checks always on. A non-empty ca_file is an Invalid error:
// Windows has no private CA file (docs/windows.md). A transport failure is a Runtime error that
// names the URL and the failure in words; a body over the limit (get: 1 MiB, get_secret: the
// SecretBytes' capacity) is one too. An http or https URL only; one that is not UTF-8 is
// Invalid.
class WinHttpClient final : public config::HttpClient {
  public:
    Result<config::HttpResponse> get(const config::HttpRequest& request) override;
    Result<long> get_secret(const config::HttpRequest& request, SecretBytes& body) override;
};

}  // namespace dsvm::windows_platform

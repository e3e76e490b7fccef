// The metadata client on the curl of Ubuntu 22.04 (7.81), which lacks CURLOPT_PROTOCOLS_STR:
// this test runs with curl_7_81_shim preloaded (tests/CMakeLists.txt) and drives the real
// libcurl client and IMDS client against a metadata service on loopback.
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <dlfcn.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>

#include "common/clock.h"
#include "config/imds.h"
#include "support/fake_http_server.h"

namespace {

template <typename T>
std::atomic<T>& shim_counter(const char* name) {
    void* symbol = dlsym(RTLD_DEFAULT, name);
    if (symbol == nullptr) {
        FAIL("the curl 7.81 shim is not preloaded (" << name << " not found): run through ctest");
    }
    return *static_cast<std::atomic<T>*>(symbol);
}

dsvm::config::RetryPolicy quick_policy() {
    using namespace std::chrono_literals;
    dsvm::config::RetryPolicy policy;
    policy.initial_delay = 50ms;
    policy.max_delay = 100ms;
    policy.deadline = 10s;
    policy.connect_timeout = 1000ms;
    policy.request_timeout = 2000ms;
    return policy;
}

}  // namespace

TEST_CASE("old curl: the metadata client works where CURLOPT_PROTOCOLS_STR is unknown",
          "[old-curl]") {
    auto& rejected = shim_counter<int>("dsvm_shim_rejected");
    const int rejected_before = rejected;

    dsvm::test::FakeHttpServer imds;
    imds.set_default(
        {200, dsvm::test::imds_document({{"dsvm-share", "//acct.file.core.windows.net/s"}},
                                        R"({"dsvmPool":{}})")});
    dsvm::config::CurlHttpClient http;
    dsvm::SystemClock clock;
    dsvm::config::ImdsClient client(http, clock, imds.base_url(), quick_policy(), 1);

    const auto metadata = client.fetch();

    REQUIRE(metadata.ok());
    CHECK(metadata->scale_set == "pool");
    CHECK(client.attempts() == 1);
    CHECK(rejected > rejected_before);
    // The fallback says what the _STR options said: http and https only, redirects included.
    CHECK(shim_counter<long>("dsvm_shim_protocols") == (CURLPROTO_HTTP | CURLPROTO_HTTPS));
    CHECK(shim_counter<long>("dsvm_shim_redir_protocols") == (CURLPROTO_HTTP | CURLPROTO_HTTPS));
}

TEST_CASE("old curl: the fallback still refuses every protocol but http and https", "[old-curl]") {
    auto& rejected = shim_counter<int>("dsvm_shim_rejected");
    const int rejected_before = rejected;
    dsvm::config::CurlHttpClient http;

    for (const std::string url : {"file:///etc/hostname", "dict://127.0.0.1:1/x",
                                  "gopher://127.0.0.1:1/x", "ftp://127.0.0.1:1/x"}) {
        dsvm::config::HttpRequest request;
        request.url = url;
        const auto response = http.get(request);
        INFO(url);
        REQUIRE_FALSE(response.ok());
        CHECK(response.error().message.find("nsupported protocol") != std::string::npos);
    }
    CHECK(rejected > rejected_before);
}

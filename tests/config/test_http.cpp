#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "common/fd.h"
#include "common/secret.h"
#include "config/http.h"
#include "support/fake_http_server.h"
#include "support/sandbox.h"
#include "support/test_tls.h"

using dsvm::config::CurlHttpClient;
using dsvm::config::HttpRequest;
using dsvm::test::FakeHttpServer;
using dsvm::test::hanging;
using dsvm::test::ScriptedResponse;
using namespace std::chrono_literals;

namespace {

// Accepts, reads the request, closes without a byte of response.
ScriptedResponse closing() {
    ScriptedResponse response;
    response.close_without_response = true;
    return response;
}

HttpRequest metadata_request(const FakeHttpServer& server,
                             std::string path = "/metadata/instance") {
    HttpRequest request;
    request.url = server.base_url() + path;
    request.headers = {{"Metadata", "true"}};
    request.connect_timeout = 1000ms;
    request.total_timeout = 2000ms;
    return request;
}

// Sets an environment variable for one scope and restores what was there before.
class ScopedEnv {
  public:
    ScopedEnv(const char* name, const std::string& value) : m_name(name) {
        if (const char* old = ::getenv(name)) {
            m_old = old;
        }
        ::setenv(name, value.c_str(), 1);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() {
        if (m_old) {
            ::setenv(m_name, m_old->c_str(), 1);
        } else {
            ::unsetenv(m_name);
        }
    }

  private:
    const char* m_name;
    std::optional<std::string> m_old;
};

}  // namespace

TEST_CASE("http: GET returns the status and body", "[http]") {
    FakeHttpServer server;
    server.enqueue({200, R"({"compute":{}})"});
    CurlHttpClient http;

    const auto response = http.get(metadata_request(server));

    REQUIRE(response.ok());
    CHECK(response->status == 200);
    CHECK(response->body == R"({"compute":{}})");
}

TEST_CASE("http: an HTTP error status is a response, not an error", "[http]") {
    FakeHttpServer server;
    server.enqueue({503, "busy"});
    CurlHttpClient http;

    const auto response = http.get(metadata_request(server));

    REQUIRE(response.ok());
    CHECK(response->status == 503);
    CHECK(response->body == "busy");
}

TEST_CASE("http: sends the request's headers and path", "[http]") {
    FakeHttpServer server(false);
    server.set_default({200, "{}"});
    CurlHttpClient http;
    auto request = metadata_request(server, "/metadata/instance?api-version=2021-02-01");
    request.headers.emplace_back("X-Extra", "one two");

    REQUIRE(http.get(request).ok());

    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].method == "GET");
    CHECK(requests[0].target == "/metadata/instance?api-version=2021-02-01");
    CHECK(requests[0].headers.at("metadata") == "true");
    CHECK(requests[0].headers.at("x-extra") == "one two");
    CHECK(requests[0].headers.count("x-forwarded-for") == 0);
}

TEST_CASE("http: connection refused is an error naming the URL", "[http]") {
    const auto port = dsvm::test::unused_loopback_port();
    CurlHttpClient http;
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(port) + "/metadata/instance";

    const auto response = http.get(request);

    REQUIRE_FALSE(response.ok());
    CHECK(response.error().kind == dsvm::ErrorKind::Runtime);
    CHECK_THAT(response.error().message,
               Catch::StartsWith("GET " + request.url + ": Couldn't connect to server"));
}

TEST_CASE("http: a server that never answers times out", "[http]") {
    FakeHttpServer server;
    server.enqueue(hanging());
    CurlHttpClient http;
    auto request = metadata_request(server);
    request.total_timeout = 200ms;

    const auto started = std::chrono::steady_clock::now();
    const auto response = http.get(request);
    const auto took = std::chrono::steady_clock::now() - started;

    REQUIRE_FALSE(response.ok());
    CHECK_THAT(response.error().message, Catch::Contains("timed out"));
    CHECK_THAT(response.error().message, Catch::Contains(request.url));
    CHECK(took >= 150ms);
    CHECK(took < 2s);
}

TEST_CASE("http: a connection closed without a response is an error", "[http]") {
    FakeHttpServer server;
    server.enqueue(closing());
    CurlHttpClient http;

    const auto response = http.get(metadata_request(server));

    REQUIRE_FALSE(response.ok());
    CHECK_THAT(response.error().message, Catch::StartsWith("GET " + server.base_url()));
}

TEST_CASE("http: bodies up to 1 MiB are read, bigger ones refused", "[http]") {
    // Given bodies at and over the cap, announced by Content-Length or only ended by the close,
    // we expect the cap to hold either way.
    constexpr std::size_t k_cap = 1024 * 1024;
    const bool announced = GENERATE(true, false);
    FakeHttpServer server;
    CurlHttpClient http;

    ScriptedResponse at_cap{200, std::string(k_cap, 'a')};
    at_cap.omit_content_length = !announced;
    server.enqueue(at_cap);
    const auto fits = http.get(metadata_request(server));
    REQUIRE(fits.ok());
    CHECK(fits->body.size() == k_cap);

    ScriptedResponse over_cap{200, std::string(k_cap + 1, 'a')};
    over_cap.omit_content_length = !announced;
    server.enqueue(over_cap);
    const auto refused = http.get(metadata_request(server));
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("response body exceeds 1048576 bytes"));
}

TEST_CASE("http: proxies from the environment are bypassed", "[http]") {
    // Given a proxy in the environment that nothing listens on, we expect the request to reach
    // the server directly; IMDS must never be asked through a proxy.
    FakeHttpServer server;
    server.enqueue({200, "direct"});
    const std::string proxy =
        "http://127.0.0.1:" + std::to_string(dsvm::test::unused_loopback_port());
    const ScopedEnv http_proxy("http_proxy", proxy);
    const ScopedEnv all_proxy("ALL_PROXY", proxy);
    const ScopedEnv no_proxy("no_proxy", "example.invalid");
    CurlHttpClient http;

    const auto response = http.get(metadata_request(server));

    REQUIRE(response.ok());
    CHECK(response->body == "direct");
}

TEST_CASE("http: redirects are not followed", "[http]") {
    FakeHttpServer server;
    server.enqueue({302, "moved"});
    CurlHttpClient http;

    const auto response = http.get(metadata_request(server));

    REQUIRE(response.ok());
    CHECK(response->status == 302);
    CHECK(server.requests().size() == 1);
}

TEST_CASE("http: only http and https URLs are fetched", "[http]") {
    CurlHttpClient http;
    HttpRequest request;
    request.url = "file:///etc/hostname";

    const auto response = http.get(request);

    REQUIRE_FALSE(response.ok());
    CHECK_THAT(response.error().message, Catch::StartsWith("GET file:///etc/hostname: "));
}

TEST_CASE("fake http server: rejects requests IMDS would reject", "[http]") {
    // Given the fake playing IMDS, we expect a 400 without "Metadata: true" or with
    // X-Forwarded-For, and the scripted response left for the next good request.
    FakeHttpServer server;
    server.enqueue({200, "scripted"});
    CurlHttpClient http;

    auto no_header = metadata_request(server);
    no_header.headers.clear();
    const auto missing = http.get(no_header);
    REQUIRE(missing.ok());
    CHECK(missing->status == 400);

    auto forwarded = metadata_request(server);
    forwarded.headers.emplace_back("X-Forwarded-For", "10.0.0.1");
    const auto proxied = http.get(forwarded);
    REQUIRE(proxied.ok());
    CHECK(proxied->status == 400);

    const auto good = http.get(metadata_request(server));
    REQUIRE(good.ok());
    CHECK(good->status == 200);
    CHECK(good->body == "scripted");
    CHECK(server.requests().size() == 3);
}

TEST_CASE("fake http server: serves the queue in order, then the default", "[http]") {
    FakeHttpServer server;
    server.enqueue({410, "first"});
    server.enqueue({200, "second"});
    CurlHttpClient http;

    const auto first = http.get(metadata_request(server));
    const auto second = http.get(metadata_request(server));
    const auto third = http.get(metadata_request(server));
    server.set_default({500, "default"});
    const auto fourth = http.get(metadata_request(server));

    REQUIRE((first.ok() && second.ok() && third.ok() && fourth.ok()));
    CHECK(first->status == 410);
    CHECK(second->body == "second");
    CHECK(third->status == 404);
    CHECK(fourth->body == "default");
}

namespace {

// Connects a raw TCP client to the server on loopback.
dsvm::Fd connect_to(const FakeHttpServer& server) {
    dsvm::Fd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(client);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(server.port());
    REQUIRE(::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) ==
            0);
    return client;
}

}  // namespace

TEST_CASE("fake http server: stops promptly while a connection hangs", "[http]") {
    // Given a client stuck on a hanging response, we expect the server's destructor not to wait
    // for that client.
    const auto started = std::chrono::steady_clock::now();
    {
        FakeHttpServer server;
        server.enqueue(hanging());
        const dsvm::Fd client = connect_to(server);
        const std::string request = "GET / HTTP/1.1\r\nMetadata: true\r\n\r\n";
        REQUIRE(::send(client.get(), request.data(), request.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(request.size()));
        while (server.requests().empty() && std::chrono::steady_clock::now() - started < 2s) {
            std::this_thread::sleep_for(5ms);
        }
        REQUIRE(server.requests().size() == 1);
    }
    CHECK(std::chrono::steady_clock::now() - started < 2s);
}

namespace {

using dsvm::test::FakeHttpServerOptions;
using dsvm::test::issue_server_certificate;
using dsvm::test::make_test_ca;
using dsvm::test::Sandbox;
using dsvm::test::TestCa;
using dsvm::test::TlsFiles;

// An HTTPS fake without IMDS's header rule, as Key Vault would be.
FakeHttpServer https_server(const TlsFiles& files) {
    FakeHttpServerOptions options;
    options.require_metadata_header = false;
    options.tls = files;
    return FakeHttpServer(std::move(options));
}

HttpRequest https_request(std::string url, std::string ca_file) {
    HttpRequest request;
    request.url = std::move(url);
    request.ca_file = std::move(ca_file);
    request.connect_timeout = 1000ms;
    request.total_timeout = 3000ms;
    return request;
}

}  // namespace

TEST_CASE("http: HTTPS GET verifies the server against the given CA", "[http]") {
    const TestCa ca = make_test_ca("dsvm test CA");
    auto server = https_server(issue_server_certificate(ca, {}, {"127.0.0.1"}));
    server.enqueue({200, R"({"value":"from vault"})"});
    Sandbox sandbox;
    CurlHttpClient http;

    const auto response = http.get(https_request(server.base_url() + "/secrets/pool-key",
                                                 sandbox.write("ca.pem", ca.certificate_pem)));

    CHECK_THAT(server.base_url(), Catch::StartsWith("https://127.0.0.1:"));
    REQUIRE(response.ok());
    CHECK(response->status == 200);
    CHECK(response->body == R"({"value":"from vault"})");
    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0].target == "/secrets/pool-key");
}

TEST_CASE("http: HTTPS refuses a server whose certificate another CA signed", "[http]") {
    // Given a CA file with a CA that did not sign the server's certificate, we expect the
    // handshake to fail before the request is sent.
    const TestCa ca = make_test_ca("dsvm test CA");
    const TestCa other = make_test_ca("another test CA");
    auto server = https_server(issue_server_certificate(ca, {}, {"127.0.0.1"}));
    server.set_default({200, "must not be served"});
    Sandbox sandbox;
    CurlHttpClient http;

    const auto response = http.get(
        https_request(server.base_url() + "/", sandbox.write("other.pem", other.certificate_pem)));

    REQUIRE_FALSE(response.ok());
    CHECK(response.error().kind == dsvm::ErrorKind::Runtime);
    CHECK_THAT(response.error().message, Catch::StartsWith("GET " + server.base_url() + "/: "));
    CHECK_THAT(response.error().message, Catch::Contains("SSL certificate problem"));
    CHECK(server.requests().empty());
}

TEST_CASE("http: HTTPS without a CA file does not trust a test CA", "[http]") {
    // Given no ca_file, the system's store is used, and a throw-away CA is not in it.
    const TestCa ca = make_test_ca("dsvm test CA");
    auto server = https_server(issue_server_certificate(ca, {}, {"127.0.0.1"}));
    server.set_default({200, "must not be served"});
    CurlHttpClient http;

    const auto response = http.get(https_request(server.base_url() + "/", ""));

    REQUIRE_FALSE(response.ok());
    CHECK_THAT(response.error().message, Catch::Contains("SSL certificate problem"));
    CHECK(server.requests().empty());
}

TEST_CASE("http: HTTPS refuses a certificate for another host name", "[http]") {
    // Given a certificate from the trusted CA that names only "localhost", we expect it to be
    // accepted for https://localhost and refused for https://127.0.0.1.
    const TestCa ca = make_test_ca("dsvm test CA");
    auto server = https_server(issue_server_certificate(ca, {"localhost"}, {}));
    server.set_default({200, "named"});
    Sandbox sandbox;
    const std::string ca_file = sandbox.write("ca.pem", ca.certificate_pem);
    CurlHttpClient http;

    const auto by_name = http.get(https_request(server.url_for_host("localhost") + "/", ca_file));
    REQUIRE(by_name.ok());
    CHECK(by_name->body == "named");

    const auto by_address = http.get(https_request(server.base_url() + "/", ca_file));
    REQUIRE_FALSE(by_address.ok());
    CHECK_THAT(by_address.error().message,
               Catch::Contains("no alternative certificate subject name matches"));
    CHECK(server.requests().size() == 1);
}

TEST_CASE("http: get_secret over HTTPS fills SecretBytes up to its capacity", "[http]") {
    // Given secret bodies that fit and one byte too many, announced by Content-Length or only
    // ended by the close, we expect the capacity to be the limit either way.
    const bool announced = GENERATE(true, false);
    const TestCa ca = make_test_ca("dsvm test CA");
    auto server = https_server(issue_server_certificate(ca, {}, {"127.0.0.1"}));
    Sandbox sandbox;
    const auto request = https_request(server.base_url() + "/secrets/share-key",
                                       sandbox.write("ca.pem", ca.certificate_pem));
    CurlHttpClient http;

    ScriptedResponse fits{200, std::string(64, 's')};
    fits.omit_content_length = !announced;
    server.enqueue(fits);
    dsvm::SecretBytes body(64);
    const auto status = http.get_secret(request, body);
    REQUIRE(status.ok());
    CHECK(*status == 200);
    CHECK(body.view() == std::string(64, 's'));

    ScriptedResponse too_big{200, std::string(65, 's')};
    too_big.omit_content_length = !announced;
    server.enqueue(too_big);
    dsvm::SecretBytes small(64);
    const auto refused = http.get_secret(request, small);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("response body exceeds 64 bytes"));
}

TEST_CASE("http: a bearer token is sent as the Authorization header", "[http]") {
    const TestCa ca = make_test_ca("dsvm test CA");
    auto server = https_server(issue_server_certificate(ca, {}, {"127.0.0.1"}));
    server.set_default({200, "{}"});
    Sandbox sandbox;
    auto request =
        https_request(server.base_url() + "/", sandbox.write("ca.pem", ca.certificate_pem));
    CurlHttpClient http;

    const std::string token = "eyJ0eXAiOiJKV1QifQ.e30.c2lnbmF0dXJl";
    request.bearer_token = token;
    REQUIRE(http.get(request).ok());
    request.bearer_token = {};
    REQUIRE(http.get(request).ok());

    const auto requests = server.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].headers.at("authorization") == "Bearer " + token);
    CHECK(requests[1].headers.count("authorization") == 0);
}

TEST_CASE("fake https server: hangs and closes like the plain one", "[http]") {
    const TestCa ca = make_test_ca("dsvm test CA");
    auto server = https_server(issue_server_certificate(ca, {}, {"127.0.0.1"}));
    server.enqueue(hanging());
    server.enqueue(closing());
    server.enqueue({200, "after"});
    Sandbox sandbox;
    auto request =
        https_request(server.base_url() + "/", sandbox.write("ca.pem", ca.certificate_pem));
    CurlHttpClient http;

    request.total_timeout = 300ms;
    const auto hung = http.get(request);
    REQUIRE_FALSE(hung.ok());
    CHECK_THAT(hung.error().message, Catch::Contains("timed out"));

    request.total_timeout = 3000ms;
    const auto closed = http.get(request);
    REQUIRE_FALSE(closed.ok());

    const auto after = http.get(request);
    REQUIRE(after.ok());
    CHECK(after->body == "after");
    CHECK(server.requests().size() == 3);
}

TEST_CASE("fake https server: stops promptly while a client stalls the handshake", "[http]") {
    // Given a client that connects and never says hello, we expect nothing recorded and the
    // destructor not to wait for the handshake's timeout.
    const TestCa ca = make_test_ca("dsvm test CA");
    const TlsFiles files = issue_server_certificate(ca, {}, {"127.0.0.1"});
    const auto started = std::chrono::steady_clock::now();
    {
        auto server = https_server(files);
        const dsvm::Fd client = connect_to(server);
        std::this_thread::sleep_for(100ms);
        CHECK(server.requests().empty());
    }
    CHECK(std::chrono::steady_clock::now() - started < 2s);
}

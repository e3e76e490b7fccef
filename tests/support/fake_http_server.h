// A real HTTP/1.1 server on loopback that plays scripted responses, so the libcurl client and
// the IMDS retry logic are tested over real sockets without ever leaving 127.0.0.1; optionally
// over TLS, with a certificate from a test CA (support/test_tls.h).
#pragma once

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "support/test_tls.h"

namespace dsvm::test {

struct ScriptedResponse {
    int status = 200;
    std::string body;
    // Waited before answering.
    std::chrono::milliseconds delay{0};
    // Read the request, never answer until the client hangs up or the server stops.
    bool hang = false;
    // Read the request and close the connection without a byte of response.
    bool close_without_response = false;
    // Send no Content-Length and end the body by closing, as a streaming peer would.
    bool omit_content_length = false;
};

// A response that accepts, reads the request and never answers.
inline ScriptedResponse hanging() {
    ScriptedResponse response;
    response.hang = true;
    return response;
}

struct RecordedRequest {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // names lower-cased
};

struct FakeHttpServerOptions {
    // A request without "Metadata: true" or with X-Forwarded-For gets 400 like real IMDS, and does
    // not consume a scripted response.
    bool require_metadata_header = true;
    // HTTPS with this certificate and key (TLS 1.2 or later). A connection whose handshake fails
    // (the client refused the certificate) is dropped and nothing is recorded for it.
    std::optional<TlsFiles> tls;
};

class FakeHttpServer {
  public:
    // Binds 127.0.0.1 on an ephemeral port and serves plain HTTP, one connection at a time, from
    // a thread; require_metadata_header as in FakeHttpServerOptions. Throws std::runtime_error if
    // the socket cannot be set up.
    explicit FakeHttpServer(bool require_metadata_header = true);
    // The same, with HTTPS when options.tls is set. Throws std::runtime_error also if the
    // certificate or key cannot be loaded or do not match.
    explicit FakeHttpServer(FakeHttpServerOptions options);
    // Stops the thread, closing a connection it holds open (hang) at once.
    ~FakeHttpServer();
    FakeHttpServer(const FakeHttpServer&) = delete;
    FakeHttpServer& operator=(const FakeHttpServer&) = delete;

    // The bound port.
    std::uint16_t port() const { return m_port; }
    // "http://127.0.0.1:PORT", or "https://127.0.0.1:PORT" with TLS.
    std::string base_url() const;
    // The same for another name of this server, such as "localhost" ("https://localhost:PORT").
    std::string url_for_host(const std::string& host) const;
    // Queues a response; queued responses are served first, in order.
    void enqueue(ScriptedResponse response);
    // Served when the queue is empty and no handler is set; initially a 404.
    void set_default(ScriptedResponse response);
    // Computes the response per request when the queue is empty (runs on the server thread).
    void set_handler(std::function<ScriptedResponse(const RecordedRequest&)> handler);
    // A copy of every request received so far, in order, rejected ones included.
    std::vector<RecordedRequest> requests() const;

  private:
    struct TlsContextDeleter {
        void operator()(SSL_CTX* context) const;
    };

    void serve();
    void handle(Fd connection);
    ScriptedResponse next_response(const RecordedRequest& request);

    bool m_require_metadata_header;
    std::unique_ptr<SSL_CTX, TlsContextDeleter> m_tls;
    Fd m_listener;
    Fd m_wake_read;
    Fd m_wake_write;
    std::uint16_t m_port = 0;
    mutable std::mutex m_mutex;
    std::deque<ScriptedResponse> m_queue;
    ScriptedResponse m_default;
    std::function<ScriptedResponse(const RecordedRequest&)> m_handler;
    std::vector<RecordedRequest> m_requests;
    std::thread m_thread;
};

// A realistic IMDS /metadata/instance document: compute with name, vmId, vmScaleSetName "pool",
// osType "Linux", tagsList from tags, tags as the ";"-joined string, userData as base64 of
// user_data; plus a small network section.
std::string imds_document(const std::vector<std::pair<std::string, std::string>>& tags,
                          std::string_view user_data = {});

// Standard base64 with padding (RFC 4648 §4).
std::string encode_base64(std::string_view bytes);

// A loopback TCP port with nothing listening (bound to port 0, read, closed). Another process
// could take it in between; on a test machine that is rare enough.
std::uint16_t unused_loopback_port();

}  // namespace dsvm::test

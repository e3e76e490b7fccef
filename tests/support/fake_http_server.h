// A real HTTP/1.1 server on loopback that plays scripted responses, so the libcurl client and
// the IMDS retry logic are tested over real sockets without ever leaving 127.0.0.1.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/fd.h"

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

class FakeHttpServer {
  public:
    // Binds 127.0.0.1 on an ephemeral port and serves one connection at a time from a thread.
    // With require_metadata_header, a request without "Metadata: true" or with X-Forwarded-For
    // gets 400 like real IMDS, and does not consume a scripted response. Throws
    // std::runtime_error if the socket cannot be set up.
    explicit FakeHttpServer(bool require_metadata_header = true);
    // Stops the thread, closing a connection it holds open (hang) at once.
    ~FakeHttpServer();
    FakeHttpServer(const FakeHttpServer&) = delete;
    FakeHttpServer& operator=(const FakeHttpServer&) = delete;

    // The bound port.
    std::uint16_t port() const { return m_port; }
    // "http://127.0.0.1:PORT".
    std::string base_url() const;
    // Queues a response; queued responses are served first, in order.
    void enqueue(ScriptedResponse response);
    // Served when the queue is empty and no handler is set; initially a 404.
    void set_default(ScriptedResponse response);
    // Computes the response per request when the queue is empty (runs on the server thread).
    void set_handler(std::function<ScriptedResponse(const RecordedRequest&)> handler);
    // A copy of every request received so far, in order, rejected ones included.
    std::vector<RecordedRequest> requests() const;

  private:
    void serve();
    void handle(Fd connection);
    ScriptedResponse next_response(const RecordedRequest& request);
    enum class Wait { Ready, TimedOut, Stopping };
    // Waits for `events` on fd (or only for the timeout when fd is -1), giving up at once when
    // the server is stopping.
    Wait wait_for(int fd, short events, std::chrono::milliseconds timeout) const;

    bool m_require_metadata_header;
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

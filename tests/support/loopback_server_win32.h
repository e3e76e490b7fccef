// A small HTTP/1.1 server on 127.0.0.1 for the Windows tests, over Winsock: it plays canned
// responses from a thread and records each request it receives, so the WinHTTP client is tested
// over real sockets under wine without ever leaving loopback. (The Linux tests have
// support/fake_http_server.h, over POSIX sockets.)
#pragma once

#include <winsock2.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace dsvm::test {

struct CannedResponse {
    int status = 200;
    std::string body;
    // Header lines added to the response, such as {"Location", "/elsewhere"}.
    std::vector<std::pair<std::string, std::string>> headers{};
    // Read the request, never answer until the client hangs up or the server stops.
    bool hang = false;
    // Read the request and close the connection without a byte of response.
    bool close_without_response = false;
    // Send no Content-Length and end the body by closing, as a streaming peer would.
    bool omit_content_length = false;
};

struct ReceivedRequest {
    // The request line and header lines as received, up to the blank line.
    std::string head;
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // names lower-cased
};

class LoopbackServer {
  public:
    // Binds 127.0.0.1 on an ephemeral port and serves one connection at a time from a thread.
    // Throws std::runtime_error if Winsock or the socket cannot be set up.
    LoopbackServer();
    // Stops the thread, dropping a connection it holds open (hang) within a fraction of a second.
    ~LoopbackServer();
    LoopbackServer(const LoopbackServer&) = delete;
    LoopbackServer& operator=(const LoopbackServer&) = delete;

    std::uint16_t port() const { return m_port; }
    // "http://127.0.0.1:PORT".
    std::string base_url() const;
    // Queues a response; queued responses are served in order, then 404s.
    void enqueue(CannedResponse response);
    // A copy of every request received so far, in order.
    std::vector<ReceivedRequest> requests() const;

  private:
    void serve();
    void handle(SOCKET connection);
    CannedResponse next_response();

    SOCKET m_listener = INVALID_SOCKET;
    std::uint16_t m_port = 0;
    std::atomic<bool> m_stopping{false};
    mutable std::mutex m_mutex;
    std::deque<CannedResponse> m_queue;
    std::vector<ReceivedRequest> m_requests;
    std::thread m_thread;
};

// A loopback TCP port with nothing listening (bound to port 0, read, closed). Another process
// could take it in between; on a test machine that is rare enough.
std::uint16_t unused_loopback_port();

}  // namespace dsvm::test

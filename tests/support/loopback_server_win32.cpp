#include "support/loopback_server_win32.h"

#include <ws2tcpip.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string_view>

namespace dsvm::test {

namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A request head bigger than this is not from our client; stop reading rather than buffer it.
constexpr std::size_t k_max_request_bytes = 64 * 1024;
// How long a client may take to send its request before it is dropped.
constexpr milliseconds k_io_timeout{5000};
// Bounds every wait so the thread sees a stop within this long.
constexpr long k_slice_us = 100 * 1000;

// Winsock is started once for the test process and left to the process's exit.
void start_winsock() {
    static std::once_flag once;
    static int started = -1;
    std::call_once(once, [] {
        WSADATA data{};
        started = ::WSAStartup(MAKEWORD(2, 2), &data);
    });
    if (started != 0) {
        throw std::runtime_error("loopback server: WSAStartup failed: " + std::to_string(started));
    }
}

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("loopback server: " + what + ": Winsock error " +
                             std::to_string(::WSAGetLastError()));
}

SOCKET bound_loopback_socket() {
    start_winsock();
    const SOCKET fd = ::socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (fd == INVALID_SOCKET) {
        fail("socket");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        ::closesocket(fd);
        fail("bind 127.0.0.1:0");
    }
    return fd;
}

std::uint16_t bound_port(SOCKET fd) {
    sockaddr_in address{};
    int length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        fail("getsockname");
    }
    return ntohs(address.sin_port);
}

// True when fd is readable within one slice.
bool readable(SOCKET fd) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    timeval slice{0, k_slice_us};
    return ::select(0, &set, nullptr, nullptr, &slice) > 0;
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

ReceivedRequest parse_head(const std::string& head) {
    ReceivedRequest request;
    request.head = head;
    std::string_view rest(head);
    bool first = true;
    while (!rest.empty()) {
        const std::size_t end = rest.find("\r\n");
        const std::string_view line = rest.substr(0, end);
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 2);
        if (first) {
            first = false;
            const std::size_t space = line.find(' ');
            const std::size_t second = line.find(' ', space + 1);
            request.method = std::string(line.substr(0, space));
            if (space != std::string_view::npos) {
                request.target = std::string(line.substr(space + 1, second - space - 1));
            }
            continue;
        }
        const std::size_t colon = line.find(':');
        if (colon != std::string_view::npos) {
            request.headers[lower(std::string(line.substr(0, colon)))] =
                std::string(trim(line.substr(colon + 1)));
        }
    }
    return request;
}

std::string_view reason(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 302:
            return "Found";
        case 404:
            return "Not Found";
        case 500:
            return "Internal Server Error";
        default:
            return "Status";
    }
}

void send_all(SOCKET fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const int chunk = static_cast<int>(std::min<std::size_t>(bytes.size(), 64 * 1024));
        const int sent = ::send(fd, bytes.data(), chunk, 0);
        if (sent <= 0) {
            return;  // the client hung up, as it may when it refuses a body
        }
        bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
}

}  // namespace

LoopbackServer::LoopbackServer() {
    m_listener = bound_loopback_socket();
    m_port = bound_port(m_listener);
    if (::listen(m_listener, 8) != 0) {
        ::closesocket(m_listener);
        fail("listen");
    }
    m_thread = std::thread([this] { serve(); });
}

LoopbackServer::~LoopbackServer() {
    m_stopping = true;
    m_thread.join();
    ::closesocket(m_listener);
}

std::string LoopbackServer::base_url() const {
    return "http://127.0.0.1:" + std::to_string(m_port);
}

void LoopbackServer::enqueue(CannedResponse response) {
    const std::lock_guard lock(m_mutex);
    m_queue.push_back(std::move(response));
}

std::vector<ReceivedRequest> LoopbackServer::requests() const {
    const std::lock_guard lock(m_mutex);
    return m_requests;
}

CannedResponse LoopbackServer::next_response() {
    const std::lock_guard lock(m_mutex);
    if (m_queue.empty()) {
        return CannedResponse{404, "not found", {}, false, false, false};
    }
    CannedResponse response = std::move(m_queue.front());
    m_queue.pop_front();
    return response;
}

void LoopbackServer::serve() {
    while (!m_stopping) {
        if (!readable(m_listener)) {
            continue;
        }
        const SOCKET connection = ::accept(m_listener, nullptr, nullptr);
        if (connection != INVALID_SOCKET) {
            handle(connection);
            ::closesocket(connection);
        }
    }
}

void LoopbackServer::handle(SOCKET connection) {
    // A client that stops reading a large body must not hold the thread past a stop.
    const DWORD send_timeout = static_cast<DWORD>(k_io_timeout.count());
    ::setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, reinterpret_cast<const char*>(&send_timeout),
                 sizeof send_timeout);
    std::string head;
    const auto until = steady_clock::now() + k_io_timeout;
    while (head.find("\r\n\r\n") == std::string::npos) {
        if (m_stopping || steady_clock::now() > until || head.size() > k_max_request_bytes) {
            return;
        }
        if (!readable(connection)) {
            continue;
        }
        char buffer[4096];
        const int got = ::recv(connection, buffer, sizeof buffer, 0);
        if (got <= 0) {
            return;
        }
        head.append(buffer, static_cast<std::size_t>(got));
    }
    head.resize(head.find("\r\n\r\n"));
    {
        const std::lock_guard lock(m_mutex);
        m_requests.push_back(parse_head(head));
    }

    const CannedResponse response = next_response();
    if (response.close_without_response) {
        return;
    }
    if (response.hang) {
        while (!m_stopping) {
            char buffer[256];
            if (readable(connection) && ::recv(connection, buffer, sizeof buffer, 0) <= 0) {
                return;
            }
        }
        return;
    }
    std::string text = "HTTP/1.1 " + std::to_string(response.status) + " " +
                       std::string(reason(response.status)) + "\r\nConnection: close\r\n";
    if (!response.omit_content_length) {
        text += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    }
    for (const auto& [name, value] : response.headers) {
        text += name + ": " + value + "\r\n";
    }
    text += "\r\n";
    text += response.body;
    send_all(connection, text);
    ::shutdown(connection, SD_SEND);
}

std::uint16_t unused_loopback_port() {
    const SOCKET fd = bound_loopback_socket();
    const std::uint16_t port = bound_port(fd);
    ::closesocket(fd);
    return port;
}

}  // namespace dsvm::test

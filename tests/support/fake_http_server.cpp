#include "support/fake_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace dsvm::test {

namespace {

using std::chrono::milliseconds;

// A request head bigger than this is not from our client; stop reading rather than buffer it.
constexpr std::size_t k_max_request_bytes = 64 * 1024;
// How long a client may take to send its request or read our answer before we drop it.
constexpr milliseconds k_io_timeout{5000};
// Bounds every poll so the thread re-checks for shutdown even if a wakeup were lost.
constexpr milliseconds k_poll_slice{200};

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("fake HTTP server: " + what + ": " + std::strerror(errno));
}

Fd bound_loopback_socket() {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        fail("socket");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        fail("bind 127.0.0.1:0");
    }
    return fd;
}

std::uint16_t bound_port(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        fail("getsockname");
    }
    return ntohs(address.sin_port);
}

enum class Wait { Ready, TimedOut, Stopping };

// Waits for `events` on fd (or only for the timeout when fd is -1), giving up at once when
// wake_fd (the server's stop pipe) becomes readable.
Wait wait_for(int fd, short events, milliseconds timeout, int wake_fd) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<milliseconds>(until - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return Wait::TimedOut;
        }
        // A negative fd is ignored by poll, which turns this into an interruptible sleep.
        pollfd fds[2] = {{fd, events, 0}, {wake_fd, POLLIN, 0}};
        const int ready = ::poll(fds, 2, static_cast<int>(std::min(left, k_poll_slice).count()));
        if (ready < 0 && errno != EINTR) {
            return Wait::Stopping;
        }
        if (fds[1].revents != 0) {
            return Wait::Stopping;
        }
        if (fd >= 0 && fds[0].revents != 0) {
            return Wait::Ready;
        }
    }
}

struct SslDeleter {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};

// What came of a read or a write on a connection.
enum class Io { Done, Closed, TimedOut, Stopping };

// One accepted, non-blocking connection, plain or TLS. Every operation tries first and waits
// only for what the socket (or OpenSSL) asks for, so bytes OpenSSL has already buffered are
// never left waiting for a poll that will not fire; each wait is bounded by k_io_timeout.
class Connection {
  public:
    Connection(Fd fd, int wake_fd) : m_fd(std::move(fd)), m_wake_fd(wake_fd) {}

    // The server side of a TLS handshake; false when it failed (the client refused our
    // certificate, hung up or timed out), with OpenSSL's error queue cleared.
    bool accept_tls(SSL_CTX* context) {
        m_ssl.reset(SSL_new(context));
        if (!m_ssl || SSL_set_fd(m_ssl.get(), m_fd.get()) != 1) {
            ERR_clear_error();
            return false;
        }
        for (;;) {
            const int result = SSL_accept(m_ssl.get());
            if (result == 1) {
                return true;
            }
            if (settle(tls_wait(result)) != Io::Done) {
                ERR_clear_error();
                return false;
            }
        }
    }

    // Reads what is there (up to size bytes) into buffer; `got` is set on Done.
    Io receive(char* buffer, std::size_t size, std::size_t& got) {
        for (;;) {
            short events = POLLIN;
            if (m_ssl) {
                if (SSL_read_ex(m_ssl.get(), buffer, size, &got) == 1) {
                    return Io::Done;
                }
                events = tls_wait(0);
            } else {
                const ssize_t received = ::recv(m_fd.get(), buffer, size, MSG_DONTWAIT);
                if (received > 0) {
                    got = static_cast<std::size_t>(received);
                    return Io::Done;
                }
                if (received < 0 && errno == EINTR) {
                    continue;
                }
                if (received == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                    return Io::Closed;
                }
            }
            if (const Io io = settle(events); io != Io::Done) {
                return io;
            }
        }
    }

    Io send_all(std::string_view left) {
        while (!left.empty()) {
            short events = POLLOUT;
            if (m_ssl) {
                std::size_t sent = 0;
                if (SSL_write_ex(m_ssl.get(), left.data(), left.size(), &sent) == 1) {
                    left.remove_prefix(sent);
                    continue;
                }
                events = tls_wait(0);
            } else {
                const ssize_t sent =
                    ::send(m_fd.get(), left.data(), left.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (sent >= 0) {
                    left.remove_prefix(static_cast<std::size_t>(sent));
                    continue;
                }
                if (errno == EINTR) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    return Io::Closed;
                }
            }
            if (const Io io = settle(events); io != Io::Done) {
                return io;
            }
        }
        return Io::Done;
    }

    // Ends our side after a complete response: TLS close_notify (so a body without
    // Content-Length ends cleanly, as the socket's FIN ends a plain one), then FIN.
    void finish() {
        if (m_ssl) {
            while (SSL_shutdown(m_ssl.get()) < 0 && settle(tls_wait(-1)) == Io::Done) {
            }
            ERR_clear_error();
        }
        ::shutdown(m_fd.get(), SHUT_WR);
    }

  private:
    // After a TLS call returned `result` without success: the poll events it waits for, or 0 if
    // the connection is finished (closed by the peer, or an error).
    short tls_wait(int result) {
        switch (SSL_get_error(m_ssl.get(), result)) {
            case SSL_ERROR_WANT_READ:
                return POLLIN;
            case SSL_ERROR_WANT_WRITE:
                return POLLOUT;
            default:
                ERR_clear_error();
                return 0;
        }
    }

    // Waits for `events`; Closed when there is nothing to wait for.
    Io settle(short events) {
        if (events == 0) {
            return Io::Closed;
        }
        switch (wait_for(m_fd.get(), events, k_io_timeout, m_wake_fd)) {
            case Wait::Ready:
                return Io::Done;
            case Wait::TimedOut:
                return Io::TimedOut;
            case Wait::Stopping:
                return Io::Stopping;
        }
        return Io::Stopping;
    }

    Fd m_fd;
    int m_wake_fd;
    // Declared after m_fd so it is freed while the descriptor is still open.
    std::unique_ptr<SSL, SslDeleter> m_ssl;
};

[[noreturn]] void fail_tls(const std::string& what) {
    const std::string reasons = take_openssl_errors();
    throw std::runtime_error("fake HTTP server: " + what + (reasons.empty() ? "" : ": " + reasons));
}

void load_tls_files(SSL_CTX* context, const TlsFiles& files) {
    const auto bio_of = [](const std::string& pem) {
        return std::unique_ptr<BIO, decltype(&BIO_free)>(
            BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    };
    const auto certificate_bio = bio_of(files.certificate_pem);
    const auto key_bio = bio_of(files.key_pem);
    if (!certificate_bio || !key_bio) {
        fail_tls("out of memory");
    }
    const std::unique_ptr<X509, decltype(&X509_free)> certificate(
        PEM_read_bio_X509(certificate_bio.get(), nullptr, nullptr, nullptr), X509_free);
    const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
    if (!certificate || !key) {
        fail_tls("cannot read the PEM certificate or key");
    }
    if (SSL_CTX_use_certificate(context, certificate.get()) != 1 ||
        SSL_CTX_use_PrivateKey(context, key.get()) != 1 ||
        SSL_CTX_check_private_key(context) != 1) {
        fail_tls("cannot use the certificate and key");
    }
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) {
        return {};
    }
    const auto last = text.find_last_not_of(" \t");
    return std::string(text.substr(first, last - first + 1));
}

// Parses "METHOD TARGET HTTP/1.1" and its header lines; false if the head is malformed.
bool parse_head(std::string_view head, RecordedRequest& request) {
    auto line_end = head.find("\r\n");
    const std::string_view request_line = head.substr(0, line_end);
    const auto first_space = request_line.find(' ');
    const auto second_space = request_line.find(' ', first_space + 1);
    if (first_space == std::string_view::npos || second_space == std::string_view::npos) {
        return false;
    }
    request.method = std::string(request_line.substr(0, first_space));
    request.target =
        std::string(request_line.substr(first_space + 1, second_space - first_space - 1));
    while (line_end != std::string_view::npos) {
        const auto start = line_end + 2;
        line_end = head.find("\r\n", start);
        const std::string_view line = head.substr(start, line_end - start);
        if (line.empty()) {
            continue;
        }
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            return false;
        }
        request.headers[lower(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return true;
}

bool is_acceptable_to_imds(const RecordedRequest& request) {
    const auto metadata = request.headers.find("metadata");
    return metadata != request.headers.end() && lower(metadata->second) == "true" &&
           request.headers.count("x-forwarded-for") == 0;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 410:
            return "Gone";
        case 429:
            return "Too Many Requests";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Status";
    }
}

std::string render(const ScriptedResponse& response) {
    std::string text = "HTTP/1.1 " + std::to_string(response.status) + " " +
                       std::string(reason_phrase(response.status)) + "\r\n";
    text += "Content-Type: application/json; charset=utf-8\r\n";
    if (!response.omit_content_length) {
        text += "Content-Length: " + std::to_string(response.body.size()) + "\r\n";
    }
    text += "Connection: close\r\n\r\n";
    text += response.body;
    return text;
}

}  // namespace

void FakeHttpServer::TlsContextDeleter::operator()(SSL_CTX* context) const {
    SSL_CTX_free(context);
}

FakeHttpServer::FakeHttpServer(bool require_metadata_header)
    : FakeHttpServer(FakeHttpServerOptions{require_metadata_header, std::nullopt}) {}

FakeHttpServer::FakeHttpServer(FakeHttpServerOptions options)
    : m_require_metadata_header(options.require_metadata_header),
      m_default{404, R"({"error":"Not found"})"} {
    if (options.tls) {
        m_tls.reset(SSL_CTX_new(TLS_server_method()));
        if (!m_tls || SSL_CTX_set_min_proto_version(m_tls.get(), TLS1_2_VERSION) != 1) {
            fail_tls("cannot create a TLS context");
        }
        load_tls_files(m_tls.get(), *options.tls);
    }
    m_listener = bound_loopback_socket();
    if (::listen(m_listener.get(), 16) != 0) {
        fail("listen");
    }
    m_port = bound_port(m_listener.get());
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
        fail("pipe2");
    }
    m_wake_read.reset(pipe_fds[0]);
    m_wake_write.reset(pipe_fds[1]);
    m_thread = std::thread([this] { serve(); });
}

FakeHttpServer::~FakeHttpServer() {
    // The pipe stays readable once written, so every later wait sees the stop at once.
    const char stop = 'x';
    while (::write(m_wake_write.get(), &stop, 1) < 0 && errno == EINTR) {
    }
    m_thread.join();
}

std::string FakeHttpServer::base_url() const {
    return url_for_host("127.0.0.1");
}

std::string FakeHttpServer::url_for_host(const std::string& host) const {
    return (m_tls ? "https://" : "http://") + host + ":" + std::to_string(m_port);
}

void FakeHttpServer::enqueue(ScriptedResponse response) {
    const std::lock_guard lock(m_mutex);
    m_queue.push_back(std::move(response));
}

void FakeHttpServer::set_default(ScriptedResponse response) {
    const std::lock_guard lock(m_mutex);
    m_default = std::move(response);
}

void FakeHttpServer::set_handler(std::function<ScriptedResponse(const RecordedRequest&)> handler) {
    const std::lock_guard lock(m_mutex);
    m_handler = std::move(handler);
}

std::vector<RecordedRequest> FakeHttpServer::requests() const {
    const std::lock_guard lock(m_mutex);
    return m_requests;
}

void FakeHttpServer::serve() {
    // A TLS write to a client that has gone raises SIGPIPE (OpenSSL writes with write(2), not
    // send(2) with MSG_NOSIGNAL); blocked here, it stays pending on this thread and the write
    // fails with EPIPE instead of killing the test process.
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    for (;;) {
        pollfd fds[2] = {{m_listener.get(), POLLIN, 0}, {m_wake_read.get(), POLLIN, 0}};
        const int ready = ::poll(fds, 2, static_cast<int>(k_poll_slice.count()));
        if (ready < 0 && errno != EINTR) {
            return;
        }
        if (fds[1].revents != 0) {
            return;
        }
        if ((fds[0].revents & POLLIN) != 0) {
            Fd connection(
                ::accept4(m_listener.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
            if (connection) {
                handle(std::move(connection));
            }
        }
    }
}

ScriptedResponse FakeHttpServer::next_response(const RecordedRequest& request) {
    std::function<ScriptedResponse(const RecordedRequest&)> handler;
    {
        const std::lock_guard lock(m_mutex);
        m_requests.push_back(request);
        if (m_require_metadata_header && !is_acceptable_to_imds(request)) {
            return ScriptedResponse{400, R"({"error":"Bad request. Required metadata header not )"
                                         R"(specified"})"};
        }
        if (!m_queue.empty()) {
            ScriptedResponse response = std::move(m_queue.front());
            m_queue.pop_front();
            return response;
        }
        if (!m_handler) {
            return m_default;
        }
        handler = m_handler;
    }
    // Outside the lock: a handler may be slow (it reads files) and must not block enqueue().
    return handler(request);
}

void FakeHttpServer::handle(Fd socket) {
    Connection connection(std::move(socket), m_wake_read.get());
    if (m_tls && !connection.accept_tls(m_tls.get())) {
        return;
    }
    std::string head;
    char buffer[4096];
    while (head.find("\r\n\r\n") == std::string::npos) {
        std::size_t got = 0;
        if (head.size() > k_max_request_bytes ||
            connection.receive(buffer, sizeof buffer, got) != Io::Done) {
            return;
        }
        head.append(buffer, got);
    }
    RecordedRequest request;
    if (!parse_head(head.substr(0, head.find("\r\n\r\n") + 2), request)) {
        return;
    }
    const ScriptedResponse response = next_response(request);
    if (response.close_without_response) {
        return;
    }
    if (response.hang) {
        // Keep the connection open without answering; notice when the client gives up, so the
        // next connection (its retry) is served.
        for (;;) {
            std::size_t got = 0;
            const Io io = connection.receive(buffer, sizeof buffer, got);
            if (io == Io::Closed || io == Io::Stopping) {
                return;
            }
        }
    }
    if (response.delay.count() > 0 &&
        wait_for(-1, 0, response.delay, m_wake_read.get()) == Wait::Stopping) {
        return;
    }
    if (connection.send_all(render(response)) == Io::Done) {
        connection.finish();
    }
}

std::string encode_base64(std::string_view bytes) {
    static constexpr char k_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const std::uint32_t chunk =
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
            (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
            static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
        out += k_alphabet[(chunk >> 18) & 63];
        out += k_alphabet[(chunk >> 12) & 63];
        out += k_alphabet[(chunk >> 6) & 63];
        out += k_alphabet[chunk & 63];
    }
    const std::size_t rest = bytes.size() - i;
    if (rest > 0) {
        std::uint32_t chunk = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i]))
                              << 16;
        if (rest == 2) {
            chunk |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
        }
        out += k_alphabet[(chunk >> 18) & 63];
        out += k_alphabet[(chunk >> 12) & 63];
        out += rest == 2 ? k_alphabet[(chunk >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string imds_document(const std::vector<std::pair<std::string, std::string>>& tags,
                          std::string_view user_data) {
    using nlohmann::json;
    json tags_list = json::array();
    std::string tags_text;
    for (const auto& [name, value] : tags) {
        tags_list.push_back({{"name", name}, {"value", value}});
        tags_text += (tags_text.empty() ? "" : ";") + name + ":" + value;
    }
    const json document = {
        {"compute",
         {
             {"azEnvironment", "AzurePublicCloud"},
             {"location", "westeurope"},
             {"name", "pool_3"},
             {"offer", "ubuntu-2004"},
             {"osType", "Linux"},
             {"provider", "Microsoft.Compute"},
             {"publisher", "microsoft-dsvm"},
             {"resourceGroupName", "dsvm-pool-rg"},
             {"resourceId",
              "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourceGroups/dsvm-pool-rg/"
              "providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/3"},
             {"sku", "2004-gen2"},
             {"subscriptionId", "8d10da13-8125-4ba9-a717-bf7490507b3d"},
             {"tags", tags_text},
             {"tagsList", tags_list},
             {"userData", encode_base64(user_data)},
             {"version", "23.01.06"},
             {"vmId", "02aab8a4-74ef-476e-8182-f6d2ba4166a6"},
             {"vmScaleSetName", "pool"},
             {"vmSize", "Standard_D4s_v3"},
             {"zone", ""},
         }},
        {"network",
         {{"interface",
           json::array({{
               {"ipv4",
                {{"ipAddress",
                  json::array({{{"privateIpAddress", "10.0.0.7"}, {"publicIpAddress", ""}}})},
                 {"subnet", json::array({{{"address", "10.0.0.0"}, {"prefix", "24"}}})}}},
               {"ipv6", {{"ipAddress", json::array()}}},
               {"macAddress", "000D3A2B4C5D"},
           }})}}},
    };
    return document.dump();
}

std::uint16_t unused_loopback_port() {
    const Fd fd = bound_loopback_socket();
    return bound_port(fd.get());
}

}  // namespace dsvm::test

// The HTTP seam over WinHTTP. The rules are those of config/http_curl.cpp (config/http.h); where
// WinHTTP needs saying them differently, the comment says why.
#include "windows/winhttp_client.h"

#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <winhttp.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "common/windows_api_win32.h"
#include "windows/winhttp_error.h"

namespace dsvm::windows_platform {

namespace {

using config::HttpRequest;
using config::HttpResponse;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

// One WinHttpReadData asks for at most this much.
constexpr DWORD k_read_chunk = 64 * 1024;

struct WinHttpHandleDeleter {
    void operator()(void* handle) const { ::WinHttpCloseHandle(handle); }
};
using WinHttpHandle = std::unique_ptr<void, WinHttpHandleDeleter>;

// WinHTTP's timeouts are per step (resolve, connect, each send and receive): each step is given
// what is left of the request's whole budget, so that together they stay within it.
class Budget {
  public:
    explicit Budget(milliseconds total) : m_end(steady_clock::now() + total) {}
    bool spent() const { return steady_clock::now() >= m_end; }
    // At least 1: WinHTTP reads 0 as "no limit", and a spent budget must still be a limit.
    int left_ms() const {
        const auto left =
            std::chrono::duration_cast<milliseconds>(m_end - steady_clock::now()).count();
        return static_cast<int>(std::clamp<milliseconds::rep>(left, 1, INT_MAX));
    }
    int at_most_ms(milliseconds step) const {
        return static_cast<int>(std::clamp<milliseconds::rep>(step.count(), 1, left_ms()));
    }

  private:
    steady_clock::time_point m_end;
};

// Where a body goes: a string for documents, or SecretBytes for secrets, which WinHTTP fills
// directly so the bytes pass through no buffer of ours.
struct BodySink {
    std::string* text = nullptr;
    SecretBytes* secret = nullptr;
    std::size_t limit = 0;
};

// A header line break would let a value start a header, or a request, of its own.
bool breaks_lines(std::string_view text) {
    return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// "Authorization: Bearer <token>" in UTF-16, in a buffer sized once (never reallocated, which
// would leave a copy behind) and wiped when it goes. WinHTTP keeps a copy of its own with the
// request, freed with the request handle.
class BearerHeader {
  public:
    static constexpr std::wstring_view k_prefix = L"Authorization: Bearer ";

    // False when the token is not UTF-8.
    bool build(std::string_view token) {
        const int length = ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, token.data(),
                                                 static_cast<int>(token.size()), nullptr, 0);
        if (length <= 0) {
            return false;
        }
        m_length = k_prefix.size() + static_cast<std::size_t>(length);
        m_data = std::make_unique<wchar_t[]>(m_length);
        std::copy(k_prefix.begin(), k_prefix.end(), m_data.get());
        return ::MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, token.data(),
                                     static_cast<int>(token.size()), m_data.get() + k_prefix.size(),
                                     length) == length;
    }
    ~BearerHeader() {
        if (m_data) {
            wipe_bytes(m_data.get(), m_length * sizeof(wchar_t));
        }
    }
    const wchar_t* data() const { return m_data.get(); }
    DWORD length() const { return static_cast<DWORD>(m_length); }

  private:
    std::unique_ptr<wchar_t[]> m_data;
    std::size_t m_length = 0;
};

struct Target {
    std::wstring host;
    INTERNET_PORT port = 0;
    std::wstring path_and_query;
    bool secure = false;
};

Result<Target> crack(const std::string& what, const std::string& url) {
    auto converted = to_utf16(url, "the URL");
    if (!converted) {
        return invalid(what + ": the URL is not UTF-8");
    }
    std::wstring& wide = *converted;
    URL_COMPONENTS parts{};
    parts.dwStructSize = sizeof parts;
    // (DWORD)-1: point into `wide` rather than copy.
    parts.dwHostNameLength = static_cast<DWORD>(-1);
    parts.dwUrlPathLength = static_cast<DWORD>(-1);
    parts.dwExtraInfoLength = static_cast<DWORD>(-1);
    if (!::WinHttpCrackUrl(wide.c_str(), static_cast<DWORD>(wide.size()), 0, &parts)) {
        return invalid(what + ": only http and https URLs are fetched (" +
                       describe_winhttp_error(::GetLastError()) + ")");
    }
    if (parts.nScheme != INTERNET_SCHEME_HTTP && parts.nScheme != INTERNET_SCHEME_HTTPS) {
        return invalid(what + ": only http and https URLs are fetched");
    }
    Target target;
    target.host.assign(parts.lpszHostName, parts.dwHostNameLength);
    target.port = parts.nPort;
    target.path_and_query.assign(parts.lpszUrlPath, parts.dwUrlPathLength);
    target.path_and_query.append(parts.lpszExtraInfo, parts.dwExtraInfoLength);
    if (target.path_and_query.empty()) {
        target.path_and_query = L"/";
    }
    target.secure = parts.nScheme == INTERNET_SCHEME_HTTPS;
    return target;
}

bool set_dword(HINTERNET handle, DWORD option, DWORD value) {
    return ::WinHttpSetOption(handle, option, &value, sizeof value) != FALSE;
}

// Each step's timeout from what is left of the budget; the request's own connect timeout bounds
// the name lookup and the connect.
bool set_timeouts(HINTERNET request, const HttpRequest& limits, const Budget& budget) {
    const int connect = budget.at_most_ms(limits.connect_timeout);
    const int left = budget.left_ms();
    // The receive-response timeout bounds the whole response head, which a server could trickle
    // a byte at a time, each within the receive timeout.
    return ::WinHttpSetTimeouts(request, connect, connect, left, left) != FALSE &&
           set_dword(request, WINHTTP_OPTION_RECEIVE_RESPONSE_TIMEOUT, static_cast<DWORD>(left));
}

// The request's headers and its bearer token; a line break in any of them is Invalid.
Result<void> add_headers(HINTERNET request, const HttpRequest& fields, const std::string& what) {
    for (const auto& [name, value] : fields.headers) {
        if (name.empty() || name.find(':') != std::string::npos || breaks_lines(name) ||
            breaks_lines(value)) {
            return invalid(what + ": header \"" + name +
                           "\": a name without ':' and no line breaks in name or value");
        }
        auto line = to_utf16(name + ": " + value, "the header");
        if (!line) {
            return invalid(what + ": header \"" + name + "\" is not UTF-8");
        }
        if (!::WinHttpAddRequestHeaders(request, line->c_str(), static_cast<DWORD>(line->size()),
                                        WINHTTP_ADDREQ_FLAG_ADD)) {
            return failure(what + ": cannot add header \"" + name +
                           "\": " + describe_winhttp_error(::GetLastError()));
        }
    }
    if (fields.bearer_token.empty()) {
        return {};
    }
    if (breaks_lines(fields.bearer_token)) {
        return invalid(what + ": the bearer token has a line break");
    }
    BearerHeader bearer;
    if (!bearer.build(fields.bearer_token)) {
        return invalid(what + ": the bearer token is not UTF-8");
    }
    if (!::WinHttpAddRequestHeaders(request, bearer.data(), bearer.length(),
                                    WINHTTP_ADDREQ_FLAG_ADD | WINHTTP_ADDREQ_FLAG_REPLACE)) {
        return failure(what + ": cannot add the Authorization header: " +
                       describe_winhttp_error(::GetLastError()));
    }
    return {};
}

// The announced Content-Length, if any, so an oversized body is refused before it is read.
bool announced_length_exceeds(HINTERNET request, std::size_t limit) {
    wchar_t digits[32] = {};
    DWORD size = sizeof digits;
    if (!::WinHttpQueryHeaders(request, WINHTTP_QUERY_CONTENT_LENGTH, WINHTTP_HEADER_NAME_BY_INDEX,
                               digits, &size, WINHTTP_NO_HEADER_INDEX)) {
        return false;
    }
    unsigned long long length = 0;
    for (const wchar_t* digit = digits; *digit >= L'0' && *digit <= L'9'; ++digit) {
        if (length > limit) {
            break;
        }
        length = length * 10 + static_cast<unsigned long long>(*digit - L'0');
    }
    return length > limit;
}

Error too_large(const std::string& what, std::size_t limit) {
    return failure(what + ": response body exceeds " + std::to_string(limit) + " bytes");
}

// Reads the body into the sink until the server ends it, the limit is passed or the budget is
// spent. A secret is read straight into its SecretBytes; one byte past the capacity goes to a
// probe that is wiped.
Result<void> read_body(HINTERNET request, BodySink& sink, const Budget& budget,
                       const std::string& what) {
    for (;;) {
        if (budget.spent()) {
            return failure(what + ": " + describe_winhttp_error(ERROR_WINHTTP_TIMEOUT));
        }
        if (!set_dword(request, WINHTTP_OPTION_RECEIVE_TIMEOUT,
                       static_cast<DWORD>(budget.left_ms()))) {
            return failure(what + ": cannot set the receive timeout: " +
                           describe_winhttp_error(::GetLastError()));
        }
        const std::size_t held = sink.secret != nullptr ? sink.secret->size() : sink.text->size();
        const std::size_t room = std::min<std::size_t>(sink.limit - held, k_read_chunk);
        char probe = 0;
        char* into = &probe;
        if (room > 0 && sink.secret != nullptr) {
            into = sink.secret->data() + held;
        } else if (room > 0) {
            sink.text->resize(held + room);
            into = sink.text->data() + held;
        }
        DWORD got = 0;
        const auto asked = static_cast<DWORD>(room > 0 ? room : 1);
        const bool read = ::WinHttpReadData(request, into, asked, &got) != FALSE;
        const DWORD code = ::GetLastError();
        wipe_bytes(&probe, sizeof probe);
        if (sink.text != nullptr) {
            sink.text->resize(held + (room > 0 ? got : 0));
        } else if (room > 0) {
            sink.secret->set_size(held + got);
        }
        if (!read) {
            return failure(what + ": " + describe_winhttp_error(code));
        }
        if (got == 0) {
            return {};
        }
        if (room == 0) {
            return too_large(what, sink.limit);
        }
    }
}

// Performs the GET into `sink`; returns the HTTP status.
Result<long> perform(const HttpRequest& request, BodySink& sink) {
    const std::string what = "GET " + request.url;
    if (!request.ca_file.empty()) {
        return invalid(what + ": ca_file \"" + request.ca_file +
                       "\": a private CA file is not supported on Windows; the server's "
                       "certificate must chain to the system's store (docs/windows.md)");
    }
    const Budget budget(request.total_timeout);
    auto target = crack(what, request.url);
    if (!target) {
        return target.error();
    }
    const auto transport = [&what](std::string_view step) {
        return failure(what + ": " + std::string(step) + describe_winhttp_error(::GetLastError()));
    };

    // NO_PROXY: IMDS is link-local, and Key Vault is reached directly so that no proxy learns
    // where the bearer token goes; it also keeps WinHTTP from the registry's and the
    // environment's proxy settings.
    const WinHttpHandle session(::WinHttpOpen(L"dsvm-agent", WINHTTP_ACCESS_TYPE_NO_PROXY,
                                              WINHTTP_NO_PROXY_NAME, WINHTTP_NO_PROXY_BYPASS, 0));
    if (!session) {
        return transport("cannot open a WinHTTP session: ");
    }
    const WinHttpHandle connection(
        ::WinHttpConnect(session.get(), target->host.c_str(), target->port, 0));
    if (!connection) {
        return transport("");
    }
    // The path and query go out as given, as curl sends them: the callers escape their URLs.
    const DWORD flags = WINHTTP_FLAG_ESCAPE_DISABLE | WINHTTP_FLAG_ESCAPE_DISABLE_QUERY |
                        (target->secure ? WINHTTP_FLAG_SECURE : 0);
    const WinHttpHandle handle(
        ::WinHttpOpenRequest(connection.get(), L"GET", target->path_and_query.c_str(), nullptr,
                             WINHTTP_NO_REFERER, WINHTTP_DEFAULT_ACCEPT_TYPES, flags));
    if (!handle) {
        return transport("");
    }
    HINTERNET req = handle.get();
    // A 3xx is the caller's to see; cookies would carry state from one request to the next; the
    // machine's Windows credentials are never offered to a server that asks for them. Nothing
    // here turns off the certificate checks (WINHTTP_OPTION_SECURITY_FLAGS is never set).
    if (!set_dword(req, WINHTTP_OPTION_REDIRECT_POLICY, WINHTTP_OPTION_REDIRECT_POLICY_NEVER) ||
        !set_dword(req, WINHTTP_OPTION_DISABLE_FEATURE,
                   WINHTTP_DISABLE_REDIRECTS | WINHTTP_DISABLE_COOKIES) ||
        !set_dword(req, WINHTTP_OPTION_AUTOLOGON_POLICY, WINHTTP_AUTOLOGON_SECURITY_LEVEL_HIGH)) {
        return transport("cannot configure the request: ");
    }
    if (auto added = add_headers(req, request, what); !added) {
        return added.error();
    }

    if (!set_timeouts(req, request, budget)) {
        return transport("cannot set timeouts: ");
    }
    if (!::WinHttpSendRequest(req, WINHTTP_NO_ADDITIONAL_HEADERS, 0, WINHTTP_NO_REQUEST_DATA, 0, 0,
                              0)) {
        return transport("");
    }
    if (!set_timeouts(req, request, budget)) {
        return transport("cannot set timeouts: ");
    }
    if (!::WinHttpReceiveResponse(req, nullptr)) {
        return transport("");
    }
    DWORD status = 0;
    DWORD size = sizeof status;
    if (!::WinHttpQueryHeaders(req, WINHTTP_QUERY_STATUS_CODE | WINHTTP_QUERY_FLAG_NUMBER,
                               WINHTTP_HEADER_NAME_BY_INDEX, &status, &size,
                               WINHTTP_NO_HEADER_INDEX)) {
        return failure(what + ": no HTTP status in the response");
    }
    if (announced_length_exceeds(req, sink.limit)) {
        return too_large(what, sink.limit);
    }
    if (auto read = read_body(req, sink, budget, what); !read) {
        return read.error();
    }
    return static_cast<long>(status);
}

}  // namespace

Result<HttpResponse> WinHttpClient::get(const HttpRequest& request) {
    HttpResponse response;
    BodySink sink;
    sink.text = &response.body;
    sink.limit = config::k_max_http_body_bytes;
    auto status = perform(request, sink);
    if (!status) {
        return status.error();
    }
    response.status = *status;
    return response;
}

Result<long> WinHttpClient::get_secret(const HttpRequest& request, SecretBytes& body) {
    const std::size_t kept = body.size();
    BodySink sink;
    sink.secret = &body;
    sink.limit = body.capacity();
    auto status = perform(request, sink);
    if (!status) {
        // What a failed read left behind is no use to the caller: wipe it, keep what was there.
        wipe_bytes(body.data() + kept, body.capacity() - kept);
        body.set_size(kept);
    }
    return status;
}

}  // namespace dsvm::windows_platform

// CURLOPT_PROTOCOLS and CURLOPT_REDIR_PROTOCOLS are deprecated since curl 7.85, but they are
// the only way to restrict protocols on the curl of Ubuntu 22.04 (7.81); see set_protocols.
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>

#include "config/http.h"

namespace dsvm::config {

namespace {

// config/http.h says why there is a limit; every client has the same one.
constexpr std::size_t k_max_body_bytes = k_max_http_body_bytes;

struct CurlEasyDeleter {
    void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
struct CurlSlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

// Where a response body goes: a string for ordinary documents, SecretBytes for secrets (its
// capacity is the limit, and the bytes are never copied or reallocated).
struct BodySink {
    std::string* text = nullptr;
    SecretBytes* secret = nullptr;
    bool too_large = false;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
    auto* sink = static_cast<BodySink*>(user);
    const size_t bytes = size * count;
    if (sink->secret != nullptr) {
        if (!sink->secret->append(std::string_view(data, bytes))) {
            sink->too_large = true;
            return 0;
        }
        return bytes;
    }
    if (bytes > k_max_body_bytes - sink->text->size()) {
        sink->too_large = true;
        // Returning less than we were given makes curl abort with CURLE_WRITE_ERROR.
        return 0;
    }
    sink->text->append(data, bytes);
    return bytes;
}

// curl_global_init is not thread-safe and must run once per process before any handle exists.
// The library found at run time is logged once: the package runs on several releases' curl.
CURLcode global_init() {
    static std::once_flag once;
    static CURLcode code = CURLE_OK;
    std::call_once(once, [] {
        code = curl_global_init(CURL_GLOBAL_DEFAULT);
        const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
        spdlog::debug("libcurl {} (built against {})",
                      info != nullptr && info->version != nullptr ? info->version : "unknown",
                      LIBCURL_VERSION);
    });
    return code;
}

// Only http and https, for the request and for any redirect. CURLOPT_PROTOCOLS_STR came with
// curl 7.85; an older library (Ubuntu 22.04 has 7.81) answers CURLE_UNKNOWN_OPTION, and then the
// bitmask options, which every curl since 7.19.4 knows, say the same thing.
CURLcode set_protocols(CURL* handle) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    if (code == CURLE_OK) {
        code = curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    if (code != CURLE_UNKNOWN_OPTION) {
        return code;
    }
    constexpr long k_protocols = CURLPROTO_HTTP | CURLPROTO_HTTPS;
    code = curl_easy_setopt(handle, CURLOPT_PROTOCOLS, k_protocols);
    if (code == CURLE_OK) {
        code = curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS, k_protocols);
    }
    return code;
}

// A body that is a secret also passes through OpenSSL's record buffers: ask OpenSSL to wipe
// each record's plaintext once it is consumed (SSL_OP_CLEANSE_PLAINTEXT, OpenSSL 3). Only with
// curl's OpenSSL backend, where the context handed over is an SSL_CTX.
bool tls_is_openssl() {
    const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
    return info != nullptr && info->ssl_version != nullptr &&
           std::string_view(info->ssl_version).rfind("OpenSSL/", 0) == 0;
}

CURLcode cleanse_plaintext(CURL* /*handle*/, void* context, void* /*user*/) {
    SSL_CTX_set_options(static_cast<SSL_CTX*>(context), SSL_OP_CLEANSE_PLAINTEXT);
    return CURLE_OK;
}

// curl treats 0 as "no timeout"; a zero or negative budget must still be a limit.
long timeout_ms(std::chrono::milliseconds duration) {
    return static_cast<long>(std::max<std::chrono::milliseconds::rep>(duration.count(), 1));
}

std::string describe(CURLcode code, const char* detail) {
    std::string text =
        code == CURLE_OPERATION_TIMEDOUT ? std::string("timed out") : curl_easy_strerror(code);
    if (detail[0] != '\0' && text != detail) {
        text += " (";
        text += detail;
        text += ")";
    }
    return text;
}

}  // namespace

namespace {

// Performs the GET into `sink`; returns the HTTP status.
Result<long> perform(const HttpRequest& request, BodySink& sink, std::size_t limit) {
    const std::string what = "GET " + request.url;
    if (const CURLcode code = global_init(); code != CURLE_OK) {
        return failure(what + ": cannot initialise libcurl: " + curl_easy_strerror(code));
    }
    CurlEasy curl(curl_easy_init());
    if (!curl) {
        return failure(what + ": cannot create a libcurl handle");
    }

    CurlSlist headers;
    const auto add_header = [&headers](const char* line) {
        curl_slist* appended = curl_slist_append(headers.get(), line);
        if (appended == nullptr) {
            return false;
        }
        // On success the returned head is the new node for an empty list, else the old head; on
        // failure the old list is untouched and still ours.
        static_cast<void>(headers.release());
        headers.reset(appended);
        return true;
    };
    for (const auto& [name, value] : request.headers) {
        const std::string line = name + ": " + value;
        if (!add_header(line.c_str())) {
            return failure(what + ": out of memory building headers");
        }
    }
    if (!request.bearer_token.empty()) {
        constexpr std::string_view k_prefix = "Authorization: Bearer ";
        SecretBytes line(k_prefix.size() + request.bearer_token.size() + 1);
        line.append(k_prefix);
        line.append(request.bearer_token);
        line.push_back('\0');
        // curl keeps its own copy of the line until the handle goes; ours is wiped here.
        if (!add_header(line.view().data())) {
            return failure(what + ": out of memory building headers");
        }
    }

    char error_text[CURL_ERROR_SIZE] = {};
    CURL* handle = curl.get();
    CURLcode code = CURLE_OK;
    const auto set = [&code](CURLcode result) {
        if (code == CURLE_OK) {
            code = result;
        }
    };
    set(curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_text));
    set(curl_easy_setopt(handle, CURLOPT_URL, request.url.c_str()));
    set(curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L));
    // IMDS is link-local: a proxy from the environment would either fail or, worse, answer for
    // it. Key Vault is reached directly too: a proxy would see the bearer token's destination.
    set(curl_easy_setopt(handle, CURLOPT_NOPROXY, "*"));
    set(curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L));
    set(set_protocols(handle));
    // The defaults, said out loud: a server's chain and host name are always verified.
    set(curl_easy_setopt(handle, CURLOPT_SSL_VERIFYPEER, 1L));
    set(curl_easy_setopt(handle, CURLOPT_SSL_VERIFYHOST, 2L));
    if (!request.ca_file.empty()) {
        set(curl_easy_setopt(handle, CURLOPT_CAINFO, request.ca_file.c_str()));
        set(curl_easy_setopt(handle, CURLOPT_CAPATH, nullptr));
    }
    if (sink.secret != nullptr && request.url.rfind("https://", 0) == 0 && tls_is_openssl()) {
        set(curl_easy_setopt(handle, CURLOPT_SSL_CTX_FUNCTION, cleanse_plaintext));
    }
    // Signals would fire SIGALRM into a multi-threaded daemon for DNS timeouts.
    set(curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L));
    set(curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms(request.connect_timeout)));
    set(curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout_ms(request.total_timeout)));
    // Refuses an announced oversized body before reading it; the write callback catches the rest.
    set(curl_easy_setopt(handle, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limit)));
    set(curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get()));
    set(curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, write_body));
    set(curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink));
    if (code != CURLE_OK) {
        return failure(what + ": cannot configure libcurl: " + curl_easy_strerror(code));
    }

    code = curl_easy_perform(handle);
    if (sink.too_large || code == CURLE_FILESIZE_EXCEEDED) {
        return failure(what + ": response body exceeds " + std::to_string(limit) + " bytes");
    }
    if (code != CURLE_OK) {
        return failure(what + ": " + describe(code, error_text));
    }
    long status = 0;
    if (curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
        return failure(what + ": no HTTP status in the response");
    }
    return status;
}

}  // namespace

Result<HttpResponse> CurlHttpClient::get(const HttpRequest& request) {
    HttpResponse response;
    BodySink sink;
    sink.text = &response.body;
    auto status = perform(request, sink, k_max_body_bytes);
    if (!status) {
        return status.error();
    }
    response.status = *status;
    return response;
}

Result<long> CurlHttpClient::get_secret(const HttpRequest& request, SecretBytes& body) {
    BodySink sink;
    sink.secret = &body;
    return perform(request, sink, body.capacity());
}

}  // namespace dsvm::config

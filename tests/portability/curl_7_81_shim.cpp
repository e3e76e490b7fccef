// An LD_PRELOAD stand-in for the curl of Ubuntu 22.04 (7.81): curl_easy_setopt answers
// CURLE_UNKNOWN_OPTION for the options that came with curl 7.85 (CURLOPT_PROTOCOLS_STR and
// CURLOPT_REDIR_PROTOCOLS_STR), as 7.81 does for any option it does not know, and passes every
// other option to the real libcurl. It counts what it saw, so the test can tell that it was
// loaded and what the client did instead (dsvm_shim_* below, found with dlsym).
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdarg>

extern "C" {
// Calls refused as unknown options.
std::atomic<int> dsvm_shim_rejected{0};
// The last bitmask given to CURLOPT_PROTOCOLS and CURLOPT_REDIR_PROTOCOLS (-1: never set).
std::atomic<long> dsvm_shim_protocols{-1};
std::atomic<long> dsvm_shim_redir_protocols{-1};

CURLcode curl_easy_setopt(CURL* handle, CURLoption option, ...) {
    using Setopt = CURLcode (*)(CURL*, CURLoption, ...);
    static const auto real = reinterpret_cast<Setopt>(dlsym(RTLD_NEXT, "curl_easy_setopt"));
    if (real == nullptr) {
        return CURLE_FAILED_INIT;
    }
    if (option == CURLOPT_PROTOCOLS_STR || option == CURLOPT_REDIR_PROTOCOLS_STR) {
        ++dsvm_shim_rejected;
        return CURLE_UNKNOWN_OPTION;
    }
    // The argument's type follows from the option's number range (curl.h, CURLOPTTYPE_*).
    va_list arguments;
    va_start(arguments, option);
    CURLcode code;
    if (option < CURLOPTTYPE_OBJECTPOINT) {
        const long value = va_arg(arguments, long);
        if (option == CURLOPT_PROTOCOLS) {
            dsvm_shim_protocols = value;
        } else if (option == CURLOPT_REDIR_PROTOCOLS) {
            dsvm_shim_redir_protocols = value;
        }
        code = real(handle, option, value);
    } else if (option >= CURLOPTTYPE_OFF_T && option < CURLOPTTYPE_BLOB) {
        code = real(handle, option, va_arg(arguments, curl_off_t));
    } else {
        // Object, string, function and blob pointers alike.
        code = real(handle, option, va_arg(arguments, void*));
    }
    va_end(arguments);
    return code;
}
}

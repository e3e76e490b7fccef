// A throw-away certificate authority made at test time, and server certificates it signs, so
// the HTTPS client is tested against a real chain without a key or certificate in the tree.
#pragma once

#include <string>
#include <vector>

namespace dsvm::test {

// A certificate and its private key, both PEM.
struct TlsFiles {
    std::string certificate_pem;
    std::string key_pem;
};

// A self-signed CA: its name, its certificate (what a client trusts) and its key (to sign).
struct TestCa {
    std::string name;
    std::string certificate_pem;
    std::string key_pem;
};

// A fresh EC P-256 CA named `common_name`: basicConstraints CA:TRUE (critical), keyUsage
// keyCertSign and cRLSign, valid from an hour ago for a day. Throws std::runtime_error with
// OpenSSL's reason when any step fails.
TestCa make_test_ca(const std::string& common_name);

// A fresh EC P-256 server certificate signed by `ca` with SHA-256: subjectAltName lists every
// DNS name and IP address given (at least one in all), extendedKeyUsage serverAuth, valid from an
// hour ago for a day. Throws std::runtime_error when the names are empty or a step fails (an
// address OpenSSL cannot parse included).
TlsFiles issue_server_certificate(const TestCa& ca, std::vector<std::string> dns_names,
                                  std::vector<std::string> ip_addresses);

// The reasons OpenSSL has queued on this thread, "; "-joined (empty when none), and clears the
// queue: the detail for an exception when an OpenSSL call fails.
std::string take_openssl_errors();

}  // namespace dsvm::test

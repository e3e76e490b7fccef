// Windows' half of the protected settings' decryption (extension/crypto_win32.h) with the
// throw-away test identity of tests/data/protected-settings/: the real crypt32 decodes the
// messages and finds the certificate in a memory store; CryptDecryptMessage, which wine 8's
// crypt32 lacks, is a recording fake, and the real one runs only on Windows.
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
// After windows.h, which it needs.
#include <wincrypt.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "common/text.h"
#include "extension/crypto_win32.h"

using namespace dsvm;
using namespace dsvm::extension;

namespace {

constexpr const char* k_sha1 = "9C231D95FF510D83493608A93CBFB366E1AC9124";
constexpr const char* k_sha256 = "f5b5e070f883bd3ca6a5f5e747ee887ccecf94321aecb0fe3233a2e7919844ea";

// A file of tests/data/protected-settings/, whose host path wine shows under Z:.
std::string data_file(const std::string& name) {
    std::ifstream in(std::string("Z:") + DSVM_TEST_DATA_DIR + "/protected-settings/" + name,
                     std::ios::binary | std::ios::ate);
    REQUIRE(in);
    std::string text(static_cast<std::size_t>(in.tellg()), '\0');
    in.seekg(0);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    REQUIRE(in);
    return text;
}

const BYTE* bytes(const std::string& text) {
    return reinterpret_cast<const BYTE*>(text.data());
}

// A memory store, with the identity and its key (imported from the PFX into a key container
// that goes with the store) or certificates alone.
class TestStore {
  public:
    TestStore() : m_store(::CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, nullptr)) {
        REQUIRE(m_store);
    }
    TestStore(const TestStore&) = delete;
    TestStore& operator=(const TestStore&) = delete;
    ~TestStore() {
        for (const auto& imported : m_imported) {
            delete_key_containers(imported.get());
        }
    }

    void add_identity() {
        const std::string pfx = data_file("throwaway-identity.pfx");
        CRYPT_DATA_BLOB blob{static_cast<DWORD>(pfx.size()), const_cast<BYTE*>(bytes(pfx))};
        CertificateStore imported(::PFXImportCertStore(&blob, L"", 0));
        REQUIRE(imported);
        const CERT_CONTEXT* certificate = nullptr;
        while ((certificate = ::CertEnumCertificatesInStore(imported.get(), certificate))) {
            REQUIRE(::CertAddCertificateContextToStore(m_store.get(), certificate,
                                                       CERT_STORE_ADD_ALWAYS, nullptr));
        }
        m_imported.push_back(std::move(imported));
    }
    void add_certificate(const std::string& file) {
        const std::string der = data_file(file);
        REQUIRE(::CertAddEncodedCertificateToStore(m_store.get(), X509_ASN_ENCODING, bytes(der),
                                                   static_cast<DWORD>(der.size()),
                                                   CERT_STORE_ADD_ALWAYS, nullptr));
    }

    // The store as the api opens it: a handle of its own.
    CertificateStore open() const { return CertificateStore(::CertDuplicateStore(m_store.get())); }

  private:
    static void delete_key_containers(HCERTSTORE store) {
        const CERT_CONTEXT* certificate = nullptr;
        while ((certificate = ::CertEnumCertificatesInStore(store, certificate))) {
            DWORD size = 0;
            if (!::CertGetCertificateContextProperty(certificate, CERT_KEY_PROV_INFO_PROP_ID,
                                                     nullptr, &size)) {
                continue;
            }
            std::vector<std::uint64_t> buffer((size + 7) / 8);
            auto* info = reinterpret_cast<CRYPT_KEY_PROV_INFO*>(buffer.data());
            HCRYPTPROV provider = 0;
            if (::CertGetCertificateContextProperty(certificate, CERT_KEY_PROV_INFO_PROP_ID, info,
                                                    &size) &&
                info->dwProvType != 0) {
                ::CryptAcquireContextW(&provider, info->pwszContainerName, info->pwszProvName,
                                       info->dwProvType,
                                       CRYPT_DELETEKEYSET | (info->dwFlags & CRYPT_MACHINE_KEYSET));
            }
        }
    }

    CertificateStore m_store;
    std::vector<CertificateStore> m_imported;
};

// What one call of the fake CryptDecryptMessage was given.
struct DecryptCall {
    DWORD encoding = 0;
    DWORD stores = 0;
    std::vector<std::string> certificates;  // the SHA-1 thumbprints in the first store
    std::vector<bool> with_key;
    std::string message;
    std::uint32_t capacity = 0;
};

// CryptDecryptMessage as Windows answers it: `plaintext` for any message, or `error`; a buffer
// too small is ERROR_MORE_DATA with the size needed.
struct FakeDecrypt {
    explicit FakeDecrypt(std::string answer = {}, std::uint32_t failure = ERROR_SUCCESS)
        : plaintext(std::move(answer)), error(failure) {}

    std::string plaintext;
    std::uint32_t error;
    std::vector<DecryptCall> calls;

    std::uint32_t operator()(void* para_pointer, const unsigned char* message, std::uint32_t size,
                             unsigned char* out, std::uint32_t* out_size) {
        const auto* para = static_cast<const CRYPT_DECRYPT_MESSAGE_PARA*>(para_pointer);
        DecryptCall call;
        call.encoding = para->dwMsgAndCertEncodingType;
        call.stores = para->cCertStore;
        if (para->cCertStore > 0) {
            const CERT_CONTEXT* certificate = nullptr;
            while (
                (certificate = ::CertEnumCertificatesInStore(para->rghCertStore[0], certificate))) {
                BYTE sha1[20];
                DWORD length = sizeof sha1;
                ::CertGetCertificateContextProperty(certificate, CERT_SHA1_HASH_PROP_ID, sha1,
                                                    &length);
                call.certificates.push_back(hex_digits(sha1, length, HexCase::Upper));
                DWORD key = 0;
                call.with_key.push_back(
                    ::CertGetCertificateContextProperty(certificate, CERT_KEY_PROV_INFO_PROP_ID,
                                                        nullptr, &key) != FALSE);
            }
        }
        call.message.assign(reinterpret_cast<const char*>(message), size);
        call.capacity = *out_size;
        calls.push_back(call);
        if (error != ERROR_SUCCESS) {
            return error;
        }
        if (*out_size < plaintext.size()) {
            *out_size = static_cast<std::uint32_t>(plaintext.size());
            return ERROR_MORE_DATA;
        }
        std::copy(plaintext.begin(), plaintext.end(), out);
        *out_size = static_cast<std::uint32_t>(plaintext.size());
        return ERROR_SUCCESS;
    }
};

// The api over `store` and `fake`, counting how often the store is opened.
StoreDecryption api_over(const TestStore& store, FakeDecrypt& fake, int* opened = nullptr) {
    StoreDecryption api;
    api.store_name = "the test store";
    api.open_store = [&store, opened]() -> Result<CertificateStore> {
        if (opened != nullptr) {
            ++*opened;
        }
        return store.open();
    };
    api.decrypt = [&fake](void* para, const unsigned char* message, std::uint32_t size,
                          unsigned char* out, std::uint32_t* out_size) {
        return fake(para, message, size, out, out_size);
    };
    return api;
}

bool under_wine() {
    return ::GetProcAddress(::GetModuleHandleW(L"ntdll.dll"), "wine_get_version") != nullptr;
}

}  // namespace

TEST_CASE(
    "windows protected settings: the certificate found by thumbprint is the only one "
    "CryptDecryptMessage gets",
    "[extension][windows]") {
    TestStore store;
    store.add_certificate("other-certificate.cer");
    store.add_identity();
    FakeDecrypt fake(data_file("settings.json"));
    const std::string der = data_file("settings.aes256.der");

    const auto decrypted = decrypt_with_store(api_over(store, fake), k_sha1, der);

    REQUIRE(decrypted.ok());
    CHECK(decrypted->view() == data_file("settings.json"));
    REQUIRE(fake.calls.size() == 1);
    const DecryptCall& call = fake.calls[0];
    CHECK(call.encoding == (X509_ASN_ENCODING | PKCS_7_ASN_ENCODING));
    CHECK(call.stores == 1);
    CHECK(call.certificates == std::vector<std::string>{k_sha1});
    CHECK(call.with_key == std::vector<bool>{true});
    CHECK(call.message == der);
    CHECK(call.capacity >= der.size());
}

TEST_CASE("windows protected settings: a SHA-256 thumbprint, in lowercase, finds the certificate",
          "[extension][windows]") {
    TestStore store;
    store.add_identity();
    FakeDecrypt fake(data_file("settings.json"));

    const auto decrypted =
        decrypt_with_store(api_over(store, fake), k_sha256, data_file("settings.aes256.der"));

    REQUIRE(decrypted.ok());
    REQUIRE(fake.calls.size() == 1);
    CHECK(fake.calls[0].certificates == std::vector<std::string>{k_sha1});
}

TEST_CASE(
    "windows protected settings: no certificate with the thumbprint is a runtime error "
    "naming it and the store",
    "[extension][windows]") {
    TestStore store;
    store.add_identity();
    FakeDecrypt fake;

    const auto decrypted = decrypt_with_store(api_over(store, fake), std::string(40, '0'),
                                              data_file("settings.aes256.der"));

    REQUIRE_FALSE(decrypted.ok());
    CHECK(decrypted.error().kind == ErrorKind::Runtime);
    CHECK_THAT(decrypted.error().message,
               Catch::Contains("no certificate with thumbprint " + std::string(40, '0') +
                               " in the test store") &&
                   Catch::Contains("has not delivered"));
    CHECK(fake.calls.empty());
}

TEST_CASE(
    "windows protected settings: the certificate without its private key is refused "
    "before decrypting",
    "[extension][windows]") {
    TestStore store;
    store.add_certificate("throwaway-identity.cer");
    FakeDecrypt fake;

    const auto decrypted =
        decrypt_with_store(api_over(store, fake), k_sha1, data_file("settings.aes256.der"));

    REQUIRE_FALSE(decrypted.ok());
    CHECK(decrypted.error().kind == ErrorKind::Runtime);
    CHECK_THAT(decrypted.error().message, Catch::Contains("has no private key"));
    CHECK(fake.calls.empty());
}

TEST_CASE(
    "windows protected settings: data that is not CMS, or CMS that is not EnvelopedData, is "
    "invalid and the store is not opened",
    "[extension][windows]") {
    TestStore store;
    store.add_identity();
    FakeDecrypt fake;
    int opened = 0;
    const StoreDecryption api = api_over(store, fake, &opened);

    const auto garbage = decrypt_with_store(api, k_sha1, "not CMS at all");
    REQUIRE_FALSE(garbage.ok());
    CHECK(garbage.error().kind == ErrorKind::Invalid);
    CHECK_THAT(garbage.error().message, Catch::Contains("is not CMS data"));

    const std::string der = data_file("settings.aes256.der");
    const auto truncated = decrypt_with_store(api, k_sha1, der.substr(0, der.size() / 2));
    REQUIRE_FALSE(truncated.ok());
    CHECK(truncated.error().kind == ErrorKind::Invalid);

    const auto signed_data = decrypt_with_store(api, k_sha1, data_file("settings.signed.der"));
    REQUIRE_FALSE(signed_data.ok());
    CHECK(signed_data.error().kind == ErrorKind::Invalid);
    CHECK_THAT(signed_data.error().message, Catch::Contains("not EnvelopedData"));

    const auto bad_thumbprint = decrypt_with_store(api, "../../etc/shadow", der);
    REQUIRE_FALSE(bad_thumbprint.ok());
    CHECK(bad_thumbprint.error().kind == ErrorKind::Invalid);

    CHECK(opened == 0);
    CHECK(fake.calls.empty());
}

TEST_CASE(
    "windows protected settings: a message for other recipients, or a failed decryption, is "
    "a runtime error that shows no plaintext",
    "[extension][windows]") {
    TestStore store;
    store.add_identity();
    const std::string der = data_file("settings.aes256.der");
    FakeDecrypt not_for_us(data_file("settings.json"),
                           static_cast<std::uint32_t>(CRYPT_E_NO_DECRYPT_CERT));
    const auto refused = decrypt_with_store(api_over(store, not_for_us), k_sha1, der);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::Runtime);
    CHECK_THAT(refused.error().message,
               Catch::Contains("not encrypted for the certificate " + std::string(k_sha1)) &&
                   Catch::Contains("not one of the recipients"));

    FakeDecrypt broken(data_file("settings.json"), static_cast<std::uint32_t>(NTE_BAD_KEYSET));
    const auto failed = decrypt_with_store(api_over(store, broken), k_sha1, der);
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().kind == ErrorKind::Runtime);
    CHECK_THAT(failed.error().message, Catch::Contains("cannot decrypt the protected settings "
                                                       "with the certificate " +
                                                       std::string(k_sha1)));
    for (const auto* message : {&refused.error().message, &failed.error().message}) {
        CHECK_THAT(*message, !Catch::Contains("storageAccountKey") &&
                                 !Catch::Contains("throw-away-registry-key"));
    }
}

TEST_CASE("windows protected settings: a store that cannot be opened is a runtime error",
          "[extension][windows]") {
    FakeDecrypt fake;
    StoreDecryption api;
    api.store_name = "the test store";
    api.open_store = []() -> Result<CertificateStore> {
        return failure("cannot open the certificate store the test store: access denied");
    };
    api.decrypt = [&fake](void* para, const unsigned char* message, std::uint32_t size,
                          unsigned char* out, std::uint32_t* out_size) {
        return fake(para, message, size, out, out_size);
    };

    const auto decrypted = decrypt_with_store(api, k_sha1, data_file("settings.aes256.der"));

    REQUIRE_FALSE(decrypted.ok());
    CHECK(decrypted.error().kind == ErrorKind::Runtime);
    CHECK_THAT(decrypted.error().message, Catch::Contains("cannot open the certificate store"));
    CHECK(fake.calls.empty());
}

TEST_CASE("windows protected settings: the machine's personal store opens",
          "[extension][windows]") {
    // Windows always has LocalMachine\My; a new wine prefix makes it on its first open.
    const CertificateStore made(
        ::CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0, CERT_SYSTEM_STORE_LOCAL_MACHINE, L"My"));
    REQUIRE(made);
    const StoreDecryption api = machine_store_decryption();
    CHECK(api.store_name == "LocalMachine\\My");
    const auto store = api.open_store();
    CHECK(store.ok());
}

TEST_CASE(
    "windows protected settings: CryptDecryptMessage decrypts the test identity's AES-256 "
    "settings, on Windows only: wine has no CryptDecryptMessage",
    "[extension][windows]") {
    if (under_wine()) {
        WARN("wine 8's crypt32 has no CryptDecryptMessage (docs/windows.md): only the fake ran");
        return;
    }
    TestStore store;
    store.add_identity();
    StoreDecryption api = machine_store_decryption();
    api.store_name = "the test store";
    api.open_store = [&store]() -> Result<CertificateStore> { return store.open(); };

    const auto decrypted = decrypt_with_store(api, k_sha1, data_file("settings.aes256.der"));

    REQUIRE(decrypted.ok());
    CHECK(decrypted->view() == data_file("settings.json"));
}

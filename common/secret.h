// A buffer for secrets (the protected settings' plaintext, the storage key, the VM's private
// key, the registry key): a fixed capacity chosen up front so the bytes are never reallocated (a
// reallocation would leave an unwiped copy behind), never copied, and wiped when it goes away.
#pragma once

#include <string.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/result.h"

namespace dsvm {

// Zeroes `size` bytes at `data` in a way the compiler may not drop (explicit_bzero; on Windows
// SecureZeroMemory), for a secret held somewhere SecretBytes cannot be (a std::string a library
// fills, a stack buffer).
void wipe_bytes(void* data, std::size_t size);

// Wipes a string's whole buffer (bytes past size() left by earlier, longer contents included)
// with wipe_bytes, and clears it.
inline void wipe_string(std::string& secret) {
    secret.resize(secret.capacity());
    wipe_bytes(secret.data(), secret.size());
    secret.clear();
}

class SecretBytes {
  public:
    SecretBytes() = default;
    explicit SecretBytes(std::size_t capacity)
        : m_data(std::make_unique<char[]>(capacity)), m_capacity(capacity) {}
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    SecretBytes(SecretBytes&& other) noexcept
        : m_data(std::move(other.m_data)),
          m_size(std::exchange(other.m_size, 0)),
          m_capacity(std::exchange(other.m_capacity, 0)) {}
    SecretBytes& operator=(SecretBytes&& other) noexcept {
        if (this != &other) {
            wipe();
            m_data = std::move(other.m_data);
            m_size = std::exchange(other.m_size, 0);
            m_capacity = std::exchange(other.m_capacity, 0);
        }
        return *this;
    }
    ~SecretBytes() { wipe(); }

    // Appends within the capacity; false (nothing appended) when it would not fit.
    bool append(std::string_view bytes) {
        if (bytes.size() > m_capacity - m_size) {
            return false;
        }
        if (!bytes.empty()) {
            ::memcpy(m_data.get() + m_size, bytes.data(), bytes.size());
        }
        m_size += bytes.size();
        return true;
    }
    bool push_back(char c) { return append(std::string_view(&c, 1)); }

    // For writers that fill the buffer directly (read(2)): the whole capacity, then the size.
    char* data() { return m_data.get(); }
    void set_size(std::size_t size) { m_size = size < m_capacity ? size : m_capacity; }

    std::string_view view() const { return {m_data.get(), m_size}; }
    std::size_t size() const { return m_size; }
    std::size_t capacity() const { return m_capacity; }
    bool empty() const { return m_size == 0; }

  private:
    void wipe() {
        if (m_data) {
            wipe_bytes(m_data.get(), m_capacity);
        }
        m_size = 0;
    }

    std::unique_ptr<char[]> m_data;
    std::size_t m_size = 0;
    std::size_t m_capacity = 0;
};

// Reads up to `capacity` bytes of an open file into SecretBytes of that capacity (EINTR
// retried); a Runtime error names `shown`.
Result<SecretBytes> read_secret_fd(int fd, std::size_t capacity, const std::string& shown);

// Reads `name` in the open directory `directory` into SecretBytes: never through a symlink, a
// regular file of at most max_bytes owned by root (the effective uid: root in production) and
// readable by nobody else. `found` is false when there is no such file. A Runtime error names
// `shown` and the fix, never the content.
struct SecretFile {
    bool found = false;
    SecretBytes bytes;
};
// The rest of read_secret_file_at, shared by its halves: refuses a file whose `size` is over
// `max_bytes`, else reads the open file.
Result<SecretFile> read_secret_of_size(int fd, unsigned long long size, std::size_t max_bytes,
                                       const std::string& shown);
Result<SecretFile> read_secret_file_at(int directory, const std::string& name,
                                       const std::string& shown, std::size_t max_bytes);

}  // namespace dsvm

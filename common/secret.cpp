#include "common/secret.h"

#include "common/fs.h"

namespace dsvm {

Result<SecretBytes> read_secret_fd(int fd, std::size_t capacity, const std::string& shown) {
    SecretBytes bytes(capacity);
    auto got = read_into(fd, bytes.data(), capacity, shown);
    if (!got) {
        return got.error();
    }
    bytes.set_size(*got);
    return bytes;
}

Result<SecretFile> read_secret_of_size(int fd, unsigned long long size, std::size_t max_bytes,
                                       const std::string& shown) {
    if (size > max_bytes) {
        return failure("refusing " + shown + ": it is larger than " + std::to_string(max_bytes) +
                       " bytes");
    }
    auto bytes = read_secret_fd(fd, max_bytes, shown);
    if (!bytes) {
        return bytes.error();
    }
    return SecretFile{true, std::move(bytes).value()};
}

}  // namespace dsvm

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

}  // namespace dsvm

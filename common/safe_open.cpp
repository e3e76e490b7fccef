#include "common/safe_open.h"

namespace dsvm {

Result<std::vector<std::string>> path_components(std::string_view path,
                                                 std::string_view separators) {
    std::vector<std::string> names;
    std::size_t position = 0;
    while (position < path.size()) {
        const std::size_t separator = path.find_first_of(separators, position);
        const std::size_t end = separator == std::string_view::npos ? path.size() : separator;
        std::string name(path.substr(position, end - position));
        position = end + 1;
        if (name.empty()) {
            continue;
        }
        if (name == "." || name == "..") {
            return invalid("refusing " + std::string(path) + ": it has a '" + name + "' component");
        }
        names.push_back(std::move(name));
    }
    return names;
}

Result<OptionalText> read_bounded(int fd, long long size, std::size_t max_bytes,
                                  const std::string& shown) {
    if (size < 0 || static_cast<unsigned long long>(size) > max_bytes) {
        return failure("refusing " + shown + ": it is " + std::to_string(size) +
                       " bytes long; at most " + std::to_string(max_bytes) + " are read");
    }
    OptionalText result{true, std::string(static_cast<std::size_t>(size) + 1, '\0')};
    auto got = read_into(fd, result.text.data(), result.text.size(), shown);
    if (!got) {
        return got.error();
    }
    if (*got > max_bytes) {
        return failure("refusing " + shown + ": it grew beyond " + std::to_string(max_bytes) +
                       " bytes while it was read");
    }
    result.text.resize(*got);
    return result;
}

}  // namespace dsvm

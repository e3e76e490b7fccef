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

}  // namespace dsvm

#include "users/notebook_folder.h"

namespace dsvm::users {

std::string notebook_folder(std::string_view pattern, std::string_view user) {
    std::string out(pattern);
    const size_t at = out.find("{user}");
    if (at != std::string::npos) {
        out.replace(at, 6, user);
    }
    return out;
}

}  // namespace dsvm::users

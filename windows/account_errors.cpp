#include "windows/account_errors.h"

#include "common/text.h"
#include "common/windows_api_win32.h"

#include <lmerr.h>

namespace dsvm::windows_platform {

std::string shown_path(std::string_view path) {
    return printable_line(path, 260);
}

std::string account_error_text(std::uint32_t code) {
    const char* words = nullptr;
    switch (code) {
        case NERR_UserExists:
            words = "a local account by that name exists";
            break;
        case NERR_GroupExists:
            words =
                "a local group by that name exists, and Windows users and groups share one "
                "set of names";
            break;
        case NERR_UserNotFound:
            words = "there is no such local account";
            break;
        case NERR_GroupNotFound:
            words = "there is no such local group";
            break;
        case NERR_PasswordTooShort:
        case NERR_PasswordNotComplexEnough:
        case NERR_PasswordFilterError:
            words = "the random password does not meet this instance's password policy";
            break;
        case NERR_BadUsername:
            words = "Windows does not accept that account name";
            break;
        default:
            return windows_error_text(code);
    }
    return std::string(words) + " (error " + std::to_string(code) + ")";
}

bool is_group_not_found(std::uint32_t code) {
    return code == NERR_GroupNotFound || code == ERROR_NO_SUCH_ALIAS;
}

bool is_already_member(std::uint32_t code) {
    return code == ERROR_MEMBER_IN_ALIAS;
}

bool is_not_member(std::uint32_t code) {
    return code == ERROR_MEMBER_NOT_IN_ALIAS || code == ERROR_NO_SUCH_MEMBER;
}

}  // namespace dsvm::windows_platform

#include "extension/crypto.h"

#include <algorithm>

#include "common/text.h"

namespace dsvm::extension {

Result<Thumbprint> parse_thumbprint(std::string_view text) {
    if ((text.size() != 40 && text.size() != 64) ||
        !std::all_of(text.begin(), text.end(), ascii::is_hex)) {
        return invalid("protectedSettingsCertThumbprint '" + printable(text) +
                       "' must be 40 or 64 hexadecimal digits (a certificate thumbprint)");
    }
    Thumbprint thumbprint;
    thumbprint.digest = text.size() == 64 ? ThumbprintDigest::Sha256 : ThumbprintDigest::Sha1;
    thumbprint.hex.reserve(text.size());
    for (const char c : text) {
        thumbprint.hex.push_back(c >= 'a' && c <= 'f' ? static_cast<char>(c - 'a' + 'A') : c);
    }
    return thumbprint;
}

}  // namespace dsvm::extension

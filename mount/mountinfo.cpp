#include "mount/mountinfo.h"

#include <charconv>

namespace dsvm::mount {

namespace {

bool is_octal(char c) {
    return c >= '0' && c <= '7';
}

}  // namespace

std::string decode_octal_escapes(std::string_view field) {
    std::string out;
    out.reserve(field.size());
    for (size_t i = 0; i < field.size(); ++i) {
        if (field[i] == '\\' && i + 3 < field.size() && is_octal(field[i + 1]) &&
            is_octal(field[i + 2]) && is_octal(field[i + 3])) {
            const int value =
                (field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0');
            out.push_back(static_cast<char>(value));
            i += 3;
        } else {
            out.push_back(field[i]);
        }
    }
    return out;
}

namespace {

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    size_t position = 0;
    while (position < line.size()) {
        const size_t space = line.find(' ', position);
        const size_t end = space == std::string_view::npos ? line.size() : space;
        if (end > position) {
            fields.push_back(line.substr(position, end - position));
        }
        position = end + 1;
    }
    return fields;
}

template <class Number>
bool parse_number(std::string_view text, Number& out) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    return error == std::errc{} && end == text.data() + text.size();
}

Result<MountEntry> parse_line(std::string_view line, int line_number) {
    const auto bad = [&](std::string_view why) {
        return failure("mountinfo line " + std::to_string(line_number) + ": " + std::string(why));
    };
    const auto fields = split_fields(line);
    // Six fixed fields, optional fields, the "-" separator, then three more.
    size_t separator = 6;
    while (separator < fields.size() && fields[separator] != "-") {
        ++separator;
    }
    if (fields.size() < 6 || separator == fields.size()) {
        return bad(
            "expected 'ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE "
            "OPTIONS'");
    }
    if (separator + 2 >= fields.size()) {
        return bad("missing filesystem type or source after '-'");
    }
    MountEntry entry;
    if (!parse_number(fields[0], entry.mount_id) || !parse_number(fields[1], entry.parent_id)) {
        return bad("mount ID and parent ID must be numbers");
    }
    const auto colon = fields[2].find(':');
    if (colon == std::string_view::npos || !parse_number(fields[2].substr(0, colon), entry.major) ||
        !parse_number(fields[2].substr(colon + 1), entry.minor)) {
        return bad("device must be MAJOR:MINOR");
    }
    entry.root = decode_octal_escapes(fields[3]);
    entry.mount_point = decode_octal_escapes(fields[4]);
    entry.mount_options = std::string(fields[5]);
    entry.fs_type = decode_octal_escapes(fields[separator + 1]);
    entry.source = decode_octal_escapes(fields[separator + 2]);
    if (separator + 3 < fields.size()) {
        entry.super_options = std::string(fields[separator + 3]);
    }
    return entry;
}

}  // namespace

Result<std::vector<MountEntry>> parse_mountinfo(std::string_view text) {
    std::vector<MountEntry> entries;
    int line_number = 0;
    size_t position = 0;
    while (position < text.size()) {
        const size_t newline = text.find('\n', position);
        const size_t end = newline == std::string_view::npos ? text.size() : newline;
        const std::string_view line = text.substr(position, end - position);
        position = end + 1;
        ++line_number;
        if (line.empty()) {
            continue;
        }
        auto entry = parse_line(line, line_number);
        if (!entry) {
            return entry.error();
        }
        entries.push_back(std::move(entry).value());
    }
    return entries;
}

const MountEntry* find_mount(const std::vector<MountEntry>& entries, std::string_view mount_point) {
    const MountEntry* found = nullptr;
    for (const auto& entry : entries) {
        if (entry.mount_point == mount_point) {
            found = &entry;
        }
    }
    return found;
}

}  // namespace dsvm::mount

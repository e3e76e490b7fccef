#include "mount/fstab.h"

#include "common/text.h"
#include "mount/mountinfo.h"

#include <cstddef>
#include <optional>

namespace dsvm::mount {

namespace {

// fstab(5) allows the dump and pass fields to be left out, but nothing else.
constexpr std::size_t k_min_fields = 4;
constexpr std::size_t k_max_fields = 6;

struct Line {
    std::string_view text;  // without its '\n'
    bool has_newline = false;
};

// Only the last line can lack a newline; it is kept that way unless something follows it.
std::vector<Line> split_lines(std::string_view text) {
    std::vector<Line> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        const auto newline = text.find('\n', start);
        if (newline == std::string_view::npos) {
            lines.push_back(Line{text.substr(start), false});
            break;
        }
        lines.push_back(Line{text.substr(start, newline - start), true});
        start = newline + 1;
    }
    return lines;
}

// The blanks around a field or a marker line (no newline: the text is already split in lines).
constexpr std::string_view k_blanks = " \t\r\v\f";

bool is_blank_or_comment(std::string_view line) {
    const auto content = trim(line, k_blanks);
    return content.empty() || content.front() == '#';
}

// Indented or with trailing blanks it is still ours: an editor may have touched it.
bool is_marker(std::string_view line) {
    return trim(line, k_blanks) == k_fstab_marker;
}

std::vector<std::string_view> split_fields(std::string_view line) {
    std::vector<std::string_view> fields;
    std::size_t position = 0;
    while (position < line.size()) {
        while (position < line.size() && (line[position] == ' ' || line[position] == '\t')) {
            ++position;
        }
        const auto start = position;
        while (position < line.size() && line[position] != ' ' && line[position] != '\t') {
            ++position;
        }
        if (position > start) {
            fields.push_back(line.substr(start, position - start));
        }
    }
    return fields;
}

// Beyond the four fstab(5) names, other control characters (a CR would leave a stray byte in
// the field) and '#' (which at the start of a line turns it into a comment) are escaped too;
// libmount decodes any \ooo.
std::string escape(std::string_view field) {
    static constexpr char k_digits[] = "01234567";
    std::string out;
    out.reserve(field.size());
    for (const char c : field) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte == 0x7f || c == ' ' || c == '\\' || c == '#') {
            out.push_back('\\');
            out.push_back(k_digits[(byte >> 6) & 7]);
            out.push_back(k_digits[(byte >> 3) & 7]);
            out.push_back(k_digits[byte & 7]);
        } else {
            out.push_back(c);
        }
    }
    return out;
}

// An empty field would vanish between two spaces and shift the rest of the line.
std::string field_or(std::string_view field, std::string_view fallback) {
    return field.empty() ? std::string(fallback) : escape(field);
}

std::optional<FstabEntry> parse_entry(std::string_view line) {
    if (is_blank_or_comment(line)) {
        return std::nullopt;
    }
    const auto fields = split_fields(line);
    if (fields.size() < k_min_fields || fields.size() > k_max_fields) {
        return std::nullopt;
    }
    FstabEntry entry;
    entry.source = decode_octal_escapes(fields[0]);
    entry.target = decode_octal_escapes(fields[1]);
    entry.fs_type = decode_octal_escapes(fields[2]);
    entry.options = decode_octal_escapes(fields[3]);
    return entry;
}

void append_line(std::string& out, std::string_view text) {
    if (!out.empty() && out.back() != '\n') {
        out.push_back('\n');
    }
    out.append(text);
    out.push_back('\n');
}

}  // namespace

std::string render_fstab_line(const FstabEntry& entry) {
    return field_or(entry.source, "none") + ' ' + field_or(entry.target, "none") + ' ' +
           field_or(entry.fs_type, "none") + ' ' + field_or(entry.options, "defaults") + " 0 0";
}

std::vector<FstabEntry> managed_fstab_entries(std::string_view text) {
    std::vector<FstabEntry> entries;
    const auto lines = split_lines(text);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i) {
        if (!is_marker(lines[i].text)) {
            continue;
        }
        if (auto entry = parse_entry(lines[i + 1].text)) {
            entries.push_back(std::move(*entry));
            ++i;
        }
    }
    return entries;
}

std::string update_fstab(std::string_view current, const std::vector<FstabEntry>& entries) {
    // For a target given twice, the first entry wins; keeping both would make every update
    // drop and re-add one of them, and the result would never settle.
    std::vector<const FstabEntry*> wanted;
    for (const auto& entry : entries) {
        bool duplicate = false;
        for (const auto* earlier : wanted) {
            duplicate = duplicate || earlier->target == entry.target;
        }
        if (!duplicate) {
            wanted.push_back(&entry);
        }
    }
    std::vector<bool> written(wanted.size(), false);

    std::string out;
    out.reserve(current.size() + wanted.size() * 256);
    const auto lines = split_lines(current);
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const Line& line = lines[i];
        if (!is_marker(line.text)) {
            out.append(line.text);
            if (line.has_newline) {
                out.push_back('\n');
            }
            continue;
        }
        // A marker with no entry after it (last line, or followed by a blank, comment or
        // malformed line) is stale: an admin removed or broke our line. The marker is dropped
        // and whatever follows is left to the admin, byte for byte.
        const auto entry =
            i + 1 < lines.size() ? parse_entry(lines[i + 1].text) : std::optional<FstabEntry>{};
        if (!entry) {
            continue;
        }
        ++i;
        for (std::size_t w = 0; w < wanted.size(); ++w) {
            if (!written[w] && wanted[w]->target == entry->target) {
                append_line(out, k_fstab_marker);
                append_line(out, render_fstab_line(*wanted[w]));
                written[w] = true;
                break;
            }
        }
    }
    for (std::size_t w = 0; w < wanted.size(); ++w) {
        if (!written[w]) {
            append_line(out, k_fstab_marker);
            append_line(out, render_fstab_line(*wanted[w]));
        }
    }
    return out;
}

}  // namespace dsvm::mount

#include "users/authorized_keys.h"

#include <cstddef>
#include <utility>

namespace dsvm::users {

namespace {

struct Line {
    std::string_view text;  // without its '\n'
    bool terminated = false;
};

std::vector<Line> split_lines(std::string_view text) {
    std::vector<Line> lines;
    while (!text.empty()) {
        const auto newline = text.find('\n');
        Line line;
        line.text = text.substr(0, newline);
        line.terminated = newline != std::string_view::npos;
        lines.push_back(line);
        text.remove_prefix(line.terminated ? newline + 1 : text.size());
    }
    return lines;
}

// A file converted to CRLF by a Windows editor still has our markers, so the old block is
// still found and replaced rather than left behind with keys that should be gone.
bool is_marker(std::string_view line, std::string_view marker) {
    if (!line.empty() && line.back() == '\r') {
        line.remove_suffix(1);
    }
    return line == marker;
}

// A key that spans lines or looks like a marker would break the block on the next pass (and
// could smuggle in options), so it is left out; validating keys is the config parser's job.
bool is_usable_key(std::string_view key) {
    return !key.empty() && key.find_first_of(std::string_view("\n\r\0", 3)) == key.npos &&
           !is_marker(key, k_keys_begin) && !is_marker(key, k_keys_end);
}

std::string render_block(const std::vector<std::string>& keys) {
    std::string block;
    for (const auto& key : keys) {
        if (is_usable_key(key)) {
            block += key + "\n";
        }
    }
    if (block.empty()) {
        return block;
    }
    return std::string(k_keys_begin) + "\n" + block + std::string(k_keys_end) + "\n";
}

// Blocks as [begin, end] line ranges. A begin marker with no end marker after it (the user
// deleted it, or a write was cut short) does not start a block: it and the lines after it are
// kept as the user's, and a fresh block is appended. Swallowing them instead could delete the
// user's own keys. A later begin marker restarts the search, so an orphaned begin stays outside
// every block on later passes too and the merge stays idempotent.
std::vector<std::pair<std::size_t, std::size_t>> find_blocks(const std::vector<Line>& lines) {
    std::vector<std::pair<std::size_t, std::size_t>> blocks;
    // A sentinel rather than std::optional: GCC 12 at -O2 warns falsely about the latter here.
    constexpr std::size_t k_none = static_cast<std::size_t>(-1);
    std::size_t open = k_none;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (is_marker(lines[i].text, k_keys_begin)) {
            open = i;
        } else if (open != k_none && is_marker(lines[i].text, k_keys_end)) {
            blocks.emplace_back(open, i);
            open = k_none;
        }
    }
    return blocks;
}

}  // namespace

std::string merge_authorized_keys(std::string_view current, const std::vector<std::string>& keys) {
    const auto lines = split_lines(current);
    const auto blocks = find_blocks(lines);
    const std::string block = render_block(keys);
    std::string merged;
    bool placed = false;
    std::size_t next_block = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (next_block < blocks.size() && i == blocks[next_block].first) {
            // Later duplicates of the block are dropped; the new block takes the first's place.
            if (!placed) {
                merged += block;
                placed = true;
            }
            i = blocks[next_block].second;
            ++next_block;
            continue;
        }
        merged += lines[i].text;
        if (lines[i].terminated) {
            merged += '\n';
        }
    }
    if (!placed && !block.empty()) {
        if (!merged.empty() && merged.back() != '\n') {
            merged += '\n';
        }
        merged += block;
    }
    return merged;
}

bool has_usable_keys(const std::vector<std::string>& keys) {
    return !render_block(keys).empty();
}

}  // namespace dsvm::users

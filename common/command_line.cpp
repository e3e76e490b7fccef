#include "common/command_line.h"

#include "common/text.h"

namespace dsvm {

namespace {

bool is_separator(char c) {
    return c == '\\' || c == '/';
}

bool needs_quotes(std::string_view argument) {
    return argument.empty() || argument.find_first_of(" \t\n\v\"") != std::string_view::npos;
}

// The runtime's rule: 2n backslashes and a quote give n backslashes and end (or start) the
// quoted part; 2n+1 backslashes and a quote give n backslashes and a literal quote; backslashes
// followed by anything else are literal.
void append_quoted(std::string& line, std::string_view argument) {
    line.push_back('"');
    std::size_t backslashes = 0;
    for (const char c : argument) {
        if (c == '\\') {
            ++backslashes;
            continue;
        }
        if (c == '"') {
            line.append(2 * backslashes + 1, '\\');
        } else {
            line.append(backslashes, '\\');
        }
        backslashes = 0;
        line.push_back(c);
    }
    // Before the closing quote, each backslash is doubled so none of them escapes it.
    line.append(2 * backslashes, '\\');
    line.push_back('"');
}

}  // namespace

bool is_absolute_windows_path(std::string_view program) {
    if (program.size() >= 3 && ascii::is_alpha(program[0]) && program[1] == ':' &&
        is_separator(program[2])) {
        return true;
    }
    return program.size() >= 3 && is_separator(program[0]) && is_separator(program[1]) &&
           !is_separator(program[2]);
}

Result<std::string> quote_windows_command_line(const std::vector<std::string>& argv) {
    if (argv.empty()) {
        return invalid("cannot make a command line: there is no program");
    }
    for (const auto& argument : argv) {
        if (argument.find('\0') != std::string::npos) {
            return invalid("cannot make a command line: the argument " + quoted(argument) +
                           " contains a NUL byte");
        }
    }
    // The runtime reads the program's name up to the next quote or, unquoted, up to the next
    // space, without escapes: quoting it always keeps a path with spaces whole.
    if (argv[0].find('"') != std::string::npos) {
        return invalid("cannot make a command line: the program " + quoted(argv[0]) +
                       " contains a double quote");
    }
    std::string line = "\"" + argv[0] + "\"";
    for (std::size_t i = 1; i < argv.size(); ++i) {
        line.push_back(' ');
        if (needs_quotes(argv[i])) {
            append_quoted(line, argv[i]);
        } else {
            line += argv[i];
        }
    }
    return line;
}

bool runs_through_command_interpreter(std::string_view program) {
    while (!program.empty() && (program.back() == '.' || program.back() == ' ')) {
        program.remove_suffix(1);
    }
    if (program.size() < 4) {
        return false;
    }
    std::string extension(program.substr(program.size() - 4));
    for (char& c : extension) {
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    return extension == ".bat" || extension == ".cmd";
}

}  // namespace dsvm

// Errors as values: a Result<T> holds either a T or an Error that names the offending value and
// the rule it broke. Exceptions are reserved for the truly fatal and are caught once in main.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace dsvm {

// Invalid: the input (config, argument, name) broke a rule; nothing was changed; exit status 2.
// Runtime: the world did not cooperate (network, mount, disk); exit status 1.
enum class ErrorKind { Runtime, Invalid };

struct Error {
    ErrorKind kind = ErrorKind::Runtime;
    std::string message;
};

inline Error invalid(std::string message) {
    return Error{ErrorKind::Invalid, std::move(message)};
}
inline Error failure(std::string message) {
    return Error{ErrorKind::Runtime, std::move(message)};
}

// Prefixes an error's message with context ("pool.json: " + message), keeping its kind.
inline Error with_context(std::string_view context, Error error) {
    error.message = std::string(context) + ": " + error.message;
    return error;
}

template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : m_state(std::move(value)) {}      // NOLINT: implicit by design
    Result(Error error) : m_state(std::move(error)) {}  // NOLINT: implicit by design

    bool ok() const { return m_state.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(m_state);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(m_state);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(m_state));
    }
    const Error& error() const {
        assert(!ok());
        return std::get<1>(m_state);
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

  private:
    std::variant<T, Error> m_state;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)), m_ok(false) {}  // NOLINT: implicit by design

    bool ok() const { return m_ok; }
    explicit operator bool() const { return m_ok; }
    const Error& error() const {
        assert(!m_ok);
        return m_error;
    }

  private:
    Error m_error;
    bool m_ok = true;
};

// The exit status docs/design.md ("The command line and exit status") gives an error: 2 for invalid
// input, 1 for a runtime failure.
inline int exit_status_for(const Error& error) {
    return error.kind == ErrorKind::Invalid ? 2 : 1;
}

}  // namespace dsvm

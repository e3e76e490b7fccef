// The implementation of fmt and spdlog, compiled once for the whole build from Debian's headers.
//
// The agent links neither libfmt nor libspdlog: their sonames differ between Debian 12 and the
// Ubuntu releases the .deb is for, and mingw has neither (docs/packaging.md). Built header-only,
// every file that logs compiled both libraries' implementation again, which was most of the
// build's time. Instead every target uses their headers in compiled-library mode
// (SPDLOG_COMPILED_LIB, no FMT_HEADER_ONLY: CMakeLists.txt, cmake/windows.cmake), and this one
// file holds the implementation, as the libraries' own sources would: their -inl.h files and the
// explicit instantiations of what the headers declare and the agent uses. A missing one is a
// link error, never a behaviour change.
#if defined(FMT_HEADER_ONLY) || !defined(SPDLOG_COMPILED_LIB)
#error "compile with SPDLOG_COMPILED_LIB and without FMT_HEADER_ONLY"
#endif

#include <fmt/format-inl.h>

#include <mutex>
#include <spdlog/cfg/helpers-inl.h>
#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/file_helper-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/details/null_mutex.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/sinks/basic_file_sink-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/stdout_color_sinks-inl.h>
#include <spdlog/sinks/stdout_sinks-inl.h>
#include <spdlog/spdlog-inl.h>
#ifdef _WIN32
#include <spdlog/sinks/wincolor_sink-inl.h>
#else
#include <spdlog/sinks/ansicolor_sink-inl.h>
#endif

// fmt: what format.h declares `extern template` or FMT_API for its compiled library.
template auto fmt::detail::dragonbox::to_decimal(float x) noexcept
    -> fmt::detail::dragonbox::decimal_fp<float>;
template auto fmt::detail::dragonbox::to_decimal(double x) noexcept
    -> fmt::detail::dragonbox::decimal_fp<double>;
template fmt::detail::locale_ref::locale_ref(const std::locale& loc);
template auto fmt::detail::locale_ref::get<std::locale>() const -> std::locale;
template auto fmt::detail::thousands_sep_impl(fmt::detail::locale_ref)
    -> fmt::detail::thousands_sep_result<char>;
template auto fmt::detail::decimal_point_impl(fmt::detail::locale_ref) -> char;
template auto fmt::detail::thousands_sep_impl(fmt::detail::locale_ref)
    -> fmt::detail::thousands_sep_result<wchar_t>;
template auto fmt::detail::decimal_point_impl(fmt::detail::locale_ref) -> wchar_t;
template void fmt::detail::vformat_to(fmt::detail::buffer<char>&, fmt::string_view,
                                      fmt::basic_format_args<FMT_BUFFER_CONTEXT(char)>,
                                      fmt::detail::locale_ref);

// spdlog: the sink templates the agent and its tests instantiate.
template class spdlog::sinks::base_sink<std::mutex>;
template class spdlog::sinks::base_sink<spdlog::details::null_mutex>;
template class spdlog::sinks::basic_file_sink<std::mutex>;
template class spdlog::sinks::basic_file_sink<spdlog::details::null_mutex>;
#ifdef _WIN32
template class spdlog::sinks::wincolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::wincolor_stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::wincolor_stderr_sink<spdlog::details::console_mutex>;
#else
template class spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::ansicolor_stderr_sink<spdlog::details::console_mutex>;
#endif
template class spdlog::sinks::stdout_sink_base<spdlog::details::console_mutex>;
template class spdlog::sinks::stdout_sink<spdlog::details::console_mutex>;
template class spdlog::sinks::stderr_sink<spdlog::details::console_mutex>;
template spdlog::logger::logger(std::string name, spdlog::sinks_init_list::iterator begin,
                                spdlog::sinks_init_list::iterator end);

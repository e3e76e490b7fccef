// SystemProcessRunner on Windows (common/process.h): CreateProcessW with a quoted command line
// (common/command_line.h), pipes served by threads, and a Job object that bounds the child and
// everything it starts.
#include "common/process.h"

#include <algorithm>
#include <thread>

#include "common/command_line.h"
#include "common/process_common.h"
#include "common/text.h"
#include "common/windows_api_win32.h"

namespace dsvm {

namespace {

using Clock = std::chrono::steady_clock;

// How long a killed job may take to die before we stop waiting for its process.
constexpr DWORD k_kill_grace_ms = 1000;
constexpr DWORD k_chunk = 64 * 1024;

// The threads of one run: joined when it ends, however it ends. Declared after the pipes they
// use and before the job, so the job is closed (killing the child, which ends every pipe) before
// the joins wait.
class Threads {
  public:
    Threads() = default;
    Threads(const Threads&) = delete;
    Threads& operator=(const Threads&) = delete;
    ~Threads() { join(); }
    template <class Work>
    void start(Work work) {
        m_threads.emplace_back(std::move(work));
    }
    void join() {
        for (auto& thread : m_threads) {
            if (thread.joinable()) {
                thread.join();
            }
        }
    }

  private:
    std::vector<std::thread> m_threads;
};

struct Pipe {
    Handle ours;
    Handle theirs;  // inheritable: the child's stdin, stdout or stderr
};

Result<Pipe> make_pipe(bool child_reads) {
    HANDLE read = nullptr;
    HANDLE write = nullptr;
    if (!::CreatePipe(&read, &write, nullptr, 0)) {
        return failure("cannot create a pipe: " + windows_error_text(::GetLastError()));
    }
    Pipe pipe = child_reads ? Pipe{Handle(write), Handle(read)} : Pipe{Handle(read), Handle(write)};
    if (!::SetHandleInformation(pipe.theirs.get(), HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
        return failure("cannot pass a pipe to a child: " + windows_error_text(::GetLastError()));
    }
    return pipe;
}

// Reads to the end (the last writer gone, or any error), keeping at most the cap; reading on
// past it keeps the child from blocking on a full pipe.
void read_all(const Handle& from, std::string& sink) {
    std::string buffer(k_chunk, '\0');
    DWORD got = 0;
    while (::ReadFile(from.get(), buffer.data(), k_chunk, &got, nullptr)) {
        append_capped(sink, std::string_view(buffer.data(), got));
    }
}

// Writes all of `input` unless the child stops reading (ERROR_NO_DATA, ERROR_BROKEN_PIPE: the
// rest is not wanted), then closes the pipe so the child sees the end. On its own thread, so a
// child that never reads blocks only this thread, until the job is killed. The input may be a
// secret: it goes only through the pipe, never into the command line or a copy of ours.
void write_all(Handle to, std::string_view input) {
    while (!input.empty()) {
        const auto piece = static_cast<DWORD>(std::min<std::size_t>(input.size(), k_chunk));
        DWORD written = 0;
        if (!::WriteFile(to.get(), input.data(), piece, &written, nullptr)) {
            break;
        }
        input.remove_prefix(written);
    }
}

class Job {
  public:
    Job() : m_handle(::CreateJobObjectW(nullptr, nullptr)) {}
    bool valid() const { return m_handle.valid(); }
    HANDLE get() const { return m_handle.get(); }
    void kill() const { ::TerminateJobObject(m_handle.get(), 1); }

  private:
    // Closing the handle (however the run ends) kills whatever is left in the job.
    Handle m_handle;
};

Result<void> limit(const Job& job) {
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    // KILL_ON_JOB_CLOSE: nothing the tool started outlives the run. DIE_ON_UNHANDLED_EXCEPTION:
    // a crashing tool ends at once instead of waiting on an error report nobody will answer.
    limits.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
    if (!::SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation, &limits,
                                   sizeof limits)) {
        return failure("cannot limit a job object: " + windows_error_text(::GetLastError()));
    }
    return {};
}

std::wstring system_directory(UINT (*get)(LPWSTR, UINT)) {
    wchar_t path[MAX_PATH + 1] = {};
    const UINT length = get(path, MAX_PATH);
    return length > 0 && length <= MAX_PATH ? std::wstring(path, length) : L"C:\\Windows";
}

// The child's whole environment, as the Linux half gives PATH and LC_ALL only. SystemRoot,
// because system DLLs (Winsock, crypto) fail to load or initialise without it; PATH, the system
// folders only, for tools that start others by name. Nothing else: PATHEXT, COMSPEC, TEMP, the
// user's profile and variables like them would let whoever set the agent's environment choose
// what a tool runs, loads or writes. Both come from the system, not from our own environment.
std::wstring clean_environment() {
    const std::wstring root = system_directory(::GetSystemWindowsDirectoryW);
    std::wstring block;
    // Sorted by name, as CreateProcess expects; each entry ends in NUL and the block in another.
    block += L"PATH=" + root + L"\\System32;" + root;
    block.push_back(L'\0');
    block += L"SystemRoot=" + root;
    block.push_back(L'\0');
    block.push_back(L'\0');
    return block;
}

// The attribute list that lets the child inherit exactly its three pipe ends, not every
// inheritable handle the agent has at that moment (another thread's run, say).
class InheritOnly {
  public:
    explicit InheritOnly(std::vector<HANDLE> handles) : m_handles(std::move(handles)) {
        SIZE_T size = 0;
        ::InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
        m_storage.resize(size);
        auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(m_storage.data());
        m_ok = ::InitializeProcThreadAttributeList(list, 1, 0, &size) != FALSE;
        if (m_ok) {
            m_list = list;
            m_ok = ::UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                               m_handles.data(), m_handles.size() * sizeof(HANDLE),
                                               nullptr, nullptr) != FALSE;
        }
    }
    InheritOnly(const InheritOnly&) = delete;
    InheritOnly& operator=(const InheritOnly&) = delete;
    ~InheritOnly() {
        if (m_list != nullptr) {
            ::DeleteProcThreadAttributeList(m_list);
        }
    }
    bool ok() const { return m_ok; }
    LPPROC_THREAD_ATTRIBUTE_LIST get() const { return m_list; }

  private:
    std::vector<HANDLE> m_handles;
    std::vector<unsigned char> m_storage;
    LPPROC_THREAD_ATTRIBUTE_LIST m_list = nullptr;
    bool m_ok = false;
};

struct Started {
    Handle process;
    Handle thread;  // suspended, until the process is in the job
};

Result<Started> create_suspended(const std::vector<std::string>& argv, HANDLE input, HANDLE output,
                                 HANDLE error) {
    const std::string shown = printable(argv[0]);
    auto line = quote_windows_command_line(argv);
    if (!line) {
        return failure(line.error().message);
    }
    auto program = to_utf16(argv[0], "the program");
    auto wide_line = to_utf16(*line, "the command line");
    for (const auto* converted : {&program, &wide_line}) {
        if (!*converted) {
            return failure("cannot run " + shown + ": " + converted->error().message);
        }
    }
    std::wstring environment = clean_environment();
    // The agent's working directory may be in a user's profile or on a share.
    const std::wstring directory = system_directory(::GetSystemDirectoryW);

    InheritOnly inherit({input, output, error});
    if (!inherit.ok()) {
        return failure("cannot run " + shown +
                       ": cannot limit what it inherits: " + windows_error_text(::GetLastError()));
    }
    STARTUPINFOEXW startup{};
    startup.StartupInfo.cb = sizeof startup;
    startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    startup.StartupInfo.hStdInput = input;
    startup.StartupInfo.hStdOutput = output;
    startup.StartupInfo.hStdError = error;
    startup.lpAttributeList = inherit.get();
    PROCESS_INFORMATION started{};
    // lpApplicationName given: Windows runs that file and never searches for the first word of
    // the command line. Suspended, so it starts nothing before it is in the job.
    if (!::CreateProcessW(program->c_str(), wide_line->data(), nullptr, nullptr, TRUE,
                          CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW |
                              EXTENDED_STARTUPINFO_PRESENT,
                          environment.data(), directory.c_str(), &startup.StartupInfo, &started)) {
        return failure("cannot run " + shown + ": " + windows_error_text(::GetLastError()));
    }
    return Started{Handle(started.hProcess), Handle(started.hThread)};
}

DWORD milliseconds_until(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    // Below INFINITE, which would wait for ever; waking early only loops again.
    return static_cast<DWORD>(std::clamp<long long>(left, 0, INFINITE - 1));
}

}  // namespace

Result<CommandResult> SystemProcessRunner::run(const std::vector<std::string>& argv,
                                               std::string_view input,
                                               std::chrono::milliseconds timeout) {
    if (argv.empty() || !is_absolute_windows_path(argv[0])) {
        return program_not_absolute(argv);
    }
    if (runs_through_command_interpreter(argv[0])) {
        return invalid("refusing to run " + argv[0] +
                       ": a batch file runs through cmd.exe, which reads its arguments as "
                       "commands; the agent runs programs, never a shell");
    }
    const auto deadline = Clock::now() + timeout;
    auto stdin_pipe = make_pipe(true);
    auto stdout_pipe = make_pipe(false);
    auto stderr_pipe = make_pipe(false);
    for (const auto* made : {&stdin_pipe, &stdout_pipe, &stderr_pipe}) {
        if (!*made) {
            return made->error();
        }
    }
    CommandResult result;
    Threads threads;
    Job job;
    if (!job.valid()) {
        return failure("cannot create a job object: " + windows_error_text(::GetLastError()));
    }
    if (auto limited = limit(job); !limited) {
        return limited.error();
    }
    auto child = create_suspended(argv, stdin_pipe->theirs.get(), stdout_pipe->theirs.get(),
                                  stderr_pipe->theirs.get());
    if (!child) {
        return child.error();
    }
    if (!::AssignProcessToJobObject(job.get(), child->process.get())) {
        const DWORD error = ::GetLastError();
        ::TerminateProcess(child->process.get(), 1);
        return failure("cannot put " + printable(argv[0]) +
                       " in a job object: " + windows_error_text(error));
    }
    ::ResumeThread(child->thread.get());
    // Only the child holds these ends now, so each pipe ends when the child (and the job) does.
    stdin_pipe->theirs.reset();
    stdout_pipe->theirs.reset();
    stderr_pipe->theirs.reset();

    if (input.empty()) {
        stdin_pipe->ours.reset();
    } else {
        threads.start([to = std::move(stdin_pipe->ours), input]() mutable {
            write_all(std::move(to), input);
        });
    }
    threads.start([&from = stdout_pipe->ours, &sink = result.out] { read_all(from, sink); });
    threads.start([&from = stderr_pipe->ours, &sink = result.err] { read_all(from, sink); });

    for (;;) {
        const DWORD waited =
            ::WaitForSingleObject(child->process.get(), milliseconds_until(deadline));
        if (waited == WAIT_OBJECT_0) {
            break;
        }
        if (waited == WAIT_FAILED) {
            const DWORD error = ::GetLastError();
            job.kill();
            return failure("cannot wait for " + printable(argv[0]) + ": " +
                           windows_error_text(error));
        }
        if (Clock::now() >= deadline) {
            job.kill();
            ::WaitForSingleObject(child->process.get(), k_kill_grace_ms);
            return process_timed_out(argv[0], timeout);
        }
    }
    DWORD code = 0;
    ::GetExitCodeProcess(child->process.get(), &code);
    // What the child left running dies with the job, so the pipes end and the reads finish.
    job.kill();
    threads.join();
    result.exit_code = static_cast<int>(code);
    return result;
}

}  // namespace dsvm

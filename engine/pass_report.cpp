#include "engine/pass_report.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/text.h"

namespace dsvm::engine {

void print_outcomes(const RunStatus& unbounded) {
    // Names in these lines may come from the share or a user's home: escaped and bounded, as
    // in the status file.
    RunStatus status = unbounded;
    bound_for_output(status);
    for (const auto& outcome : status.actions) {
        if (outcome.ok) {
            fmt::print("done: {}\n", outcome.action);
        } else {
            fmt::print("failed: {}: {}\n", outcome.action, outcome.error);
        }
    }
    for (const auto& problem : status.problems) {
        fmt::print("problem: {}\n", problem);
    }
}

int report_pass(const PassOutcome& outcome, bool dry_run) {
    const RunStatus& status = outcome.status;
    if (status.result == PassResult::InvalidConfig ||
        (outcome.exit_status != 0 && !outcome.config)) {
        spdlog::error("{}", printable_line(status.message));
        return outcome.exit_status;
    }
    if (dry_run) {
        for (const auto& action : outcome.plan.actions) {
            fmt::print("would: {}\n", printable_line(describe(action)));
        }
        for (const auto& change : outcome.planned_users) {
            fmt::print("would: {}\n", printable_line(change));
        }
        for (const auto& problem : outcome.plan.problems) {
            fmt::print("problem: {}\n", printable_line(problem));
        }
        const bool empty = outcome.plan.empty() && outcome.planned_users.empty();
        fmt::print("{}\n", empty ? "no changes" : "dry run: nothing was changed");
        return outcome.plan.problems.empty() ? 0 : 1;
    }
    print_outcomes(status);
    fmt::print("{}\n", status.result == PassResult::NoChanges
                           ? std::string("no changes")
                           : printable_line(
                                 fmt::format("{}: {}", to_string(status.result), status.message)));
    return outcome.exit_status;
}

}  // namespace dsvm::engine

// Printing a pass for a person: one line per action done or failed, the problems, a summary.
#pragma once

#include "engine/engine.h"

namespace dsvm::engine {

// "done: ...", "failed: ...: error" and "problem: ..." lines on stdout.
void print_outcomes(const RunStatus& status);

// Prints the pass (for --dry-run the plan) and returns its exit status; an invalid config or a
// failure before any action is logged as an error instead.
int report_pass(const PassOutcome& outcome, bool dry_run);

}  // namespace dsvm::engine

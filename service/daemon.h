// The `run` loop: a pass now, then one every interval (±10 % jitter so a pool's instances do not
// poll in step); SIGHUP runs a pass at once, SIGTERM and SIGINT end the loop cleanly.
#pragma once

#include <cstdint>

#include "engine/engine.h"
#include "service/notify.h"

namespace dsvm {

// Blocks SIGHUP/SIGTERM/SIGINT for the calling thread and waits on them with a signalfd, so a
// signal arriving mid-pass is never lost. READY=1 is sent after the first pass whatever its
// result: boot must go on. When the notifier reports a watchdog period, WATCHDOG=1 comes right
// before and right after every pass and, between passes, at least every half period; a pass
// itself sends none, so a pass stuck longer than the period gets the daemon restarted. Returns the
// exit status (0 after SIGTERM/SIGINT).
int run_daemon(Engine& engine, Notifier& notifier, std::uint64_t seed);

}  // namespace dsvm

// The `run` loop: a pass now, then one every interval (±10 % jitter so a pool's instances do not
// poll in step); "reconcile now" runs a pass at once, "stop" ends the loop cleanly.
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "engine/engine.h"
#include "service/host.h"

namespace dsvm::service {

// Takes the host's controls before the first pass (ServiceHost::listen), so one arriving
// mid-pass is never lost. Ready is sent after the first pass whatever its result: boot must go
// on. When the host reports a watchdog period, a keep-alive comes right before and right after
// every pass and, between passes, at least every half period; a pass itself sends none, so a
// pass stuck longer than the period gets the daemon restarted. All time is `clock`'s; the host
// only waits. Returns the exit status: 0 after "stop", 1 when the host cannot listen or wait.
int run_daemon(engine::Engine& engine, ServiceHost& host, Clock& clock, std::uint64_t seed);

}  // namespace dsvm::service

#!/usr/bin/env bash
# Builds dsvm-agent and runs its main job on the built-in demo pool: a fake metadata service on
# loopback serves a pool config with a bind share, and the real binary reconciles a sandbox
# root. Everything happens in a private mount namespace, so nothing reaches the host's mounts.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
echo "Building dsvm-agent (log: build/build.log) ..."
if ! cmake --build build -j "${JOBS:-2}" --target dsvm-agent dsvm-fake-imds >build/build.log 2>&1; then
  cat build/build.log
  exit 1
fi

exec unshare --mount --propagation private scripts/demo-pool.sh build

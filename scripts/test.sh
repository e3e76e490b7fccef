#!/usr/bin/env bash
# Builds with -Werror, runs every test through ctest, checks formatting, runs the unit tests
# once more under AddressSanitizer and UndefinedBehaviorSanitizer, cross-builds for Windows and
# runs what builds there under wine (label windows), then the end-to-end tests
# (label e2e: real kernels under QEMU, the .deb in a chroot; DSVM_SKIP_E2E=1 skips them).
# Run as root on Debian 12: the integration tests make a private mount namespace and mount in it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=${JOBS:-2}

# The tests need optimised code, not its debug information (a third of the compile time);
# the ASan build keeps line tables (-g1) for its stack traces.
echo "== build (-Werror)"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG" \
  -DDSVM_WERROR=ON >/dev/null
cmake --build build-test -j "$jobs"

echo "== tests (unit, integration, packaging)"
(cd build-test && ctest --output-on-failure -j "$jobs" -LE e2e ${CTEST_ARGS:-})

echo "== clang-format"
sources=()
for dir in common mount users config engine extension service cli linux windows tests bench; do
  if [[ -d $dir ]]; then sources+=("$dir"); fi
done
find "${sources[@]}" \( -name '*.cpp' -o -name '*.h' \) -print0 | xargs -0 clang-format --dry-run --Werror

echo "== unit tests under ASan+UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-g1" -DDSVM_WERROR=ON \
  -DDSVM_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs" --target unit_tests
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j "$jobs" -L unit)

echo "== the Windows build (mingw-w64) and its tests under wine"
# One wine prefix for the build (Catch2 lists the tests by running them) and for ctest.
export WINEPREFIX=${WINEPREFIX:-$PWD/build-windows/wineprefix} WINEDEBUG=${WINEDEBUG:--all}
scripts/build-windows.sh
# --no-tests=error: a test list that wine failed to produce must not pass as "no tests".
# A test that fails is run once more: wine itself once failed to start a test process here (exit
# status 1 in 10 ms, no output), and the same test then passed. One that fails twice fails the
# run. (A wineserver kept running with -p is no cure: wine's services it starts keep a test's
# output pipe open, and ctest waits for them.)
(cd build-windows && ctest --output-on-failure --no-tests=error -j "$jobs" -L windows \
  --repeat until-pass:2)

if [[ ${DSVM_SKIP_E2E:-0} != 1 ]]; then
  echo "== end-to-end tests (QEMU guests, a Debian 12 chroot; slow)"
  (cd build-test && ctest --output-on-failure -L e2e ${CTEST_ARGS:-})
fi

echo "== all tests passed"

#!/usr/bin/env bash
# Cross-builds the Windows agent with mingw-w64 into build-windows/ (docs/windows.md), installing
# what it needs first (scripts/install-deps.sh windows). `ctest -L windows` in build-windows/,
# with the same WINEPREFIX, then runs its tests under wine; scripts/test.sh does both.
#
# It makes build-windows/dsvm-agent.exe, the MSI build-windows/dsvm-agent-<version>-x64.msi, and
# the tests of the portable code and of the Windows backends (docs/windows.md).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh windows

# wine keeps its state in a prefix; a private one per build keeps tests away from the user's.
export WINEPREFIX=${WINEPREFIX:-$PWD/build-windows/wineprefix}
export WINEDEBUG=${WINEDEBUG:--all}
mkdir -p build-windows
if [[ ! -d $WINEPREFIX/drive_c ]]; then
  echo "Creating the wine prefix $WINEPREFIX ..."
  if ! wineboot --init >"build-windows/wineboot.log" 2>&1; then
    cat build-windows/wineboot.log >&2
    echo "build-windows: wineboot could not create the prefix $WINEPREFIX" >&2
    exit 1
  fi
fi

cmake -S . -B build-windows -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
  -DCMAKE_BUILD_TYPE=Release -DDSVM_WERROR=ON >/dev/null
cmake --build build-windows -j "${JOBS:-2}"

# What was built for shipping, when it was.
version=$(sed -n 's/^project(dsvm-agent VERSION \([0-9.]*\) .*/\1/p' CMakeLists.txt)
for artifact in build-windows/dsvm-agent.exe "build-windows/dsvm-agent-$version-x64.msi"; do
  if [[ -f $artifact ]]; then
    echo "build-windows: built $artifact"
  fi
done

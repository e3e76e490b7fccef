// The command line (docs/design.md, "The command line and exit status"). Parses arguments, builds
// the engine and its seams, runs one command and returns its exit status: 0 success, 1 runtime
// failure, 2 bad usage or input.
#pragma once

namespace dsvm {

int run_cli(int argc, char** argv);

}  // namespace dsvm

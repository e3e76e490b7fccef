// A test program's Catch session. Catch's implementation, and with it Catch::Session, is compiled
// once, in support/catch_session.cpp: every other file of a test program sees only the test
// macros, and a main() that needs set-up of its own (integration/main.cpp) calls this after it.
#pragma once

namespace dsvm::test {

// Runs the test cases the command line selects; the process's exit status.
int run_catch_session(int argc, char* argv[]);

}  // namespace dsvm::test

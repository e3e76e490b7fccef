// Catch's implementation, compiled once for every test program of the build: each one's main()
// (support/catch_main.cpp, or its own, as integration/main.cpp) runs the session through
// run_catch_session.
#define CATCH_CONFIG_RUNNER
#include "support/catch_session.h"

#include <catch2/catch.hpp>

int dsvm::test::run_catch_session(int argc, char* argv[]) {
    return Catch::Session().run(argc, argv);
}

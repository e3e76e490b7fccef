#include <cstdio>
#include <exception>

#include "agent/cli.h"

int main(int argc, char** argv) {
    try {
        return dsvm::run_cli(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "dsvm-agent: fatal: %s\n", error.what());
        return 1;
    }
}

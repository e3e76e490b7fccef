#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>

#include "agent/cli.h"

int main(int argc, char** argv) {
    // mount.cifs takes a password from these if they are set, and libmount runs it with our
    // environment: keys must come only from the credentials file.
    for (const char* name : {"PASSWD", "PASSWD_FD", "PASSWD_FILE"}) {
        ::unsetenv(name);
    }
    try {
        return dsvm::run_cli(argc, argv);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "dsvm-agent: fatal: %s\n", error.what());
        return 1;
    }
}

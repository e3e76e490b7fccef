// The main() of a test program that needs no set-up of its own (support/catch_session.h).
#include "support/catch_session.h"

int main(int argc, char* argv[]) {
    return dsvm::test::run_catch_session(argc, argv);
}

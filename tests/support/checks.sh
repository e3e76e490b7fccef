# Named checks for the shell tests (tests/packaging/, tests/windows/msi_smoke_test.sh), sourced:
# each check is counted, a failed one is printed with its output indented, and checks_summary
# ends the test with "N passed, N failed" and its status.

failures=0
passed=0
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
pass() { passed=$((passed + 1)); }
check() {
    # check DESCRIPTION COMMAND...: one named check, its output shown when it fails.
    local description=$1
    shift
    local output
    if output=$("$@" 2>&1); then
        pass
    else
        fail "$description"
        [[ -z $output ]] || printf '%s\n' "$output" | sed 's/^/    /'
    fi
}
checks_summary() {
    echo "$passed passed, $failures failed"
    [[ $failures -eq 0 ]]
}

#!/bin/sh
# Run one libFuzzer target (used by tests/fuzz/fuzz.mk).
#
#   run.sh run|smoke TARGET SECONDS [EXTRA_SEED_DIR...]
#   run.sh probe CC          exit 0 when CC can build and run a libFuzzer+ASan binary
#
# One process, one core (no -jobs/-fork). Environment: FUZZ_BUILD (build/fuzz), FUZZ_MAX_LEN, FUZZ_RSS_MB, FUZZ_TIMEOUT, FUZZ_ARGS.
# Exit 0 when the run ended without a finding, 1 on a finding (crash, leak,
# UB, timeout, OOM: the input is in $FUZZ_BUILD/artifacts/TARGET/) or when
# the fuzzer could not run at all.
set -u
B=${FUZZ_BUILD:-build/fuzz}
mode=$1

if [ "$mode" = probe ]; then
    cc=$2
    d=$B/probe
    mkdir -p "$d" || exit 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        >"$d/probe.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$d/probe.c" -o "$d/probe" >/dev/null 2>&1 &&
        "$d/probe" -runs=1 >/dev/null 2>&1
    exit $?
fi

t=$2
secs=$3
shift 3
bin=$B/fuzz_$t
corpus=tests/fuzz/corpus-$t
seeds=tests/fuzz/seeds/$t
art=$B/artifacts/$t
logs=$B/logs
log=$logs/$t.log
mkdir -p "$corpus" "$art" "$logs" || exit 1
[ -x "$bin" ] || { echo "fuzz[$t]: $bin missing (make fuzz-build)"; exit 1; }

dict=
[ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
dirs="$corpus"
[ -d "$seeds" ] && dirs="$dirs $seeds"
for d in "$@"; do [ -d "$d" ] && dirs="$dirs $d"; done

# UB is fatal (-fno-sanitize-recover), leaks are findings; print_stacktrace for the report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

run() { # $1 = detect_leaks
    # shellcheck disable=SC2086
    "$bin" -max_total_time="$secs" -max_len="${FUZZ_MAX_LEN:-16384}" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout="${FUZZ_TIMEOUT:-25}" \
        -print_final_stats=1 -detect_leaks="$1" \
        -artifact_prefix="$art/" $dict ${FUZZ_ARGS:-} $dirs >"$log" 2>&1
}

echo "fuzz[$t]: $mode ${secs}s, corpus $dirs"
run 1
rc=$?
if [ $rc -ne 0 ] && grep -q "LeakSanitizer has encountered a fatal error" "$log" &&
    ! grep -q "Test unit written to" "$log"; then
    # LSan cannot run here (e.g. ptrace not permitted in the container): not a finding.
    echo "fuzz[$t]: LeakSanitizer unavailable here, re-running without leak detection"
    run 0
    rc=$?
fi
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
echo "fuzz[$t]: exit $rc, ${execs:-?} executions; ${done_line:-no DONE line}"
if [ $rc -ne 0 ]; then
    if grep -q "Test unit written to" "$log"; then
        echo "fuzz[$t]: FINDING:"
        grep -E "ERROR: |SUMMARY: |runtime error|Test unit written to" "$log" | head -n 20
    else
        echo "fuzz[$t]: the fuzzer failed to run; last lines of $log:"
        tail -n 20 "$log"
    fi
    exit 1
fi
exit 0

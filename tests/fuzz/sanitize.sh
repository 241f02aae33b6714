#!/usr/bin/env bash
# sanitize.sh SOURCE_DIR BUILD_DIR: the sanitizer variant (issue 7, section 5), run by the ctest
# test `sanitize` of the normal tree, so the README's one test command runs it too.
#  1. configures BUILD_DIR (the normal tree's asan/) with clang, -DPYLAUNCHD_SANITIZE=ON (ASan and
#     UBSan everywhere, UBSan not recoverable) and -DPYLAUNCHD_FUZZ=ON, and builds it;
#  2. runs that tree's unit, e2e and fuzz-replay tests (labels unit, e2e, fuzz: not systemd_*,
#     which need the machine's user manager, nor the benchmarks) under ASan, UBSan and LSan, with
#     CPython's own leaks suppressed (lsan.supp). Every sanitizer report goes to a file as well
#     as failing its process, so one from a process whose exit status no test looks at (a
#     forked worker, a daemon, a server a test's cleanup stops) still fails the variant. (Under
#     systemd-socket-activate, which passes no ASAN_OPTIONS, the settings compiled into the
#     sanitized binary apply and a report goes to stderr, failing that scenario.)
#  3. fuzzes each libFuzzer target for a few seconds from its committed corpus.
# Fails if any step does; prints how long each took. Knobs (environment): PYLAUNCHD_SANITIZE_CC
# (clang-14), PYLAUNCHD_FUZZ_SECONDS (10 per target), PYLAUNCHD_SANITIZE_JOBS (2),
# PYLAUNCHD_SANITIZE_EXCLUDE (a ctest -E regex of more tests to skip).
set -uo pipefail

src=${1:?usage: sanitize.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: sanitize.sh SOURCE_DIR BUILD_DIR}
here="$src/tests/fuzz"
cmake=${CMAKE_COMMAND:-cmake}
ctest=${CTEST_COMMAND:-ctest}
cc=${PYLAUNCHD_SANITIZE_CC:-clang-14}
fuzz_seconds=${PYLAUNCHD_FUZZ_SECONDS:-10}
jobs=${PYLAUNCHD_SANITIZE_JOBS:-2}
exclude='^(systemd_|bench)'
[ -n "${PYLAUNCHD_SANITIZE_EXCLUDE:-}" ] && exclude="$exclude|$PYLAUNCHD_SANITIZE_EXCLUDE"
# The same settings the sanitized binary has compiled in (tests/fuzz/CMakeLists.txt).
asan_defaults=${PYLAUNCHD_ASAN_DEFAULTS:-detect_leaks=1:halt_on_error=1:exitcode=86:handle_segv=0:handle_sigbus=0:handle_sigfpe=0:disable_coredump=0}
ubsan_defaults=${PYLAUNCHD_UBSAN_DEFAULTS:-print_stacktrace=1:halt_on_error=1:exitcode=86}

start=$SECONDS
failed=()
step() { echo "sanitize: [$((SECONDS - start)) s] $*"; }

if ! command -v "$cc" >/dev/null; then
        echo "sanitize: no $cc: the sanitizer variant needs clang with its runtimes" >&2
        echo "  (Debian 12: apt-get install clang-14 libclang-rt-14-dev llvm-14)" >&2
        exit 1
fi
# Reports with function names and lines: llvm-symbolizer (package llvm-14).
for s in llvm-symbolizer-14 /usr/lib/llvm-14/bin/llvm-symbolizer llvm-symbolizer; do
        if command -v "$s" >/dev/null; then
                ASAN_SYMBOLIZER_PATH=$(command -v "$s")
                export ASAN_SYMBOLIZER_PATH
                break
        fi
done

# 1. Configure and build. The tree is kept between runs, so a second run rebuilds only what
#    changed. -fno-sanitize-recover: UBSan stops the process at the first report, as ASan does.
step "configuring $build with $cc"
mkdir -p "$build"
if ! "$cmake" -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DPYLAUNCHD_SANITIZE=ON -DPYLAUNCHD_FUZZ=ON \
        -DCMAKE_C_FLAGS="-fno-sanitize-recover=all" >"$build/sanitize-configure.log" 2>&1; then
        cat "$build/sanitize-configure.log"
        exit 1
fi
step "building"
if ! "$cmake" --build "$build" -j"$jobs" >"$build/sanitize-build.log" 2>&1; then
        tail -n 60 "$build/sanitize-build.log"
        exit 1
fi

# 2. The tests, sanitized. CPython's leaks are suppressed by lsan.supp, plus the launcher leaks
#    already reported and awaiting a fix (lsan-known-launcher-leaks.supp, while it exists).
logs="$build/sanitizer-logs"
rm -rf "$logs" && mkdir -p "$logs"
supp="$build/lsan.supp"
cat "$here/lsan.supp" >"$supp"
[ -f "$here/lsan-known-launcher-leaks.supp" ] && cat "$here/lsan-known-launcher-leaks.supp" >>"$supp"
export ASAN_OPTIONS="$asan_defaults:log_path=$logs/report"
export UBSAN_OPTIONS="$ubsan_defaults:log_path=$logs/report"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0"
step "unit, e2e and replay tests under ASan+UBSan+LSan (ctest -L 'unit|e2e|fuzz' -E '$exclude')"
if ! "$ctest" --test-dir "$build" -L '^(unit|e2e|fuzz)$' -E "$exclude" -j"$jobs" --output-on-failure \
        --timeout 300; then
        failed+=("tests")
fi
reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
        for r in $reports; do
                echo "---- sanitizer report $r"
                cat "$r"
        done
        failed+=("sanitizer reports ($(echo "$reports" | wc -l))")
fi

# 3. Fuzz each target, two at a time. New inputs go to BUILD_DIR/fuzz-corpus/NAME, never into
#    the source tree; the committed corpus is read only. A crash or a violated property leaves
#    its input in BUILD_DIR/fuzz-artifacts/ (add it to corpus/NAME with the fix).
#    Here ASan keeps its SEGV handler, for a report with a stack; libFuzzer checks for leaks. A
#    smaller quarantine keeps two fuzzers at once near 300 MB each.
unset LSAN_OPTIONS
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:quarantine_size_mb=64" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
targets=$(cd "$here/corpus" && ls)
step "fuzzing $(echo $targets | wc -w) targets for ${fuzz_seconds} s each"
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
fuzz_one() {
        local name=$1 bin="$build/tests/fuzz/fuzz_$1" dict=()
        mkdir -p "$build/fuzz-corpus/$name"
        [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
        "$bin" -max_total_time="$fuzz_seconds" -runs=20000000 -timeout=10 -rss_limit_mb=2048 \
                -print_final_stats=1 "${dict[@]}" -artifact_prefix="$build/fuzz-artifacts/$name-" \
                "$build/fuzz-corpus/$name" "$here/corpus/$name" >"$build/fuzz-logs/$name.log" 2>&1
        echo $? >"$build/fuzz-logs/$name.rc"
}
running=0
for name in $targets; do
        fuzz_one "$name" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
                wait -n
                running=$((running - 1))
        fi
done
wait
for name in $targets; do
        rc=$(cat "$build/fuzz-logs/$name.rc" 2>/dev/null || echo missing)
        stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$build/fuzz-logs/$name.log" | tail -n 1)
        if [ "$rc" = 0 ]; then
                echo "  fuzz_$name: ok: ${stats:-no stats}"
        else
                echo "  fuzz_$name: FAILED (exit $rc); its log:"
                grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$build/fuzz-logs/$name.log" | tail -n 60
                failed+=("fuzz_$name")
        fi
done

step "done"
if [ "${#failed[@]}" -gt 0 ]; then
        echo "sanitize: FAILED: ${failed[*]}"
        exit 1
fi
echo "sanitize: all clean in $((SECONDS - start)) s"

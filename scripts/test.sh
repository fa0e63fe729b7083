#!/usr/bin/env bash
# Runs every test: unit + end-to-end + a 60 s soak (release build), a short run of each fuzzer
# over its corpus (clang, libFuzzer), then unit + end-to-end again under ASan+UBSan.
# Prints a closing "N passed, N failed" line; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
FUZZ_SECONDS=${FUZZ_SECONDS:-3}
SOAK_SECONDS=${SOAK_SECONDS:-45}
passed=0
failed=0
failures=()

note() { printf '\n=== %s\n' "$*"; }
count_meson() { # builddir label
  local out rc ok fail
  out=$(meson test -C "$1" --print-errorlogs 2>&1); rc=$?
  echo "$out" | tail -n 12
  ok=$(echo "$out" | sed -n 's/^Ok: *\([0-9]*\).*/\1/p' | tail -1)
  fail=$(echo "$out" | sed -n 's/^Fail: *\([0-9]*\).*/\1/p' | tail -1)
  passed=$((passed + ${ok:-0})); failed=$((failed + ${fail:-0}))
  if [ "$rc" != 0 ]; then failures+=("$2"); [ "${fail:-0}" = 0 ] && failed=$((failed + 1)); fi
}
# The end-to-end tests mostly wait on sockets and timers: two pytest-xdist workers nearly halve
# the wall time. Tests are handed out one by one (the fault-injection file alone is a third of
# the run), so a module's fixtures may be made once per worker. E2E_JOBS=1 runs them in one
# process.
E2E_JOBS=${E2E_JOBS:-2}
xdist_args() {
  [ "$E2E_JOBS" -gt 1 ] && $PY -c 'import xdist' 2>/dev/null && echo "-n $E2E_JOBS --dist load"
}
count_pytest() { # tern-binary label
  local out rc p f e
  out=$(TERN_BIN=$1 $PY -m pytest -q -p no:cacheprovider $(xdist_args) tests/e2e 2>&1); rc=$?
  echo "$out" | tail -n 25
  p=$(echo "$out" | tail -1 | grep -o '[0-9]* passed' | grep -o '[0-9]*')
  f=$(echo "$out" | tail -1 | grep -o '[0-9]* failed' | grep -o '[0-9]*')
  e=$(echo "$out" | tail -1 | grep -o '[0-9]* error' | grep -o '[0-9]*')
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
  if [ "$rc" != 0 ]; then failures+=("$2"); [ "${f:-0}${e:-0}" = 00 ] && failed=$((failed + 1)); fi
}
count_soak() { # tern-binary label: one mixed-load run with signals counts as one test
  local out rc
  out=$($PY tests/soak/soak.py --tern "$1" --duration "$SOAK_SECONDS" 2>&1); rc=$?
  if echo "$out" | grep -q '^tern soak:'; then echo "$out" | sed -n '/^tern soak:/,$p'
  else echo "$out" | tail -n 20; fi
  if [ "$rc" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$2"); fi
}
build() { # dir setup-args...
  local dir=$1; shift
  # an existing build directory takes the options too (e.g. -Dfault_injection=true added later)
  if [ ! -f "$dir/build.ninja" ]; then meson setup "$dir" "$@" >/dev/null || return 1
  else meson setup --reconfigure "$dir" "$@" >/dev/null || return 1; fi
  ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

note "release build"
# both builds also make tern-fault beside tern (tests/e2e/test_fault_injection.py)
if build build --buildtype=release -Dfault_injection=true; then
  note "unit tests (release)"; count_meson build "unit (release)"
  note "end-to-end tests (release)"; count_pytest "$PWD/build/tern" "e2e (release)"
  note "soak (release, ${SOAK_SECONDS}s)"; count_soak "$PWD/build/tern" "soak (release)"
else
  failures+=("release build"); failed=$((failed + 1))
fi

note "fuzzers (${FUZZ_SECONDS}s each)"
if CC=clang build build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false; then
  for f in build-fuzz/fuzz_*; do
    [ -f "$f" ] && [ -x "$f" ] || continue
    name=${f#build-fuzz/fuzz_}
    corpus=$(ls -d tests/fuzz/*/corpus/"$name" 2>/dev/null | head -1)
    work=$(mktemp -d)
    [ -n "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
    if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work.crash-" "$work" >"$work.log" 2>&1; then
      passed=$((passed + 1)); echo "fuzz $name: ok ($(grep -o "Done [0-9]* runs" "$work.log" | tail -1))"
    else
      failed=$((failed + 1)); failures+=("fuzz $name"); tail -n 30 "$work.log"
    fi
    rm -rf "$work" "$work.log" "$work".crash-*
  done
else
  failures+=("fuzz build"); failed=$((failed + 1))
fi

note "ASan+UBSan build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if build build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false -Dfault_injection=true; then
  note "unit tests (asan)"; count_meson build-asan "unit (asan)"
  note "end-to-end tests (asan)"; TERN_ASAN=1 count_pytest "$PWD/build-asan/tern" "e2e (asan)"
else
  failures+=("asan build"); failed=$((failed + 1))
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failing stages: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ ${#failures[@]} = 0 ]

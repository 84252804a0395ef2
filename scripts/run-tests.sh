#!/usr/bin/env bash
# HAL's whole test suite on a fresh Debian 12 machine (what CI runs): installs missing packages,
# builds the cached test guest, builds once and runs every test in parallel (unit and integration
# tests with real QEMU), then the unit tests again under ASan+UBSan, then a short run of every
# fuzzer. Ends with one summary line "hal-tests: N passed, N failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

"$root/scripts/install-deps.sh"
if [ -x "$root/scripts/test-guest/build.sh" ]; then
  HAL_TEST_GUEST_DIR=$("$root/scripts/test-guest/build.sh" | tail -n 1)
  export HAL_TEST_GUEST_DIR
fi

# run_ctest NAME BUILD_DIR [ctest args...]: runs one ctest pass, keeping its log for the summary.
run_ctest() {
  local name=$1 dir=$2
  shift 2
  echo "== $name"
  ctest --test-dir "$dir" -j"$jobs" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$logs/$name.log"
  return "${PIPESTATUS[0]}"
}

status=0
echo "== build (RelWithDebInfo)"
"$root/scripts/build.sh" "$root/build"
run_ctest all-tests "$root/build" || status=1

echo "== build (ASan+UBSan, unit tests)"
# GCC here: under clang's LeakSanitizer the conformance self-tests report indirect leaks from
# reference plugins already dlclose()d (an unsymbolised "<unknown module>"), which GCC's does not.
"$root/scripts/build.sh" "$root/build-asan" -DHAL_SANITIZE=ON -DHAL_BUILD_BENCHMARKS=OFF \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DCMAKE_CXX_COMPILER=g++ --target hal_unit_tests
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest asan-unit-tests "$root/build-asan" -L unit || status=1

echo "== build (libFuzzer, clang)"
"$root/scripts/build.sh" "$root/build-fuzz" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DHAL_BUILD_FUZZERS=ON -DHAL_BUILD_BENCHMARKS=OFF --target hal_fuzzers
run_ctest fuzz-smoke "$root/build-fuzz" -L fuzz || status=1

passed=0 failed=0
for log in "$logs"/*.log; do
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1) || true
  [ -n "$line" ] || { failed=$((failed + 1)); continue; }
  total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.*, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  passed=$((passed + total - bad))
  failed=$((failed + bad))
done
# A fuzzer's find, repeated where the end of the log shows it: the input (libFuzzer prints small
# ones in base64) reproduces it with `echo B64 | base64 -d > in && build-fuzz/.../FUZZER in`.
finds=$(grep -hE '^(Base64: |artifact_prefix=|SUMMARY: |  what\(\): )' "$logs/fuzz-smoke.log" 2>/dev/null) || true
[ -z "$finds" ] || printf '== fuzzer finds\n%s\n' "$finds"
echo "hal-tests: $passed passed, $failed failed"
exit "$status"

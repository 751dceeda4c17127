#!/usr/bin/env bash
# Runs every test of the project, as CI does: installs what the build and
# the tests need, then
#   1. a release build with -Werror and all of ctest,
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build and its ctest,
#   3. a ThreadSanitizer build of the concurrent parts and their tests,
#   4. bounded libFuzzer runs of the parsers of untrusted input.
# Usage: scripts/test.sh [release|asan|tsan|fuzz]...   (default: all four)
# Build trees go to ./build/<stage>; set SQUANT_JOBS to change parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${SQUANT_JOBS:-$(nproc)}
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(release asan tsan fuzz)

scripts/install-deps.sh build test

# ccache (in the test list) makes the four builds of repeated runs cheap.
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Hits across clones in other folders (CI clones anew each run).
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
fi

configure() {  # configure DIR [cmake args...]
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -G Ninja -DSQUANT_WERROR=ON "${launcher[@]}" "$@" >/dev/null
}

# What the sanitizer stages build: the core, the parsers and the server with
# their tests (ctest labels `sanitize` and, for the concurrent parts, `tsan`).
sanitized_targets=(squant_core_test squant_fast_test golden_test
  squant_safetensors_test squant-server model_stream_test
  model_stream_errors_test service_test server_process_test tls_test
  worker_pool_test connection_age_test raw_request_test)

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }

for stage in "${stages[@]}"; do
  case "$stage" in
    release)
      step "release build and all tests"
      configure build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
      ninja -C build/release -j "$jobs"
      ctest --test-dir build/release --output-on-failure --no-tests=error -j "$jobs"
      ;;
    asan)
      step "AddressSanitizer + UndefinedBehaviorSanitizer"
      configure build/asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQUANT_BUILD_BENCHMARKS=OFF \
        -DSQUANT_SANITIZE=address,undefined
      ninja -C build/asan -j "$jobs" "${sanitized_targets[@]}"
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build/asan --output-on-failure --no-tests=error -j "$jobs" -L 'sanitize|tsan'
      ;;
    tsan)
      step "ThreadSanitizer"
      configure build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQUANT_SANITIZE=thread \
        -DSQUANT_BUILD_BENCHMARKS=OFF
      ninja -C build/tsan -j "$jobs" "${sanitized_targets[@]}"
      TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$root/tests/server/tsan.supp" \
        ctest --test-dir build/tsan --output-on-failure --no-tests=error -j "$jobs" -L tsan
      ;;
    fuzz)
      step "libFuzzer (bounded)"
      configure build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSQUANT_FUZZ=ON \
        -DSQUANT_BUILD_BENCHMARKS=OFF \
        -DSQUANT_SANITIZE=address,undefined -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
      ninja -C build/fuzz -j "$jobs" fuzzers
      ctest --test-dir build/fuzz --output-on-failure --no-tests=error -L fuzz
      ;;
    *)
      echo "unknown stage '$stage' (release, asan, tsan, fuzz)" >&2
      exit 1
      ;;
  esac
done
step "all stages passed: ${stages[*]}"

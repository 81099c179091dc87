#!/usr/bin/env bash
# graft's developer entry point.
#   bash scripts/dev.sh example     install deps, build graft-qat, run its demo (prepare, train, convert)
#   bash scripts/dev.sh test        install deps, build (g++, C++17, -Werror), run every test
#   bash scripts/dev.sh test-asan   the same with clang++, C++20, AddressSanitizer + UBSan
#   bash scripts/dev.sh bench       build and run the benchmarks (Release, -O3)
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
bash scripts/install-deps.sh

configure() {  # configure <build-dir> <cmake args...>
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
}

case "${1:-test}" in
  example)
    configure build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++
    cmake --build build --target graft-qat -j "$jobs"
    ./build/examples/graft-qat demo
    ;;
  test)
    configure build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ -DGRAFT_CXX_STANDARD=17
    cmake --build build -j "$jobs"
    ctest --test-dir build --output-on-failure -j "$jobs"
    ;;
  test-asan)
    # -O1 with line tables only: sanitizer reports keep file:line, the build stays affordable.
    configure build-asan -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=clang++ \
      -DGRAFT_CXX_STANDARD=20 -DGRAFT_SANITIZE=ON -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only"
    cmake --build build-asan -j "$jobs"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir build-asan --output-on-failure -j "$jobs"
    ;;
  bench)
    # As bench/README.md's first command (-march=native, as docs/performance.md was measured).
    configure build-bench -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
      -DGRAFT_BUILD_TESTS=OFF -DGRAFT_BUILD_EXAMPLES=OFF -DGRAFT_BUILD_BENCH=ON -DGRAFT_NATIVE=ON
    cmake --build build-bench -j "$jobs"
    for b in build-bench/bench/bench_*; do "$b" || exit 1; done
    ;;
  *)
    echo "usage: bash scripts/dev.sh [example|test|test-asan|bench]" >&2
    exit 2
    ;;
esac

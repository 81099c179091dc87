#!/usr/bin/env bash
# Builds graft's libFuzzer targets (clang++, ASan + UBSan) and runs each for a fixed time.
#   bash tests/fuzz/run_fuzz.sh [SECONDS] [TARGET...]
# SECONDS defaults to 60 (the CI smoke run); TARGET is json_graph, safetensors or end_to_end (all
# by default). Targets run side by side, each for the full time, with its seed corpus (tests/fuzz/seeds plus the
# files under tests/data) and dictionary. A crash, leak, sanitizer report, timeout (> 10 s on one
# input) or out-of-memory (> 2 GiB) fails the script; the input that caused it is left in
# build-fuzz/artifacts/<target>/ (make it a regression case under tests/data/bad, see
# tests/fuzz/README.md). The grown corpus stays in build-fuzz/corpus/<target>/ for the next run.
# Environment: GRAFT_FUZZ_BUILD (build dir, default build-fuzz), GRAFT_FUZZ_JOBS (parallel
# fuzzing processes per target, default 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/install-deps.sh  # clang and its libFuzzer runtime (libclang-rt-14-dev)

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(json_graph safetensors end_to_end)
build=${GRAFT_FUZZ_BUILD:-build-fuzz}
jobs=${GRAFT_FUZZ_JOBS:-1}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only" -DGRAFT_CXX_STANDARD=20 \
  -DGRAFT_BUILD_TESTS=OFF -DGRAFT_BUILD_EXAMPLES=OFF -DGRAFT_FUZZ=ON >/dev/null
cmake --build "$build" --target $(printf 'fuzz_%s ' "${targets[@]}") -j "$(nproc 2>/dev/null || echo 2)"

# Seeds: the committed edge cases, plus the repository's sample files of the right kind.
seed() {  # seed <target> <dir>
  local t=$1 dir=$2 f b
  mkdir -p "$dir"
  cp tests/fuzz/seeds/"$t"/* "$dir"/
  case $t in
    json_graph)
      for f in tests/data/models/*.json tests/data/bad/*.json docs/images/*.json; do
        [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$dir/$(basename "$f")"
      done ;;
    safetensors)
      for f in tests/data/models/*.safetensors tests/data/bad/*.safetensors tests/data/golden/*.safetensors; do
        [ -f "$f" ] && [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$dir/$(basename "$f")"
      done ;;
    end_to_end)
      # A graph file and its weights, joined by a NUL byte.
      for f in tests/data/bad/*.json; do
        b=${f%.json}.safetensors
        if [ -f "$b" ] && [ "$(stat -c %s "$b")" -le 65536 ]; then
          { cat "$f"; printf '\0'; cat "$b"; } > "$dir/$(basename "${f%.json}")"
        else
          cp "$f" "$dir/$(basename "${f%.json}")"
        fi
      done ;;
  esac
}

parallel=()
[ "$jobs" -gt 1 ] && parallel=(-jobs="$jobs" -workers="$jobs")

fuzz_one() {  # fuzz_one <target>: one target's run; its report goes to stdout when it ends
  local t=$1 corpus=$build/corpus/$1 artifacts=$build/artifacts/$1 log=$build/fuzz_$1.log seeds
  mkdir -p "$artifacts" "$corpus"
  seeds=$(mktemp -d)
  seed "$t" "$seeds"
  local nseeds
  nseeds=$(ls "$seeds" | wc -l)
  if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     "$build/tests/fuzz/fuzz_$t" "$corpus" "$seeds" -dict="tests/fuzz/$t.dict" \
       -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=131072 \
       "${parallel[@]}" -print_final_stats=1 \
       -artifact_prefix="$artifacts/" >"$log" 2>&1; then
    echo "== fuzz_$t: ${seconds} s from $nseeds seeds: no crash; $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') inputs run, corpus now $(ls "$corpus" | wc -l) inputs, peak RSS $(grep -E '^stat::peak_rss_mb' "$log" | awk '{print $2}') MB"
    rm -rf "$seeds"
  else
    echo "== fuzz_$t FAILED after $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') inputs; last lines of $log:"
    grep -v '^    #[0-9]' "$log" | tail -30
    ls -l "$artifacts"
    rm -rf "$seeds"
    return 1
  fi
}

# The targets run side by side (each gets the full time; on 2 cores they share them).
status=0
pids=()
for t in "${targets[@]}"; do
  fuzz_one "$t" > "$build/fuzz_$t.summary" 2>&1 &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "$build/fuzz_${targets[$i]}.summary"
done
exit $status

#!/usr/bin/env bash
# Runs graft-qat on every hostile input and checks the error contract (docs/tool.md):
#   exit code exactly 2, stderr starting with "graft-qat: error:", the expected message fragment
#   (tests/hostile/expected.txt), no output file (out.json, out.safetensors, *.graft-tmp) left in
#   WORK_DIR, and done within 60 s (124 = timeout, >= 128 = killed by a signal: reported loudly).
#
#   tests/hostile/run_hostile.sh GRAFT_QAT DATA_DIR WORK_DIR [NAME_FILTER]
#   e.g. tests/hostile/run_hostile.sh build/examples/graft-qat tests/data/bad /tmp/hostile
#
# The big cases (10^5-level nesting, a 10^6-node chain, a 100 MiB header, ...) are generated into
# WORK_DIR/big by make_bad_inputs.py --big. NAME_FILTER (a grep -E pattern) limits the cases.
# Environment: EXPECTED (default: expected.txt beside this script), TIMEOUT (default 60),
# PYTHON (default python3). Sanitizer options (ASAN_OPTIONS, ...) are passed through.
set -u -o pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 GRAFT_QAT DATA_DIR WORK_DIR [NAME_FILTER]" >&2
  exit 64
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GRAFT=$(realpath "$1")
DATA=$(realpath "$2")
mkdir -p "$3" || exit 64
WORK=$(realpath "$3")
FILTER=${4:-}
EXPECTED=${EXPECTED:-$HERE/expected.txt}
TIMEOUT=${TIMEOUT:-60}
PYTHON=${PYTHON:-python3}

[ -x "$GRAFT" ] || { echo "error: $GRAFT is not an executable" >&2; exit 64; }
[ -d "$DATA" ] || { echo "error: $DATA is not a directory" >&2; exit 64; }
[ -f "$EXPECTED" ] || { echo "error: no expectations file $EXPECTED" >&2; exit 64; }

LOGS=$WORK/logs
BIG=$WORK/big
rm -rf "$LOGS" "$WORK/out.json" "$WORK/out.safetensors" "$WORK"/*.graft-tmp
mkdir -p "$LOGS"

start=$(date +%s)
echo "== generating the big cases into $BIG"
if ! "$PYTHON" "$HERE/make_bad_inputs.py" --big "$BIG"; then
  echo "error: make_bad_inputs.py --big failed" >&2
  exit 64
fi

INPUT=$DATA/shared_input.safetensors
[ -f "$INPUT" ] || INPUT=$BIG/shared_input.safetensors

# The expectations: key "file<TAB>command" -> fragment.
declare -A FRAG
while IFS=$'\t' read -r file cmd frag; do
  case "$file" in ''|'#'*) continue ;; esac
  FRAG["$file"$'\t'"$cmd"]=$frag
done <"$EXPECTED"

pass=0
fail=0
failed=()

# Everything in WORK other than logs/ and big/ is an output the failed command must not leave.
leftovers() {
  find "$WORK" -mindepth 1 -maxdepth 1 ! -name logs ! -name big -printf '%f\n' | sort | tr '\n' ' '
}

check() {  # check FILE COMMAND
  local f=$1 cmd=$2 base key frag rc out err why="" left
  base=$(basename "$f")
  key=$base$'\t'$cmd
  out=$LOGS/$base.$cmd.stdout
  err=$LOGS/$base.$cmd.stderr
  case "$cmd" in
    run) (cd "$WORK" && timeout -k 5 "$TIMEOUT" "$GRAFT" run "$f" "$INPUT" -o "$WORK/out.safetensors") \
            </dev/null >"$out" 2>"$err" ;;
    *) (cd "$WORK" && timeout -k 5 "$TIMEOUT" "$GRAFT" "$cmd" "$f" -o "$WORK/out.json") </dev/null >"$out" 2>"$err" ;;
  esac
  rc=$?
  if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$(wc -c <"$err")" -eq 0 ]; }; then
    why="TIMEOUT (exit $rc after ${TIMEOUT}s)"
  elif [ "$rc" -ge 128 ]; then
    why="CRASH: killed by signal $((rc - 128)) (exit $rc)"
  elif [ "$rc" -ne 2 ]; then
    why="exit $rc, expected 2"
  fi
  if grep -qE 'Sanitizer|runtime error:' "$err"; then
    why="sanitizer report${why:+ ($why)}"
  elif [ -z "$why" ]; then
    if ! head -c 18 "$err" | grep -q '^graft-qat: error:'; then
      why="stderr does not start with 'graft-qat: error:'"
    elif [ -n "${FRAG[$key]+x}" ] && ! grep -qF -- "${FRAG[$key]}" "$err"; then
      why="message lacks \"${FRAG[$key]}\""
    fi
  fi
  if [ -z "${FRAG[$key]+x}" ]; then
    why="${why:+$why; }no expectation in $(basename "$EXPECTED")"
  fi
  left=$(leftovers)
  if [ -n "$left" ]; then
    why="${why:+$why; }left files behind: $left"
    find "$WORK" -mindepth 1 -maxdepth 1 ! -name logs ! -name big -exec rm -rf {} +
  fi
  if [ -z "$why" ]; then
    pass=$((pass + 1))
    printf 'PASS  %-40s %-8s\n' "$base" "$cmd"
  else
    fail=$((fail + 1))
    failed+=("$base $cmd")
    local first
    first=$(grep -m1 -v '^\s*$' "$err" | cut -c1-200)
    if [ "$rc" -eq 124 ] || [ "$rc" -ge 128 ] || [[ "$why" == sanitizer* ]]; then
      printf '!!!!  %-40s %-8s %s\n' "$base" "$cmd" "$why"
      grep -m3 -E 'ERROR: |runtime error:|SUMMARY:|#0 |#1 |#2 ' "$err" | cut -c1-200 | sed 's/^/        | /'
    else
      printf 'FAIL  %-40s %-8s %s\n' "$base" "$cmd" "$why"
    fi
    [ -n "$first" ] && printf '        stderr: %s\n' "$first"
  fi
}

cases=()
for f in "$DATA"/*.json "$BIG"/*.json; do
  [ -e "$f" ] || continue
  base=$(basename "$f")
  if [ -n "$FILTER" ] && ! grep -qE -- "$FILTER" <<<"$base"; then continue; fi
  cases+=("$f")
done

for f in "${cases[@]}"; do
  base=$(basename "$f")
  cmds=(prepare convert)
  case "$base" in *_rt_*) cmds+=(run) ;; esac
  case "$base" in *_q_*) cmds=(quantize) ;; esac  # a prepared graph: only quantize reads it
  for cmd in "${cmds[@]}"; do check "$f" "$cmd"; done
done

end=$(date +%s)
echo
echo "== $(basename "$GRAFT") ($GRAFT): $pass passed, $fail failed, ${#cases[@]} cases, $((end - start)) s"
if [ "$fail" -ne 0 ]; then
  echo "== failed:"
  printf '   %s\n' "${failed[@]}"
  exit 1
fi
exit 0

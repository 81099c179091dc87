#!/usr/bin/env bash
# graft-qat's command line, one behaviour per case:
#   bash cli_test.sh GRAFT_QAT MODELS_DIR WORK_DIR CASE
# MODELS_DIR holds the sample models exported from PyTorch (tests/data/models).
set -uo pipefail
bin=$1 models=$2 work=$3 case=$4
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL ($case): $*" >&2; exit 1; }
# expect CODE CMD... : runs CMD, checks its exit code, keeps stdout/stderr in $work/out, $work/err
expect() {
  local code=$1
  shift
  "$@" >"$work/out" 2>"$work/err"
  local got=$?
  [[ $got == "$code" ]] || { cat "$work/out" "$work/err" >&2; fail "exit code $got, expected $code: $*"; }
}
contains() { grep -qF -- "$2" "$1" || { cat "$1" >&2; fail "$1 does not contain: $2"; }; }
absent() { [[ ! -e $1 ]] || fail "$1 was written"; }

case $case in
  usage)
    expect 1 "$bin"
    contains "$work/err" "graft-qat: error: no command"
    contains "$work/err" "usage: graft-qat demo"
    expect 1 "$bin" frobnicate
    contains "$work/err" 'graft-qat: error: unknown command "frobnicate"'
    expect 1 "$bin" prepare "$models/convbn_small.json"
    contains "$work/err" "prepare needs IN.json and -o OUT.json"
    expect 1 "$bin" run a b -o c --train --eval
    contains "$work/err" "--train and --eval exclude each other"
    expect 1 "$bin" show x.json --colour
    contains "$work/err" "unknown option --colour"
    expect 0 "$bin" --help
    contains "$work/out" "graft-qat convert IN.json -o OUT.json"
    ;;
  prepare)
    expect 0 "$bin" prepare "$models/convbn_small.json" -o "$work/p.json" --report "$work/p.report.json"
    contains "$work/out" "fused 2 conv-bn pairs"
    contains "$work/out" "conv2d+bias 1, conv2d 1"
    # prepare creates no tensor: the output points at the input's weights, relative to itself.
    contains "$work/p.json" '"weights": "'
    absent "$work/p.safetensors"
    contains "$work/p.report.json" '"matches": 2'
    contains "$work/p.report.json" '"created": ['
    expect 0 "$bin" prepare "$models/convbn_small.json" -o "$work/q.json" --quiet
    [[ ! -s $work/out ]] || fail "--quiet printed something"
    # The prepared file reads back (its weights are found through the relative path).
    expect 0 "$bin" show "$work/p.json"
    contains "$work/out" "aten.sqrt.default"
    ;;
  compare)
    # The folded model computes what the quantized one did; compare says so, and says when not.
    expect 0 "$bin" prepare "$models/resnet_tiny.json" -o "$work/p.json" --quiet
    expect 0 "$bin" quantize "$work/p.json" -o "$work/q.json" --per-channel --quiet
    expect 0 "$bin" convert "$work/q.json" -o "$work/c.json" --quiet
    expect 0 "$bin" run "$work/q.json" "$models/resnet_tiny.input.safetensors" -o "$work/q.out.safetensors" --eval
    expect 0 "$bin" run "$work/c.json" "$models/resnet_tiny.input.safetensors" -o "$work/c.out.safetensors" --eval
    expect 0 "$bin" compare "$work/c.out.safetensors" "$work/q.out.safetensors" --tolerance 1e-5
    contains "$work/out" "output_0: max relative difference"
    contains "$work/out" "all 1 tensors match"
    # Against the float model's outputs the quantized ones differ by more than 1e-6.
    expect 3 "$bin" compare "$work/q.out.safetensors" "$models/resnet_tiny.output.safetensors" --tolerance 1e-6
    contains "$work/out" "OVER the tolerance"
    contains "$work/out" "1 of 1 tensors differ"
    expect 3 "$bin" compare "$models/resnet_tiny.input.safetensors" "$work/q.out.safetensors"
    contains "$work/out" "output_0: missing from"
    expect 1 "$bin" compare "$work/q.out.safetensors" "$work/q.out.safetensors" --tolerance -1
    contains "$work/err" "--tolerance needs a non-negative number"
    expect 2 "$bin" compare "$work/q.out.safetensors" "$work/nothing.safetensors"
    ;;
  quantize_convert)
    expect 0 "$bin" prepare "$models/resnet_tiny.json" -o "$work/p.json" --quiet
    expect 0 "$bin" quantize "$work/p.json" -o "$work/q.json" --per-channel
    contains "$work/out" "per channel"
    [[ -s $work/q.safetensors ]] || fail "quantize wrote no weights"
    expect 0 "$bin" convert "$work/q.json" -o "$work/c.json" --report "$work/c.report.json"
    contains "$work/out" "folded"
    contains "$work/out" "per_channel"
    [[ -s $work/c.safetensors ]] || fail "convert wrote no weights"
    contains "$work/c.report.json" '"rewritten": ['
    ! grep -q batch_norm "$work/c.json" || fail "a batch norm is left after convert"
    expect 0 "$bin" run "$work/c.json" "$models/resnet_tiny.input.safetensors" -o "$work/out.safetensors"
    [[ -s $work/out.safetensors ]] || fail "run wrote no outputs"
    ;;
  run)
    expect 0 "$bin" run "$models/convbn_small.json" "$models/convbn_small.input.safetensors" -o "$work/o.safetensors"
    [[ -s $work/o.safetensors ]] || fail "no outputs written"
    grep -qa '"output_0"' "$work/o.safetensors" || fail "outputs are not named output_0"
    expect 2 "$bin" run "$models/convbn_small.json" "$models/convbn_small.output.safetensors" -o "$work/x.safetensors"
    contains "$work/err" 'no tensor named "x"'
    absent "$work/x.safetensors"
    ;;
  run_train)
    expect 0 "$bin" run "$models/convbn_small.json" "$models/convbn_small.input.safetensors" -o "$work/o.safetensors" \
      --train --save-weights "$work/w.safetensors"
    [[ -s $work/w.safetensors ]] || fail "no weights saved"
    # Training moved the running statistics: the saved weights differ from the input's.
    ! cmp -s "$work/w.safetensors" "$models/convbn_small.safetensors" || fail "running statistics did not change"
    ;;
  bad_input)
    printf '{"graft": 1, "nodes": [' >"$work/bad.json"
    expect 2 "$bin" prepare "$work/bad.json" -o "$work/out.json"
    contains "$work/err" "graft-qat: error: graph file"
    contains "$work/err" "malformed JSON at byte"
    absent "$work/out.json"
    absent "$work/out.safetensors"
    expect 2 "$bin" convert "$work/missing.json" -o "$work/out.json"
    contains "$work/err" "cannot open"
    absent "$work/out.json"
    # Writing into a directory that does not exist fails and leaves nothing behind.
    expect 2 "$bin" convert "$models/convbn_small.json" -o "$work/nodir/out.json"
    contains "$work/err" "cannot open for writing"
    absent "$work/nodir"
    ;;
  show)
    expect 0 "$bin" prepare "$models/convbn_small.json" -o "$work/p.json" --report "$work/r.json" --quiet
    expect 0 "$bin" show "$work/p.json" --dot "$work/p.dot" --report "$work/r.json"
    contains "$work/out" "nodes:"
    contains "$work/p.dot" "digraph"
    contains "$work/p.dot" 'fillcolor="#b7e4a7"'
    expect 2 "$bin" show "$work/p.json" --report "$models/convbn_small.json"
    contains "$work/err" "not a graft-qat report"
    ;;
  *) fail "unknown case" ;;
esac
echo "ok ($case)"

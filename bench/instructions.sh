#!/bin/bash
# Instructions executed inside graft::qat::fuse_conv_bn_qat per conv-bn-relu block, counted by
# valgrind's callgrind (exact and repeatable, unlike a timing on a shared machine).
#   bash bench/instructions.sh build-bench/bench/cost_probe [blocks]
set -euo pipefail
probe=${1:?usage: instructions.sh path/to/cost_probe [blocks]}
blocks=${2:-1000}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$probe" "$blocks"
valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect='*fuse_conv_bn_qat*' \
  "$probe" "$blocks" > /dev/null 2>&1
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "instructions inside fuse_conv_bn_qat: $total, $((total / blocks)) per block"

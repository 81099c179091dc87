#!/usr/bin/env bash
# Renders the conv-bn pattern before prepare, after prepare and after convert (docs/images/*.svg)
# with graft-qat and Graphviz's dot (apt-get install graphviz):
#   bash docs/images/make_pictures.sh [path/to/graft-qat]
# The model, conv_bn.json (+ .safetensors), was exported from PyTorch once with
#   /usr/bin/python3 tools/export_torch.py tests/tools/sample_models.py:conv_bn_relu \
#       docs/images/conv_bn.json --input-shape 1,3,8,8 --no-stack-trace
set -euo pipefail
cd "$(dirname "$0")"
bin=${1:-../../build/examples/graft-qat}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" show conv_bn.json --dot "$tmp/1_before_prepare.dot" >/dev/null
"$bin" prepare conv_bn.json -o "$tmp/prepared.json" --report "$tmp/prepare.json" --quiet
"$bin" show "$tmp/prepared.json" --dot "$tmp/2_after_prepare.dot" --report "$tmp/prepare.json" >/dev/null
"$bin" quantize "$tmp/prepared.json" -o "$tmp/quantized.json" --quiet
"$bin" show "$tmp/quantized.json" --dot "$tmp/3_after_quantize.dot" >/dev/null
"$bin" convert "$tmp/quantized.json" -o "$tmp/converted.json" --report "$tmp/convert.json" --quiet
"$bin" show "$tmp/converted.json" --dot "$tmp/4_after_convert.dot" --report "$tmp/convert.json" >/dev/null
for f in "$tmp"/*.dot; do
  dot -Tsvg "$f" -o "$(basename "${f%.dot}").svg"
done
ls -l ./*.svg

#!/usr/bin/python3
"""Regenerate tests/data/models/ with tools/export_torch.py from tests/tools/sample_models.py.

    /usr/bin/python3 tests/tools/make_sample_models.py        # from anywhere

For each (model, mode) it writes <name>.json, <name>.safetensors (weights),
<name>.input.safetensors ("x") and <name>.output.safetensors ("output_0", PyTorch's
output in the export mode). Deterministic (fixed seeds); prints the file sizes and
fails if they exceed 300 KB in total. tests/tools/test_export_torch.py checks them.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXPORTER = os.path.join(REPO, "tools", "export_torch.py")
MODELS = os.path.join(HERE, "sample_models.py")
OUT_DIR = os.path.join(REPO, "tests", "data", "models")
MAX_TOTAL = 300 * 1024

sys.dont_write_bytecode = True  # no __pycache__ beside the model files
sys.path.insert(0, HERE)
import sample_models  # noqa: E402

# (file stem, factory, mode)
CASES = [
    ("convbn_small", "convbn_small", "eval"),
    ("convbn_small_train", "convbn_small", "train"),
    ("convbn_1d3d", "convbn_1d3d", "eval"),
    ("resnet_tiny", "resnet_tiny", "eval"),
]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for stem, factory, mode in CASES:
        cmd = [sys.executable, EXPORTER, "tests/tools/sample_models.py:" + factory,
               os.path.join(OUT_DIR, stem + ".json"), "--" + mode,
               "--example-input", os.path.join(OUT_DIR, stem + ".input.safetensors"),
               "--example-output", os.path.join(OUT_DIR, stem + ".output.safetensors")]
        for shape in sample_models.INPUT_SHAPES[factory]:
            cmd += ["--input-shape", ",".join(str(d) for d in shape)]
        # run from the repo root so that the model file path (and the stack traces) are relative
        subprocess.run(cmd, check=True, cwd=REPO)
    total = 0
    for f in sorted(os.listdir(OUT_DIR)):
        size = os.path.getsize(os.path.join(OUT_DIR, f))
        total += size
        print("%-40s %8d" % (f, size))
    print("%-40s %8d" % ("total", total))
    if total > MAX_TOTAL:
        sys.exit("tests/data/models is %d bytes, more than %d" % (total, MAX_TOTAL))


if __name__ == "__main__":
    main()

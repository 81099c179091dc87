#!/usr/bin/env python3
"""Validate the format of every tests/data/golden/*.safetensors file.

Pure python (struct + json only; no torch, no numpy), so it runs with any
python3:

    python3 tests/golden/check_golden.py [DIR]

Checks, per file: the 8-byte little-endian header length; the header is UTF-8
JSON (an object); the data section starts at an 8-byte aligned offset; every
tensor entry has a known dtype, a list of non-negative int shape and
data_offsets; tensors are packed in header order with no gaps starting at 0
and ending exactly at the end of the file; byte count == numel * itemsize;
__metadata__ maps str -> str and has a "params" entry that is a JSON object
with "family" and "case" keys (case == file stem); float tensors contain no
NaN (infinities are allowed but none are expected); required tensor names per
family are present.  Nothing is recomputed.
"""

import json
import math
import os
import struct
import sys

ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4,
            "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
FLOAT_FMT = {"F32": "f", "F64": "d"}

REQUIRED = {
    "conv": ["input", "weight", "output"],
    "batch_norm": ["input", "bn_weight", "bn_bias", "running_mean", "running_var",
                   "num_batches_tracked", "output", "running_mean_after",
                   "running_var_after", "num_batches_tracked_after"],
    "quant": ["input", "scale", "zero_point", "quantized", "dequantized"],
    "fold": ["weight", "running_mean", "running_var", "bn_weight", "bn_bias",
             "fused_weight", "fused_bias", "input", "reference_output"],
    "qat_convbn": ["input", "weight", "bn_weight", "bn_bias", "running_mean",
                   "running_var", "num_batches_tracked", "output",
                   "running_mean_after", "running_var_after",
                   "num_batches_tracked_after", "weight_fq_scale",
                   "weight_fq_zero_point", "scaled_weight", "fq_weight"],
    "convert": ["x", "weight", "bn_weight", "bn_bias", "running_mean",
                "running_var", "folded_weight", "folded_bias", "weight_q",
                "weight_dq", "out", "out_f32"],
}


class FormatError(Exception):
    pass


def check_file(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise FormatError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise FormatError("header length %d exceeds file size" % n)
    if (8 + n) % 8 != 0:
        raise FormatError("data section not 8-byte aligned (8 + %d)" % n)
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError("header is not UTF-8 JSON: %s" % e)
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    data = blob[8 + n:]
    meta = header.pop("__metadata__", None)
    if not isinstance(meta, dict):
        raise FormatError("missing __metadata__")
    for k, v in meta.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise FormatError("__metadata__ must map str -> str")
    if "params" not in meta:
        raise FormatError("__metadata__ has no params")
    params = json.loads(meta["params"])
    if not isinstance(params, dict):
        raise FormatError("params is not a JSON object")
    stem = os.path.basename(path)[:-len(".safetensors")]
    if params.get("case") != stem:
        raise FormatError("params.case %r != file stem %r" % (params.get("case"), stem))
    family = params.get("family")
    if family not in REQUIRED:
        raise FormatError("unknown family %r" % family)
    expect = 0
    for name, info in header.items():
        if set(info.keys()) != {"dtype", "shape", "data_offsets"}:
            raise FormatError("%s: bad keys %s" % (name, sorted(info.keys())))
        dt = info["dtype"]
        if dt not in ITEMSIZE:
            raise FormatError("%s: unknown dtype %r" % (name, dt))
        shape = info["shape"]
        if not isinstance(shape, list) or not all(
                isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise FormatError("%s: bad shape %r" % (name, shape))
        begin, end = info["data_offsets"]
        if begin != expect:
            raise FormatError("%s: begins at %d, expected %d (gap/overlap/order)"
                              % (name, begin, expect))
        numel = 1
        for d in shape:
            numel *= d
        if end - begin != numel * ITEMSIZE[dt]:
            raise FormatError("%s: %d bytes for %s %r" % (name, end - begin, dt, shape))
        if end > len(data):
            raise FormatError("%s: ends at %d beyond data section (%d bytes)"
                              % (name, end, len(data)))
        if dt in FLOAT_FMT and numel:
            vals = struct.unpack("<%d%s" % (numel, FLOAT_FMT[dt]), data[begin:end])
            if any(math.isnan(v) for v in vals):
                raise FormatError("%s: contains NaN" % name)
        expect = end
    if expect != len(data):
        raise FormatError("data section is %d bytes, tensors cover %d"
                          % (len(data), expect))
    missing = [t for t in REQUIRED[family] if t not in header]
    if missing:
        raise FormatError("missing tensors for family %s: %s" % (family, missing))
    if params.get("has_bias") is True and "bias" not in header:
        raise FormatError("has_bias but no bias tensor")
    if params.get("has_bias") is False and "bias" in header:
        raise FormatError("bias tensor present but has_bias is false")
    return family, len(header), len(blob)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(here)), "tests", "data", "golden")
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    ok = bad = 0
    total = 0
    fams = {}
    for f in files:
        try:
            fam, nt, size = check_file(os.path.join(d, f))
            fams[fam] = fams.get(fam, 0) + 1
            total += size
            ok += 1
        except Exception as e:  # noqa: BLE001
            print("FAIL %s: %s" % (f, e))
            bad += 1
    print("families: %s" % ", ".join("%s=%d" % kv for kv in sorted(fams.items())))
    print("total bytes: %d" % total)
    print("%d passed, %d failed" % (ok, bad))
    if bad or not files:
        sys.exit(1)


if __name__ == "__main__":
    main()

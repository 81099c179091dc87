#!/usr/bin/python3
"""Side-by-side numbers for bench/bench_numerics.cpp.

Runs the graft benchmark binary (Google Benchmark, JSON output), then PyTorch's F.conv2d on the
same shape with one thread, and prints:

  - fold / memcpy bandwidth ratio (issue target: >= 0.80)
  - conv2d 1x64x56x56 -> 64, 3x3, padding 1: graft GFLOP/s, torch GFLOP/s and graft/torch
    (issue target: >= 0.5)

Usage (Debian python, which sees python3-torch):

    /usr/bin/python3 bench/compare_torch_conv.py build-bench/bench/bench_numerics [--repetitions N]
"""

import argparse
import json
import subprocess
import sys
import time


def run_graft(binary, repetitions):
    cmd = [binary, "--benchmark_format=json", "--benchmark_repetitions=%d" % repetitions,
           "--benchmark_report_aggregates_only=true"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    res = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        name = b.get("run_name", b["name"])
        res[name] = b
    return res, data.get("context", {})


def torch_conv_gflops(repetitions):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 64, 56, 56, generator=g)
    w = torch.randn(64, 64, 3, 3, generator=g)
    b = torch.randn(64, generator=g)
    flops = 2.0 * 64 * 64 * 9 * 56 * 56
    with torch.no_grad():
        for _ in range(5):
            F.conv2d(x, w, b, padding=1)
        best = []
        for _ in range(repetitions):
            n = 0
            t0 = time.perf_counter()
            while True:
                F.conv2d(x, w, b, padding=1)
                n += 1
                dt = time.perf_counter() - t0
                if dt > 0.5:
                    break
            best.append(flops * n / dt * 1e-9)
    best.sort()
    return best[len(best) // 2], torch.__version__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--repetitions", type=int, default=5)
    args = ap.parse_args()
    graft, ctx = run_graft(args.binary, args.repetitions)
    fold = graft["BM_Fold_512x512x3x3"]["bytes_per_second"]
    copy = graft["BM_Memcpy_512x512x3x3"]["bytes_per_second"]
    conv = graft["BM_Conv2d_1x64x56x56_k3"]["GFLOP/s"]
    tg, tv = torch_conv_gflops(args.repetitions)
    print("machine: %s CPUs, %s MHz" % (ctx.get("num_cpus"), ctx.get("mhz_per_cpu")))
    print("fold 512x512x3x3 f32:   %8.2f GB/s" % (fold / 1e9))
    print("memcpy same buffer:     %8.2f GB/s" % (copy / 1e9))
    print("fold / memcpy:          %8.3f   (target >= 0.80)" % (fold / copy))
    print("conv2d graft:           %8.2f GFLOP/s" % conv)
    print("conv2d torch %s:  %8.2f GFLOP/s (1 thread)" % (tv, tg))
    print("conv2d graft / torch:   %8.3f   (target >= 0.50)" % (conv / tg))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""graft's fuse_conv_bn_qat against torch 1.13's torch.fx.subgraph_rewriter.replace_pattern.

Both sides rewrite every conv2d -> batch_norm of a chain of N conv-bn-relu blocks into the
simulated-fold subgraph of PT2E QAT prepare, one thread each, in the same run.

    bash scripts/dev.sh bench >/dev/null   # builds build-bench/ (or configure it yourself)
    /usr/bin/python3 bench/compare_torch_prepare.py [--max-blocks 2000]

Needs Debian's python3-torch (torch 1.13). Prints a table of times and graft/torch ratios.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.fx
import torch.nn.functional as F
from torch.fx import subgraph_rewriter

torch.set_num_threads(1)
sys.setrecursionlimit(1_000_000)  # torch.fx recurses per node; the default limit crashes at ~1000 blocks


class Chain(torch.nn.Module):
    def __init__(self, n, c=4):
        super().__init__()
        self.n = n
        for i in range(n):
            self.register_parameter(f"w{i}", torch.nn.Parameter(torch.randn(c, c, 3, 3)))
            self.register_parameter(f"b{i}", torch.nn.Parameter(torch.zeros(c)))
            self.register_parameter(f"g{i}", torch.nn.Parameter(torch.ones(c)))
            self.register_parameter(f"be{i}", torch.nn.Parameter(torch.zeros(c)))
            self.register_buffer(f"m{i}", torch.zeros(c))
            self.register_buffer(f"v{i}", torch.ones(c))

    def forward(self, x):
        for i in range(self.n):
            x = F.conv2d(x, getattr(self, f"w{i}"), getattr(self, f"b{i}"), 1, 1)
            x = F.batch_norm(x, getattr(self, f"m{i}"), getattr(self, f"v{i}"), getattr(self, f"g{i}"),
                             getattr(self, f"be{i}"), training=True)
            x = F.relu(x)
        return x


def pattern(x, w, b, g, be, m, v):
    x = F.conv2d(x, w, b, 1, 1)
    return F.batch_norm(x, m, v, g, be, training=True)


def replacement(x, w, b, g, be, m, v):
    running_std = torch.sqrt(v + 1e-5)
    scale = g / running_std
    y = F.conv2d(x, w * scale.reshape(-1, 1, 1, 1), torch.zeros_like(b), 1, 1)
    y = y / scale.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)
    return F.batch_norm(y, m, v, g, be, training=True)


def torch_seconds(n):
    gm = torch.fx.symbolic_trace(Chain(n))
    start = time.perf_counter()
    matches = subgraph_rewriter.replace_pattern(gm, pattern, replacement)
    elapsed = time.perf_counter() - start
    assert len(matches) == n, (len(matches), n)
    return elapsed


def graft_seconds(binary, n):
    out = subprocess.run([binary, f"--benchmark_filter=BM_Prepare/{n}/", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True).stdout
    bench = json.loads(out)["benchmarks"][0]
    assert bench["time_unit"] == "ms"
    return bench["real_time"] / 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join("build-bench", "bench", "bench_prepare"))
    ap.add_argument("--max-blocks", type=int, default=2000)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, one thread each side")
    print(f"{'blocks':>7} {'torch s':>10} {'graft s':>10} {'torch/graft':>12}")
    for n in (100, 300, 1000, 2000):
        if n > args.max_blocks:
            break
        t = torch_seconds(n)
        g = graft_seconds(args.binary, n)
        print(f"{n:>7} {t:>10.4f} {g:>10.5f} {t / g:>11.0f}x", flush=True)


if __name__ == "__main__":
    main()

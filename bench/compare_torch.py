#!/usr/bin/python3
"""graft against torch 1.13 on the same work, in the same run, one thread each side.

    /usr/bin/python3 bench/compare_torch.py [--build build-bench] [--json out.json]

Runs the graft benchmark programs (build-bench/bench/bench_{prepare,convert,numerics}, Google
Benchmark, --benchmark_format=json, repetitions, medians), then torch 1.13 (Debian python3-torch,
torch.set_num_threads(1)) on the same work, and prints a table of graft / torch speed ratios
(> 1: graft is faster; the ratio is torch's time over graft's time, or graft's GFLOP/s over
torch's):

  prepare  torch.fx.subgraph_rewriter.replace_pattern doing the conv-bn -> QAT rewrite on the same
           chains of N conv2d -> batch_norm -> relu blocks (9 N + 2 nodes on both sides) against
           graft's fuse_conv_bn_qat (BM_Prepare); matching alone: torch.fx's SubgraphMatcher (what
           replace_pattern runs first) against check_conv_bn_pairs (BM_PrepareMatch, which also
           runs prepare's guard rails); graft's flatness is also printed from cold caches
           (BM_PrepareCold) and with glibc keeping freed memory (one more process of BM_Prepare
           under KEEP_HEAP_ENV), for reference only: the target is judged on BM_Prepare
  fold     torch.nn.utils.fusion.fuse_conv_bn_weights against graft's fold_conv_bn_weights
           (BM_FoldConvBnWeights; both allocate the folded weight) on 64x64x3x3, 512x512x3x3 and
           2048x512x1x1 float32 weights; and graft's fold into a preallocated buffer against
           memcpy of the same buffer (bandwidth ratio, graft only)
  convert  graft's whole fold_conv_bn_qat on ResNet-50- and MobileNetV2-shaped graphs with real
           weights against torch's fuse_conv_bn_weights called once per conv-bn pair of the same
           shapes (weight math only, no graph work on torch's side)
  conv2d   F.conv2d against graft's kernels::conv on ResNet-50 layer shapes (batch 1), GFLOP/s
  bn       F.batch_norm (eval and training) against graft's kernels::batch_norm

Times are CPU time of the process on both sides (Google Benchmark's cpu_time, Python's
time.process_time), which a busy second core disturbs less than wall time; wall times are kept in
the JSON. Each number is the median of --repetitions runs (prepare: fewer, see --prepare-reps).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import torch
import torch.fx
import torch.nn.functional as F
from torch.fx import subgraph_rewriter
from torch.fx.passes.utils.matcher_utils import SubgraphMatcher
from torch.nn.utils.fusion import fuse_conv_bn_weights

torch.set_num_threads(1)
# torch.fx recurses per node (deepcopy, graph lint); the default limit crashes at ~1000 blocks.
sys.setrecursionlimit(1_000_000)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FOLD_SHAPES = [(64, 64, 3, 3), (512, 512, 3, 3), (2048, 512, 1, 1)]
# name -> (C_in, H=W, C_out, kernel, stride, groups); bench_numerics.cpp uses the same list.
CONV_SHAPES = {
    "conv1_3x224_64_k7s2": (3, 224, 64, 7, 2, 1),
    "l1_64x56_64_k3": (64, 56, 64, 3, 1, 1),
    "l1_64x56_256_k1": (64, 56, 256, 1, 1, 1),
    "l2_128x28_128_k3": (128, 28, 128, 3, 1, 1),
    "l3_256x14_256_k3": (256, 14, 256, 3, 1, 1),
    "l4_512x7_512_k3": (512, 7, 512, 3, 1, 1),
    "l4_512x7_2048_k1": (512, 7, 2048, 1, 1, 1),
    "mbv2_dw_144x56_k3": (144, 56, 144, 3, 1, 144),
}
BN_SHAPES = {"64x112": (64, 112), "256x56": (256, 56), "2048x7": (2048, 7)}
CHAIN_BLOCKS = [100, 300, 1000, 2000, 10000, 100000]
# glibc told to keep every freed byte (no trimming of the heap top, nothing mmapped), for the
# informational "heap kept" prepare run: a pass that frees and takes memory again then finds it
# in the process instead of faulting fresh pages in from the kernel. Not the default, not the
# target's measurement; an application that rewrites large graphs one after another can ask for
# the same with mallopt(M_TRIM_THRESHOLD / M_MMAP_THRESHOLD).
KEEP_HEAP_ENV = {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=4294967296"}


# ---------------------------------------------------------------------------------------------
# graft side


def run_graft_once(binary, bench_filter, repetitions, env=None):
    """Medians (by run name) of one run of one benchmark program (`env`: extra environment)."""
    cmd = [binary, "--benchmark_format=json", f"--benchmark_filter={bench_filter}",
           f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true"]
    print("  $ " + "".join(f"{k}={v} " for k, v in (env or {}).items()) + " ".join(cmd), file=sys.stderr, flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         env=dict(os.environ, **env) if env else None).stdout
    data = json.loads(out)
    res = {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name", "median") != "median":
            continue
        if b.get("error_occurred"):
            sys.exit(f"{binary}: {b['name']}: {b.get('error_message')}")
        name = b.get("run_name", b["name"])
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        b["cpu_s"] = b["cpu_time"] * scale
        b["real_s"] = b["real_time"] * scale
        res[name] = b
    return res, data.get("context", {})


def run_graft(binary, bench_filter, repetitions, runs=1):
    """Per benchmark, the run (of `runs` separate processes) with the median CPU time.

    Repetitions inside one process share its state (heap layout, what the allocator has kept or
    returned to the system); on the shared VM a process sometimes runs a memory-heavy benchmark
    at half speed throughout. Separate processes make such a state one vote of several."""
    results, ctx = [], {}
    for _ in range(runs):
        r, ctx = run_graft_once(binary, bench_filter, repetitions)
        results.append(r)
    res = {}
    for name in results[0]:
        runs_of = sorted((r[name] for r in results if name in r), key=lambda b: b["cpu_s"])
        res[name] = runs_of[len(runs_of) // 2]
    return res, ctx


def graft_get(res, prefix):
    """The one result whose run name starts with `prefix` (names carry /iterations:N suffixes)."""
    hits = [v for k, v in res.items() if k == prefix or k.startswith(prefix + "/iterations")]
    if len(hits) != 1:
        sys.exit(f"no unique graft result for {prefix}: {sorted(res)}")
    return hits[0]


# ---------------------------------------------------------------------------------------------
# torch side


def timed(fn, repetitions, min_time=0.2):
    """Median CPU and wall seconds per call of fn over `repetitions` runs of >= min_time each."""
    for _ in range(3):
        fn()
    cpu, wall = [], []
    for _ in range(repetitions):
        n = 0
        c0, w0 = time.process_time(), time.perf_counter()
        while True:
            fn()
            n += 1
            dc = time.process_time() - c0
            if dc >= min_time:
                break
        cpu.append(dc / n)
        wall.append((time.perf_counter() - w0) / n)
    return statistics.median(cpu), statistics.median(wall)


class Chain(torch.nn.Module):
    """N blocks conv2d(4 -> 4, 3x3, bias) -> batch_norm (training) -> relu, as bench/models.hpp."""

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
    # PT2E's _qat_conv_bn_pattern: the simulated fold (scale the weight, undo the scale on the
    # output, add the bias back, then the real BN).
    running_std = torch.sqrt(v + 1e-5)
    scale = g / running_std
    y = F.conv2d(x, w * scale.reshape(-1, 1, 1, 1), torch.zeros_like(b), 1, 1)
    y = y / scale.reshape(1, -1, 1, 1) + b.reshape(1, -1, 1, 1)
    return F.batch_norm(y, m, v, g, be, training=True)


def torch_prepare(n, repetitions):
    """(replace_pattern cpu, wall, SubgraphMatcher.match cpu, wall), medians, seconds."""
    rw_cpu, rw_wall, m_cpu, m_wall = [], [], [], []
    pattern_graph = torch.fx.symbolic_trace(pattern).graph
    for _ in range(repetitions):
        gm = torch.fx.symbolic_trace(Chain(n))
        assert len(gm.graph.nodes) == 9 * n + 2
        matcher = SubgraphMatcher(pattern_graph, match_output=False, match_placeholder=False,
                                  remove_overlapping_matches=True)
        c0, w0 = time.process_time(), time.perf_counter()
        found = matcher.match(gm.graph)
        m_cpu.append(time.process_time() - c0)
        m_wall.append(time.perf_counter() - w0)
        assert len(found) == n, (len(found), n)
        c0, w0 = time.process_time(), time.perf_counter()
        matches = subgraph_rewriter.replace_pattern(gm, pattern, replacement)
        rw_cpu.append(time.process_time() - c0)
        rw_wall.append(time.perf_counter() - w0)
        assert len(matches) == n, (len(matches), n)
    med = statistics.median
    return med(rw_cpu), med(rw_wall), med(m_cpu), med(m_wall)


def bn_params(c, gen):
    return dict(rm=torch.randn(c, generator=gen), rv=torch.rand(c, generator=gen) + 0.1,
                w=torch.randn(c, generator=gen), b=torch.randn(c, generator=gen))


def torch_fold(shape, repetitions):
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(*shape, generator=gen)
    cb = torch.randn(shape[0], generator=gen)
    p = bn_params(shape[0], gen)
    with torch.no_grad():
        return timed(lambda: fuse_conv_bn_weights(w, cb, p["rm"], p["rv"], 1e-5, p["w"], p["b"]), repetitions)


def resnet50_conv_shapes():
    """(C_out, C_in, k, k) of ResNet-50's 53 convs followed by a BN (bench/models.hpp)."""
    shapes = [(64, 3, 7, 7)]
    cin = 64
    for blocks, width in zip((3, 4, 6, 3), (64, 128, 256, 512)):
        for i in range(blocks):
            out = 4 * width
            shapes += [(width, cin, 1, 1), (width, width, 3, 3), (out, width, 1, 1)]
            if i == 0:
                shapes.append((out, cin, 1, 1))
            cin = out
    return shapes


def mobilenet_v2_conv_shapes():
    """(C_out, C_in / groups, k, k) of MobileNetV2's 52 convs followed by a BN."""
    shapes = [(32, 3, 3, 3)]
    cin = 32
    for t, c, n, _s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                        (6, 160, 3, 2), (6, 320, 1, 1)):
        for _ in range(n):
            hidden = cin * t
            if t != 1:
                shapes.append((hidden, cin, 1, 1))
            shapes += [(hidden, 1, 3, 3), (c, hidden, 1, 1)]
            cin = c
    shapes.append((1280, cin, 1, 1))
    return shapes


def torch_model_fold(shapes, repetitions):
    gen = torch.Generator().manual_seed(0)
    layers = [(torch.randn(*s, generator=gen), bn_params(s[0], gen)) for s in shapes]

    def run():
        for w, p in layers:
            fuse_conv_bn_weights(w, None, p["rm"], p["rv"], 1e-5, p["w"], p["b"])

    with torch.no_grad():
        return timed(run, repetitions, min_time=0.5)


def torch_conv(spec, repetitions):
    cin, hw, cout, k, stride, groups = spec
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, cin, hw, hw, generator=gen)
    w = torch.randn(cout, cin // groups, k, k, generator=gen)
    b = torch.randn(cout, generator=gen)
    out_hw = (hw + 2 * (k // 2) - k) // stride + 1
    flops = 2.0 * cout * (cin // groups) * k * k * out_hw * out_hw
    with torch.no_grad():
        cpu, wall = timed(lambda: F.conv2d(x, w, b, stride, k // 2, 1, groups), repetitions)
    return flops / cpu * 1e-9, flops / wall * 1e-9


def torch_bn(c, hw, training, repetitions):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, c, hw, hw, generator=gen)
    p = bn_params(c, gen)
    flops = (6.0 if training else 2.0) * c * hw * hw
    with torch.no_grad():
        cpu, wall = timed(lambda: F.batch_norm(x, p["rm"], p["rv"], p["w"], p["b"], training, 0.1, 1e-5),
                          repetitions)
    return flops / cpu * 1e-9, flops / wall * 1e-9


# ---------------------------------------------------------------------------------------------


def machine():
    info = {"nproc": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "torch_config": torch.__config__.parallel_info().splitlines()[:3]}
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name") and "cpu" not in info:
                info["cpu"] = line.split(":", 1)[1].strip()
            if line.startswith("flags") and "flags" not in info:
                flags = line.split(":", 1)[1].split()
                info["simd_flags"] = [f for f in flags if f.startswith(("sse", "ssse", "avx", "fma", "f16c"))]
    except OSError:
        pass
    info["loadavg_start"] = os.getloadavg()
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(REPO, "build-bench"), help="graft's bench build directory")
    ap.add_argument("--repetitions", type=int, default=5, help="repetitions of each kernel/fold benchmark")
    ap.add_argument("--prepare-reps", type=int, default=3,
                    help="repetitions of the prepare/convert chains (torch at 2000 blocks: always 1)")
    ap.add_argument("--graft-runs", type=int, default=3,
                    help="separate runs of graft's prepare benchmarks; each result is the median run")
    ap.add_argument("--max-torch-blocks", type=int, default=2000,
                    help="largest chain torch.fx rewrites (its time grows quadratically: ~30 s at 2000)")
    ap.add_argument("--max-blocks", type=int, default=100000, help="largest chain graft rewrites")
    ap.add_argument("--json", help="write every measurement here (for bench/plot.py)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: prepare,convert,numerics")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    bindir = os.path.join(args.build, "bench")
    result = {"machine": machine(), "rows": [], "prepare_chain": [], "graft_context": {}}
    rows = result["rows"]

    def row(section, work, graft_val, torch_val, unit, ratio, target=None, met=None):
        rows.append(dict(section=section, work=work, graft=graft_val, torch=torch_val, unit=unit, ratio=ratio,
                         target=target, met=met))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread; graft binaries in {bindir}", file=sys.stderr)

    if "prepare" not in skip:
        blocks = [n for n in CHAIN_BLOCKS if n <= args.max_blocks]
        sizes = "|".join(map(str, blocks))
        filt = "BM_(Prepare|PrepareCold|PrepareMatch|CopyGraph)(/(" + sizes + ")(/|$)|_)"
        g, ctx = run_graft(os.path.join(bindir, "bench_prepare"), filt, args.prepare_reps, args.graft_runs)
        result["graft_context"] = ctx
        # One more process, BM_Prepare only, with glibc keeping freed memory (KEEP_HEAP_ENV).
        kept, _ = run_graft_once(os.path.join(bindir, "bench_prepare"),
                                 "BM_Prepare/(" + sizes + ")/", args.prepare_reps, KEEP_HEAP_ENV)
        for n in blocks:
            nodes = 9 * n + 2
            gp, gm, gc = graft_get(g, f"BM_Prepare/{n}"), graft_get(g, f"BM_PrepareMatch/{n}"), graft_get(g, f"BM_CopyGraph/{n}")
            gcold = graft_get(g, f"BM_PrepareCold/{n}")
            entry = dict(blocks=n, nodes=nodes, graft_prepare_cpu_s=gp["cpu_s"], graft_prepare_real_s=gp["real_s"],
                         graft_prepare_cold_cpu_s=gcold["cpu_s"],
                         graft_prepare_heap_kept_cpu_s=graft_get(kept, f"BM_Prepare/{n}")["cpu_s"],
                         graft_match_cpu_s=gm["cpu_s"], graft_copy_cpu_s=gc["cpu_s"],
                         graft_prepare_peak_mib=gp.get("peak_MiB"), graft_input_mib=gp.get("input_MiB"))
            if n <= args.max_torch_blocks:
                reps = 1 if n >= 2000 else args.prepare_reps
                print(f"  torch replace_pattern, {n} blocks x {reps}", file=sys.stderr, flush=True)
                t_cpu, t_wall, tm_cpu, tm_wall = torch_prepare(n, reps)
                entry.update(torch_replace_cpu_s=t_cpu, torch_replace_wall_s=t_wall, torch_match_cpu_s=tm_cpu,
                             torch_match_wall_s=tm_wall)
                target = ">= 1000" if n == 1000 else None
                row("prepare", f"{n} blocks ({nodes} nodes): replace_pattern vs fuse_conv_bn_qat", gp["cpu_s"], t_cpu,
                    "s", t_cpu / gp["cpu_s"], target, (t_cpu / gp["cpu_s"] >= 1000) if target else None)
                row("prepare", f"{n} blocks: matching alone (SubgraphMatcher vs check_conv_bn_pairs)", gm["cpu_s"],
                    tm_cpu, "s", tm_cpu / gm["cpu_s"])
            result["prepare_chain"].append(entry)
        # Per-node spread over the sizes: the target's (BM_Prepare), then for reference only the
        # same pass from cold caches (BM_PrepareCold: how much of the spread is the small graphs
        # starting in cache) and with glibc keeping what the previous iteration freed (how much is
        # the kernel handing the large graphs' memory back page by page).
        if len(blocks) > 1:
            over = f"max/min over {blocks[0]}..{blocks[-1]} blocks"
            for key, what, target in (("graft_prepare_cpu_s", "graft per-node time", "<= 2 (flatness)"),
                                      ("graft_prepare_cold_cpu_s", "graft per-node time from cold caches", None),
                                      ("graft_prepare_heap_kept_cpu_s", "graft per-node time, heap kept by glibc", None)):
                per_node = [e[key] / e["nodes"] for e in result["prepare_chain"]]
                spread = max(per_node) / min(per_node)
                row("prepare", f"{what}, {over}", max(per_node), min(per_node), "s/node", spread, target,
                    (spread <= 2) if target else None)
        for model in ("ResNet50", "MobileNetV2"):
            gp, gm = graft_get(g, f"BM_Prepare_{model}"), graft_get(g, f"BM_PrepareMatch_{model}")
            result[f"graft_prepare_{model}"] = dict(cpu_s=gp["cpu_s"], real_s=gp["real_s"], match_cpu_s=gm["cpu_s"],
                                                    peak_mib=gp.get("peak_MiB"), input_mib=gp.get("input_MiB"))

    if "convert" not in skip:
        g, _ = run_graft(os.path.join(bindir, "bench_convert"), "ResNet50|MobileNetV2|BM_Convert|BM_CopyGraph",
                         args.prepare_reps)
        result["graft_convert"] = {k: dict(cpu_s=v["cpu_s"], real_s=v["real_s"], ns_per_node=v.get("ns_per_node"),
                                           peak_mib=v.get("peak_MiB"), input_mib=v.get("input_MiB"))
                                   for k, v in g.items()}
        for model, shapes, pairs in (("ResNet50", resnet50_conv_shapes(), 53),
                                     ("MobileNetV2", mobilenet_v2_conv_shapes(), 52)):
            assert len(shapes) == pairs
            gc = graft_get(g, f"BM_{model}_Convert")
            t_cpu, t_wall = torch_model_fold(shapes, args.repetitions)
            target = "< 50 ms" if model == "ResNet50" else None
            row("convert", f"{model}: whole fold_conv_bn_qat vs {pairs} x fuse_conv_bn_weights", gc["cpu_s"], t_cpu,
                "s", t_cpu / gc["cpu_s"], target, (gc["real_s"] < 0.05) if target else None)

    if "numerics" not in skip:
        g, _ = run_graft(os.path.join(bindir, "bench_numerics"), ".", args.repetitions)
        result["graft_numerics"] = {k: dict(cpu_s=v["cpu_s"], real_s=v["real_s"], bytes_per_second=v.get("bytes_per_second"),
                                            gflops=v.get("GFLOP/s")) for k, v in g.items()}
        for shape in FOLD_SHAPES:
            name = "x".join(map(str, shape))
            fold, copy = graft_get(g, f"BM_Fold/{name}"), graft_get(g, f"BM_Memcpy/{name}")
            bw = fold["bytes_per_second"] / copy["bytes_per_second"]
            row("fold", f"{name}: graft fold / memcpy bandwidth (graft only)", fold["bytes_per_second"] / 1e9,
                copy["bytes_per_second"] / 1e9, "GB/s", bw, ">= 0.8", bw >= 0.8)
        for shape in FOLD_SHAPES:
            name = "x".join(map(str, shape))
            gf = graft_get(g, f"BM_FoldConvBnWeights/{name}")
            t_cpu, _ = torch_fold(shape, args.repetitions)
            row("fold", f"{name}: fuse_conv_bn_weights vs fold_conv_bn_weights", gf["cpu_s"], t_cpu, "s",
                t_cpu / gf["cpu_s"], ">= 5", t_cpu / gf["cpu_s"] >= 5)
        for name, spec in CONV_SHAPES.items():
            gc = graft_get(g, f"BM_Conv2d/{name}")
            t_gflops, _ = torch_conv(spec, args.repetitions)
            # graft's GFLOP/s counter is a rate over CPU time, as torch's here.
            row("conv2d", f"{name}", gc["GFLOP/s"], t_gflops, "GFLOP/s", gc["GFLOP/s"] / t_gflops,
                ">= 0.5" if not name.startswith("mbv2") else None,
                gc["GFLOP/s"] / t_gflops >= 0.5 if not name.startswith("mbv2") else None)
        for training in (False, True):
            for name, (c, hw) in BN_SHAPES.items():
                gb = graft_get(g, f"BM_BatchNorm{'Train' if training else 'Eval'}/{name}")
                t_gflops, _ = torch_bn(c, hw, training, args.repetitions)
                row("batch_norm", f"{'training' if training else 'eval'} 1x{c}x{hw}x{hw}", gb["GFLOP/s"], t_gflops,
                    "GFLOP/s", gb["GFLOP/s"] / t_gflops)

    result["machine"]["loadavg_end"] = os.getloadavg()
    m = result["machine"]
    print(f"\nmachine: {m.get('cpu')}, {m['nproc']} CPUs, SIMD {' '.join(m.get('simd_flags', []))}; torch {m['torch']}, "
          f"one thread each side; load average {m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end")
    print("ratio = graft speed / torch speed (torch time / graft time, or graft GFLOP/s / torch GFLOP/s); CPU time, "
          "medians\n")
    print(f"{'section':<10} {'work':<72} {'graft':>10} {'torch':>10} {'unit':>8} {'ratio':>9}  target")
    for r in rows:
        def fmt(v):
            return f"{v:10.4g}" if isinstance(v, float) else f"{str(v):>10}"
        tgt = "" if r["target"] is None else f"{r['target']}: {'met' if r['met'] else 'MISSED'}"
        print(f"{r['section']:<10} {r['work']:<72} {fmt(r['graft'])} {fmt(r['torch'])} {r['unit']:>8} "
              f"{r['ratio']:9.3g}  {tgt}")
    if "graft_prepare_ResNet50" in result:
        for model in ("ResNet50", "MobileNetV2"):
            p = result[f"graft_prepare_{model}"]
            print(f"graft prepare {model}: {p['cpu_s'] * 1e3:.2f} ms (matching alone {p['match_cpu_s'] * 1e3:.3f} ms), "
                  f"heap growth {p['peak_mib']:.2f} MiB over a {p['input_mib']:.1f} MiB input")
    if "graft_convert" in result:
        for k, v in sorted(result["graft_convert"].items()):
            extra = f", heap growth {v['peak_mib']:.2f} MiB" if v.get("peak_mib") is not None else ""
            print(f"graft {k}: {v['cpu_s'] * 1e3:.2f} ms CPU, {v['real_s'] * 1e3:.2f} ms wall{extra}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()

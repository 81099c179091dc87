#!/usr/bin/python3
"""Log-log plot of QAT prepare's time per node against chain length, graft and torch.fx.

    /usr/bin/python3 bench/plot.py results.json [-o docs/images/perf_prepare.png]

`results.json` is what `bench/compare_torch.py --json results.json` writes. Plots CPU time per
graph node (9 N + 2 nodes for N conv-bn-relu blocks) of graft's fuse_conv_bn_qat, of graft's
matching alone and a plain graph copy (baselines), and of torch.fx's replace_pattern and
SubgraphMatcher on the same chains.
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("-o", "--output", default="docs/images/perf_prepare.png")
    args = ap.parse_args()
    with open(args.results) as f:
        res = json.load(f)
    chain = res["prepare_chain"]
    if not chain:
        raise SystemExit("no prepare results in " + args.results)

    def series(key):
        pts = [(e["blocks"], e[key] / e["nodes"] * 1e6) for e in chain if e.get(key) is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, ax = plt.subplots(figsize=(7, 5.6), dpi=110)
    styles = [
        ("torch_replace_cpu_s", "torch.fx replace_pattern (conv-bn -> QAT)", "tab:red", "o", "-"),
        ("torch_match_cpu_s", "torch.fx SubgraphMatcher (matching alone)", "tab:red", "s", ":"),
        ("graft_prepare_cpu_s", "graft fuse_conv_bn_qat", "tab:blue", "o", "-"),
        ("graft_prepare_cold_cpu_s", "graft fuse_conv_bn_qat, caches flushed first", "tab:cyan", "D", "-."),
        ("graft_prepare_heap_kept_cpu_s", "graft fuse_conv_bn_qat, freed memory kept by malloc", "tab:green", "v", "-."),
        ("graft_match_cpu_s", "graft check_conv_bn_pairs (matching alone)", "tab:blue", "s", ":"),
        ("graft_copy_cpu_s", "graft deep copy of the graph (baseline)", "tab:gray", "^", "--"),
    ]
    for key, label, color, marker, ls in styles:
        x, y = series(key)
        if x:
            ax.plot(x, y, marker=marker, linestyle=ls, color=color, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("conv-bn-relu blocks N (graph of 9 N + 2 nodes)")
    ax.set_ylabel("CPU time per graph node (µs)")
    m = res.get("machine", {})
    ax.set_title(f"QAT prepare, one thread each side ({m.get('cpu', '?')}, torch {m.get('torch', '?')})", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    # Below the axes: seven series leave no corner of the plot free.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    fig.tight_layout()
    fig.savefig(args.output)
    print("wrote " + args.output)


if __name__ == "__main__":
    main()

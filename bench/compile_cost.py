#!/usr/bin/env python3
"""Compile cost of graft's headers, as ratios to the floor (issue 8).

    python3 bench/compile_cost.py [--cxx g++] [--repeat 3]

Compiles three translation units with `g++ -std=c++17 -O2 -c` (each `--repeat` times, keeping
the fastest time and the largest peak memory):
  (a) bench/compile/qat_passes.cpp: only the QAT headers, running prepare and convert;
  (b) bench/compile/everything.cpp: graft/graft.hpp, using every layer once;
  (c) bench/compile/floor.cpp: only the standard, Eigen, Boost.Graph and nlohmann/json headers
      graft uses (the floor a user pays anyway).
and prints wall time and peak resident memory of the compiler, and (a), (b) as ratios to (c).
Peak memory comes from getrusage(RUSAGE_CHILDREN) of each compiler run.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
UNITS = [
    ("(a) qat headers + both passes", "qat_passes.cpp"),
    ("(b) graft/graft.hpp, everything", "everything.cpp"),
    ("(c) floor: dependency headers only", "floor.cpp"),
]


def compile_once(cxx, src, out):
    cmd = [cxx, "-std=c++17", "-O2", "-I", os.path.join(REPO, "include"), "-isystem", "/usr/include/eigen3",
           "-c", src, "-o", out]
    # A fresh child per measurement: ru_maxrss of RUSAGE_CHILDREN is the max over all waited
    # children, so run each compile in its own short-lived Python child.
    probe = ("import resource,subprocess,sys,time;t=time.perf_counter();"
             "r=subprocess.run(sys.argv[1:]);d=time.perf_counter()-t;"
             "print(d, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    res = subprocess.run([sys.executable, "-c", probe] + cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit("probe failed: " + res.stderr)
    seconds, kib, rc = res.stdout.split()
    if rc != "0":
        subprocess.run(cmd)  # show the compiler's errors
        sys.exit("compile failed: " + " ".join(cmd))
    return float(seconds), int(kib) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cxx", default="g++")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, name in UNITS:
            times, mems = [], []
            for _ in range(args.repeat):
                t, m = compile_once(args.cxx, os.path.join(HERE, "compile", name), os.path.join(tmp, name + ".o"))
                times.append(t)
                mems.append(m)
            rows.append((label, min(times), max(mems)))
    floor_t, floor_m = rows[-1][1], rows[-1][2]
    print(f"{'translation unit':40s} {'time (s)':>9s} {'peak MiB':>9s} {'time / (c)':>11s} {'mem / (c)':>10s}")
    for label, t, m in rows:
        print(f"{label:40s} {t:9.2f} {m:9.0f} {t / floor_t:11.2f} {m / floor_m:10.2f}")


if __name__ == "__main__":
    main()

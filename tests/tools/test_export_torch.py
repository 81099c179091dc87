#!/usr/bin/python3
"""Test tools/export_torch.py end to end.

    /usr/bin/python3 tests/tools/test_export_torch.py GRAFT_QAT [--no-graft] [--keep DIR]

GRAFT_QAT is the path of the graft-qat binary; it is run as
    GRAFT_QAT run MODEL.json INPUT.safetensors -o OUT.safetensors
and its "output_0" is compared with PyTorch's (max|a-b| / max|b| < 1e-4).
Pass --no-graft (instead of, or in addition to, GRAFT_QAT) to skip the graft runs.

Checks:
  (a) exports torchvision resnet18 and mobilenet_v2 (weights=None, random BN statistics,
      eval mode, input 1x3x64x64) with the exporter CLI into a temporary directory;
  (b) runs graft-qat on them and on the committed files in tests/data/models/ and
      compares with PyTorch's output;
  (c) every exported / committed JSON file parses as graft format v1 (node fields, op kinds,
      unique names, arguments reference only earlier nodes, integer vs float spelling,
      get_attr targets present in the weights file with the shapes in meta.val);
  (d) re-runs PyTorch on the committed sample files: a fresh model from
      tests/tools/sample_models.py with the weights loaded by name from <name>.safetensors,
      on <name>.input.safetensors, must reproduce <name>.output.safetensors; and the JSON
      must equal a fresh export (the committed files are up to date).

Exit codes: 0 pass, 1 failure, 77 skipped (torch or torchvision missing; for ctest's
SKIP_RETURN_CODE 77), 2 usage error.
"""

import json
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXPORTER = os.path.join(REPO, "tools", "export_torch.py")
DATA = os.path.join(REPO, "tests", "data", "models")
SAMPLES = ["convbn_small", "convbn_small_train", "convbn_1d3d", "resnet_tiny"]
TOL = 1e-4

try:
    import numpy as np
    import torch
    import torchvision  # noqa: F401
except ImportError as e:
    print("SKIP: %s (needs PyTorch and torchvision, e.g. apt-get install python3-torchvision)" % e)
    sys.exit(77)

sys.dont_write_bytecode = True  # no __pycache__ beside the model files
sys.path.insert(0, HERE)
import sample_models  # noqa: E402

torch.set_num_threads(1)
FAILURES = []


def check(cond, msg):
    if not cond:
        FAILURES.append(msg)
        print("FAIL: " + msg)
    return bool(cond)


# --------------------------------------------------------------------------
# safetensors reader
# --------------------------------------------------------------------------

_NP = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I8": "i1", "U8": "u1", "I16": "<i2", "I32": "<i4",
       "I64": "<i8", "BOOL": "?"}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        arr = np.frombuffer(data[base + b:base + en], dtype=_NP[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, header


def rel_err(a, b):
    a = a.double()
    b = b.double()
    if a.shape != b.shape:
        return float("inf")
    return (a - b).abs().max().item() / max(b.abs().max().item(), 1e-30)


# --------------------------------------------------------------------------
# (c) format checks
# --------------------------------------------------------------------------

_INT_RE = re.compile(r"-?\d+$")


def check_graph_file(path):
    """Format v1 structure; returns the parsed document (or None)."""
    name = os.path.basename(path)
    with open(path) as f:
        text = f.read()
    try:
        doc = json.loads(text)
    except ValueError as e:
        check(False, "%s: not JSON: %s" % (name, e))
        return None
    ok = check(doc.get("graft") == 1 and type(doc.get("graft")) is int, "%s: graft != 1" % name)
    nodes = doc.get("nodes")
    if not check(isinstance(nodes, list) and nodes, "%s: no nodes" % name):
        return None
    seen = {}
    weights = {}
    if doc.get("weights") is not None:
        wpath = os.path.join(os.path.dirname(path), doc["weights"])
        if check(os.path.isfile(wpath), "%s: weights file %s missing" % (name, doc["weights"])):
            weights, _ = read_safetensors(wpath)
    targets = set()

    def refs_ok(v, i, where):
        if isinstance(v, dict):
            if set(v) == {"node"}:
                return check(v["node"] in seen, "%s: %s references %r, not an earlier node" % (name, where, v["node"]))
            if set(v) == {"dtype"}:
                return check(isinstance(v["dtype"], str), "%s: %s bad dtype" % (name, where))
            if set(v) == {"float"}:
                return check(v["float"] in ("inf", "-inf", "nan"), "%s: %s bad float" % (name, where))
            return check(False, "%s: %s unknown argument object %r" % (name, where, v))
        if isinstance(v, list):
            return all(refs_ok(e, i, where) for e in v)
        return check(v is None or isinstance(v, (bool, int, float, str)), "%s: %s bad value %r" % (name, where, v))

    n_output = 0
    for i, n in enumerate(nodes):
        where = "node %d (%s)" % (i, n.get("name"))
        ok &= check(set(n) == {"name", "op", "target", "args", "kwargs", "meta"}, "%s: %s fields %s" % (name, where, sorted(n)))
        ok &= check(isinstance(n["name"], str) and re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n["name"]) is not None,
                    "%s: %s bad name" % (name, where))
        ok &= check(n["name"] not in seen, "%s: %s duplicate name" % (name, where))
        ok &= check(n["op"] in ("placeholder", "get_attr", "call_function", "output"), "%s: %s op %r" % (name, where, n["op"]))
        ok &= check(isinstance(n["target"], str) and n["target"], "%s: %s target" % (name, where))
        ok &= check(isinstance(n["args"], list) and isinstance(n["kwargs"], dict) and isinstance(n["meta"], dict),
                    "%s: %s args/kwargs/meta types" % (name, where))
        ok &= refs_ok(n["args"], i, where + " args") and refs_ok(list(n["kwargs"].values()), i, where + " kwargs")
        if n["op"] in ("placeholder", "get_attr"):
            ok &= check(n["args"] == [] and n["kwargs"] == {}, "%s: %s has args" % (name, where))
        if n["op"] == "get_attr":
            targets.add(n["target"])
            t = weights.get(n["target"])
            if check(t is not None, "%s: %s target %s not in the weights" % (name, where, n["target"])):
                val = n["meta"].get("val")
                ok &= check(val is not None and list(t.shape) == val["shape"], "%s: %s val %r vs weights %s"
                            % (name, where, val, list(t.shape)))
        if n["op"] == "call_function":
            ok &= check(not n["target"].startswith("torch.ops."), "%s: %s target prefix" % (name, where))
            meta = n["meta"]
            ok &= check("val" in meta and "source_fn_stack" in meta and "nn_module_stack" in meta,
                        "%s: %s meta keys %s" % (name, where, sorted(meta)))
            for k, e in meta.get("nn_module_stack", {}).items():
                ok &= check(isinstance(e, list) and len(e) == 2 and all(isinstance(s, str) for s in e),
                            "%s: %s nn_module_stack[%s]" % (name, where, k))
        if n["op"] == "output":
            n_output += 1
            ok &= check(n["name"] == "output" and n["target"] == "output" and len(n["args"]) == 1 and i == len(nodes) - 1,
                        "%s: %s output node shape" % (name, where))
        seen[n["name"]] = n
    ok &= check(n_output == 1, "%s: %d output nodes" % (name, n_output))
    ok &= check(set(weights) == targets, "%s: weights %s vs get_attr targets %s"
                % (name, sorted(set(weights) ^ targets), ""))
    # Integer vs float spelling survives json.loads: batch_norm eps/momentum are floats, the
    # conv stride/groups are ints.
    for n in nodes:
        if n["target"] == "aten.batch_norm.default":
            a = n["args"]
            ok &= check(isinstance(a[5], bool) and isinstance(a[6], float) and isinstance(a[7], float)
                        and isinstance(a[8], bool), "%s: batch_norm %s arg types %r" % (name, n["name"], a[5:]))
        if re.match(r"aten\.conv\dd\.default$", n["target"]):
            a = n["args"]
            ok &= check(len(a) == 7 and all(type(s) is int for s in a[3] + a[4] + a[5]) and type(a[6]) is int,
                        "%s: conv %s arg types %r" % (name, n["name"], a[3:]))
    # every number in the raw text that json reads as a float is spelled with '.' or an exponent
    # (json.loads guarantees that already; this guards against a hand-written emitter)
    return doc if ok else None


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def export(model, out_json, extra):
    cmd = [sys.executable, EXPORTER, model, out_json] + extra
    r = subprocess.run(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    print(r.stdout.strip())
    return check(r.returncode == 0, "exporter failed (%d): %s" % (r.returncode, " ".join(cmd)))


def run_graft(graft, model_json, input_st, ref_st, workdir, label):
    out = os.path.join(workdir, label + ".graft_out.safetensors")
    cmd = [graft, "run", model_json, input_st, "-o", out]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    if not check(r.returncode == 0, "%s: graft-qat failed (%d): %s\n%s" % (label, r.returncode, " ".join(cmd), r.stdout)):
        return
    got, _ = read_safetensors(out)
    ref, _ = read_safetensors(ref_st)
    if not check("output_0" in got, "%s: graft-qat output has no output_0 (has %s)" % (label, sorted(got))):
        return
    err = rel_err(got["output_0"], ref["output_0"])
    print("%-22s graft vs torch: rel err %.3g" % (label, err))
    check(err < TOL, "%s: graft output differs from PyTorch: rel err %.3g" % (label, err))


def verify_sample(stem):
    """(d) the committed sample files reproduce PyTorch's output from their weights by name."""
    doc = check_graph_file(os.path.join(DATA, stem + ".json"))
    if doc is None:
        return
    weights, _ = read_safetensors(os.path.join(DATA, doc["weights"]))
    inputs, _ = read_safetensors(os.path.join(DATA, stem + ".input.safetensors"))
    ref, _ = read_safetensors(os.path.join(DATA, stem + ".output.safetensors"))
    train = stem.endswith("_train")
    factory = stem[:-len("_train")] if train else stem
    model = getattr(sample_models, factory)()
    # scramble the fresh model so that only the loaded tensors can produce the output
    with torch.no_grad():
        for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            t.normal_()
    state = model.state_dict()
    for k, t in weights.items():
        if not check(k in state, "%s: weight %s is not in the model's state_dict" % (stem, k)):
            return
        check(tuple(state[k].shape) == tuple(t.shape) and state[k].dtype == t.dtype,
              "%s: %s shape/dtype %s %s vs model %s %s" % (stem, k, tuple(t.shape), t.dtype, tuple(state[k].shape), state[k].dtype))
    missing = [k for k in state if k not in weights and not k.endswith("num_batches_tracked")]
    check(not missing, "%s: state_dict entries not exported: %s" % (stem, missing))
    model.load_state_dict(weights, strict=False)
    model.train(train)
    placeholders = [n["name"] for n in doc["nodes"] if n["op"] == "placeholder"]
    with torch.no_grad():
        out = model(*[inputs[p] for p in placeholders])
    err = rel_err(out, ref["output_0"])
    print("%-22s torch(reloaded) vs stored: rel err %.3g" % (stem, err))
    check(err < 1e-6, "%s: reloaded model output differs from the stored output: rel err %.3g" % (stem, err))
    # graph structure checks specific to the samples
    targets = [n["target"] for n in doc["nodes"] if n["op"] == "call_function"]
    n_bn = targets.count("aten.batch_norm.default")
    if train:
        check(targets.count("aten.add_.Tensor") == n_bn, "%s: expected one add_ per batch_norm" % stem)
        for i, n in enumerate(doc["nodes"]):
            if n["target"] == "aten.batch_norm.default":
                prev = doc["nodes"][i - 1]
                check(prev["target"] == "aten.add_.Tensor" and prev["args"][1] == 1
                      and prev["args"][0]["node"].endswith("num_batches_tracked")
                      and prev["meta"]["source_fn_stack"] == n["meta"]["source_fn_stack"],
                      "%s: batch_norm %s is not right after its num_batches_tracked add_" % (stem, n["name"]))
                check(n["args"][5] is True, "%s: training batch_norm has training=false" % stem)
    else:
        check("aten.add_.Tensor" not in targets or stem == "resnet_tiny", "%s: eval graph has add_" % stem)
        for n in doc["nodes"]:
            if n["target"] == "aten.batch_norm.default":
                check(n["args"][5] is False, "%s: eval batch_norm has training=true" % stem)


def check_fresh_export(stem, tmp):
    """The committed JSON equals what the exporter writes now (ignoring stack traces)."""
    train = stem.endswith("_train")
    factory = stem[:-len("_train")] if train else stem
    out = os.path.join(tmp, "fresh_" + stem + ".json")
    extra = ["--train" if train else "--eval"]
    for s in sample_models.INPUT_SHAPES[factory]:
        extra += ["--input-shape", ",".join(map(str, s))]
    if not export("tests/tools/sample_models.py:" + factory, out, extra):
        return
    with open(out) as f:
        fresh = json.load(f)
    with open(os.path.join(DATA, stem + ".json")) as f:
        stored = json.load(f)
    for d in (fresh, stored):
        d.pop("weights", None)
        for n in d["nodes"]:
            n["meta"].pop("stack_trace", None)
    check(fresh == stored, "%s: committed JSON is out of date (rerun tests/tools/make_sample_models.py)" % stem)
    w_fresh, _ = read_safetensors(os.path.join(tmp, "fresh_" + stem + ".safetensors"))
    w_stored, _ = read_safetensors(os.path.join(DATA, stem + ".safetensors"))
    check(sorted(w_fresh) == sorted(w_stored) and all(torch.equal(w_fresh[k], w_stored[k]) for k in w_fresh),
          "%s: committed weights are out of date" % stem)


def main(argv):
    args = argv[1:]
    keep = None
    if "--keep" in args:
        i = args.index("--keep")
        keep = args[i + 1]
        del args[i:i + 2]
    no_graft = "--no-graft" in args
    args = [a for a in args if a != "--no-graft"]
    if len(args) > 1 or (not args and not no_graft):
        print(__doc__)
        return 2
    graft = os.path.abspath(args[0]) if args else None
    if graft and not no_graft and not os.access(graft, os.X_OK):
        print("error: %s is not an executable" % graft)
        return 2
    if no_graft:
        graft = None

    tmp_ctx = None
    if keep:
        os.makedirs(keep, exist_ok=True)
        tmp = keep
    else:
        tmp_ctx = tempfile.TemporaryDirectory(prefix="graft_export_")
        tmp = tmp_ctx.name

    # (a) torchvision models, (c) their format, (b) graft vs torch
    for name in ("resnet18", "mobilenet_v2"):
        js = os.path.join(tmp, name + ".json")
        inp = os.path.join(tmp, name + ".input.safetensors")
        ref = os.path.join(tmp, name + ".output.safetensors")
        if not export("torchvision:" + name, js, ["--eval", "--input-shape", "1,3,64,64", "--randomize-bn",
                                                   "--example-input", inp, "--example-output", ref]):
            continue
        doc = check_graph_file(js)
        if doc is not None:
            targets = [n["target"] for n in doc["nodes"] if n["op"] == "call_function"]
            check(targets.count("aten.conv2d.default") == {"resnet18": 20, "mobilenet_v2": 52}[name],
                  "%s: conv2d count %d" % (name, targets.count("aten.conv2d.default")))
            check(targets.count("aten.batch_norm.default") == targets.count("aten.conv2d.default"),
                  "%s: one batch_norm per conv2d" % name)
            print("%-22s exported: %d nodes, %d ops" % (name, len(doc["nodes"]), len(targets)))
        if graft:
            run_graft(graft, js, inp, ref, tmp, name)

    # (d) committed sample files: PyTorch reproduces them; they are up to date; (b) graft runs them
    for stem in SAMPLES:
        verify_sample(stem)
        check_fresh_export(stem, tmp)
        if graft:
            run_graft(graft, os.path.join(DATA, stem + ".json"), os.path.join(DATA, stem + ".input.safetensors"),
                      os.path.join(DATA, stem + ".output.safetensors"), tmp, stem)

    # unsupported constructs fail with exit code 2 and name the culprit
    bad = os.path.join(tmp, "bad_model.py")
    with open(bad, "w") as f:
        f.write("import torch.nn as nn\n"
                "def m():\n"
                "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU())\n")
    r = subprocess.run([sys.executable, EXPORTER, bad + ":m", os.path.join(tmp, "bad.json"), "--input-shape", "1,3,8,8"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    check(r.returncode == 2 and "GELU" in r.stdout, "unsupported module: exit %d, message %r" % (r.returncode, r.stdout))

    if tmp_ctx:
        tmp_ctx.cleanup()
    if FAILURES:
        print("%d check(s) failed" % len(FAILURES))
        return 1
    print("OK" + ("" if graft else " (graft-qat runs skipped: --no-graft)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

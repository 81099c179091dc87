#!/usr/bin/python3
"""Export a PyTorch model to a graft graph file (format v1) plus its weights.

Usage (from anywhere; use the Python that sees PyTorch, on Debian /usr/bin/python3):

    python3 tools/export_torch.py MODEL OUT.json [options]

MODEL is one of
    torchvision:NAME          a torchvision.models builder called with weights=None
                              (random init), e.g. torchvision:resnet18,
                              torchvision:mobilenet_v2
    path/to/file.py:FACTORY   a Python file whose function FACTORY() returns an
                              nn.Module

Options
    --eval                    export in eval mode (the default)
    --train                   export in training mode (batch norm uses batch
                              statistics; emits the num_batches_tracked add_)
    --input-shape 1,3,224,224 shape of the (float32) example input; give the
                              option once per forward() argument, in order.
                              Default: one input of 1,3,224,224.
    --seed N                  torch.manual_seed(N) before building the model and
                              before drawing the example input (default 0)
    --randomize-bn            before exporting, give every BatchNorm random
                              affine parameters and running statistics (a fresh
                              BN is the identity in eval mode, which would hide
                              bugs); a test aid
    --example-input IN.safetensors
                              write the random example input, one tensor per
                              graph placeholder, named after the placeholder
                              (e.g. "x"), float32
    --example-output REF.safetensors
                              write PyTorch's output for that input in the
                              export mode: "output_0", "output_1", ... (float32).
                              The model is run on a copy, after the weights were
                              captured, so training-mode running statistics in
                              the weights file are the pre-forward ones.
    --no-stack-trace          do not write meta.stack_trace
    --backend auto|fx|export  fx: torch.fx.symbolic_trace + the mapping below
                              (the only path with torch 1.x); export: torch.export
                              (torch >= 2.1); auto (default): export when
                              available, else fx

Writes OUT.json and OUT.safetensors beside it (same stem). Exit codes: 0 ok,
2 an unsupported module/function/argument (the message names it) or a usage
error, 1 anything else.

The graph file (graft format v1) is a JSON object
    {"graft": 1, "weights": "OUT.safetensors", "nodes": [...]}
with nodes in graph order, each {"name", "op", "target", "args", "kwargs",
"meta"}; op is placeholder / get_attr / call_function / output. Argument
values: null, booleans, integers, floats (always written with "." or an
exponent; {"float": "inf"|"-inf"|"nan"} for non-finite), strings, arrays,
{"node": NAME} and {"dtype": "float32"}. meta holds stack_trace,
nn_module_stack ({key: [path, type]}), source_fn_stack ([[name, type]]) and
val ({"shape", "dtype"}, a list of them for tuples). The safetensors tensors
are named after the get_attr targets (e.g. "layer1.0.conv1.weight").

torch 1.x (fx backend) op mapping, chosen to match what PT2E sees from
torch.export's pre-dispatch ATen graph (see tools/README.md for the table):
    nn.Conv1d/2d/3d        aten.conv{1,2,3}d.default [x, w, b|null, stride, padding, dilation, groups]
                           (padding="same"/"valid": aten.conv{N}d.padding with the string)
    nn.ConvTranspose1d     aten.conv_transpose1d.default
    nn.ConvTranspose2d/3d  aten.conv_transpose{2,3}d.input
                           [x, w, b|null, stride, padding, output_padding, groups, dilation]
    nn.BatchNorm1d/2d/3d   aten.batch_norm.default [x, w, b, running_mean, running_var,
                           training, momentum, eps, cudnn_enabled]; in training mode with
                           track_running_stats preceded by aten.add_.Tensor [num_batches_tracked, 1]
    nn.ReLU, F.relu, torch.relu, x.relu   aten.relu.default (inplace: aten.relu_.default)
    nn.ReLU6, F.relu6, nn.Hardtanh, F.hardtanh   aten.hardtanh.default [x, min, max] (inplace: hardtanh_)
    nn.Hardswish / nn.Hardsigmoid / nn.SiLU (+ F.*)   aten.hardswish / hardsigmoid / silu .default
    nn.Sigmoid, torch.sigmoid, x.sigmoid  aten.sigmoid.default
    nn.MaxPool2d, F.max_pool2d  aten.max_pool2d.default [x, kernel, stride, padding, dilation, ceil_mode]
    nn.AvgPool2d, F.avg_pool2d  aten.avg_pool2d.default [x, kernel, stride, padding, ceil_mode,
                           count_include_pad(, divisor_override)]
    nn.AdaptiveAvgPool2d, F.adaptive_avg_pool2d  aten.adaptive_avg_pool2d.default [x, output_size]
    nn.Linear, F.linear    aten.linear.default [x, w, b|null]
    nn.Dropout, F.dropout  aten.dropout.default [x, p, train]
    nn.Identity            dropped (its users read its input)
    nn.Flatten, torch.flatten, x.flatten  aten.flatten.using_ints [x, start, end]
    + / torch.add / x.add  aten.add.Tensor (x += y, x.add_: aten.add_.Tensor); likewise
                           * -> aten.mul.Tensor, - -> aten.sub.Tensor, / -> aten.div.Tensor
    torch.cat              aten.cat.default [[tensors], dim]
    x.mean(dims, keepdim), torch.mean  aten.mean.dim [x, [dims], keepdim] (no dims: aten.mean.default)
    x.view(...)            aten.view.default [x, [shape]]; x.reshape / torch.reshape: aten.reshape.default
    x.size(), x.shape, x.dim() and integer arithmetic on them are folded to constants
                           (static shapes, as torch.export specializes them).
Anything else exits with code 2 and names the module or function.
"""

import argparse
import builtins
import copy
import importlib.util
import json
import keyword
import math
import operator
import os
import re
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the model files
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.fx
from torch.fx.passes.shape_prop import ShapeProp

FORMAT_VERSION = 1
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_THIS_FILE = os.path.abspath(__file__)


class ExportError(Exception):
    """An unsupported construct; main() prints the message and exits with 2."""


# --------------------------------------------------------------------------
# safetensors writer (struct + json, as tests/golden/make_golden.py)
# --------------------------------------------------------------------------

_ST_DTYPES = {
    torch.float32: ("F32", "<f4"),
    torch.float64: ("F64", "<f8"),
    torch.float16: ("F16", "<f2"),
    torch.int8: ("I8", "|i1"),
    torch.uint8: ("U8", "|u1"),
    torch.int16: ("I16", "<i2"),
    torch.int32: ("I32", "<i4"),
    torch.int64: ("I64", "<i8"),
    torch.bool: ("BOOL", "|b1"),
}


def _tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype not in _ST_DTYPES:
        raise ExportError("cannot store a %s tensor in safetensors" % t.dtype)
    code, npdt = _ST_DTYPES[t.dtype]
    arr = t.numpy().astype(npdt, copy=False)
    data = arr.tobytes(order="C")
    assert len(data) == t.numel() * t.element_size()
    return code, list(t.shape), data


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, torch.Tensor) in storage order."""
    assert sys.byteorder == "little" or True  # numpy dtypes above are explicit little-endian
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors:
        if name in header or name == "__metadata__":
            raise ExportError("duplicate or reserved tensor name %r" % name)
        code, shape, data = _tensor_bytes(t)
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    meta = {"format": "pt", "generator": "tools/export_torch.py", "torch_version": torch.__version__}
    for k, v in (metadata or {}).items():
        meta[k] = str(v)
    header["__metadata__"] = meta
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-(8 + len(hjson))) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# JSON values
# --------------------------------------------------------------------------


class Ref:
    """A reference to an emitted graft node."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return "Ref(%s)" % self.name


def dtype_name(dt):
    s = str(dt)
    return s[len("torch."):] if s.startswith("torch.") else s


def to_json_arg(v, where):
    """Python argument value -> graft v1 JSON argument."""
    if isinstance(v, Ref):
        return {"node": v.name}
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        if math.isnan(v):
            return {"float": "nan"}
        if math.isinf(v):
            return {"float": "inf" if v > 0 else "-inf"}
        return float(v)
    if isinstance(v, torch.dtype):
        return {"dtype": dtype_name(v)}
    if isinstance(v, (list, tuple, torch.Size)):
        return [to_json_arg(e, where) for e in v]
    if hasattr(v, "item") and hasattr(v, "dtype") and not isinstance(v, torch.Tensor):  # numpy scalar
        return to_json_arg(v.item(), where)
    raise ExportError("%s: cannot write argument value %r of type %s" % (where, v, type(v).__name__))


def qualname(obj):
    """'torch.nn.modules.conv.Conv2d' for classes, 'torch.nn.functional.relu' for functions."""
    if isinstance(obj, str):
        return obj
    mod = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    if name.startswith("_VariableFunctionsClass."):  # torch.flatten, torch.cat, ...
        mod, name = "torch", name.split(".", 1)[1]
    if mod in (None, "torch._C._VariableFunctions", "torch._C"):
        mod = "torch"
    if mod == "_operator":
        mod = "operator"
    return "%s.%s" % (mod, name)


class _Namespace:
    """FX's unique-name rules (torch.fx.graph._Namespace)."""

    _illegal = re.compile("[^0-9a-zA-Z_]+")
    _suffix = re.compile(r"(.*)_(\d+)$")

    def __init__(self):
        self.used = set()

    def create(self, candidate):
        candidate = self._illegal.sub("_", candidate) or "_"
        if candidate[0].isdigit():
            candidate = "_" + candidate
        m = self._suffix.match(candidate)
        if m is None:
            base, num = candidate, None
        else:
            base, num = m.group(1), int(m.group(2))
        candidate = base if num is None else "%s_%d" % (base, num)
        num = num if num else 0
        while candidate in self.used or keyword.iskeyword(candidate) or candidate in builtins.__dict__:
            num += 1
            candidate = "%s_%d" % (base, num)
        self.used.add(candidate)
        return candidate


class GraphWriter:
    """Accumulates graft v1 nodes and the weights they name."""

    def __init__(self):
        self.nodes = []
        self.ns = _Namespace()
        self.weights = []  # (target, tensor)
        self._attrs = {}  # target -> Ref

    def add(self, op, target, args, kwargs, meta, name_hint):
        name = self.ns.create(name_hint)
        where = "node %s (%s)" % (name, target)
        self.nodes.append({
            "name": name,
            "op": op,
            "target": target,
            "args": [to_json_arg(a, where) for a in args],
            "kwargs": {k: to_json_arg(v, where) for k, v in kwargs.items()},
            "meta": meta,
        })
        return Ref(name)

    def attr(self, target, tensor):
        """The get_attr node for `target`, emitted at its first use."""
        if target in self._attrs:
            return self._attrs[target]
        if not isinstance(tensor, torch.Tensor):
            raise ExportError("get_attr %s is not a tensor (%s)" % (target, type(tensor).__name__))
        ref = self.add("get_attr", target, [], {}, {"val": tensor_val(tensor)}, target.replace(".", "_"))
        self._attrs[target] = ref
        self.weights.append((target, tensor.detach().clone()))
        return ref

    def document(self, weights_file):
        doc = {"graft": FORMAT_VERSION}
        if weights_file is not None:
            doc["weights"] = weights_file
        doc["nodes"] = self.nodes
        return doc


def tensor_val(t):
    return {"shape": [int(s) for s in t.shape], "dtype": dtype_name(t.dtype)}


def dump_json(doc, path):
    # one node per line: diffable, and a third of the size of indented JSON
    head = {k: v for k, v in doc.items() if k != "nodes"}
    lines = [json.dumps(n, separators=(",", ":"), allow_nan=False) for n in doc["nodes"]]
    text = json.dumps(head, allow_nan=False)[:-1] + ', "nodes": [\n' + ",\n".join(lines) + "\n]}"
    json.loads(text)  # sanity
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# torch 1.x path: torch.fx symbolic tracing + mapping to ATen spellings
# --------------------------------------------------------------------------


class _Proxy(torch.fx.Proxy):
    """fx.Proxy that records `x += y` as operator.iadd (torch 1.13's Proxy has no __iadd__,
    so Python would fall back to operator.add, losing the in-place add PT2E sees)."""

    def __iadd__(self, other):
        return self.tracer.create_proxy("call_function", operator.iadd, (self, other), {})

    def __imul__(self, other):
        return self.tracer.create_proxy("call_function", operator.imul, (self, other), {})

    def __isub__(self, other):
        return self.tracer.create_proxy("call_function", operator.isub, (self, other), {})


class _Tracer(torch.fx.Tracer):
    """Records, for every node, the stack of modules whose forward() was running."""

    def __init__(self, stack_traces=True):
        super().__init__()
        self.record_stack_traces = stack_traces
        self._mod_stack = []

    def proxy(self, node):
        return _Proxy(node, self)

    def call_module(self, m, forward, args, kwargs):
        path = self.path_of_module(m)
        self._mod_stack.append((path, qualname(type(m))))
        try:
            return super().call_module(m, forward, args, kwargs)
        finally:
            self._mod_stack.pop()

    def create_node(self, *args, **kwargs):
        node = super().create_node(*args, **kwargs)
        node.meta["graft_module_stack"] = list(self._mod_stack)
        return node


class _ValueProp(ShapeProp):
    """ShapeProp that also keeps non-tensor results (sizes, ints) for constant folding."""

    def __init__(self, gm):
        super().__init__(gm)
        self.values = {}

    def run_node(self, n):
        result = super().run_node(n)
        if not isinstance(result, torch.Tensor):
            self.values[n] = result
        else:
            n.meta["graft_val"] = tensor_val(result)
        return result


def _trim_stack_trace(st):
    """Keep the user frames (not torch's, not this script's), innermost last, as FX prints them."""
    if not st:
        return None
    frames = re.split(r"(?=^  File \")", st, flags=re.M)
    keep = []
    for fr in frames:
        m = re.match(r'  File "([^"]+)"', fr)
        if not m:
            continue
        path = os.path.abspath(m.group(1))
        if path.startswith(_TORCH_DIR + os.sep) or path == _THIS_FILE:
            continue
        cwd = os.getcwd() + os.sep
        if path.startswith(cwd):  # repository-relative paths in committed test data
            fr = fr.replace('"%s"' % m.group(1), '"%s"' % path[len(cwd):], 1)
        keep.append(fr)
    # walk_stack lists innermost first; PT2E's stack_trace lists outermost first
    keep.reverse()
    return "".join(keep) or None


def _ntuple(v, n, what):
    if isinstance(v, (list, tuple, torch.Size)):
        v = list(v)
        if len(v) == 1 and n > 1:
            v = v * n
        if len(v) != n:
            raise ExportError("%s: expected %d values, got %r" % (what, n, v))
        return [int(e) for e in v]
    return [int(v)] * n


def _module_key(path):
    return "L__self___" + path.replace(".", "_")


class FxExporter:
    def __init__(self, model, inputs, stack_traces=True):
        self.model = model
        self.inputs = inputs
        self.stack_traces = stack_traces
        self.g = GraphWriter()
        self.env = {}  # fx node -> Ref | constant
        self.modules = dict(model.named_modules())

    # -- tracing ---------------------------------------------------------
    def trace(self):
        tracer = _Tracer(self.stack_traces)
        try:
            graph = tracer.trace(self.model)
        except Exception as e:
            raise ExportError("torch.fx.symbolic_trace failed: %s: %s" % (type(e).__name__, e))
        self.graph = graph
        # Shape propagation runs the model: use a copy so that training-mode BN
        # statistics of the model being exported are left alone.
        gm = torch.fx.GraphModule(copy.deepcopy(self.model), graph)
        prop = _ValueProp(gm)
        try:
            with torch.no_grad():
                prop.propagate(*self.inputs)
        except Exception as e:
            raise ExportError("running the traced model on the example input (shapes %s) failed: %s"
                              % ([list(t.shape) for t in self.inputs], str(e).split("\n")[0]))
        self.values = prop.values

    # -- helpers ---------------------------------------------------------
    def val(self, fxnode):
        return self.env[fxnode] if isinstance(fxnode, torch.fx.Node) else fxnode

    def map_args(self, a):
        return torch.fx.node.map_aggregate(a, lambda x: self.env[x] if isinstance(x, torch.fx.Node) else x)

    def meta(self, fxnode, source_type, extra_stack=None):
        stack = list(fxnode.meta.get("graft_module_stack", []))
        if extra_stack is not None and (not stack or stack[-1][0] != extra_stack[0]):
            stack.append(extra_stack)
        meta = {}
        if self.stack_traces:
            st = _trim_stack_trace(fxnode.stack_trace)
            if st:
                meta["stack_trace"] = st
        meta["nn_module_stack"] = {_module_key(p): [p, t] for p, t in stack}
        meta["source_fn_stack"] = [[fxnode.name, qualname(source_type)]]
        if "graft_val" in fxnode.meta:
            meta["val"] = fxnode.meta["graft_val"]
        return meta

    def emit(self, fxnode, target, args, source_type, kwargs=None, extra_stack=None, val=None):
        meta = self.meta(fxnode, source_type, extra_stack)
        if val is not None:
            meta["val"] = val
        hint = target.split(".")[1] if target.startswith("aten.") else target.split(".")[-1]
        return self.g.add("call_function", target, args, kwargs or {}, meta, hint)

    def attr(self, path):
        try:
            t = self.model.get_parameter(path)
        except AttributeError:
            try:
                t = self.model.get_buffer(path)
            except AttributeError:
                obj = self.model
                for p in path.split("."):
                    obj = getattr(obj, p)
                t = obj
        return self.g.attr(path, t)

    def tensor_arg(self, v, what):
        if not isinstance(v, Ref):
            raise ExportError("%s: expected a tensor argument, got the constant %r" % (what, v))
        return v

    # -- main loop -------------------------------------------------------
    def run(self):
        self.trace()
        placeholders = [n for n in self.graph.nodes if n.op == "placeholder"]
        if len(placeholders) != len(self.inputs):
            raise ExportError("forward() takes %d inputs (%s) but %d --input-shape were given"
                              % (len(placeholders), ", ".join(n.name for n in placeholders), len(self.inputs)))
        for n in self.graph.nodes:
            if n.op == "placeholder":
                meta = {"val": n.meta["graft_val"]} if "graft_val" in n.meta else {}
                self.env[n] = self.g.add("placeholder", n.name, [], {}, meta, n.name)
            elif n.op == "get_attr":
                self.env[n] = self.attr(n.target)
            elif n.op == "call_module":
                self.env[n] = self.call_module(n)
            elif n.op == "call_function":
                self.env[n] = self.call_function(n, n.target, qualname(n.target))
            elif n.op == "call_method":
                self.env[n] = self.call_function(n, n.target, n.target, method=True)
            elif n.op == "output":
                out = self.map_args(n.args[0])
                if isinstance(out, Ref):
                    val = out
                elif isinstance(out, (list, tuple)) and all(isinstance(o, Ref) for o in out):
                    val = list(out)
                else:
                    raise ExportError("forward() must return a tensor or a tuple/list of tensors, got %r" % (out,))
                self.g.add("output", "output", [val], {}, {}, "output")
            else:
                raise ExportError("unexpected fx node %s (%s)" % (n.format_node(), n.op))
        return self.g

    # -- modules ---------------------------------------------------------
    def call_module(self, n):
        path = n.target
        m = self.modules[path]
        T = type(m)
        args = self.map_args(n.args)
        kwargs = self.map_args(n.kwargs)
        where = "module %s (%s)" % (path, qualname(T))
        if T is nn.Identity:
            return args[0]
        if len(args) != 1 or kwargs:
            extra = [k for k in kwargs if kwargs[k] is not None]
            if len(args) != 1 or extra:
                raise ExportError("%s: called with unsupported arguments %r %r" % (where, args[1:], kwargs))
        x = self.tensor_arg(args[0], where)
        st = (path, qualname(T))
        em = lambda target, a: self.emit(n, target, a, T, extra_stack=st)  # noqa: E731
        w = lambda name: self.attr(path + "." + name)  # noqa: E731
        b = lambda: (w("bias") if m.bias is not None else None)  # noqa: E731

        conv = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
        convt = {nn.ConvTranspose1d: (1, "aten.conv_transpose1d.default"),
                 nn.ConvTranspose2d: (2, "aten.conv_transpose2d.input"),
                 nn.ConvTranspose3d: (3, "aten.conv_transpose3d.input")}
        if T in conv:
            nd = conv[T]
            if m.padding_mode != "zeros":
                raise ExportError("%s: padding_mode=%r is not supported (only 'zeros')" % (where, m.padding_mode))
            if isinstance(m.padding, str):
                target, padding = "aten.conv%dd.padding" % nd, m.padding
            else:
                target, padding = "aten.conv%dd.default" % nd, _ntuple(m.padding, nd, where)
            return em(target, [x, w("weight"), b(), _ntuple(m.stride, nd, where), padding,
                               _ntuple(m.dilation, nd, where), int(m.groups)])
        if T in convt:
            nd, target = convt[T]
            if m.padding_mode != "zeros":
                raise ExportError("%s: padding_mode=%r is not supported (only 'zeros')" % (where, m.padding_mode))
            return em(target, [x, w("weight"), b(), _ntuple(m.stride, nd, where), _ntuple(m.padding, nd, where),
                               _ntuple(m.output_padding, nd, where), int(m.groups), _ntuple(m.dilation, nd, where)])
        if T in (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d):
            return self.batch_norm(n, m, x, path, st)
        if T is nn.Linear:
            return em("aten.linear.default", [x, w("weight"), b()])
        if T is nn.ReLU:
            return em("aten.relu_.default" if m.inplace else "aten.relu.default", [x])
        if T in (nn.ReLU6, nn.Hardtanh):
            return em("aten.hardtanh_.default" if m.inplace else "aten.hardtanh.default",
                      [x, float(m.min_val), float(m.max_val)])
        for cls, op in ((nn.Hardswish, "hardswish"), (nn.Hardsigmoid, "hardsigmoid"), (nn.SiLU, "silu")):
            if T is cls:
                return em("aten.%s%s.default" % (op, "_" if m.inplace else ""), [x])
        if T is nn.Sigmoid:
            return em("aten.sigmoid.default", [x])
        if T is nn.MaxPool2d:
            if m.return_indices:
                raise ExportError("%s: return_indices=True is not supported" % where)
            k = _ntuple(m.kernel_size, 2, where)
            s = _ntuple(m.stride if m.stride is not None else m.kernel_size, 2, where)
            return em("aten.max_pool2d.default", [x, k, s, _ntuple(m.padding, 2, where),
                                                 _ntuple(m.dilation, 2, where), bool(m.ceil_mode)])
        if T is nn.AvgPool2d:
            k = _ntuple(m.kernel_size, 2, where)
            s = _ntuple(m.stride if m.stride is not None else m.kernel_size, 2, where)
            a = [x, k, s, _ntuple(m.padding, 2, where), bool(m.ceil_mode), bool(m.count_include_pad)]
            if m.divisor_override is not None:
                a.append(int(m.divisor_override))
            return em("aten.avg_pool2d.default", a)
        if T is nn.AdaptiveAvgPool2d:
            return em("aten.adaptive_avg_pool2d.default", [x, self.adaptive_size(n.args[0], m.output_size, where)])
        if T is nn.Dropout:
            return em("aten.dropout_.default" if m.inplace else "aten.dropout.default", [x, float(m.p), bool(m.training)])
        if T is nn.Flatten:
            return em("aten.flatten.using_ints", [x, int(m.start_dim), int(m.end_dim)])
        raise ExportError("unsupported module %s of type %s" % (path, qualname(T)))

    def adaptive_size(self, fx_in, output_size, where):
        size = list(output_size) if isinstance(output_size, (list, tuple)) else [output_size, output_size]
        if len(size) != 2:
            raise ExportError("%s: output_size %r" % (where, output_size))
        if any(s is None for s in size):
            in_shape = fx_in.meta.get("graft_val", {}).get("shape") if isinstance(fx_in, torch.fx.Node) else None
            if not in_shape:
                raise ExportError("%s: output_size with None needs the input shape" % where)
            size = [in_shape[-2 + i] if s is None else s for i, s in enumerate(size)]
        return [int(s) for s in size]

    def batch_norm(self, n, m, x, path, st):
        T = type(m)
        training = bool(m.training)
        track = bool(m.track_running_stats)
        em_meta = dict(extra_stack=st)
        if training and track and m.num_batches_tracked is not None and m.momentum is None:
            raise ExportError("module %s (%s): momentum=None (cumulative moving average) is not supported "
                              "in training mode" % (path, qualname(T)))
        momentum = 0.0 if m.momentum is None else float(m.momentum)
        use_stats = (not training or track) and m.running_mean is not None
        # get_attr nodes first, so that the add_ (training) is the node right before the BN
        wt = self.attr(path + ".weight") if m.weight is not None else None
        bs = self.attr(path + ".bias") if m.bias is not None else None
        rm = self.attr(path + ".running_mean") if use_stats else None
        rv = self.attr(path + ".running_var") if use_stats else None
        bn_training = training or (rm is None and rv is None)
        if training and track and m.num_batches_tracked is not None:
            nbt = self.attr(path + ".num_batches_tracked")
            self.emit(n, "aten.add_.Tensor", [nbt, 1], T, val=tensor_val(m.num_batches_tracked), **em_meta)
        return self.emit(n, "aten.batch_norm.default",
                         [x, wt, bs, rm, rv, bn_training, momentum, float(m.eps), bool(torch.backends.cudnn.enabled)],
                         T, **em_meta)

    # -- functions and methods -------------------------------------------
    _FOLDABLE = {operator.getitem, operator.add, operator.sub, operator.mul, operator.floordiv,
                 operator.truediv, operator.mod, operator.neg, getattr, len}

    def call_function(self, n, fn, name, method=False):
        args = list(self.map_args(n.args))
        kwargs = dict(self.map_args(n.kwargs))
        where = ("method Tensor.%s" % fn) if method else ("function %s" % name)

        # constant folding of shape arithmetic (static shapes, as torch.export specializes them)
        has_ref = [False]

        def scan(v):
            if isinstance(v, Ref):
                has_ref[0] = True
            return v
        torch.fx.node.map_aggregate((args, kwargs), scan)
        if method and fn in ("size", "dim") or (not method and fn is getattr and len(args) == 2
                                                 and args[1] in ("shape", "ndim")):
            return self._fold(n, where)
        if not has_ref[0] and (method or fn in self._FOLDABLE):
            return self._fold(n, where)

        def get(i, kw, default):
            if i < len(args):
                return args[i]
            return kwargs.get(kw, default)

        def first():
            return self.tensor_arg(args[0] if args else kwargs.get("input"), where)

        src = fn if not method else fn
        em = lambda target, a, kw=None: self.emit(n, target, a, src, kwargs=kw)  # noqa: E731
        key = ("m:" + fn) if method else fn

        if key in (F.relu, torch.relu, "m:relu"):
            return em("aten.relu_.default" if get(1, "inplace", False) else "aten.relu.default", [first()])
        if key in (torch.relu_, "m:relu_"):
            return em("aten.relu_.default", [first()])
        if key is F.relu6:
            return em("aten.hardtanh_.default" if get(1, "inplace", False) else "aten.hardtanh.default",
                      [first(), 0.0, 6.0])
        if key is F.hardtanh:
            return em("aten.hardtanh_.default" if get(3, "inplace", False) else "aten.hardtanh.default",
                      [first(), float(get(1, "min_val", -1.0)), float(get(2, "max_val", 1.0))])
        for f, op in ((F.hardswish, "hardswish"), (F.hardsigmoid, "hardsigmoid"), (F.silu, "silu")):
            if key is f:
                return em("aten.%s%s.default" % (op, "_" if get(1, "inplace", False) else ""), [first()])
        if key in (torch.sigmoid, F.sigmoid, "m:sigmoid"):
            return em("aten.sigmoid.default", [first()])
        if key is F.adaptive_avg_pool2d:
            return em("aten.adaptive_avg_pool2d.default",
                      [first(), self.adaptive_size(n.args[0] if n.args else n.kwargs.get("input"),
                                                   get(1, "output_size", None), where)])
        if key is F.max_pool2d:
            if get(6, "return_indices", False):
                raise ExportError("%s: return_indices=True is not supported" % where)
            k = _ntuple(get(1, "kernel_size", None), 2, where)
            s = get(2, "stride", None)
            s = k if s is None or s == [] or s == () else _ntuple(s, 2, where)
            return em("aten.max_pool2d.default", [first(), k, s, _ntuple(get(3, "padding", 0), 2, where),
                                                  _ntuple(get(4, "dilation", 1), 2, where),
                                                  bool(get(5, "ceil_mode", False))])
        if key is F.avg_pool2d:
            k = _ntuple(get(1, "kernel_size", None), 2, where)
            s = get(2, "stride", None)
            s = k if s is None or s == [] or s == () else _ntuple(s, 2, where)
            a = [first(), k, s, _ntuple(get(3, "padding", 0), 2, where), bool(get(4, "ceil_mode", False)),
                 bool(get(5, "count_include_pad", True))]
            d = get(6, "divisor_override", None)
            if d is not None:
                a.append(int(d))
            return em("aten.avg_pool2d.default", a)
        if key is F.linear:
            return em("aten.linear.default", [first(), self.tensor_arg(get(1, "weight", None), where),
                                              get(2, "bias", None)])
        if key is F.dropout:
            return em("aten.dropout_.default" if get(3, "inplace", False) else "aten.dropout.default",
                      [first(), float(get(1, "p", 0.5)), bool(get(2, "training", True))])
        if key in (torch.flatten, "m:flatten"):
            return em("aten.flatten.using_ints", [first(), int(get(1, "start_dim", 0)), int(get(2, "end_dim", -1))])
        for ops, op in (((operator.add, torch.add, "m:add"), "add"), ((operator.mul, torch.mul, "m:mul"), "mul"),
                        ((operator.sub, torch.sub, "m:sub"), "sub"),
                        ((operator.truediv, torch.div, "m:div"), "div"),
                        ((operator.iadd, "m:add_"), "add_"), ((operator.imul, "m:mul_"), "mul_"),
                        ((operator.isub, "m:sub_"), "sub_"), ((operator.itruediv, "m:div_"), "div_")):
            if key in ops:
                return self.binary(n, em, op, args, kwargs, where)
        if key is torch.cat:
            tensors = get(0, "tensors", None)
            if not isinstance(tensors, (list, tuple)) or not all(isinstance(t, Ref) for t in tensors):
                raise ExportError("%s: expected a list of tensors" % where)
            return em("aten.cat.default", [list(tensors), int(get(1, "dim", 0))])
        if key in (torch.mean, "m:mean"):
            x = first()
            dims = get(1, "dim", None)
            keep = bool(get(2, "keepdim", False))
            kw = {}
            if kwargs.get("dtype") is not None:
                kw["dtype"] = kwargs["dtype"]
            if dims is None:
                return em("aten.mean.default", [x], kw)
            dims = [int(d) for d in dims] if isinstance(dims, (list, tuple)) else [int(dims)]
            return em("aten.mean.dim", [x, dims, keep], kw)
        if key in ("m:view", "m:reshape", torch.reshape):
            x = first()
            shape = args[1:] if method else [get(1, "shape", None)]
            if method and not shape:
                shape = [kwargs.get("shape", kwargs.get("size"))]
            if len(shape) == 1 and isinstance(shape[0], (list, tuple, torch.Size)):
                shape = list(shape[0])
            if any(isinstance(s, Ref) for s in shape):
                raise ExportError("%s: shape must be static" % where)
            if key == "m:view" and len(shape) == 1 and isinstance(shape[0], torch.dtype):
                raise ExportError("%s: view(dtype) is not supported" % where)
            target = "aten.view.default" if key == "m:view" else "aten.reshape.default"
            return em(target, [x, [int(s) for s in shape]])
        raise ExportError("unsupported %s (fx node %s)" % (where, n.format_node()))

    def binary(self, n, em, op, args, kwargs, where):
        if len(args) < 2 and "other" not in kwargs:
            raise ExportError("%s: expected two operands" % where)
        a = args[0] if args else kwargs.get("input")
        b = args[1] if len(args) > 1 else kwargs.get("other")
        kw = {}
        alpha = args[2] if len(args) > 2 else kwargs.get("alpha", None)
        if alpha is not None and alpha != 1:
            if op not in ("add", "sub", "add_", "sub_"):
                raise ExportError("%s: unexpected alpha" % where)
            kw["alpha"] = alpha
        for k in kwargs:
            if k not in ("input", "other", "alpha"):
                raise ExportError("%s: unsupported keyword %s" % (where, k))
        if not isinstance(a, Ref):
            if op in ("add", "mul") and isinstance(b, Ref):
                a, b = b, a  # 1 + x == x + 1 (torch.export writes the tensor first too)
            else:
                raise ExportError("%s: the first operand must be a tensor, got %r" % (where, a))
        if not isinstance(b, (Ref, int, float)) or isinstance(b, bool):
            raise ExportError("%s: unsupported second operand %r" % (where, b))
        return em("aten.%s.Tensor" % op, [a, b], kw)

    def _fold(self, n, where):
        if n not in self.values:
            raise ExportError("%s: cannot fold to a constant (fx node %s)" % (where, n.format_node()))
        v = self.values[n]
        if isinstance(v, torch.Size):
            v = [int(e) for e in v]
        ok = [True]

        def check(e):
            if not isinstance(e, (int, float, bool)) and e is not None:
                ok[0] = False
            return e
        torch.fx.node.map_aggregate(v, check)
        if not ok[0]:
            raise ExportError("unsupported %s: result %r is neither a tensor nor a constant" % (where, type(v).__name__))
        return v


# --------------------------------------------------------------------------
# torch 2.x path: torch.export (pre-dispatch ATen graph, as PT2E sees it)
# --------------------------------------------------------------------------


def _has_torch_export():
    try:
        import torch.export  # noqa: F401
    except Exception:
        return False
    return hasattr(torch, "export") and hasattr(torch.export, "export")


def _capture_torch2(model, inputs):
    """The graph PT2E's prepare_qat_pt2e receives. UNTESTED here (no torch 2.x)."""
    major_minor = tuple(int(p) for p in re.findall(r"\d+", torch.__version__)[:2])
    if major_minor >= (2, 6):
        return torch.export.export(model, tuple(inputs)).module()
    if hasattr(torch.export, "export_for_training"):  # 2.5
        return torch.export.export_for_training(model, tuple(inputs)).module()
    from torch._export import capture_pre_autograd_graph  # 2.1 .. 2.4
    return capture_pre_autograd_graph(model, tuple(inputs))


def _json_meta_value(v):
    try:
        json.dumps(v, allow_nan=False)
        return v
    except (TypeError, ValueError):
        return None


def _fake_val(v):
    if isinstance(v, torch.Tensor):
        shape = []
        for s in v.shape:
            try:
                shape.append(int(s))
            except Exception:
                return None
        return {"shape": shape, "dtype": dtype_name(v.dtype)}
    if isinstance(v, (list, tuple)) and v and all(isinstance(e, torch.Tensor) for e in v):
        vals = [_fake_val(e) for e in v]
        return None if any(e is None for e in vals) else vals
    return None


def export_torch2(model, inputs, stack_traces=True):
    gm = _capture_torch2(model, inputs)
    g = GraphWriter()
    env = {}

    def mapv(a):
        return torch.fx.node.map_aggregate(a, lambda x: env[x] if isinstance(x, torch.fx.Node) else x)

    def target_name(t):
        if isinstance(t, torch._ops.OpOverload):
            return str(t)  # 'aten.conv2d.default'
        return qualname(t)

    for n in gm.graph.nodes:
        meta = {}
        if stack_traces and n.meta.get("stack_trace"):
            meta["stack_trace"] = n.meta["stack_trace"]
        if "nn_module_stack" in n.meta:
            meta["nn_module_stack"] = {k: [str(p), qualname(t)] for k, (p, t) in n.meta["nn_module_stack"].items()}
        if "source_fn_stack" in n.meta:
            meta["source_fn_stack"] = [[str(a), qualname(b)] for a, b in n.meta["source_fn_stack"]]
        val = _fake_val(n.meta.get("val"))
        if val is not None:
            meta["val"] = val
        for k in ("torch_fn",):
            if k in n.meta and _json_meta_value(n.meta[k]) is not None:
                meta[k] = n.meta[k]
        if n.op == "placeholder":
            env[n] = Ref(n.name)
            g.ns.used.add(n.name)
            g.nodes.append({"name": n.name, "op": "placeholder", "target": n.name, "args": [], "kwargs": {},
                            "meta": meta})
        elif n.op == "get_attr":
            obj = gm
            for p in n.target.split("."):
                obj = getattr(obj, p)
            if not isinstance(obj, torch.Tensor):
                raise ExportError("get_attr %s is a %s, not a tensor (submodules such as higher-order op "
                                  "bodies are not supported)" % (n.target, type(obj).__name__))
            g.ns.used.add(n.name)
            env[n] = Ref(n.name)
            g._attrs[n.target] = env[n]
            g.weights.append((n.target, obj.detach().clone()))
            g.nodes.append({"name": n.name, "op": "get_attr", "target": n.target, "args": [], "kwargs": {},
                            "meta": meta})
        elif n.op == "call_function":
            if not isinstance(n.target, torch._ops.OpOverload) and n.target is not operator.getitem:
                raise ExportError("unsupported function %s in the exported graph (node %s)"
                                  % (qualname(n.target), n.name))
            where = "node %s (%s)" % (n.name, target_name(n.target))
            g.ns.used.add(n.name)
            env[n] = Ref(n.name)
            g.nodes.append({"name": n.name, "op": "call_function", "target": target_name(n.target),
                            "args": [to_json_arg(a, where) for a in mapv(n.args)],
                            "kwargs": {k: to_json_arg(v, where) for k, v in mapv(n.kwargs).items()},
                            "meta": meta})
        elif n.op == "call_module" and str(n.target).startswith("_guards_fn"):
            continue  # torch >= 2.8 input guards
        elif n.op == "output":
            out = mapv(n.args[0])
            if isinstance(out, (list, tuple)) and len(out) == 1 and isinstance(out[0], Ref):
                out = out[0]
            elif isinstance(out, (list, tuple)):
                out = list(out)
            g.nodes.append({"name": "output", "op": "output", "target": "output",
                            "args": [to_json_arg(out, "output")], "kwargs": {}, "meta": {}})
        else:
            raise ExportError("unsupported %s node %s (%s) in the exported graph" % (n.op, n.name, n.target))
    return g


# --------------------------------------------------------------------------
# model loading and CLI
# --------------------------------------------------------------------------


def load_model(spec):
    if ":" not in spec:
        raise ExportError("MODEL must be torchvision:NAME or path/to/file.py:factory, got %r" % spec)
    src, name = spec.rsplit(":", 1)
    if src == "torchvision":
        try:
            import torchvision
        except ImportError as e:
            raise ExportError("torchvision is not installed (%s)" % e)
        builder = getattr(torchvision.models, name, None)
        if builder is None or not callable(builder):
            raise ExportError("torchvision.models has no model %r" % name)
        try:
            return builder(weights=None)
        except TypeError:  # torchvision < 0.13
            return builder(pretrained=False)
    if not os.path.isfile(src):
        raise ExportError("no such model file %r" % src)
    mod_name = "_graft_model_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(src))[0])
    spec_ = importlib.util.spec_from_file_location(mod_name, src)
    module = importlib.util.module_from_spec(spec_)
    sys.modules[mod_name] = module
    spec_.loader.exec_module(module)
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        raise ExportError("%s has no function %r" % (src, name))
    model = factory()
    if not isinstance(model, nn.Module):
        raise ExportError("%s:%s() returned a %s, not an nn.Module" % (src, name, type(model).__name__))
    return model


def randomize_bn(model, seed):
    g = torch.Generator()
    g.manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                if m.weight is not None:
                    m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 1.0 + 0.5)
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                if m.running_mean is not None:
                    m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                    m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.0 + 0.5)
                    m.num_batches_tracked.fill_(int(torch.randint(1, 100, (1,), generator=g)))


def parse_shape(s):
    try:
        shape = [int(p) for p in s.split(",") if p.strip() != ""]
    except ValueError:
        raise ExportError("bad --input-shape %r (expected e.g. 1,3,224,224)" % s)
    if not shape or any(d <= 0 for d in shape):
        raise ExportError("bad --input-shape %r" % s)
    return shape


def export(model, inputs, train, backend="auto", stack_traces=True):
    """model in the requested mode -> GraphWriter (nodes + weights)."""
    model.train(train)
    if backend == "auto":
        backend = "export" if _has_torch_export() else "fx"
    if backend == "export":
        if not _has_torch_export():
            raise ExportError("--backend export needs torch >= 2.1 (this is torch %s)" % torch.__version__)
        return export_torch2(model, inputs, stack_traces)
    return FxExporter(model, inputs, stack_traces).run()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the module docstring / tools/README.md for the op mapping.")
    ap.add_argument("model", help="torchvision:NAME or path/to/file.py:factory")
    ap.add_argument("out", help="OUT.json (weights go to OUT.safetensors)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--train", action="store_true", help="export in training mode")
    mode.add_argument("--eval", action="store_true", help="export in eval mode (default)")
    ap.add_argument("--input-shape", action="append", default=None, metavar="1,3,224,224")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--randomize-bn", action="store_true")
    ap.add_argument("--example-input", metavar="IN.safetensors")
    ap.add_argument("--example-output", metavar="REF.safetensors")
    ap.add_argument("--no-stack-trace", action="store_true")
    ap.add_argument("--backend", choices=("auto", "fx", "export"), default="auto")
    args = ap.parse_args(argv)

    try:
        if not args.out.endswith(".json"):
            raise ExportError("OUT must end in .json, got %r" % args.out)
        shapes = [parse_shape(s) for s in (args.input_shape or ["1,3,224,224"])]
        torch.manual_seed(args.seed)
        model = load_model(args.model)
        if args.randomize_bn:
            randomize_bn(model, args.seed)
        train = bool(args.train)
        g_in = torch.Generator()
        g_in.manual_seed(args.seed + 2)
        inputs = [torch.randn(s, generator=g_in) for s in shapes]
        # the reference model is copied before anything runs, so that it starts from the
        # exported weights (shape propagation / export may run training-mode BN)
        ref_model = copy.deepcopy(model) if args.example_output else None
        g = export(model, inputs, train, args.backend, not args.no_stack_trace)
    except ExportError as e:
        print("export_torch: error: %s" % e, file=sys.stderr)
        return 2

    out_dir = os.path.dirname(os.path.abspath(args.out))
    stem = os.path.splitext(os.path.basename(args.out))[0]
    weights_file = stem + ".safetensors"
    meta = {"model": args.model, "mode": "train" if train else "eval",
            "input_shapes": json.dumps(shapes), "seed": args.seed}
    write_safetensors(os.path.join(out_dir, weights_file), g.weights, meta)
    dump_json(g.document(weights_file), args.out)

    placeholders = [n["name"] for n in g.nodes if n["op"] == "placeholder"]
    if args.example_input:
        write_safetensors(args.example_input, list(zip(placeholders, inputs)), meta)
    if args.example_output:
        ref_model.train(train)
        torch.manual_seed(args.seed + 3)
        with torch.no_grad():
            out = ref_model(*inputs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        write_safetensors(args.example_output,
                          [("output_%d" % i, o.detach().to(torch.float32)) for i, o in enumerate(outs)], meta)
    n_ops = sum(1 for n in g.nodes if n["op"] == "call_function")
    print("export_torch: wrote %s (%d nodes, %d ops) and %s (%d tensors)"
          % (args.out, len(g.nodes), n_ops, weights_file, len(g.weights)))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ExportError as e:
        print("export_torch: error: %s" % e, file=sys.stderr)
        sys.exit(2)

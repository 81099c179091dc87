#!/usr/bin/python3
"""Generate numeric golden files for graft's C++ tests from PyTorch.

Run from the repository root with the Debian python (which sees the Debian
python3-torch package, PyTorch 1.13):

    /usr/bin/python3 tests/golden/make_golden.py

Writes one safetensors file per case under tests/data/golden/ (the directory is
wiped of *.safetensors first, so the run is idempotent) and prints a summary
table.  See tests/golden/README.md for the meaning of every file, tensor name
and params key.

The safetensors writer is implemented here with struct + json (no safetensors
package): 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
(padded with trailing spaces so that the data section starts at an offset that
is a multiple of 8), then the raw little-endian tensor data packed in header
order with no gaps.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(REPO, "tests", "data", "golden")
MAX_TOTAL_BYTES = 2 * 1024 * 1024

SEED = 20240601

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

assert sys.byteorder == "little"

# --------------------------------------------------------------------------
# safetensors writer
# --------------------------------------------------------------------------

_DTYPES = {
    torch.float32: ("F32", "<f4"),
    torch.float64: ("F64", "<f8"),
    torch.int8: ("I8", "|i1"),
    torch.uint8: ("U8", "|u1"),
    torch.int32: ("I32", "<i4"),
    torch.int64: ("I64", "<i8"),
    torch.bool: ("BOOL", "|b1"),
}


def _tensor_bytes(t):
    t = t.detach().cpu().contiguous()
    if t.dtype not in _DTYPES:
        raise TypeError("unsupported dtype %s" % t.dtype)
    code, npdt = _DTYPES[t.dtype]
    arr = t.numpy().astype(npdt, copy=False)
    data = arr.tobytes(order="C")
    assert len(data) == t.numel() * t.element_size()
    return code, list(t.shape), data


def write_safetensors(path, tensors, params, extra_meta=None):
    """tensors: list of (name, torch.Tensor) in storage order."""
    header = {}
    blobs = []
    offset = 0
    seen = set()
    for name, t in tensors:
        assert name not in seen, name
        assert name != "__metadata__"
        seen.add(name)
        code, shape, data = _tensor_bytes(t)
        header[name] = {
            "dtype": code,
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    meta = {"params": json.dumps(params, sort_keys=True)}
    meta["format"] = "pt"
    meta["generator"] = "tests/golden/make_golden.py"
    meta["torch_version"] = torch.__version__
    if extra_meta:
        for k, v in extra_meta.items():
            meta[k] = str(v)
    header["__metadata__"] = meta
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (-(8 + len(hjson))) % 8
    hjson += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

CASES = []  # (file name, bytes)


def emit(name, tensors, params):
    params = dict(params)
    params["case"] = name
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, tensors, params)
    CASES.append((name + ".safetensors", os.path.getsize(path)))


def gen(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(g, shape, dtype=torch.float32, scale=1.0):
    return (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def uniform(g, shape, lo, hi, dtype=torch.float32):
    return (torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo).to(dtype)


def dtype_name(dt):
    return {torch.float32: "float32", torch.float64: "float64"}[dt]


def as_list(v, n):
    if isinstance(v, int):
        return [v] * n
    assert len(v) == n
    return list(v)


def rel_err(a, b):
    a = a.double()
    b = b.double()
    denom = max(b.abs().max().item(), 1e-30)
    return (a - b).abs().max().item() / denom


CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
CONVT_FN = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


# --------------------------------------------------------------------------
# 1. convolution forward
# --------------------------------------------------------------------------


def conv_case(name, seed, nd, transposed, n, c_in, c_out, spatial, kernel,
              stride=1, padding=0, dilation=1, groups=1, output_padding=0,
              bias=True, dtype=torch.float32):
    g = gen(seed)
    kernel = as_list(kernel, nd)
    stride = as_list(stride, nd)
    padding = as_list(padding, nd)
    dilation = as_list(dilation, nd)
    spatial = as_list(spatial, nd)
    output_padding = as_list(output_padding, nd)
    assert c_in % groups == 0 and c_out % groups == 0
    x = randn(g, [n, c_in] + spatial, dtype)
    if transposed:
        w = randn(g, [c_in, c_out // groups] + kernel, dtype, 0.5)
    else:
        w = randn(g, [c_out, c_in // groups] + kernel, dtype, 0.5)
    b = randn(g, [c_out], dtype, 0.5) if bias else None
    if transposed:
        y = CONVT_FN[nd](x, w, b, stride=stride, padding=padding,
                         output_padding=output_padding, groups=groups,
                         dilation=dilation)
        op = "conv_transpose%dd" % nd
    else:
        assert all(p == 0 for p in output_padding)
        y = CONV_FN[nd](x, w, b, stride=stride, padding=padding,
                        dilation=dilation, groups=groups)
        op = "conv%dd" % nd
    # cross-check against float64 evaluation
    x64, w64 = x.double(), w.double()
    b64 = b.double() if b is not None else None
    if transposed:
        y64 = CONVT_FN[nd](x64, w64, b64, stride=stride, padding=padding,
                           output_padding=output_padding, groups=groups,
                           dilation=dilation)
    else:
        y64 = CONV_FN[nd](x64, w64, b64, stride=stride, padding=padding,
                          dilation=dilation, groups=groups)
    err = rel_err(y, y64)
    assert err < (1e-5 if dtype == torch.float32 else 1e-12), (name, err)
    tensors = [("input", x), ("weight", w)]
    if b is not None:
        tensors.append(("bias", b))
    tensors.append(("output", y))
    params = {
        "family": "conv",
        "op": op,
        "transposed": transposed,
        "spatial_dims": nd,
        "in_channels": c_in,
        "out_channels": c_out,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "output_padding": output_padding,
        "has_bias": bias,
        "dtype": dtype_name(dtype),
        "weight_layout": ("[C_in, C_out/groups, k...]" if transposed
                          else "[C_out, C_in/groups, k...]"),
    }
    emit(name, tensors, params)


def make_conv_cases():
    f64 = torch.float64
    s = 100
    # conv1d
    conv_case("conv1d_plain", s + 1, 1, False, 2, 3, 4, 9, 3)
    conv_case("conv1d_stride2_pad1_dil2_nobias", s + 2, 1, False, 2, 4, 6, 9, 3,
              stride=2, padding=1, dilation=2, bias=False)
    conv_case("conv1d_depthwise", s + 3, 1, False, 2, 4, 4, 8, 3, padding=1,
              groups=4)
    conv_case("conv1d_f64_groups2_stride2", s + 4, 1, False, 2, 4, 6, 9, 3,
              stride=2, padding=1, groups=2, dtype=f64)
    # conv2d
    conv_case("conv2d_plain", s + 10, 2, False, 2, 3, 4, [6, 7], 3)
    conv_case("conv2d_nobias", s + 11, 2, False, 2, 3, 5, [6, 5], [3, 2],
              bias=False)
    conv_case("conv2d_stride2x1_pad1x2_dil2x1", s + 12, 2, False, 2, 3, 4,
              [9, 7], 3, stride=[2, 1], padding=[1, 2], dilation=[2, 1])
    conv_case("conv2d_groups2", s + 13, 2, False, 2, 4, 6, [6, 6], 3,
              padding=1, groups=2)
    conv_case("conv2d_depthwise", s + 14, 2, False, 2, 4, 4, [7, 6], 3,
              stride=2, padding=1, groups=4)
    conv_case("conv2d_depthwise_mult2", s + 15, 2, False, 2, 3, 6, [6, 7], 3,
              padding=1, groups=3)
    conv_case("conv2d_f64_stride2x1_pad1x2_dil2x1_groups2", s + 16, 2, False, 2,
              4, 6, [9, 7], 3, stride=[2, 1], padding=[1, 2], dilation=[2, 1],
              groups=2, dtype=f64)
    # conv3d
    conv_case("conv3d_plain", s + 20, 3, False, 2, 3, 4, [5, 6, 5], 3)
    conv_case("conv3d_stride2_pad1_dil2_groups2_nobias", s + 21, 3, False, 2, 4,
              6, [7, 6, 5], [3, 2, 3], stride=[2, 1, 2], padding=[1, 0, 2],
              dilation=[2, 1, 1], groups=2, bias=False)
    conv_case("conv3d_depthwise_mult2", s + 22, 3, False, 2, 3, 6, [5, 5, 5], 3,
              padding=1, groups=3)
    # Larger outputs: the convolution im2cols blocks of output rows sized for the L2 cache
    # (graft/tensor/conv.hpp), so these run several blocks, with a short last one, and in 3-d
    # blocks that cross a depth boundary.
    conv_case("conv2d_blocks_groups2", s + 23, 2, False, 1, 8, 4, [60, 70], 3,
              padding=1, groups=2)
    conv_case("conv2d_blocks_stride2_pad2_dil2", s + 24, 2, False, 1, 6, 4,
              [100, 90], 3, stride=2, padding=2, dilation=2)
    conv_case("conv3d_blocks", s + 25, 3, False, 1, 2, 3, [6, 20, 30], 3,
              padding=1)
    # conv_transpose1d
    conv_case("conv_transpose1d_plain", s + 30, 1, True, 2, 3, 4, 6, 3)
    conv_case("conv_transpose1d_stride2_outpad1_groups2", s + 31, 1, True, 2, 4,
              6, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    # conv_transpose2d
    conv_case("conv_transpose2d_plain", s + 40, 2, True, 2, 3, 4, [5, 6], 3)
    conv_case("conv_transpose2d_nobias", s + 41, 2, True, 2, 3, 5, [5, 5], [2, 3],
              stride=2, bias=False)
    conv_case("conv_transpose2d_stride2x1_pad1x2_dil2x1_outpad1x0", s + 42, 2,
              True, 2, 3, 4, [5, 6], 3, stride=[2, 1], padding=[1, 2],
              dilation=[2, 1], output_padding=[1, 0])
    conv_case("conv_transpose2d_groups2_stride2_outpad1", s + 43, 2, True, 2, 4, 6,
              [5, 5], 3, stride=2, padding=1, output_padding=1, groups=2)
    conv_case("conv_transpose2d_depthwise", s + 44, 2, True, 2, 4, 4, [5, 6], 3,
              stride=2, padding=1, output_padding=1, groups=4)
    conv_case("conv_transpose2d_depthwise_mult2", s + 45, 2, True, 2, 3, 6,
              [5, 5], 3, padding=1, groups=3)
    conv_case("conv_transpose2d_f64_groups2_stride2_outpad1", s + 46, 2, True, 2,
              4, 6, [5, 5], 3, stride=2, padding=1, output_padding=1, groups=2,
              dtype=f64)
    # conv_transpose3d
    conv_case("conv_transpose3d_plain", s + 50, 3, True, 2, 3, 4, [4, 5, 4], 3)
    conv_case("conv_transpose3d_stride2_pad1_outpad1_groups2_nobias", s + 51, 3,
              True, 2, 4, 6, [4, 4, 5], [3, 2, 3], stride=[2, 2, 1],
              padding=[1, 0, 1], output_padding=[1, 1, 0], groups=2, bias=False)


# --------------------------------------------------------------------------
# 2. batch norm
# --------------------------------------------------------------------------

BN_MODULES = {2: torch.nn.BatchNorm1d, 3: torch.nn.BatchNorm1d,
              4: torch.nn.BatchNorm2d, 5: torch.nn.BatchNorm3d}


def bn_case(name, seed, shape, training, momentum=0.1, eps=1e-5,
            dtype=torch.float32, nbt_before=5):
    g = gen(seed)
    c = shape[1]
    x = randn(g, shape, dtype, 1.5) + 0.7
    rm = randn(g, [c], dtype, 0.5)
    rv = uniform(g, [c], 0.5, 2.0, dtype)
    w = uniform(g, [c], 0.5, 1.5, dtype)
    w[c // 2] = -w[c // 2]  # a negative gamma
    b = randn(g, [c], dtype, 0.3)
    mod = BN_MODULES[len(shape)](c, eps=eps, momentum=momentum).to(dtype)
    with torch.no_grad():
        mod.weight.copy_(w)
        mod.bias.copy_(b)
        mod.running_mean.copy_(rm)
        mod.running_var.copy_(rv)
        mod.num_batches_tracked.fill_(nbt_before)
    mod.train(training)
    with torch.no_grad():
        y = mod(x)
    # cross-check against the functional form
    rm2, rv2 = rm.clone(), rv.clone()
    if momentum is None:
        factor = 1.0 / float(nbt_before + 1) if training else 0.0
    else:
        factor = momentum
    y2 = F.batch_norm(x, rm2, rv2, w, b, training=training, momentum=factor,
                      eps=eps)
    assert torch.equal(y, y2), name
    assert torch.equal(rm2, mod.running_mean) and torch.equal(rv2, mod.running_var)
    red = [0] + list(range(2, len(shape)))
    x64 = x.double()
    bmean = x64.mean(red)
    bvar = x64.var(red, unbiased=False)
    bvar_u = x64.var(red, unbiased=True)
    # float64 reference of the output
    bshape = [1, c] + [1] * (len(shape) - 2)
    if training:
        mu, var = bmean, bvar
    else:
        mu, var = rm.double(), rv.double()
    y64 = (x64 - mu.reshape(bshape)) / torch.sqrt(var.reshape(bshape) + eps) \
        * w.double().reshape(bshape) + b.double().reshape(bshape)
    assert rel_err(y, y64) < (1e-5 if dtype == torch.float32 else 1e-12), name
    if training:
        rm_ref = (1 - factor) * rm.double() + factor * bmean
        rv_ref = (1 - factor) * rv.double() + factor * bvar_u
        assert rel_err(mod.running_mean, rm_ref) < 1e-5
        assert rel_err(mod.running_var, rv_ref) < 1e-5
    tensors = [
        ("input", x),
        ("bn_weight", w),
        ("bn_bias", b),
        ("running_mean", rm),
        ("running_var", rv),
        ("num_batches_tracked", torch.tensor(nbt_before, dtype=torch.int64)),
        ("output", y),
        ("running_mean_after", mod.running_mean.detach().clone()),
        ("running_var_after", mod.running_var.detach().clone()),
        ("num_batches_tracked_after", mod.num_batches_tracked.detach().clone()),
        ("batch_mean", bmean.to(dtype)),
        ("batch_var_biased", bvar.to(dtype)),
        ("batch_var_unbiased", bvar_u.to(dtype)),
    ]
    params = {
        "family": "batch_norm",
        "op": "batch_norm",
        "module": type(mod).__name__,
        "input_ndim": len(shape),
        "num_features": c,
        "training": training,
        "momentum": momentum,
        "exponential_average_factor": factor,
        "eps": eps,
        "affine": True,
        "track_running_stats": True,
        "dtype": dtype_name(dtype),
    }
    emit(name, tensors, params)


def make_bn_cases():
    s = 200
    f64 = torch.float64
    bn_case("bn_input2d_train_m0p1_eps1e-5", s + 1, [6, 4], True)
    bn_case("bn_input2d_train_m0p3_eps1e-3", s + 2, [6, 4], True, 0.3, 1e-3)
    bn_case("bn_input2d_eval", s + 3, [6, 4], False)
    bn_case("bn_input3d_train_m0p1_eps1e-5", s + 4, [2, 4, 7], True)
    bn_case("bn_input3d_train_m0p3_eps1e-3", s + 5, [2, 4, 7], True, 0.3, 1e-3)
    bn_case("bn_input3d_eval_eps1e-3", s + 6, [2, 4, 7], False, 0.1, 1e-3)
    bn_case("bn_input4d_train_m0p1_eps1e-5", s + 7, [2, 5, 6, 7], True)
    bn_case("bn_input4d_train_m0p3_eps1e-3", s + 8, [2, 5, 6, 7], True, 0.3, 1e-3)
    bn_case("bn_input4d_eval", s + 9, [2, 5, 6, 7], False)
    bn_case("bn_input4d_train_cumavg", s + 10, [2, 5, 6, 5], True, None, 1e-5,
            nbt_before=3)
    bn_case("bn_input5d_train_m0p1_eps1e-5", s + 11, [2, 3, 5, 6, 5], True)
    bn_case("bn_input5d_train_m0p3_eps1e-3", s + 12, [2, 3, 5, 4, 5], True, 0.3,
            1e-3)
    bn_case("bn_input5d_eval", s + 13, [2, 3, 5, 6, 5], False)
    bn_case("bn_input4d_f64_train_m0p3_eps1e-3", s + 14, [2, 5, 6, 7], True, 0.3,
            1e-3, dtype=f64)
    bn_case("bn_input4d_f64_eval", s + 15, [2, 5, 6, 7], False, dtype=f64)
    bn_case("bn_input3d_f64_train_m0p1_eps1e-5", s + 16, [2, 4, 7], True,
            dtype=f64)


# --------------------------------------------------------------------------
# 3. quantize / dequantize (quantized_decomposed semantics)
# --------------------------------------------------------------------------

QDTYPES = {
    "int8": (torch.int8, -128, 127, torch.qint8),
    "uint8": (torch.uint8, 0, 255, torch.quint8),
    "int32": (torch.int32, -2 ** 31, 2 ** 31 - 1, torch.qint32),
}


def _have_decomposed():
    try:
        import torch.ao.quantization.fx._decomposed  # noqa: F401
        return hasattr(torch.ops, "quantized_decomposed") and hasattr(
            torch.ops.quantized_decomposed, "quantize_per_tensor")
    except Exception:
        return False


HAVE_DECOMPOSED = _have_decomposed()


def ref_quantize(x, scale, zp, qmin, qmax, out_dtype, axis=None):
    """Reference for quantized_decomposed.quantize_per_{tensor,channel}:
        q = clamp(round_half_even(x * inv_scale) + zp, qmin, qmax)
    with inv_scale = float32(1.0 / scale) and the product taken in float32
    (PyTorch's kernels multiply by the float inverse scale).  Rounding is
    exact in float32; the +zp and clamp are done in float64 so that the int32
    range is represented exactly (float32 cannot hold 2**31 - 1)."""
    assert x.dtype == torch.float32
    # float32(1/double(s)) must equal 1.0f/s (what the C++ kernels compute)
    for sv in np.atleast_1d(np.asarray(scale, dtype=np.float32)):
        assert np.float32(1.0 / np.float64(sv)) == np.float32(1.0) / sv, sv
    if axis is None:
        inv = torch.tensor(1.0 / float(scale), dtype=torch.float32)
        prod = x * inv
        r = torch.round(prod).double() + float(zp)
    else:
        shape = [1] * x.dim()
        shape[axis] = -1
        inv = (1.0 / scale.double()).float().reshape(shape)
        prod = x * inv
        r = torch.round(prod).double() + zp.double().reshape(shape)
    r = torch.clamp(r, float(qmin), float(qmax))
    return r.to(out_dtype)


def ref_dequantize(q, scale, zp, axis=None):
    """(float32(q) - zp) * scale, computed in float32 like
    quantized_decomposed.dequantize_per_{tensor,channel}."""
    if axis is None:
        return (q.to(torch.float32) - float(zp)) * torch.tensor(float(scale), dtype=torch.float32)
    shape = [1] * q.dim()
    shape[axis] = -1
    return (q.to(torch.float32) - zp.to(torch.float32).reshape(shape)) * \
        scale.to(torch.float32).reshape(shape)


def quant_values(g, scale, zp, qmin, qmax, n_random):
    """Values exactly on .5 boundaries (in units of scale, relative to the
    integer grid), beyond the clamp range, and random."""
    s = float(scale)
    vals = []
    # exact half boundaries: (k + 0.5) * scale, for k around 0 and around the
    # ends of the representable range
    for k in range(-6, 6):
        vals.append((k + 0.5) * s)
    lo_real = (qmin - zp) * s
    hi_real = (qmax - zp) * s
    if abs(hi_real) < 1e7:
        for d in (-1.5, -0.5, 0.5, 1.5):
            vals.append(hi_real + d * s)
            vals.append(lo_real + d * s)
        vals += [hi_real * 4, lo_real * 4, hi_real + 100 * s, lo_real - 100 * s]
    else:
        vals += [1e30, -1e30, 3e9 * s, -3e9 * s]
    vals += [0.0, -0.0, s, -s, 0.25 * s, -0.25 * s, 0.75 * s, -0.75 * s]
    x = torch.tensor(vals, dtype=torch.float32)
    rnd = randn(g, [n_random], torch.float32, 30.0 * s)
    return torch.cat([x, rnd])


def crosscheck(name, x, mismatch, scale, zp, qmin, qmax, axis):
    """Return the set of flat indices where a torch kernel disagrees with the
    saturating reference.  That is only tolerated for int32 elements whose
    unclamped value lies outside the int32 range, where torch 1.13's kernels
    overflow (undefined behaviour in C++: float -> int32 conversion)."""
    idx = set(int(i) for i in mismatch.reshape(-1).nonzero().reshape(-1))
    if not idx:
        return set()
    if axis is None:
        v = torch.round(x.double() / float(scale)) + float(zp)
    else:
        shape = [1] * x.dim()
        shape[axis] = -1
        v = torch.round(x.double() / scale.double().reshape(shape)) + \
            zp.double().reshape(shape)
    v = v.reshape(-1)
    for i in idx:
        assert qmax - qmin > 2 ** 20, (name, i, "int8/uint8 must match exactly")
        assert v[i] > 2 ** 31 - 2 ** 8 or v[i] < -2 ** 31 + 2 ** 8, (name, i, float(v[i]))
    return idx


def qpt_case(name, seed, qname, scale, zp, qmin=None, qmax=None):
    g = gen(seed)
    out_dtype, dmin, dmax, qtorch = QDTYPES[qname]
    qmin = dmin if qmin is None else qmin
    qmax = dmax if qmax is None else qmax
    scale = float(np.float32(scale))  # exactly representable in float32
    x = quant_values(g, scale, zp, qmin, qmax, 24).reshape(4, -1)
    q = ref_quantize(x, scale, zp, qmin, qmax, out_dtype)
    dq = ref_dequantize(q, scale, zp)
    # cross-check with torch's own kernels
    checked = []
    fq = torch.fake_quantize_per_tensor_affine(x, scale, zp, qmin, qmax)
    disagree = crosscheck(name, x, fq != dq, scale, zp, qmin, qmax, None)
    checked.append("torch.fake_quantize_per_tensor_affine")
    if qmin == dmin and qmax == dmax:
        tq = torch.quantize_per_tensor(x, scale, zp, qtorch).int_repr()
        disagree |= crosscheck(name, x, tq.to(torch.int64) != q.to(torch.int64),
                               scale, zp, qmin, qmax, None)
        checked.append("torch.quantize_per_tensor")
    if HAVE_DECOMPOSED:
        dec = torch.ops.quantized_decomposed.quantize_per_tensor(
            x, scale, zp, qmin, qmax, out_dtype)
        disagree |= crosscheck(name, x, dec != q, scale, zp, qmin, qmax, None)
        checked.append("quantized_decomposed.quantize_per_tensor")
    tensors = [
        ("input", x),
        ("scale", torch.tensor(scale, dtype=torch.float32)),
        ("zero_point", torch.tensor(zp, dtype=torch.int64)),
        ("quantized", q),
        ("dequantized", dq),
    ]
    params = {
        "family": "quant",
        "op": "quantize_per_tensor",
        "scale": scale,
        "zero_point": zp,
        "quant_min": qmin,
        "quant_max": qmax,
        "qdtype": qname,
        "rounding": "half_to_even",
        "dtype": "float32",
        "checked_against": checked,
        "torch_overflow_indices": sorted(disagree),
    }
    emit(name, tensors, params)


def qpc_case(name, seed, qname, scales, zps, axis, shape, qmin=None, qmax=None):
    g = gen(seed)
    out_dtype, dmin, dmax, qtorch = QDTYPES[qname]
    qmin = dmin if qmin is None else qmin
    qmax = dmax if qmax is None else qmax
    scales_t = torch.tensor(scales, dtype=torch.float32)
    zps_t = torch.tensor(zps, dtype=torch.int64)
    c = shape[axis]
    assert len(scales) == c
    # build input: per channel, values on .5 boundaries + beyond range + random
    per = int(np.prod(shape)) // c
    chans = []
    for i in range(c):
        v = quant_values(g, float(scales_t[i]), zps[i], qmin, qmax, 0)
        extra = per - v.numel()
        assert extra >= 0, (per, v.numel())
        v = torch.cat([v, randn(g, [extra], torch.float32, 30.0 * float(scales_t[i]))])
        perm = torch.randperm(per, generator=g)
        chans.append(v[perm])
    x = torch.stack(chans, 0)  # [c, per]
    rest = list(shape[:axis]) + list(shape[axis + 1:])
    x = x.reshape([c] + rest)
    x = x.movedim(0, axis).contiguous()
    assert list(x.shape) == list(shape)
    q = ref_quantize(x, scales_t, zps_t, qmin, qmax, out_dtype, axis)
    dq = ref_dequantize(q, scales_t, zps_t, axis)
    fq = torch.fake_quantize_per_channel_affine(x, scales_t, zps_t.to(torch.int32),
                                                axis, qmin, qmax)
    disagree = crosscheck(name, x, fq != dq, scales_t, zps_t, qmin, qmax, axis)
    checked = ["torch.fake_quantize_per_channel_affine"]
    if qmin == dmin and qmax == dmax:
        tq = torch.quantize_per_channel(x, scales_t.double(), zps_t, axis,
                                        qtorch).int_repr()
        disagree |= crosscheck(name, x, tq.to(torch.int64) != q.to(torch.int64),
                               scales_t, zps_t, qmin, qmax, axis)
        checked.append("torch.quantize_per_channel")
    if HAVE_DECOMPOSED:
        dec = torch.ops.quantized_decomposed.quantize_per_channel(
            x, scales_t, zps_t, axis, qmin, qmax, out_dtype)
        disagree |= crosscheck(name, x, dec != q, scales_t, zps_t, qmin, qmax, axis)
        checked.append("quantized_decomposed.quantize_per_channel")
    tensors = [
        ("input", x),
        ("scale", scales_t),
        ("zero_point", zps_t),
        ("quantized", q),
        ("dequantized", dq),
    ]
    params = {
        "family": "quant",
        "op": "quantize_per_channel",
        "axis": axis,
        "quant_min": qmin,
        "quant_max": qmax,
        "qdtype": qname,
        "rounding": "half_to_even",
        "dtype": "float32",
        "checked_against": checked,
        "torch_overflow_indices": sorted(disagree),
    }
    emit(name, tensors, params)


def make_quant_cases():
    s = 300
    qpt_case("quant_per_tensor_int8_s0p5_zp3", s + 1, "int8", 0.5, 3)
    qpt_case("quant_per_tensor_int8_symm_s0p0173_zp0", s + 2, "int8", 0.0173, 0)
    qpt_case("quant_per_tensor_int8_narrow_m127_127_s0p25", s + 3, "int8", 0.25, 0,
             qmin=-127, qmax=127)
    qpt_case("quant_per_tensor_uint8_s0p25_zp128", s + 4, "uint8", 0.25, 128)
    qpt_case("quant_per_tensor_uint8_s0p03125_zp7", s + 5, "uint8", 0.03125, 7)
    qpt_case("quant_per_tensor_int32_s0p001_zp0", s + 6, "int32", 0.001, 0)
    qpt_case("quant_per_tensor_int32_s0p5_zpm5", s + 7, "int32", 0.5, -5)
    qpc_case("quant_per_channel_int8_axis0", s + 10, "int8",
             [0.5, 0.25, 0.0625, 0.02], [0, 3, -4, 0], 0, [4, 3, 4, 4])
    qpc_case("quant_per_channel_int8_axis1", s + 11, "int8",
             [0.125, 0.0371, 1.0], [0, 0, -10], 1, [4, 3, 4, 4])
    qpc_case("quant_per_channel_uint8_axis0", s + 12, "uint8",
             [0.5, 0.25, 0.0078125], [128, 0, 255], 0, [3, 2, 5, 4])
    qpc_case("quant_per_channel_int32_axis0", s + 13, "int32",
             [0.001, 0.5], [0, 7], 0, [2, 40])


# --------------------------------------------------------------------------
# 4. conv + bn weight folding
# --------------------------------------------------------------------------


def fold_reference_f64(w, b, rm, rv, eps, gamma, beta, transposed, groups):
    """Correct fold in float64 for any conv / conv-transpose layout."""
    w = w.double()
    c_out = rm.numel()
    b = torch.zeros(c_out, dtype=torch.float64) if b is None else b.double()
    inv_std = 1.0 / torch.sqrt(rv.double() + eps)
    s = gamma.double() * inv_std  # [C_out]
    if transposed:
        c_in = w.shape[0]
        opg = w.shape[1]  # C_out / groups
        ipg = c_in // groups
        assert opg * groups == c_out
        idx = torch.tensor([[(i // ipg) * opg + j for j in range(opg)]
                            for i in range(c_in)], dtype=torch.long)
        scale = s[idx]  # [C_in, C_out/groups]
        wf = w * scale.reshape(list(scale.shape) + [1] * (w.dim() - 2))
    else:
        wf = w * s.reshape([-1] + [1] * (w.dim() - 1))
    bf = (b - rm.double()) * s + beta.double()
    return wf, bf


def fold_case(name, seed, nd, transposed, c_in, c_out, kernel, groups=1,
              bias=True, eps=1e-5, dtype=torch.float32, stride=1, padding=0,
              output_padding=0, spatial=5, n=2):
    g = gen(seed)
    kernel = as_list(kernel, nd)
    spatial = as_list(spatial, nd)
    if transposed:
        w = randn(g, [c_in, c_out // groups] + kernel, dtype, 0.5)
    else:
        w = randn(g, [c_out, c_in // groups] + kernel, dtype, 0.5)
    b = randn(g, [c_out], dtype, 0.5) if bias else None
    rm = randn(g, [c_out], dtype, 0.5)
    rv = uniform(g, [c_out], 0.3, 2.0, dtype)
    gamma = uniform(g, [c_out], 0.5, 1.5, dtype)
    gamma[1] = -gamma[1]  # negative gamma on channel 1
    beta = randn(g, [c_out], dtype, 0.3)
    x = randn(g, [n, c_in] + spatial, dtype)

    wf64, bf64 = fold_reference_f64(w, b, rm, rv, eps, gamma, beta, transposed,
                                    groups)
    torch_fuse_ok = (not transposed) or groups == 1
    if torch_fuse_ok:
        fw, fb = torch.nn.utils.fusion.fuse_conv_bn_weights(
            w, b, rm, rv, eps, gamma, beta, transpose=transposed)
        fw, fb = fw.detach(), fb.detach()
        assert fw.dtype == dtype and fb.dtype == dtype
        assert rel_err(fw, wf64) < (1e-6 if dtype == torch.float32 else 1e-14), name
        assert rel_err(fb, bf64) < (1e-6 if dtype == torch.float32 else 1e-14), name
        method = "torch.nn.utils.fusion.fuse_conv_bn_weights"
    else:
        # PyTorch's fuse_conv_bn_weights scales the weight along axis 1 (size
        # C_out/groups) with the full C_out-long vector: wrong for groups > 1.
        try:
            bad_w, _ = torch.nn.utils.fusion.fuse_conv_bn_weights(
                w, b, rm, rv, eps, gamma, beta, transpose=True)
            torch_behaviour = "returns wrong result of shape %s" % list(bad_w.shape)
            if list(bad_w.shape) == list(w.shape):
                torch_behaviour = "returns wrongly scaled weight"
        except RuntimeError as e:
            torch_behaviour = "raises RuntimeError (%s)" % str(e).split("\n")[0][:80]
        fw, fb = wf64.to(dtype), bf64.to(dtype)
        method = "hand-computed float64 (per absolute output channel)"

    # numerical verification: conv(x, W_f, b_f) == bn_eval(conv(x, W, b))
    fn = CONVT_FN[nd] if transposed else CONV_FN[nd]
    kw = dict(stride=stride, padding=padding, groups=groups)
    if transposed:
        kw["output_padding"] = output_padding
    bshape = [1, c_out] + [1] * nd
    y = fn(x, w, b, **kw)
    ref = (y - rm.reshape(bshape)) / torch.sqrt(rv.reshape(bshape) + eps) * \
        gamma.reshape(bshape) + beta.reshape(bshape)
    ref2 = F.batch_norm(y, rm, rv, gamma, beta, training=False, eps=eps)
    assert rel_err(ref, ref2) < 1e-6
    yf = fn(x, fw, fb, **kw)
    err = rel_err(yf, ref)
    assert err < (1e-5 if dtype == torch.float32 else 1e-12), (name, err)
    # and exact-ish in float64
    x64 = x.double()
    b64 = b.double() if b is not None else None
    y64 = fn(x64, w.double(), b64, **kw)
    ref64 = (y64 - rm.double().reshape(bshape)) / torch.sqrt(
        rv.double().reshape(bshape) + eps) * gamma.double().reshape(bshape) + \
        beta.double().reshape(bshape)
    err64 = rel_err(fn(x64, wf64, bf64, **kw), ref64)
    assert err64 < 1e-12, (name, err64)

    tensors = [("weight", w)]
    if b is not None:
        tensors.append(("bias", b))
    tensors += [
        ("running_mean", rm),
        ("running_var", rv),
        ("bn_weight", gamma),
        ("bn_bias", beta),
        ("fused_weight", fw),
        ("fused_bias", fb),
    ]
    if dtype == torch.float32:
        tensors += [("fused_weight_f64", wf64), ("fused_bias_f64", bf64)]
    tensors += [("input", x), ("reference_output", ref)]
    params = {
        "family": "fold",
        "op": "fuse_conv_bn_weights",
        "transposed": transposed,
        "spatial_dims": nd,
        "in_channels": c_in,
        "out_channels": c_out,
        "kernel_size": kernel,
        "groups": groups,
        "has_bias": bias,
        "eps": eps,
        "stride": as_list(stride, nd),
        "padding": as_list(padding, nd),
        "dilation": [1] * nd,
        "output_padding": as_list(output_padding, nd),
        "dtype": dtype_name(dtype),
        "method": method,
        "negative_gamma_channel": 1,
        "weight_layout": ("[C_in, C_out/groups, k...]" if transposed
                          else "[C_out, C_in/groups, k...]"),
        "verified_rel_err": err,
    }
    if not torch_fuse_ok:
        params["torch_fuse_conv_bn_weights_behaviour"] = torch_behaviour
    emit(name, tensors, params)


def make_fold_cases():
    s = 400
    f64 = torch.float64
    fold_case("fold_conv1d", s + 1, 1, False, 3, 4, 3)
    fold_case("fold_conv1d_nobias_eps1e-3", s + 2, 1, False, 3, 5, 3, bias=False,
              eps=1e-3)
    fold_case("fold_conv2d", s + 3, 2, False, 3, 4, 3)
    fold_case("fold_conv2d_nobias", s + 4, 2, False, 3, 6, [3, 2], bias=False)
    fold_case("fold_conv2d_groups2_eps1e-3", s + 5, 2, False, 4, 6, 3, groups=2,
              eps=1e-3, padding=1)
    fold_case("fold_conv2d_depthwise", s + 6, 2, False, 4, 4, 3, groups=4,
              padding=1)
    fold_case("fold_conv2d_depthwise_mult2", s + 7, 2, False, 3, 6, 3, groups=3)
    fold_case("fold_conv3d", s + 8, 3, False, 3, 4, [3, 2, 3])
    fold_case("fold_conv3d_nobias_groups2", s + 9, 3, False, 4, 6, 2, groups=2,
              bias=False)
    fold_case("fold_conv_transpose1d", s + 10, 1, True, 3, 4, 3, stride=2)
    fold_case("fold_conv_transpose2d", s + 11, 2, True, 3, 5, 3, stride=2,
              padding=1, output_padding=1)
    fold_case("fold_conv_transpose2d_nobias_eps1e-3", s + 12, 2, True, 4, 3, 3,
              bias=False, eps=1e-3)
    fold_case("fold_conv_transpose3d", s + 13, 3, True, 3, 4, [2, 3, 2])
    fold_case("fold_conv_transpose2d_groups2", s + 14, 2, True, 4, 6, 3,
              groups=2, stride=2, padding=1, output_padding=1)
    fold_case("fold_conv_transpose2d_groups2_nobias_eps1e-3", s + 15, 2, True, 6,
              4, 3, groups=2, bias=False, eps=1e-3)
    fold_case("fold_conv_transpose2d_depthwise", s + 16, 2, True, 4, 4, 3,
              groups=4, stride=2)
    fold_case("fold_conv_transpose2d_depthwise_mult2", s + 17, 2, True, 3, 6, 3,
              groups=3)
    fold_case("fold_conv_transpose1d_groups3", s + 18, 1, True, 6, 9, 3,
              groups=3, stride=2, output_padding=1)
    fold_case("fold_conv_transpose3d_groups2", s + 19, 3, True, 4, 6, 2, groups=2,
              stride=2)
    fold_case("fold_conv2d_f64_groups2", s + 20, 2, False, 4, 6, 3, groups=2,
              dtype=f64)
    fold_case("fold_conv_transpose2d_f64", s + 21, 2, True, 3, 4, 3, dtype=f64)
    fold_case("fold_conv_transpose2d_f64_groups2_eps1e-3", s + 22, 2, True, 4, 6,
              3, groups=2, eps=1e-3, dtype=f64, stride=2)


# --------------------------------------------------------------------------
# 5. QAT ConvBn modules
# --------------------------------------------------------------------------


def make_qconfig(per_channel):
    from torch.ao.quantization import QConfig
    from torch.ao.quantization.fake_quantize import FakeQuantize
    from torch.ao.quantization.observer import (
        MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver,
        NoopObserver)
    if per_channel:
        wfq = FakeQuantize.with_args(
            observer=MovingAveragePerChannelMinMaxObserver, quant_min=-128,
            quant_max=127, dtype=torch.qint8, qscheme=torch.per_channel_symmetric,
            ch_axis=0)
    else:
        wfq = FakeQuantize.with_args(
            observer=MovingAverageMinMaxObserver, quant_min=-128, quant_max=127,
            dtype=torch.qint8, qscheme=torch.per_tensor_symmetric)
    # activation is not used by the ConvBn QAT module itself (only the weight
    # fake-quant is instantiated), so a no-op placeholder is enough
    return QConfig(activation=NoopObserver.with_args(dtype=torch.float32),
                   weight=wfq)


QAT_CLASSES = {1: "ConvBn1d", 2: "ConvBn2d", 3: "ConvBn3d"}


def qat_case(name, seed, nd, c_in, c_out, kernel, spatial, training,
             per_channel, stride=1, padding=0, dilation=1, groups=1, bias=True,
             eps=1e-5, momentum=0.1, slow_path=False, fixed_qparams=False,
             n=2):
    import torch.nn.intrinsic.qat as nniqat
    g = gen(seed)
    torch.manual_seed(seed)
    cls = getattr(nniqat, QAT_CLASSES[nd])
    qconfig = make_qconfig(per_channel)
    mod = cls(c_in, c_out, kernel, stride=stride, padding=padding,
              dilation=dilation, groups=groups, bias=bias, padding_mode="zeros",
              eps=eps, momentum=momentum, freeze_bn=False, qconfig=qconfig)
    mod._enable_slow_path_for_better_numerical_stability = slow_path
    kernel_l = as_list(kernel, nd)
    spatial = as_list(spatial, nd)
    w = randn(g, [c_out, c_in // groups] + kernel_l, torch.float32, 0.4)
    b = randn(g, [c_out], torch.float32, 0.3) if bias else None
    gamma = uniform(g, [c_out], 0.5, 1.5)
    gamma[c_out - 1] = -gamma[c_out - 1]  # negative gamma on the last channel
    beta = randn(g, [c_out], torch.float32, 0.3)
    rm = randn(g, [c_out], torch.float32, 0.3)
    rv = uniform(g, [c_out], 0.5, 2.0)
    nbt = 7
    x = randn(g, [n, c_in] + spatial)
    with torch.no_grad():
        mod.weight.copy_(w)
        if bias:
            mod.bias.copy_(b)
        mod.bn.weight.copy_(gamma)
        mod.bn.bias.copy_(beta)
        mod.bn.running_mean.copy_(rm)
        mod.bn.running_var.copy_(rv)
        mod.bn.num_batches_tracked.fill_(nbt)
    fq = mod.weight_fake_quant
    if fixed_qparams:
        # observer disabled; fake-quant uses given scale / zero point
        with torch.no_grad():
            amax = (w * (gamma / torch.sqrt(rv + eps)).reshape(
                [-1] + [1] * (nd + 1))).abs()
            if per_channel:
                amax = amax.reshape(c_out, -1).amax(1)
                sc = (amax / 100.0).float()  # deliberately not the observer's
                zp = torch.zeros(c_out, dtype=torch.int32)
            else:
                sc = torch.tensor([float(amax.max()) / 100.0], dtype=torch.float32)
                zp = torch.zeros(1, dtype=torch.int32)
            fq.scale.resize_(sc.shape).copy_(sc)
            fq.zero_point.resize_(zp.shape).copy_(zp)
        fq.disable_observer()
    mod.train(training)
    captured = {}

    def hook(m, inp, out):
        captured["scaled_weight"] = inp[0].detach().clone()
        captured["fq_weight"] = out.detach().clone()

    h = fq.register_forward_hook(hook)
    with torch.no_grad():
        y = mod(x)
    h.remove()
    scale_used = fq.scale.detach().clone()
    zp_used = fq.zero_point.detach().clone()
    obs = fq.activation_post_process

    # ---- independent reference (float32 ops, mirrors the module's forward) ----
    wshape = [-1] + [1] * (nd + 1)
    bshape = [1, -1] + [1] * nd
    red = [0] + list(range(2, nd + 2))
    cargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    rm_after = mod.bn.running_mean.detach()
    rv_after = mod.bn.running_var.detach()
    if slow_path and training:
        # slow path: bn stats are updated first from the unquantized conv,
        # and the weight is then scaled with the *updated* running_var
        conv_out = CONV_FN[nd](x, w, None, **cargs)
        stats_src = conv_out if b is None else conv_out + b.reshape(bshape)
        rv_for_scale = rv_after
    else:
        rv_for_scale = rv
    running_std = torch.sqrt(rv_for_scale + eps)
    sf = gamma / running_std
    sw = w * sf.reshape(wshape)
    assert torch.equal(sw, captured["scaled_weight"]), name
    if per_channel:
        fqw = torch.fake_quantize_per_channel_affine(sw, scale_used, zp_used, 0,
                                                     -128, 127)
    else:
        fqw = torch.fake_quantize_per_tensor_affine(sw, float(scale_used),
                                                    int(zp_used), -128, 127)
    assert torch.equal(fqw, captured["fq_weight"]), name
    if not fixed_qparams:
        # observer: first observation -> min/max of the scaled weight
        if per_channel:
            amax = torch.maximum(-sw.reshape(c_out, -1).amin(1).clamp(max=0),
                                 sw.reshape(c_out, -1).amax(1).clamp(min=0))
        else:
            amax = torch.maximum(-sw.min().clamp(max=0), sw.max().clamp(min=0))
        sc_ref = torch.clamp(amax / 127.5, min=torch.finfo(torch.float32).eps)
        assert torch.equal(sc_ref.reshape(-1), scale_used.reshape(-1)), name
        assert int(zp_used.abs().sum()) == 0
    conv = CONV_FN[nd](x, fqw, None, **cargs)
    if slow_path:
        if training:
            bm = conv_out.mean(red)
            bv = conv_out.var(red, unbiased=False)
            bstd = torch.sqrt(bv + eps)
            yref = conv * (running_std / bstd).reshape(bshape) + \
                (beta - gamma * bm / bstd).reshape(bshape)
        else:
            fused_mean = rm - (b if b is not None else 0)
            yref = conv + (beta - gamma * fused_mean / running_std).reshape(bshape)
    else:
        conv_orig = conv / sf.reshape(bshape)
        if bias:
            conv_orig = conv_orig + b.reshape(bshape)
        stats_src = conv_orig
        if training:
            bm = conv_orig.mean(red)
            bv = conv_orig.var(red, unbiased=False)
            yref = (conv_orig - bm.reshape(bshape)) / torch.sqrt(bv.reshape(bshape) + eps) \
                * gamma.reshape(bshape) + beta.reshape(bshape)
        else:
            yref = (conv_orig - rm.reshape(bshape)) / torch.sqrt(rv.reshape(bshape) + eps) \
                * gamma.reshape(bshape) + beta.reshape(bshape)
    if training:
        m = momentum
        rm_ref = (1 - m) * rm + m * stats_src.mean(red)
        rv_ref = (1 - m) * rv + m * stats_src.var(red, unbiased=True)
        assert rel_err(rm_after, rm_ref) < 1e-5, name
        assert rel_err(rv_after, rv_ref) < 1e-5, name
        assert int(mod.bn.num_batches_tracked) == nbt + 1
    else:
        assert torch.equal(rm_after, rm) and torch.equal(rv_after, rv)
        assert int(mod.bn.num_batches_tracked) == nbt
    err = rel_err(y, yref)
    assert err < 1e-4, (name, err)

    tensors = [
        ("input", x),
        ("weight", w),
    ]
    if bias:
        tensors.append(("bias", b))
    tensors += [
        ("bn_weight", gamma),
        ("bn_bias", beta),
        ("running_mean", rm),
        ("running_var", rv),
        ("num_batches_tracked", torch.tensor(nbt, dtype=torch.int64)),
        ("output", y),
        ("running_mean_after", mod.bn.running_mean.detach().clone()),
        ("running_var_after", mod.bn.running_var.detach().clone()),
        ("num_batches_tracked_after", mod.bn.num_batches_tracked.detach().clone()),
        ("weight_fq_scale", scale_used),
        ("weight_fq_zero_point", zp_used),
        ("scaled_weight", captured["scaled_weight"]),
        ("fq_weight", captured["fq_weight"]),
        ("observer_min_val", obs.min_val.detach().clone()),
        ("observer_max_val", obs.max_val.detach().clone()),
    ]
    params = {
        "family": "qat_convbn",
        "op": "torch.nn.intrinsic.qat." + QAT_CLASSES[nd],
        "spatial_dims": nd,
        "in_channels": c_in,
        "out_channels": c_out,
        "kernel_size": kernel_l,
        "stride": as_list(stride, nd),
        "padding": as_list(padding, nd),
        "dilation": as_list(dilation, nd),
        "groups": groups,
        "has_bias": bias,
        "eps": eps,
        "momentum": momentum,
        "training": training,
        "forward_path": "slow" if slow_path else "approximate",
        "weight_qscheme": ("per_channel_symmetric" if per_channel
                           else "per_tensor_symmetric"),
        "weight_ch_axis": 0 if per_channel else None,
        "weight_quant_min": -128,
        "weight_quant_max": 127,
        "weight_qdtype": "qint8",
        "observer": ("MovingAveragePerChannelMinMaxObserver" if per_channel
                     else "MovingAverageMinMaxObserver"),
        "observer_averaging_constant": 0.01,
        "observer_state": ("disabled_fixed_qparams" if fixed_qparams
                           else "fresh_enabled"),
        "activation_fake_quant": None,
        "dtype": "float32",
        "reference_rel_err": err,
    }
    emit(name, tensors, params)


def make_qat_cases():
    s = 500
    qat_case("qat_convbn1d_per_tensor_train", s + 1, 1, 3, 4, 3, 9, True, False)
    qat_case("qat_convbn1d_per_channel_eval", s + 2, 1, 3, 4, 3, 9, False, True,
             padding=1)
    qat_case("qat_convbn2d_per_tensor_train", s + 3, 2, 3, 4, 3, [6, 7], True,
             False)
    qat_case("qat_convbn2d_per_channel_train", s + 4, 2, 3, 4, 3, [6, 7], True,
             True)
    qat_case("qat_convbn2d_per_tensor_eval", s + 5, 2, 3, 4, 3, [6, 7], False,
             False)
    qat_case("qat_convbn2d_per_channel_eval", s + 6, 2, 3, 4, 3, [6, 7], False,
             True)
    qat_case("qat_convbn2d_per_channel_train_nobias_stride2_pad1_groups2_m0p3_eps1e-3",
             s + 7, 2, 4, 6, 3, [7, 8], True, True, stride=2, padding=1,
             groups=2, bias=False, eps=1e-3, momentum=0.3)
    qat_case("qat_convbn2d_per_tensor_train_dil2_depthwise", s + 8, 2, 4, 4, 3,
             [8, 8], True, False, dilation=2, groups=4)
    qat_case("qat_convbn2d_per_channel_train_fixed_qparams", s + 9, 2, 3, 5, 3,
             [6, 6], True, True, fixed_qparams=True)
    qat_case("qat_convbn2d_per_tensor_eval_fixed_qparams", s + 10, 2, 3, 5, 3,
             [6, 6], False, False, fixed_qparams=True)
    qat_case("qat_convbn2d_per_channel_train_slow_path", s + 11, 2, 3, 4, 3,
             [6, 7], True, True, slow_path=True)
    qat_case("qat_convbn3d_per_tensor_train", s + 12, 3, 3, 4, 3, [5, 5, 5], True,
             False, padding=1)
    qat_case("qat_convbn3d_per_channel_train_m0p3_eps1e-3", s + 13, 3, 2, 4,
             [2, 3, 2], [5, 6, 5], True, True, stride=[1, 2, 1], eps=1e-3,
             momentum=0.3)
    qat_case("qat_convbn3d_per_channel_eval", s + 14, 3, 2, 4, 3, [5, 5, 5],
             False, True)


# --------------------------------------------------------------------------
# 6. QAT convert: folded conv-bn with a quantize/dequantized weight (and bias)
# --------------------------------------------------------------------------

INT32_MIN, INT32_MAX = -2 ** 31, 2 ** 31 - 1


def observer_qparams(w, per_channel, axis):
    """Symmetric int8 qparams of torch's MinMax observers for a first
    observation of `w`; checked against an independent float32 formula."""
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
    if per_channel:
        obs = PerChannelMinMaxObserver(ch_axis=axis, dtype=torch.qint8,
                                       qscheme=torch.per_channel_symmetric,
                                       quant_min=-128, quant_max=127)
    else:
        obs = MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_symmetric,
                             quant_min=-128, quant_max=127)
    obs(w)
    scale, zp = obs.calculate_qparams()
    scale = scale.to(torch.float32).reshape(-1)
    zp = zp.to(torch.int64).reshape(-1)
    # independent float32 formula
    if per_channel:
        wt = w.movedim(axis, 0).reshape(w.shape[axis], -1)
        mn = wt.amin(1).clamp(max=0)
        mx = wt.amax(1).clamp(min=0)
    else:
        mn = w.min().clamp(max=0).reshape(1)
        mx = w.max().clamp(min=0).reshape(1)
    amax = torch.maximum(-mn, mx)
    ref = torch.clamp(amax / 127.5, min=torch.finfo(torch.float32).eps)
    assert ref.dtype == torch.float32
    assert torch.equal(ref, scale), (ref, scale)
    assert int(zp.abs().sum()) == 0
    return scale, zp


def convert_case(name, seed, nd, transposed, c_in, c_out, kernel, spatial,
                 per_channel, bias=True, bias_quantized=False, eps=1e-5,
                 stride=1, padding=0, dilation=1, groups=1, output_padding=0,
                 x_scale=0.02, n=2):
    g = gen(seed)
    kernel = as_list(kernel, nd)
    spatial = as_list(spatial, nd)
    stride = as_list(stride, nd)
    padding = as_list(padding, nd)
    dilation = as_list(dilation, nd)
    output_padding = as_list(output_padding, nd)
    assert c_in % groups == 0 and c_out % groups == 0
    if not transposed:
        assert all(p == 0 for p in output_padding)
    if transposed and per_channel:
        assert groups == 1  # axis 1 holds only C_out/groups channels otherwise
    if bias_quantized:
        assert not per_channel
    f32 = torch.float32
    x = randn(g, [n, c_in] + spatial, f32)
    if transposed:
        w = randn(g, [c_in, c_out // groups] + kernel, f32, 0.5)
    else:
        w = randn(g, [c_out, c_in // groups] + kernel, f32, 0.5)
    b = randn(g, [c_out], f32, 0.5) if bias else None
    gamma = uniform(g, [c_out], 0.5, 1.5, f32)
    gamma[1] = -gamma[1]  # negative gamma on channel 1
    beta = randn(g, [c_out], f32, 0.3)
    rm = randn(g, [c_out], f32, 0.5)
    rv = uniform(g, [c_out], 0.3, 2.0, f32)

    # 1. fold in float64, rounded once to float32
    wf64, bf64 = fold_reference_f64(w, b, rm, rv, eps, gamma, beta, transposed,
                                    groups)
    wf, bf = wf64.to(f32), bf64.to(f32)
    fn = CONVT_FN[nd] if transposed else CONV_FN[nd]
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if transposed:
        kw["output_padding"] = output_padding
    checked = []
    if (not transposed) or groups == 1:
        tw, tb = torch.nn.utils.fusion.fuse_conv_bn_weights(
            w, b, rm, rv, eps, gamma, beta, transpose=transposed)
        fold_err_w = rel_err(tw.detach(), wf64)
        fold_err_b = rel_err(tb.detach(), bf64)
        assert fold_err_w < 1e-5 and fold_err_b < 1e-5, (name, fold_err_w, fold_err_b)
        checked.append("torch.nn.utils.fusion.fuse_conv_bn_weights")
    else:
        fold_err_w = fold_err_b = None
    # conv(x, W_f, b_f) == batch_norm_eval(conv(x, W, b)), float64 and float32
    y64 = fn(x.double(), w.double(), None if b is None else b.double(), **kw)
    ref64 = F.batch_norm(y64, rm.double(), rv.double(), gamma.double(),
                         beta.double(), training=False, eps=eps)
    fold_out_err64 = rel_err(fn(x.double(), wf64, bf64, **kw), ref64)
    assert fold_out_err64 < 1e-12, (name, fold_out_err64)
    ref32 = F.batch_norm(fn(x, w, b, **kw), rm, rv, gamma, beta, training=False,
                         eps=eps)
    fold_out_err = rel_err(fn(x, wf, bf, **kw), ref32)
    assert fold_out_err < 1e-5, (name, fold_out_err)
    checked.append("%s + batch_norm(eval)" % ("conv_transpose%dd" % nd if transposed
                                              else "conv%dd" % nd))

    # 2. weight qparams (observer on folded_weight)
    w_axis = (1 if transposed else 0) if per_channel else None
    w_scales, w_zps = observer_qparams(wf, per_channel, w_axis)
    qmin, qmax = -128, 127

    # 3. weight quantize / dequantize
    if per_channel:
        assert w_scales.numel() == wf.shape[w_axis]
        wq = ref_quantize(wf, w_scales, w_zps, qmin, qmax, torch.int8, w_axis)
        wdq = ref_dequantize(wq, w_scales, w_zps, w_axis)
        fq = torch.fake_quantize_per_channel_affine(
            wf, w_scales, w_zps.to(torch.int32), w_axis, qmin, qmax)
        tq = torch.quantize_per_channel(wf, w_scales.double(), w_zps, w_axis,
                                        torch.qint8).int_repr()
        checked += ["torch.fake_quantize_per_channel_affine",
                    "torch.quantize_per_channel"]
    else:
        w_scale = float(w_scales[0])
        wq = ref_quantize(wf, w_scale, 0, qmin, qmax, torch.int8)
        wdq = ref_dequantize(wq, w_scale, 0)
        fq = torch.fake_quantize_per_tensor_affine(wf, w_scale, 0, qmin, qmax)
        tq = torch.quantize_per_tensor(wf, w_scale, 0, torch.qint8).int_repr()
        checked += ["torch.fake_quantize_per_tensor_affine",
                    "torch.quantize_per_tensor"]
    assert torch.equal(fq, wdq), name
    assert torch.equal(tq, wq), name
    if HAVE_DECOMPOSED:
        if per_channel:
            dec = torch.ops.quantized_decomposed.quantize_per_channel(
                wf, w_scales, w_zps, w_axis, qmin, qmax, torch.int8)
        else:
            dec = torch.ops.quantized_decomposed.quantize_per_tensor(
                wf, w_scale, 0, qmin, qmax, torch.int8)
        assert torch.equal(dec, wq), name
        checked.append("quantized_decomposed.quantize_per_%s"
                       % ("channel" if per_channel else "tensor"))

    # 4. optional int32 bias quantization with the derived scale
    if bias_quantized:
        xs = torch.tensor(x_scale, dtype=f32)
        b_scale_t = xs * w_scales[0]  # float32 multiply
        b_scale = float(b_scale_t)
        bq = ref_quantize(bf, b_scale, 0, INT32_MIN, INT32_MAX, torch.int32)
        bdq = ref_dequantize(bq, b_scale, 0)
        assert bq.abs().max() < 2 ** 24  # float32(q) exact, no saturation
        fqb = torch.fake_quantize_per_tensor_affine(bf, b_scale, 0, INT32_MIN,
                                                    INT32_MAX)
        tqb = torch.quantize_per_tensor(bf, b_scale, 0, torch.qint32).int_repr()
        assert torch.equal(fqb, bdq) and torch.equal(tqb, bq), name
        checked += ["torch.fake_quantize_per_tensor_affine (int32 bias)",
                    "torch.quantize_per_tensor (qint32 bias)"]
        bias_used = bdq
    else:
        bias_used = bf

    # 5. output
    out = fn(x.double(), wdq.double(), bias_used.double(), **kw)
    out_f32 = fn(x, wdq, bias_used, **kw)
    out_f32_err = rel_err(out_f32, out)
    assert out_f32_err < 1e-5, (name, out_f32_err)
    quant_err = rel_err(out, ref64)  # effect of quantization, for information
    assert quant_err < 0.05, (name, quant_err)

    # storage order: decreasing element size, so that every tensor's data is
    # naturally aligned (F64, I64, F32..., I32, I8)
    tensors = [("out", out)]
    if per_channel:
        tensors.append(("w_zero_points", w_zps))
    tensors += [("x", x), ("weight", w)]
    if b is not None:
        tensors.append(("bias", b))
    tensors += [
        ("bn_weight", gamma),
        ("bn_bias", beta),
        ("running_mean", rm),
        ("running_var", rv),
        ("folded_weight", wf),
        ("folded_bias", bf),
    ]
    if per_channel:
        tensors.append(("w_scales", w_scales))
    tensors.append(("weight_dq", wdq))
    if bias_quantized:
        tensors.append(("bias_dq", bdq))
    tensors.append(("out_f32", out_f32))
    if bias_quantized:
        tensors.append(("bias_q", bq))
    tensors.append(("weight_q", wq))

    op = ("conv_transpose%dd" if transposed else "conv%dd") % nd
    params = {
        "family": "convert",
        "op": op,
        "transposed": transposed,
        "spatial_dims": nd,
        "in_channels": c_in,
        "out_channels": c_out,
        "kernel_size": kernel,
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "output_padding": output_padding,
        "has_bias": bias,
        "eps": eps,
        "dtype": "float32",
        "weight_layout": ("[C_in, C_out/groups, k...]" if transposed
                          else "[C_out, C_in/groups, k...]"),
        "negative_gamma_channel": 1,
        "per_channel": per_channel,
        "bias_quantized": bias_quantized,
        "w_qscheme": ("per_channel_symmetric" if per_channel
                      else "per_tensor_symmetric"),
        "w_qmin": qmin,
        "w_qmax": qmax,
        "w_dtype": "int8",
        "out_bias": "bias_dq" if bias_quantized else "folded_bias",
        "checked_against": checked,
        "fold_rel_err_weight": fold_err_w,
        "fold_rel_err_bias": fold_err_b,
        "fold_output_rel_err": fold_out_err,
        "fold_output_rel_err_f64": fold_out_err64,
        "out_f32_rel_err": out_f32_err,
        "quantization_rel_err": quant_err,
    }
    if per_channel:
        params["w_axis"] = w_axis
    else:
        params["w_scale"] = w_scale
        params["w_zero_point"] = 0
    if bias_quantized:
        params.update({
            "x_scale": float(xs),
            "b_scale": b_scale,
            "b_zero_point": 0,
            "b_qmin": INT32_MIN,
            "b_qmax": INT32_MAX,
            "b_dtype": "int32",
        })
    emit(name, tensors, params)


def make_convert_cases():
    s = 600
    convert_case("convert_conv1d_per_tensor", s + 1, 1, False, 3, 5, 3, 8,
                 False, padding=1)
    convert_case("convert_conv1d_per_channel_nobias", s + 2, 1, False, 3, 5, 3, 9,
                 True, bias=False, stride=2, dilation=2)
    convert_case("convert_conv2d_per_tensor", s + 3, 2, False, 3, 5, 3, [5, 6],
                 False, padding=1)
    convert_case("convert_conv2d_per_channel", s + 4, 2, False, 3, 5, 3, [5, 6],
                 True)
    convert_case("convert_conv2d_per_tensor_nobias_eps1e-3", s + 5, 2, False, 3,
                 5, [3, 2], [5, 5], False, bias=False, eps=1e-3)
    convert_case("convert_conv2d_per_tensor_qbias", s + 6, 2, False, 3, 5, 3,
                 [5, 6], False, bias_quantized=True, padding=1)
    convert_case("convert_conv2d_per_channel_groups2_stride2", s + 7, 2, False, 4,
                 6, 3, [7, 6], True, groups=2, stride=2, padding=1)
    convert_case("convert_conv2d_depthwise_per_channel", s + 8, 2, False, 4, 4, 3,
                 [6, 6], True, groups=4, padding=1)
    convert_case("convert_conv3d_per_channel", s + 9, 3, False, 3, 5, 3,
                 [4, 5, 4], True, padding=[1, 0, 1])
    convert_case("convert_conv3d_per_tensor_qbias", s + 10, 3, False, 3, 5,
                 [2, 3, 2], [4, 4, 5], False, bias_quantized=True)
    convert_case("convert_conv_transpose2d_per_tensor", s + 11, 2, True, 3, 5, 3,
                 [4, 5], False, stride=2, padding=1, output_padding=1)
    convert_case("convert_conv_transpose2d_per_channel", s + 12, 2, True, 3, 5, 3,
                 [4, 5], True)
    convert_case("convert_conv_transpose2d_groups2_per_tensor", s + 13, 2, True,
                 4, 6, 3, [4, 4], False, groups=2, stride=2, padding=1,
                 output_padding=1)
    convert_case("convert_conv_transpose1d_per_tensor_nobias", s + 14, 1, True, 3,
                 5, 3, 6, False, bias=False, stride=2)
    convert_case("convert_conv_transpose3d_per_tensor", s + 15, 3, True, 3, 5,
                 [2, 3, 2], [3, 4, 3], False)


# --------------------------------------------------------------------------


def main():
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT_DIR, f))
    make_conv_cases()
    make_bn_cases()
    make_quant_cases()
    make_fold_cases()
    make_qat_cases()
    make_convert_cases()
    total = sum(b for _, b in CASES)
    w = max(len(n) for n, _ in CASES)
    print("%-*s %8s" % (w, "file", "bytes"))
    print("-" * (w + 9))
    for n, b in CASES:
        print("%-*s %8d" % (w, n, b))
    print("-" * (w + 9))
    print("%-*s %8d" % (w, "TOTAL (%d files)" % len(CASES), total))
    print("torch %s, quantized_decomposed available: %s" % (torch.__version__,
                                                           HAVE_DECOMPOSED))
    assert total <= MAX_TOTAL_BYTES, total


if __name__ == "__main__":
    main()

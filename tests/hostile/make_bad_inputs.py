#!/usr/bin/env python3
"""Writes the hostile-input corpus for graft-qat (issue "Hardening").

    python3 tests/hostile/make_bad_inputs.py [OUT_DIR]          # default: tests/data/bad
    python3 tests/hostile/make_bad_inputs.py --big WORK_DIR     # the big cases, at test time

Standard library only (json, struct). Every file is a pure function of this script, so running
it twice gives byte-identical files. Each case is one `NN_description.json` (plus its own
`NN_description.safetensors` when the case is about the weights); most cases share
`shared_weights.safetensors`, a valid weights file for the conv -> batch_norm -> relu model of
docs/images/conv_bn.json. `shared_input.safetensors` is a valid input ("x", float32 [1, 3, 8, 8])
for the `run` checks. Cases whose name contains `_rt_` are run-time problems: the driver also
runs `graft-qat run` on them.

The expectations (tests/hostile/expected.txt) and the table in tests/hostile/README.md are kept
by hand, next to the observed results; `--list` prints the case names and descriptions.
"""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.normpath(os.path.join(HERE, "..", "data", "bad"))

SHARED_WEIGHTS = "shared_weights.safetensors"
SHARED_INPUT = "shared_input.safetensors"

# ---- safetensors ---------------------------------------------------------------------------------

ESIZE = {"F32": 4, "F64": 8, "I8": 1, "U8": 1, "I32": 4, "I64": 8, "BOOL": 1}
PACK = {"F32": "f", "F64": "d", "I8": "b", "U8": "B", "I32": "i", "I64": "q", "BOOL": "?"}


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def values(n, seed, lo=-0.5, hi=0.5):
    """Deterministic pseudo-random floats (an LCG; no `random`, whose algorithm may change)."""
    s = (seed * 2654435761 + 12345) & 0xFFFFFFFF
    out = []
    for _ in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out.append(lo + (hi - lo) * (s >> 8) / float(1 << 24))
    return out


def pack(dtype, vals):
    return struct.pack("<%d%s" % (len(vals), PACK[dtype]), *vals)


def tensor(dtype, shape, vals):
    return {"dtype": dtype, "shape": list(shape), "data": pack(dtype, vals)}


def st_file(tensors, metadata=None, header_override=None, extra_data=b"", header_len=None, pad=True):
    """safetensors bytes. tensors: list of (name, {"dtype","shape","data"} [, "offsets"]).
    header_override: an object (or raw bytes) used as the header instead of the computed one."""
    header = {}
    data = b""
    for name, t in tensors:
        begin = len(data)
        data += t["data"]
        header[name] = {"dtype": t["dtype"], "shape": t["shape"],
                        "data_offsets": t.get("offsets", [begin, len(data)])}
    if metadata is not None:
        header["__metadata__"] = metadata
    if header_override is not None:
        header = header_override
    text = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        while (8 + len(text)) % 8:
            text += b" "
    n = len(text) if header_len is None else header_len
    return struct.pack("<Q", n) + text + data + extra_data


# The valid model's tensors: conv (3 -> 4 channels, 3x3, bias) and its batch norm.
C_OUT = 4


def model_tensors(**over):
    t = {
        "conv.weight": tensor("F32", [C_OUT, 3, 3, 3], values(C_OUT * 27, 1)),
        "conv.bias": tensor("F32", [C_OUT], values(C_OUT, 2, -0.1, 0.1)),
        "bn.weight": tensor("F32", [C_OUT], values(C_OUT, 3, 0.5, 1.5)),
        "bn.bias": tensor("F32", [C_OUT], values(C_OUT, 4, -0.2, 0.2)),
        "bn.running_mean": tensor("F32", [C_OUT], values(C_OUT, 5, -0.1, 0.1)),
        "bn.running_var": tensor("F32", [C_OUT], values(C_OUT, 6, 0.5, 1.5)),
    }
    for k, v in over.items():
        t[k.replace("__", ".")] = v
    return [(k, v) for k, v in t.items() if v is not None]


def valid_weights(**over):
    return st_file(model_tensors(**over), metadata={"format": "pt", "graft.buffers": '["bn.running_mean", "bn.running_var"]'})


def valid_input():
    return st_file([("x", tensor("F32", [1, 3, 8, 8], values(192, 7, -1.0, 1.0)))])


# ---- graph files ---------------------------------------------------------------------------------

def node(name, op, target, args=(), kwargs=None, meta=None):
    return {"name": name, "op": op, "target": target, "args": list(args), "kwargs": kwargs or {}, "meta": meta or {}}


def ref(name):
    return {"node": name}


def conv_args():
    return [ref("x"), ref("conv_weight"), ref("conv_bias"), [1, 1], [1, 1], [1, 1], 1]


def bn_args(eps=1e-5, training=False):
    return [ref("conv2d"), ref("bn_weight"), ref("bn_bias"), ref("bn_running_mean"), ref("bn_running_var"),
            training, 0.1, eps, True]


def model_nodes(conv=None, bn=None, conv_target="aten.conv2d.default", bn_target="aten.batch_norm.default"):
    """The nodes of docs/images/conv_bn.json (conv -> batch_norm -> relu)."""
    return [
        node("x", "placeholder", "x", meta={"val": {"shape": [1, 3, 8, 8], "dtype": "float32"}}),
        node("conv_weight", "get_attr", "conv.weight"),
        node("conv_bias", "get_attr", "conv.bias"),
        node("conv2d", "call_function", conv_target, conv_args() if conv is None else conv),
        node("bn_weight", "get_attr", "bn.weight"),
        node("bn_bias", "get_attr", "bn.bias"),
        node("bn_running_mean", "get_attr", "bn.running_mean"),
        node("bn_running_var", "get_attr", "bn.running_var"),
        node("batch_norm", "call_function", bn_target, bn_args() if bn is None else bn),
        node("relu", "call_function", "aten.relu.default", [ref("batch_norm")]),
        node("output", "output", "output", [ref("relu")]),
    ]


def doc(nodes, weights=SHARED_WEIGHTS, **extra):
    d = {"graft": 1}
    if weights is not None:
        d["weights"] = weights
    d["nodes"] = nodes
    d.update(extra)
    return d


def dump(d):
    """One node per line, as graft writes graph files."""
    if not isinstance(d, dict) or not isinstance(d.get("nodes"), list):
        return json.dumps(d, separators=(",", ":")).encode() + b"\n"
    head = {k: v for k, v in d.items() if k != "nodes"}
    text = json.dumps(head, separators=(",", ":"))[:-1]
    if head:
        text += ","
    text += '"nodes":[\n' + ",\n".join(json.dumps(n, separators=(",", ":")) for n in d["nodes"]) + "\n]}\n"
    return text.encode()


def with_node(nodes, which, **changes):
    """A copy of `nodes` with the fields of the node called `which` changed."""
    out = []
    for n in nodes:
        n = dict(n)
        if n["name"] == which:
            n.update(changes)
        out.append(n)
    return out


# ---- the cases -----------------------------------------------------------------------------------
# (name, description, graph bytes, own weights bytes or None)

def own(name):
    return name + ".safetensors"


def cases():
    C = []

    def add(name, what, graph, weights=None):
        C.append((name, what, graph, weights))

    def st_case(name, what, weights_bytes):
        add(name, what, dump(doc(model_nodes(), weights=own(name))), weights_bytes)

    good = model_nodes()
    valid_doc = dump(doc(good))

    # -- files that are not graph JSON at all
    add("01_empty_file", "an empty file (0 bytes)", b"")
    add("02_utf16_bom", "the valid model in UTF-16LE with a BOM", b"\xff\xfe" + valid_doc.decode().encode("utf-16-le"))
    add("03_utf8_bom_list", "a UTF-8 BOM followed by a JSON list (the BOM is skipped; the list is refused)", b"\xef\xbb\xbf[1, 2, 3]\n")
    add("04_invalid_utf8", "a node name containing the invalid UTF-8 bytes C3 28 and FF",
        valid_doc.replace(b'"name":"relu"', b'"name":"re\xc3\x28lu\xff"'))
    add("05_graph_is_list", "the document is a JSON list of nodes instead of an object", dump(good))
    add("06_truncated_json", "the valid model cut in the middle of a node", valid_doc[: len(valid_doc) // 2])
    add("07_missing_version", "no \"graft\": 1 key", dump({"weights": SHARED_WEIGHTS, "nodes": good}))
    add("08_wrong_version", "\"graft\": 2", dump({"graft": 2, "weights": SHARED_WEIGHTS, "nodes": good}))
    add("09_nodes_not_array", "\"nodes\" is an object", dump({"graft": 1, "weights": SHARED_WEIGHTS, "nodes": {"x": good[0]}}))
    add("10_node_not_object", "a node that is a number, not an object", dump(doc(good[:1] + [42] + good[1:])))
    add("11_unknown_op_kind", "op \"call_module\"", dump(doc(with_node(good, "relu", op="call_module"))))
    add("12_duplicate_names", "two nodes called conv2d", dump(doc(with_node(good, "relu", name="conv2d"))))
    add("13_missing_output", "no output node", dump(doc(good[:-1])))
    add("14_two_outputs", "the output node twice", dump(doc(good + [node("output_1", "output", "output", [ref("relu")])])))
    add("15_undefined_ref", "a reference to a node that does not exist", dump(doc(with_node(good, "relu", args=[ref("nowhere")]))))
    add("16_forward_ref", "conv2d refers to relu, defined later",
        dump(doc(with_node(good, "conv2d", args=[ref("relu")] + conv_args()[1:]))))
    add("17_cycle", "conv2d and batch_norm refer to each other (a cycle)",
        dump(doc(with_node(good, "conv2d", args=[ref("batch_norm")] + conv_args()[1:]))))
    add("18_self_ref", "relu refers to itself", dump(doc(with_node(good, "relu", args=[ref("relu")]))))
    add("19_empty_name", "a node with an empty name", dump(doc(with_node(good, "relu", name=""))))
    add("20_name_not_string", "a node name that is a number", dump(doc(with_node(good, "relu", name=7))))
    add("21_args_not_array", "args is an object", dump(doc(with_node(good, "relu", args={"0": ref("batch_norm")}))))
    add("22_kwargs_not_object", "kwargs is a list", dump(doc(with_node(good, "relu", kwargs=[1]))))
    add("23_output_no_args", "the output node has no argument", dump(doc(with_node(good, "output", args=[]))))
    add("24_placeholder_with_args", "a placeholder with an argument", dump(doc(with_node(good, "x", args=[1]))))
    add("25_unknown_arg_object", "an argument {\"tensor\": ...}", dump(doc(with_node(good, "relu", args=[ref("batch_norm"), {"tensor": [1]}]))))
    add("26_int_overflow_arg", "an integer argument 2^64 - 1", dump(doc(with_node(good, "conv2d", args=conv_args()[:6] + [18446744073709551615]))))
    add("27_bad_float_arg", "{\"float\": \"infinity\"} (only inf, -inf, nan)", dump(doc(with_node(good, "relu", args=[ref("batch_norm"), {"float": "infinity"}]))))
    add("28_unknown_dtype_arg", "{\"dtype\": \"float8\"}", dump(doc(with_node(good, "relu", args=[ref("batch_norm"), {"dtype": "float8"}]))))
    deep = 300
    add("29_nesting_300", "an argument nested 300 levels deep (limit 256)",
        dump(doc(with_node(good, "relu", args=[ref("batch_norm"), json.loads("[" * deep + "]" * deep)]))))
    add("30_meta_bad_val", "meta.val.shape is a string", dump(doc(with_node(good, "relu", meta={"val": {"shape": "1,4,8,8", "dtype": "float32"}}))))
    add("31_qspec_unknown_kind", "a quantization annotation with qspec kind \"magic\"",
        dump(doc(with_node(good, "relu", meta={"quantization_annotation": {"input_qspec_map": [["batch_norm", {"kind": "magic"}]], "output_qspec": None}}))))
    add("32_annotation_undefined_node", "a quantization annotation naming an undefined node",
        dump(doc(with_node(good, "relu", meta={"quantization_annotation": {"input_qspec_map": [], "output_qspec": {"kind": "shared", "edge_or_node": "ghost"}}}))))
    add("33_node_after_output", "a node after the output node", dump(doc(good + [node("late", "placeholder", "late")])))

    # -- the weights file, as named by the graph
    add("34_get_attr_no_tensor", "a get_attr naming conv.weights (no such tensor)", dump(doc(with_node(good, "conv_weight", target="conv.weights"))))
    add("35_weights_missing", "weights names a file that does not exist", dump(doc(good, weights="35_does_not_exist.safetensors")))
    add("36_no_weights_field", "get_attr nodes but no \"weights\" key", dump(doc(good, weights=None)))
    add("37_weights_not_string", "\"weights\": 5", dump(doc(good, weights=5)))
    add("38_weights_is_directory", "\"weights\": \".\" (a directory)", dump(doc(good, weights=".")))
    add("39_weights_dev_zero", "\"weights\": \"/dev/zero\" (an endless character device)", dump(doc(good, weights="/dev/zero")))

    # -- safetensors files that break the format
    st_case("40_st_zero_bytes", "a 0-byte safetensors file", b"")
    st_case("41_st_truncated_length", "a safetensors file of 5 bytes (the header length is cut)", b"\x10\x00\x00\x00\x00")
    st_case("42_st_header_len_past_end", "header length 4096 in a 200-byte file", struct.pack("<Q", 4096) + valid_weights()[8:200])
    st_case("43_st_header_len_2p64", "header length 2^64 - 8 (wraps when 8 is added)", struct.pack("<Q", 2**64 - 8) + valid_weights()[8:])
    st_case("44_st_header_len_2p63", "header length 2^63 (negative as int64)", struct.pack("<Q", 2**63) + valid_weights()[8:])
    st_case("45_st_truncated_header", "the header length is right but the file ends inside the JSON header", valid_weights()[:60])
    st_case("46_st_header_not_json", "a header that is not JSON", st_file([], header_override=b"{\"conv.weight\": {dtype: F32}}"))
    st_case("47_st_header_not_object", "a header that is a JSON list", st_file([], header_override=b"[1, 2, 3]"))
    st_case("48_st_header_invalid_utf8", "a header with a tensor name in invalid UTF-8", st_file([], header_override=b'{"conv.\xff\xfe": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}'))
    w = model_tensors()
    st_case("49_st_offsets_past_end", "conv.bias's data_offsets reach past the end of the file",
            st_file([(k, dict(v, offsets=[432, 4000]) if k == "conv.bias" else v) for k, v in w]))
    st_case("50_st_offsets_huge", "data_offsets [0, 2^64 - 1]",
            st_file([(k, dict(v, offsets=[0, 2**64 - 1]) if k == "conv.weight" else v) for k, v in w]))
    st_case("51_st_offsets_reversed", "data_offsets [448, 432] (end before begin)",
            st_file([(k, dict(v, offsets=[448, 432]) if k == "conv.bias" else v) for k, v in w]))
    st_case("52_st_overlap", "bn.bias and bn.weight share the same bytes (overlapping tensors)",
            st_file([(k, dict(v, offsets=[448, 464]) if k == "bn.bias" else v) for k, v in w], extra_data=b""))
    st_case("53_st_gap_misaligned", "a 2-byte gap between conv.weight and conv.bias (ranges misaligned by 2)",
            st_file([(k, dict(v, data=b"\0\0" + v["data"], offsets=[434, 450]) if k == "conv.bias" else v) for k, v in w]))
    st_case("54_st_trailing_bytes", "16 bytes after the last tensor that belong to no tensor", valid_weights() + b"\0" * 16)
    st_case("55_st_wrong_byte_count", "conv.bias is F32 [4] but holds 12 bytes",
            st_file([(k, dict(v, data=v["data"][:12]) if k == "conv.bias" else v) for k, v in w]))
    st_case("56_st_shape_overflow", "a shape [2^32, 2^32, 16] whose element count overflows 64 bits",
            st_file([(k, dict(v, shape=[2**32, 2**32, 16]) if k == "conv.bias" else v) for k, v in w]))
    st_case("57_st_shape_bytes_overflow", "shape [2^62] F64: the element count fits, the byte count does not",
            st_file([(k, dict(v, dtype="F64", shape=[2**62]) if k == "conv.bias" else v) for k, v in w]))
    st_case("58_st_shape_negative", "a shape [-4]", st_file([(k, dict(v, shape=[-4]) if k == "conv.bias" else v) for k, v in w]))
    st_case("59_st_shape_not_int", "a shape [4.0]", st_file([(k, dict(v, shape=[4.0]) if k == "conv.bias" else v) for k, v in w]))
    st_case("60_st_unknown_dtype", "dtype F8_E4M3 (not supported)", st_file([(k, dict(v, dtype="F8_E4M3") if k == "conv.bias" else v) for k, v in w]))
    st_case("61_st_dtype_lowercase", "dtype \"f32\" (codes are upper case)", st_file([(k, dict(v, dtype="f32") if k == "conv.bias" else v) for k, v in w]))
    st_case("62_st_dtype_not_string", "dtype 4", st_file([(k, dict(v, dtype=4) if k == "conv.bias" else v) for k, v in w]))
    st_case("63_st_entry_missing_fields", "a tensor entry without data_offsets",
            st_file([], header_override={"conv.weight": {"dtype": "F32", "shape": [4, 3, 3, 3]}}))
    st_case("64_st_metadata_not_string", "__metadata__ with a number value", st_file(w, metadata={"format": 1}))
    st_case("65_st_offsets_not_pair", "data_offsets with three entries",
            st_file([(k, dict(v, offsets=[432, 448, 464]) if k == "conv.bias" else v) for k, v in w]))

    # -- graphs that read fine but whose conv / batch norm is malformed (the passes' inputs)
    add("66_conv_one_arg", "a conv2d with only its input argument", dump(doc(with_node(good, "conv2d", args=[ref("x")]))))
    add("67_conv_no_args", "a conv2d with no argument at all", dump(doc(with_node(good, "conv2d", args=[]))))
    add("68_bn_eps_string", "a batch_norm whose eps is the string \"1e-5\"", dump(doc(with_node(good, "batch_norm", args=bn_args(eps="1e-5")))))
    add("69_bn_one_arg", "a batch_norm with only its input argument", dump(doc(with_node(good, "batch_norm", args=[ref("conv2d")]))))
    add("70_bn_training_string", "a batch_norm whose training flag is \"yes\"", dump(doc(with_node(good, "batch_norm", args=bn_args()[:5] + ["yes", 0.1, 1e-5, True]))))
    add("71_conv_stride_string", "a conv2d whose stride is \"1\"", dump(doc(with_node(good, "conv2d", args=conv_args()[:3] + ["1"] + conv_args()[4:]))))
    add("72_conv_weight_is_int", "a conv2d whose weight argument is the integer 3", dump(doc(with_node(good, "conv2d", args=[ref("x"), 3] + conv_args()[2:]))))
    add("73_bn_weight_is_list", "a batch_norm whose weight argument is a list of floats", dump(doc(with_node(good, "batch_norm", args=[ref("conv2d"), [1.0, 1.0, 1.0, 1.0]] + bn_args()[2:]))))
    add("74_convolution_transposed_str", "aten.convolution with transposed = \"no\"",
        dump(doc(with_node(good, "conv2d", target="aten.convolution.default", args=conv_args()[:6] + ["no", [0, 0], 1]))))
    add("75_bn_eps_negative", "batch_norm eps -2 (running_var + eps <= 0)", dump(doc(with_node(good, "batch_norm", args=bn_args(eps=-2.0)))))

    # -- run-time problems: tensors of the wrong length, dtype or value (the driver also runs `run`)
    def rt(name, what, **over):
        add(name, what, dump(doc(model_nodes(), weights=own(name))), valid_weights(**over))

    rt("76_rt_bn_mean_wrong_length", "bn.running_mean has 3 entries for a conv with 4 output channels",
       bn__running_mean=tensor("F32", [3], values(3, 5, -0.1, 0.1)))
    rt("77_rt_bn_all_wrong_length", "all four BN tensors have 6 entries for 4 channels",
       bn__weight=tensor("F32", [6], values(6, 3, 0.5, 1.5)), bn__bias=tensor("F32", [6], values(6, 4)),
       bn__running_mean=tensor("F32", [6], values(6, 5)), bn__running_var=tensor("F32", [6], values(6, 6, 0.5, 1.5)))
    rt("78_rt_bn_var_scalar", "bn.running_var is a 0-d tensor", bn__running_var=tensor("F32", [], [1.0]))
    rt("79_rt_conv_bias_wrong_length", "conv.bias has 5 entries for 4 output channels", conv__bias=tensor("F32", [5], values(5, 2)))
    rt("80_rt_int32_conv_weight", "conv.weight is I32", conv__weight=tensor("I32", [C_OUT, 3, 3, 3], list(range(C_OUT * 27))))
    rt("81_rt_int64_running_var", "bn.running_var is I64", bn__running_var=tensor("I64", [C_OUT], [1, 2, 3, 4]))
    rt("82_nan_running_var", "bn.running_var has a NaN", bn__running_var=tensor("F32", [C_OUT], [1.0, float("nan"), 1.0, 1.0]))
    rt("83_negative_running_var", "bn.running_var has -1.0", bn__running_var=tensor("F32", [C_OUT], [1.0, 1.0, -1.0, 1.0]))
    rt("84_rt_bool_bn_weight", "bn.weight is BOOL", bn__weight=tensor("BOOL", [C_OUT], [True, True, False, True]))
    rt("85_rt_conv_weight_rank2", "conv.weight is [4, 27] (rank 2) for a conv2d", conv__weight=tensor("F32", [C_OUT, 27], values(C_OUT * 27, 1)))
    rt("86_rt_conv_weight_empty", "conv.weight is [0, 3, 3, 3] (no output channel)", conv__weight=tensor("F32", [0, 3, 3, 3], []))
    rt("87_rt_conv_in_channels", "conv.weight expects 5 input channels, the input has 3", conv__weight=tensor("F32", [C_OUT, 5, 3, 3], values(C_OUT * 45, 1)))
    add("88_rt_conv_groups_zero", "conv2d with groups = 0 (division by zero in a kernel?)",
        dump(doc(with_node(good, "conv2d", args=conv_args()[:6] + [0]))))
    add("89_rt_conv_stride_zero", "conv2d with stride [0, 0]", dump(doc(with_node(good, "conv2d", args=conv_args()[:3] + [[0, 0]] + conv_args()[4:]))))
    add("90_rt_conv_huge_padding", "conv2d with padding 2^40 (the output size explodes)",
        dump(doc(with_node(good, "conv2d", args=conv_args()[:4] + [[2**40, 2**40]] + conv_args()[5:]))))
    add("91_rt_conv_negative_dilation", "conv2d with dilation [-1, -1]",
        dump(doc(with_node(good, "conv2d", args=conv_args()[:5] + [[-1, -1]] + conv_args()[6:]))))

    # -- found by the fuzzers (tests/fuzz): each crash becomes a case here
    add("100_fuzz_float_overflow", "an argument 1e3082, beyond double's range (fuzz_json_graph: escaped as nlohmann's out_of_range)",
        dump(doc(with_node(good, "relu", args=[ref("batch_norm"), "@BIG@"]))).replace(b'"@BIG@"', b"1e3082"))

    # A prepared (simulated-fold) conv whose running_var went negative: quantize computes the
    # scaled weight from it (fuzz_end_to_end: quantize was not atomic; `_q_` cases run quantize).
    prepared = [
        node("x", "placeholder", "x", meta={"val": {"shape": [1, 3, 8, 8], "dtype": "float32"}}),
        node("conv_weight", "get_attr", "conv.weight"),
        node("bn_weight", "get_attr", "bn.weight"),
        node("bn_bias", "get_attr", "bn.bias"),
        node("bn_running_mean", "get_attr", "bn.running_mean"),
        node("bn_running_var", "get_attr", "bn.running_var"),
        node("add", "call_function", "aten.add.Tensor", [ref("bn_running_var"), 1e-5]),
        node("sqrt", "call_function", "aten.sqrt.default", [ref("add")]),
        node("div", "call_function", "aten.div.Tensor", [ref("bn_weight"), ref("sqrt")]),
        node("reshape", "call_function", "aten.reshape.default", [ref("div"), [-1, 1, 1, 1]]),
        node("mul", "call_function", "aten.mul.Tensor", [ref("conv_weight"), ref("reshape")]),
        node("conv2d", "call_function", "aten.conv2d.default", [ref("x"), ref("mul"), None, [1, 1], [1, 1]]),
        node("reshape_1", "call_function", "aten.reshape.default", [ref("div"), [1, -1, 1, 1]]),
        node("div_1", "call_function", "aten.div.Tensor", [ref("conv2d"), ref("reshape_1")]),
        node("batch_norm", "call_function", "aten.batch_norm.default",
             [ref("div_1"), ref("bn_weight"), ref("bn_bias"), ref("bn_running_mean"), ref("bn_running_var"), True, 0.1, 1e-5, False]),
        node("output", "output", "output", [ref("batch_norm")]),
    ]
    weights = valid_weights(bn__running_var=tensor("F32", [C_OUT], [-2.0688091177796095e-37, 1.0, 1.0, 1.0]))
    add("101_fuzz_q_prepared_negative_var", "a prepared conv-bn whose running_var has a tiny negative entry, quantized",
        dump(doc(prepared, weights=own("101_fuzz_q_prepared_negative_var"))), weights)
    return C


# ---- the big cases, generated at test time -----------------------------------------------------

def big_cases():
    """(name, what, graph bytes or a callable writing it, weights bytes or None or callable)."""
    C = []
    good = model_nodes()

    def nesting():
        n = 10**5
        text = dump(doc(with_node(good, "relu", args=[ref("batch_norm"), "@DEEP@"])))
        return text.replace(b'"@DEEP@"', b"[" * n + b"]" * n)

    C.append(("92_big_nesting_1e5", "an argument nested 10^5 levels deep", nesting, None))

    def meta_nesting():
        n = 10**5
        text = dump(doc(with_node(good, "relu", meta={"custom": "@DEEP@"})))
        return text.replace(b'"@DEEP@"', b'{"a":' * n + b"1" + b"}" * n)

    C.append(("93_big_meta_nesting_1e5", "a custom meta value nested 10^5 objects deep", meta_nesting, None))

    def chain():
        n = 10**6
        parts = [b'{"graft":1,"nodes":[\n{"name":"n0","op":"placeholder","target":"x"}']
        for i in range(1, n - 1):
            parts.append(b',\n{"name":"n%d","op":"call_function","target":"aten.relu.default","args":[{"node":"n%d"}]}' % (i, i - 1))
        # the last call refers forward, to the output node
        parts.append(b',\n{"name":"n%d","op":"call_function","target":"aten.relu.default","args":[{"node":"output"}]}' % (n - 1))
        parts.append(b',\n{"name":"output","op":"output","target":"output","args":[{"node":"n%d"}]}\n]}\n' % (n - 1))
        return b"".join(parts)

    C.append(("94_big_chain_1e6_forward_ref", "a 10^6-node relu chain whose last call refers forward to the output", chain, None))

    def big_header(path):
        # header length 100 MiB + 8 in a sparse file just big enough to hold it
        n = (100 << 20) + 8
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", n))
            f.write(b"{")
            f.truncate(8 + n)

    C.append(("95_big_st_header_over_100mib", "a safetensors header of 100 MiB + 8 bytes (a sparse file)",
              lambda: dump(doc(good, weights="95_big_st_header_over_100mib.safetensors")), big_header))

    def deep_shape():
        n = 10**5
        hdr = b'{"conv.weight":{"dtype":"F32","shape":' + b"[" * n + b"]" * n + b',"data_offsets":[0,0]}}'
        return st_file([], header_override=hdr)

    C.append(("96_big_st_shape_nesting_1e5", "a safetensors shape nested 10^5 levels deep",
              lambda: dump(doc(good, weights="96_big_st_shape_nesting_1e5.safetensors")), deep_shape))

    def deep_header():
        n = 10**5
        return st_file([], header_override=b'{"__metadata__":' + b'{"a":' * n + b'"x"' + b"}" * n + b"}")

    C.append(("97_big_st_metadata_nesting_1e5", "a safetensors __metadata__ nested 10^5 objects deep",
              lambda: dump(doc(good, weights="97_big_st_metadata_nesting_1e5.safetensors")), deep_header))
    return C


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main(argv):
    if argv[1:2] == ["--list"]:
        for name, what, _, _ in cases() + big_cases():
            print("%s\t%s" % (name, what))
        return 0
    if argv[1:2] == ["--big"]:
        out = argv[2]
        os.makedirs(out, exist_ok=True)
        write(os.path.join(out, SHARED_WEIGHTS), valid_weights())
        write(os.path.join(out, SHARED_INPUT), valid_input())
        for name, _, graph, weights in big_cases():
            write(os.path.join(out, name + ".json"), graph())
            if weights is not None:
                p = os.path.join(out, name + ".safetensors")
                if callable(weights):
                    try:
                        weights(p)
                    except TypeError:
                        write(p, weights())
                else:
                    write(p, weights)
        return 0
    out = argv[1] if len(argv) > 1 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, SHARED_WEIGHTS), valid_weights())
    write(os.path.join(out, SHARED_INPUT), valid_input())
    names = set()
    for name, _, graph, weights in cases():
        assert name not in names, name
        names.add(name)
        write(os.path.join(out, name + ".json"), graph)
        if weights is not None:
            write(os.path.join(out, name + ".safetensors"), weights)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

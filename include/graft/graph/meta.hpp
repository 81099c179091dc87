// graft/graph/meta.hpp - node metadata: the well-known FX `meta` keys typed, any other kept verbatim.
//
// `Meta` is a node's `meta` dict as torch.export leaves it and PT2E quantizers extend it:
// `val` (shape and dtype), `nn_module_stack`, `source_fn_stack`, `stack_trace`, and
// `quantization_annotation` with PyTorch's qspec types (QuantizationSpec, SharedQuantizationSpec,
// DerivedQuantizationSpec, FixedQParamsQuantizationSpec, edges and nodes they refer to). Any other
// key is kept as its JSON text, so a graph read from a file and written back loses nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "graft/error.hpp"
#include "graft/tensor/dtype.hpp"

namespace graft {

class Node;

// `meta["val"]` of a tensor-valued node: its shape and dtype.
struct TensorMeta {
  std::vector<std::int64_t> shape;
  DType dtype = DType::float32;
  friend bool operator==(const TensorMeta& a, const TensorMeta& b) {
    return a.shape == b.shape && a.dtype == b.dtype;
  }
  friend bool operator!=(const TensorMeta& a, const TensorMeta& b) { return !(a == b); }
};

// `meta["val"]`: one tensor, or a tuple of tensors for ops such as `_native_batch_norm_legit`.
struct ValueMeta {
  std::vector<TensorMeta> tensors;
  bool is_tuple = false;
  // The val of a node producing one tensor.
  static ValueMeta tensor(std::vector<std::int64_t> shape, DType dtype = DType::float32) {
    return ValueMeta{{TensorMeta{std::move(shape), dtype}}, false};
  }
  friend bool operator==(const ValueMeta& a, const ValueMeta& b) {
    return a.tensors == b.tensors && a.is_tuple == b.is_tuple;
  }
  friend bool operator!=(const ValueMeta& a, const ValueMeta& b) { return !(a == b); }
};

// One `nn_module_stack` entry: key -> (module path, module type).
struct ModuleStackEntry {
  std::string key;
  std::string path;
  std::string type;
  friend bool operator==(const ModuleStackEntry& a, const ModuleStackEntry& b) {
    return a.key == b.key && a.path == b.path && a.type == b.type;
  }
};

// One `source_fn_stack` entry: (name, type), e.g. ("conv2d", "torch.nn.modules.conv.Conv2d").
struct SourceFn {
  std::string name;
  std::string type;
  friend bool operator==(const SourceFn& a, const SourceFn& b) {
    return a.name == b.name && a.type == b.type;
  }
};

enum class QScheme : std::uint8_t {
  per_tensor_affine,
  per_tensor_symmetric,
  per_channel_affine,
  per_channel_symmetric,
  per_channel_affine_float_qparams,
};

inline constexpr std::string_view kQSchemeNames[] = {
    "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
    "per_channel_affine_float_qparams"};

// The qscheme as torch names it ("per_channel_symmetric").
constexpr std::string_view qscheme_name(QScheme q) noexcept {
  return kQSchemeNames[static_cast<std::size_t>(q)];
}

// Parses a qscheme name with or without the `torch.` prefix.
inline std::optional<QScheme> parse_qscheme(std::string_view s) noexcept {
  if (s.substr(0, 6) == "torch.") s.remove_prefix(6);
  for (std::size_t i = 0; i < std::size(kQSchemeNames); ++i)
    if (s == kQSchemeNames[i]) return static_cast<QScheme>(i);
  return std::nullopt;
}

// A node, or the edge (src -> dst) meaning "the input src as consumed by dst".
struct EdgeOrNode {
  Node* src = nullptr;
  Node* dst = nullptr;  // null for a node
  // A node; the edge from -> to; whether this is an edge.
  static EdgeOrNode node(Node* n) { return {n, nullptr}; }
  static EdgeOrNode edge(Node* from, Node* to) { return {from, to}; }
  bool is_edge() const noexcept { return dst != nullptr; }
  friend bool operator==(const EdgeOrNode& a, const EdgeOrNode& b) {
    return a.src == b.src && a.dst == b.dst;
  }
  friend bool operator!=(const EdgeOrNode& a, const EdgeOrNode& b) { return !(a == b); }
};

struct QuantizationSpec {
  DType dtype = DType::int8;
  std::optional<std::int64_t> quant_min;
  std::optional<std::int64_t> quant_max;
  std::optional<QScheme> qscheme;
  std::optional<std::int64_t> ch_axis;
  bool is_dynamic = false;
  std::string observer_or_fake_quant_ctr;  // the constructor's name, informational
  friend bool operator==(const QuantizationSpec& a, const QuantizationSpec& b) {
    return a.dtype == b.dtype && a.quant_min == b.quant_min && a.quant_max == b.quant_max &&
           a.qscheme == b.qscheme && a.ch_axis == b.ch_axis && a.is_dynamic == b.is_dynamic &&
           a.observer_or_fake_quant_ctr == b.observer_or_fake_quant_ctr;
  }
};

// Shares the quantization parameters of another node's output or of an input edge.
struct SharedQuantizationSpec {
  EdgeOrNode edge_or_node;
  friend bool operator==(const SharedQuantizationSpec& a, const SharedQuantizationSpec& b) {
    return a.edge_or_node == b.edge_or_node;
  }
};

// Parameters derived from other nodes/edges (e.g. bias scale = input scale x weight scale).
struct DerivedQuantizationSpec {
  std::vector<EdgeOrNode> derived_from;
  std::string derive_qparams_fn;
  DType dtype = DType::int32;
  std::optional<std::int64_t> quant_min;
  std::optional<std::int64_t> quant_max;
  std::optional<QScheme> qscheme;
  std::optional<std::int64_t> ch_axis;
  friend bool operator==(const DerivedQuantizationSpec& a, const DerivedQuantizationSpec& b) {
    return a.derived_from == b.derived_from && a.derive_qparams_fn == b.derive_qparams_fn &&
           a.dtype == b.dtype && a.quant_min == b.quant_min && a.quant_max == b.quant_max &&
           a.qscheme == b.qscheme && a.ch_axis == b.ch_axis;
  }
};

struct FixedQParamsQuantizationSpec {
  DType dtype = DType::uint8;
  double scale = 1.0;
  std::int64_t zero_point = 0;
  std::optional<std::int64_t> quant_min;
  std::optional<std::int64_t> quant_max;
  std::optional<QScheme> qscheme;
  friend bool operator==(const FixedQParamsQuantizationSpec& a,
                         const FixedQParamsQuantizationSpec& b) {
    return a.dtype == b.dtype && a.scale == b.scale && a.zero_point == b.zero_point &&
           a.quant_min == b.quant_min && a.quant_max == b.quant_max && a.qscheme == b.qscheme;
  }
};

using QSpec = std::variant<QuantizationSpec, SharedQuantizationSpec, DerivedQuantizationSpec,
                           FixedQParamsQuantizationSpec>;

// Calls f(Node*&) for every node a qspec refers to, so that callers can read or re-point them.
template <typename F>
void for_each_node_ref(QSpec& q, F&& f) {
  if (auto* s = std::get_if<SharedQuantizationSpec>(&q)) {
    f(s->edge_or_node.src);
    if (s->edge_or_node.dst) f(s->edge_or_node.dst);
  } else if (auto* d = std::get_if<DerivedQuantizationSpec>(&q)) {
    for (EdgeOrNode& e : d->derived_from) {
      f(e.src);
      if (e.dst) f(e.dst);
    }
  }
}

// `meta["quantization_annotation"]`, as PT2E quantizers write it.
struct QuantizationAnnotation {
  // Input node -> qspec, in insertion order (the order PyTorch's dict keeps).
  std::vector<std::pair<Node*, QSpec>> input_qspec_map;
  std::optional<QSpec> output_qspec;
  bool allow_implicit_sharing = true;
  bool annotated = false;  // `_annotated`

  // The qspec recorded for `input`, or null.
  const QSpec* input_qspec(const Node* input) const noexcept {
    for (const auto& [n, q] : input_qspec_map)
      if (n == input) return &q;
    return nullptr;
  }

  // Calls f(Node*&) for every node reference: the map's keys and the nodes its qspecs name.
  template <typename F>
  void for_each_node_ref(F&& f) {
    for (auto& [n, q] : input_qspec_map) {
      f(n);
      graft::for_each_node_ref(q, f);
    }
    if (output_qspec) graft::for_each_node_ref(*output_qspec, f);
  }

  friend bool operator==(const QuantizationAnnotation& a, const QuantizationAnnotation& b) {
    return a.input_qspec_map == b.input_qspec_map && a.output_qspec == b.output_qspec &&
           a.allow_implicit_sharing == b.allow_implicit_sharing && a.annotated == b.annotated;
  }
};

// A node's `meta`. The keys the passes read are typed; every other key is kept verbatim as its
// JSON text, so a graph read from a file and written back loses nothing.
struct Meta {
  std::optional<std::string> stack_trace;
  std::optional<std::vector<ModuleStackEntry>> nn_module_stack;
  std::optional<std::vector<SourceFn>> source_fn_stack;
  std::optional<ValueMeta> val;
  std::optional<QuantizationAnnotation> quantization_annotation;
  std::vector<std::pair<std::string, std::string>> other;  // key -> JSON text, in order

  // The JSON text stored under an unknown key, or null.
  const std::string* find_other(std::string_view key) const noexcept {
    for (const auto& [k, v] : other)
      if (k == key) return &v;
    return nullptr;
  }
  // Stores the JSON text `json_text` under `key`, replacing what was there.
  void set_other(std::string key, std::string json_text) {
    for (auto& [k, v] : other)
      if (k == key) {
        v = std::move(json_text);
        return;
      }
    other.emplace_back(std::move(key), std::move(json_text));
  }

  // True when no key is set.
  bool empty() const noexcept {
    return !stack_trace && !nn_module_stack && !source_fn_stack && !val &&
           !quantization_annotation && other.empty();
  }

  // Calls f(Node*&) for every node reference held in the metadata (quantization annotations).
  template <typename F>
  void for_each_node_ref(F&& f) {
    if (quantization_annotation) quantization_annotation->for_each_node_ref(f);
  }

  friend bool operator==(const Meta& a, const Meta& b) {
    return a.stack_trace == b.stack_trace && a.nn_module_stack == b.nn_module_stack &&
           a.source_fn_stack == b.source_fn_stack && a.val == b.val &&
           a.quantization_annotation == b.quantization_annotation && a.other == b.other;
  }
  friend bool operator!=(const Meta& a, const Meta& b) { return !(a == b); }
};

}  // namespace graft

// graft/qat/weight_qdq.hpp - what a PT2E quantizer plus convert_pt2e leave on a prepared graph,
// for toolchains (and tests, and the demo) that quantize without PyTorch: a quantize ->
// dequantize pair on every prepared conv's scaled weight (symmetric qparams picked from the
// weight's current values, as a MinMax observer would), optionally one on the zero bias (int32,
// scale = input scale x weight scale: a derived bias qspec), and on activations.
//
//   qat::fuse_conv_bn_qat(m);  /* train */  qat::insert_weight_qdq(m, {/*per_channel=*/true});
//   qat::fold_conv_bn_qat(m);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "graft/graph/module.hpp"
#include "graft/qat/conv_bn_patterns.hpp"
#include "graft/tensor/fold.hpp"
#include "graft/tensor/quantize.hpp"

namespace graft::qat {

// How insert_weight_qdq quantizes.
struct QuantizeSpec {
  bool per_channel = false;
  bool tensor_overload = false;  // per tensor: quantize_per_tensor.tensor with tensor qparams
  bool quantize_bias = false;    // q/dq on the zero bias (convs with a bias)
  double input_scale = 0.02;     // for the derived bias scale
  std::int64_t weight_qmin = -128, weight_qmax = 127;
  // Scales are widened by this factor over a MinMax observer's. With the observer's exact scale
  // the largest negative weight lands exactly on the -qmax-0.5 rounding midpoint, so a one-ulp
  // difference between the training graph's float32 product and the fold's exactly rounded one
  // moves it by a whole quantum; the headroom keeps the folded and unfolded graphs comparable
  // at float32 tolerance, for 0.1 % of the quantized range. Set 1 for the observer's exact scales.
  double headroom = 1.0 + 1.0 / 1024;
  // When set, these weight scales (one per tensor, or one per channel) instead of the observer's,
  // and this per-tensor bias scale instead of input_scale x weight scale.
  std::vector<float> weight_scales;
  double bias_scale = 0;
  DType weight_dtype = DType::int8;
};

namespace detail {

inline bool is_conv_target(std::string_view t) {
  for (std::string_view s : AnyConv::targets)
    if (s == t) return true;
  return false;
}

// The value prepare's scaled weight has now: conv_weight * bn_weight / sqrt(running_var + eps),
// computed from the graph's own nodes (mul(w, reshape(div(gamma, sqrt(add(var, eps)))))) or the
// grouped-transpose form reshape(mul(reshape(w), reshape(scale))).
inline Tensor scaled_weight_value(const Module& m, const Node* conv, const Node* scaled) {
  const Node* mul = scaled->target() == "aten.reshape.default" ? scaled->args()[0].as_node() : scaled;
  const Node* w = mul->args()[0].as_node();
  if (w->target() == "aten.reshape.default") w = w->args()[0].as_node();
  const Node* scale = mul->args()[1].as_node()->args()[0].as_node();  // reshape(scale) -> scale
  const Node* gamma = scale->args()[0].as_node();
  const Node* add_eps = scale->args()[1].as_node()->args()[0].as_node();
  const Node* var = add_eps->args()[0].as_node();
  const double eps = add_eps->args()[1].as_double();
  const Tensor& weight = m.attr_of(*w);
  const bool transposed = conv_transposed(*conv);
  const std::int64_t groups = conv_groups(*conv);
  const std::int64_t c_out = kernels::conv_out_channels(weight, transposed, groups);
  // Factors in double, each weight rounded once: the value the fold will give the weight.
  std::vector<double> s = kernels::bn_fold_scale(m.attr_of(*var), eps, &m.attr_of(*gamma), c_out);
  Tensor out;
  kernels::scale_conv_weight(weight, s, transposed, groups, out);
  return out;
}

// The target of the conv weight under prepare's scaled weight.
inline std::string weight_target(const Node* scaled) {
  const Node* mul = scaled->target() == "aten.reshape.default" ? scaled->args()[0].as_node() : scaled;
  const Node* w = mul->args()[0].as_node();
  if (w->target() == "aten.reshape.default") w = w->args()[0].as_node();
  return std::string(w->target());
}

inline float max_abs(const Tensor& t, std::size_t begin, std::size_t end, std::size_t stride = 1) {
  float a = 0;
  for (std::size_t i = begin; i < end; i += stride)
    a = std::max(a, std::abs(t.dtype() == DType::float64 ? static_cast<float>(t.data<double>()[i]) : t.data<float>()[i]));
  return a;
}

}  // namespace detail

namespace detail {
// insert_weight_qdq's body (a template only for GRAFT_EXTERN_TEMPLATES).
template <typename Unused = void>
int insert_weight_qdq_impl(Module& m, const QuantizeSpec& spec) {
  Graph& g = m.graph;
  std::vector<Node*> convs;
  for (Node* n : g.nodes())
    if (detail::is_conv_target(n->target()) && n->args().size() > 1 && n->args()[1].is_node()) {
      const Node* w = n->args()[1].as_node();
      if (w->target() == "aten.mul.Tensor" || w->target() == "aten.reshape.default") convs.push_back(n);
    }
  // Atomic: the graph changes inside a transaction and the buffers added are removed again if
  // anything fails (running out of memory, say), so a failure leaves the module as it was.
  auto tx = g.transaction();
  std::vector<std::string> added;
  int count = 0;
  try {
    for (Node* conv : convs) {
      Node* scaled = conv->args()[1].as_node();
      Tensor w;
      try {
        w = detail::scaled_weight_value(m, conv, scaled);
      } catch (const Error& e) {
        throw GraphError("conv node " + conv->describe() + ": cannot compute its scaled weight: " + e.what());
      }
      const bool transposed = conv_transposed(*conv);
      const std::int64_t axis = transposed ? 1 : 0;
      // Qparam tensors are named after the weight: "<weight>_scales", "<weight>_zero_points", ...
      auto add_buffer = [&](const std::string& suffix, Tensor t) {
        const std::string name = m.unique_attr_name(detail::weight_target(scaled) + suffix);
        added.push_back(name);
        m.buffers.add(name, std::move(t));
        return g.get_attr(name);
      };
      auto guard = g.inserting_before(conv);
      Node* q = nullptr;
      Node* dq = nullptr;
      std::vector<float> wscales;
      if (!spec.per_channel) {
        const float s = !spec.weight_scales.empty() ? spec.weight_scales[0] : static_cast<float>(
            spec.headroom * kernels::symmetric_scale(-detail::max_abs(w, 0, w.numel()), detail::max_abs(w, 0, w.numel()),
                                                     spec.weight_qmin, spec.weight_qmax));
        wscales.push_back(s);
        if (spec.tensor_overload) {
          Tensor st(DType::float64, {});
          st.data<double>()[0] = s;
          Tensor zt(DType::int64, {});
          zt.data<std::int64_t>()[0] = 0;
          Node* sn = add_buffer("_scale", std::move(st));
          Node* zn = add_buffer("_zero_point", std::move(zt));
          q = g.call_function("quantized_decomposed.quantize_per_tensor.tensor", {scaled, sn, zn, spec.weight_qmin, spec.weight_qmax, spec.weight_dtype});
          dq = g.call_function("quantized_decomposed.dequantize_per_tensor.tensor", {q, sn, zn, spec.weight_qmin, spec.weight_qmax, spec.weight_dtype});
        } else {
          q = g.call_function("quantized_decomposed.quantize_per_tensor.default", {scaled, double(s), 0, spec.weight_qmin, spec.weight_qmax, spec.weight_dtype});
          dq = g.call_function("quantized_decomposed.dequantize_per_tensor.default", {q, double(s), 0, spec.weight_qmin, spec.weight_qmax, spec.weight_dtype});
        }
      } else {
        const std::int64_t channels = w.shape()[static_cast<std::size_t>(axis)];
        std::size_t inner = 1;
        for (std::size_t d = static_cast<std::size_t>(axis) + 1; d < w.shape().size(); ++d) inner *= static_cast<std::size_t>(w.shape()[d]);
        const std::size_t outer = w.numel() / (inner * static_cast<std::size_t>(channels));
        Tensor scales(DType::float32, {channels});
        Tensor zps(DType::int64, {channels});
        for (std::int64_t c = 0; c < channels; ++c) {
          float a = 0;
          for (std::size_t o = 0; o < outer; ++o) {
            const std::size_t b0 = (o * static_cast<std::size_t>(channels) + static_cast<std::size_t>(c)) * inner;
            a = std::max(a, detail::max_abs(w, b0, b0 + inner));
          }
          scales.data<float>()[c] =
              !spec.weight_scales.empty()
                  ? spec.weight_scales[static_cast<std::size_t>(c)]
                  : static_cast<float>(spec.headroom * kernels::symmetric_scale(-a, a, spec.weight_qmin, spec.weight_qmax));
          zps.data<std::int64_t>()[c] = 0;
          wscales.push_back(scales.data<float>()[c]);
        }
        Node* sn = add_buffer("_scales", std::move(scales));
        Node* zn = add_buffer("_zero_points", std::move(zps));
        q = g.call_function("quantized_decomposed.quantize_per_channel.default", {scaled, sn, zn, axis, spec.weight_qmin, spec.weight_qmax, spec.weight_dtype});
        dq = g.call_function("quantized_decomposed.dequantize_per_channel.default", {q, sn, zn, axis, spec.weight_qmin, spec.weight_qmax, spec.weight_dtype});
      }
      g.replace_input_with(conv, scaled, dq);

      const Argument* bias = conv->args().size() > 2 ? &conv->args()[2] : nullptr;
      if (spec.quantize_bias && bias && bias->is_node()) {
        Node* zero = bias->as_node();
        constexpr std::int64_t lo = std::numeric_limits<std::int32_t>::min(), hi = std::numeric_limits<std::int32_t>::max();
        Node* bq;
        Node* bdq;
        if (!spec.per_channel) {
          const double s = spec.bias_scale > 0 ? spec.bias_scale : spec.input_scale * wscales[0];
          bq = g.call_function("quantized_decomposed.quantize_per_tensor.default", {zero, s, 0, lo, hi, DType::int32});
          bdq = g.call_function("quantized_decomposed.dequantize_per_tensor.default", {bq, s, 0, lo, hi, DType::int32});
        } else {
          // Per-channel bias scales: one per output channel (transposed weights: axis 1 holds
          // C_out/groups channels, repeated per group).
          const std::int64_t c_out = m.attr_of(*zero->args()[0].as_node()).numel();
          Tensor scales(DType::float32, {c_out});
          Tensor zps(DType::int64, {c_out});
          for (std::int64_t c = 0; c < c_out; ++c) {
            scales.data<float>()[c] = static_cast<float>(spec.input_scale * wscales[static_cast<std::size_t>(c) % wscales.size()]);
            zps.data<std::int64_t>()[c] = 0;
          }
          Node* sn = add_buffer("_bias_scales", std::move(scales));
          Node* zn = add_buffer("_bias_zero_points", std::move(zps));
          bq = g.call_function("quantized_decomposed.quantize_per_channel.default", {zero, sn, zn, 0, lo, hi, DType::int32});
          bdq = g.call_function("quantized_decomposed.dequantize_per_channel.default", {bq, sn, zn, 0, lo, hi, DType::int32});
        }
        g.replace_input_with(conv, zero, bdq);
      }
      ++count;
    }
  } catch (...) {
    for (auto it = added.rbegin(); it != added.rend(); ++it)
      m.buffers.erase(*it);  // false (nothing to undo) for a name whose add failed
    throw;  // the transaction puts the graph back
  }
  tx.commit();
  return count;
}
}  // namespace detail

// Inserts weight (and bias) q/dq on every prepared conv (whose weight operand is prepare's scaled
// weight); returns how many convs it quantized.
inline int insert_weight_qdq(Module& m, const QuantizeSpec& spec = {}) { return detail::insert_weight_qdq_impl(m, spec); }

// Inserts dq(q(node)) (per tensor, int8) and makes every user of `node` read it; returns the dq.
inline Node* insert_activation_qdq(Graph& g, Node* node, double scale = 0.05, std::int64_t zero_point = 0) {
  std::vector<Node*> users(node->users().begin(), node->users().end());
  auto guard = g.inserting_after(node);
  Node* q = g.call_function("quantized_decomposed.quantize_per_tensor.default", {node, scale, zero_point, -128, 127, DType::int8});
  Node* dq = g.call_function("quantized_decomposed.dequantize_per_tensor.default", {q, scale, zero_point, -128, 127, DType::int8});
  for (Node* u : users) g.replace_input_with(u, node, dq);
  return dq;
}

// With GRAFT_EXTERN_TEMPLATES the pass is compiled once (graft/instantiate.hpp).
#ifdef GRAFT_EXTERN_TEMPLATES
extern template int detail::insert_weight_qdq_impl<void>(Module&, const QuantizeSpec&);
#endif

}  // namespace graft::qat

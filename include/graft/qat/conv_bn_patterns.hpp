// graft/qat/conv_bn_patterns.hpp - the conv -> batch_norm QAT patterns, as templates.
//
// One template per rewrite, parameterised by the conv op and the bias variant, each match and
// replacement written once in the pattern DSL. The captures carry the names the reference uses
// (conv_input, conv_weight, conv_bias, conv, bn, ...).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "graft/graph/graph.hpp"
#include "graft/graph/module.hpp"
#include "graft/pattern.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft::qat {

// ---- Conv ops ---------------------------------------------------------------------------------
// A conv op tag names its targets; `dims` is the number of spatial dimensions and `transposed`
// 0 (no) or 1 (yes), or -1 when they are read from the matched node (its stride list, its op or
// its `transposed` argument).
#define GRAFT_QAT_CONV_TAG(Tag, Name, Dims, Transposed, ...)                                          \
  struct Tag {                                                                                       \
    static constexpr std::array<std::string_view, std::size({__VA_ARGS__})> targets{{__VA_ARGS__}}; \
    static constexpr std::string_view name = Name;                                                   \
    static constexpr int dims = Dims, transposed = Transposed;                                       \
  }
GRAFT_QAT_CONV_TAG(Conv1d, "conv1d", 1, 0, "aten.conv1d.default");
GRAFT_QAT_CONV_TAG(Conv2d, "conv2d", 2, 0, "aten.conv2d.default");
GRAFT_QAT_CONV_TAG(Conv3d, "conv3d", 3, 0, "aten.conv3d.default");
GRAFT_QAT_CONV_TAG(ConvTranspose1d, "conv_transpose1d", 1, 1, "aten.conv_transpose1d.default");
GRAFT_QAT_CONV_TAG(ConvTranspose2d, "conv_transpose2d", 2, 1, "aten.conv_transpose2d.input");
GRAFT_QAT_CONV_TAG(ConvTranspose3d, "conv_transpose3d", 3, 1, "aten.conv_transpose3d.input");
GRAFT_QAT_CONV_TAG(Convolution, "convolution", -1, -1, "aten.convolution.default");
// Every conv spelling at once: what the passes use (one rule per variant instead of seven).
GRAFT_QAT_CONV_TAG(AnyConv, "conv", -1, -1, "aten.conv1d.default", "aten.conv2d.default",
                   "aten.conv3d.default", "aten.conv_transpose1d.default", "aten.conv_transpose2d.input",
                   "aten.conv_transpose3d.input", "aten.convolution.default");
#undef GRAFT_QAT_CONV_TAG

// The batch-norm spellings; the new BN keeps the matched one's.
inline constexpr auto batch_norm_any =
    pattern::op("aten.batch_norm.default", "aten._native_batch_norm_legit.default",
                "aten.native_batch_norm.default", "aten._native_batch_norm_legit_no_training.default");

namespace captures {
GRAFT_CAPTURE(conv_input);
GRAFT_CAPTURE(conv_weight);
GRAFT_CAPTURE(conv_bias);
GRAFT_CAPTURE(conv);
GRAFT_CAPTURE(bn);
GRAFT_CAPTURE(bn_weight);
GRAFT_CAPTURE(bn_bias);
GRAFT_CAPTURE(bn_running_mean);
GRAFT_CAPTURE(bn_running_var);
GRAFT_CAPTURE(scale_factor);  // prepare: a replacement-local shared value; convert: matched
GRAFT_CAPTURE(scaled_weight);  // convert: conv_weight * scale_factor (the fake-quantized value)
GRAFT_CAPTURE(weight_q);
GRAFT_CAPTURE(weight_dq);
GRAFT_CAPTURE(zero_bias);  // convert: zeros_like(conv_bias)
GRAFT_CAPTURE(bias_q);
GRAFT_CAPTURE(bias_dq);
GRAFT_CAPTURE(output_rescale);  // convert: conv / scale_factor
GRAFT_CAPTURE(bias_add);        // convert: ... + conv_bias
}  // namespace captures

// What the prepare and convert passes hand their rules (MatchOptions::context).
struct PassContext {
  const Module* module = nullptr;
  // Set while validating: conv-bn pairs left alone, with the reason.
  std::vector<std::pair<const Node*, std::string>>* skipped = nullptr;
  // Set while rewriting the matches a validating pass accepted: the checks are not repeated.
  bool validated = false;
};

// ---- Facts about a matched conv node ----------------------------------------------------------

// Spatial dimensions of a conv node: the length of its stride list (defaults included).
template <typename Conv = AnyConv>
std::int64_t conv_dims(const Node& conv) {
  if constexpr (Conv::dims > 0) return Conv::dims;
  else {
    // The stride list's length, without building the list (as_int_list() for its errors).
    const Argument& stride = conv.arg("stride");
    if (stride.is_list()) {
      const Argument::List& l = stride.as_list();
      if (std::all_of(l.begin(), l.end(), [](const Argument& a) { return a.is_int(); }))
        return static_cast<std::int64_t>(l.size());
    }
    return static_cast<std::int64_t>(stride.as_int_list().size());
  }
}
// Whether a conv node is transposed: by its op, or `aten.convolution`'s `transposed` argument.
template <typename Conv = AnyConv>
bool conv_transposed(const Node& conv) {
  if constexpr (Conv::transposed >= 0) return Conv::transposed == 1;
  else {
    std::string_view op = conv.op() ? conv.op()->op() : std::string_view();
    if (op == "convolution") return conv.arg("transposed").as_bool();
    return op.substr(0, 14) == "conv_transpose";
  }
}
// The groups argument of a matched conv.
inline std::int64_t conv_groups(const Node& conv) { return conv.arg("groups").as_int(); }

// Checks a matched conv's literal arguments: stride and dilation positive, padding and
// output_padding non-negative (and below 2^31), groups positive, lists of one entry per spatial
// dimension (or one for all). A GraphError naming the node otherwise.
inline void check_conv_args(const Node& conv) {
  auto bad = [&](const std::string& what) {
    throw GraphError("conv node " + conv.describe() + ": " + what);
  };
  const Argument* stride = conv.find_arg("stride");
  const std::size_t dims = stride && stride->is_list() ? stride->as_list().size() : 0;
  auto check_list = [&](const char* name, std::int64_t min) {
    const Argument* a = conv.find_arg(name);
    if (!a) return;
    std::vector<std::int64_t> v;
    if (a->is_int()) v = {a->as_int()};
    else if (a->is_list()) {
      for (const Argument& e : a->as_list()) {
        if (!e.is_int()) bad(std::string(name) + " must be a list of integers");
        v.push_back(e.as_int());
      }
    } else {
      bad(std::string(name) + " must be an integer list");
    }
    if (dims && v.size() != dims && v.size() != 1)
      bad(std::string(name) + " has " + std::to_string(v.size()) + " entries for " + std::to_string(dims) + " spatial dimensions");
    for (std::int64_t x : v)
      if (x < min || x > (std::int64_t{1} << 31))
        bad(std::string(name) + " " + std::to_string(x) + " is out of range (at least " + std::to_string(min) + ")");
  };
  check_list("stride", 1);
  check_list("dilation", 1);
  check_list("padding", 0);
  if (conv.op() && conv.op()->index_of("output_padding")) check_list("output_padding", 0);
  const Argument* g = conv.find_arg("groups");
  if (g && (!g->is_int() || g->as_int() < 1)) bad("groups must be a positive integer");
}

// [-1, 1, 1, ...] (axis 0, conv) or [1, -1, 1, ...] (axis 1, conv-transpose) for the weight;
// [1, -1, 1, ...] for the conv output.
inline Argument channel_shape(std::int64_t rank, std::int64_t axis) {
  Argument::List l(static_cast<std::size_t>(rank), Argument(1));
  l[static_cast<std::size_t>(axis)] = Argument(-1);
  return Argument(std::move(l));
}

// ---- The prepare rewrite ----------------------------------------------------------------------
//
//   running_std  = sqrt(running_var + eps)                 eps: the BN's own
//   scale_factor = bn_weight / running_std
//   scaled_w     = conv_weight * scale_factor.reshape(wshape)
//   y            = conv(x, scaled_w, zeros_like(conv_bias))  (no bias argument without a bias)
//   y            = y / scale_factor.reshape([1, -1, 1, ...])
//   y            = y + conv_bias.reshape([1, -1, 1, ...])    (only with a bias)
//   out          = batch_norm(y, bn_weight, bn_bias, mean, var, <the original's other args>)
//
// For a grouped conv-transpose (weight [C_in, C_out/groups, k...]) the scale must be applied per
// absolute output channel g * (C_out/groups) + j, so the weight is viewed as
// [groups, C_in/groups, C_out/groups, k...] and scaled by scale_factor viewed as
// [groups, 1, C_out/groups, 1...]; `GroupedTranspose` selects that form.
template <typename Conv, bool HasBias, bool GroupedTranspose = false>
struct QatConvBn {
  // conv -> batch_norm, the conv with (HasBias) or without a bias; the BN any of four spellings.
  static auto pattern() {
    using namespace pattern;
    using namespace captures;
    constexpr auto conv_op = OpSet<Conv::targets.size()>{Conv::targets};
    if constexpr (HasBias) {
      return batch_norm_any(conv_op(conv_input, conv_weight, conv_bias).bind(conv), bn_weight, bn_bias,
                            bn_running_mean, bn_running_var)
          .bind(bn);
    } else {
      return batch_norm_any(conv_op(conv_input, conv_weight, none()).bind(conv), bn_weight, bn_bias,
                            bn_running_mean, bn_running_var)
          .bind(bn);
    }
  }

  // The simulated-fold subgraph above, over the pattern's captures.
  static auto replacement() {
    using namespace pattern;
    using namespace captures;
    constexpr auto add = op("aten.add.Tensor");
    constexpr auto sqrt = op("aten.sqrt.default");
    constexpr auto div = op("aten.div.Tensor");
    constexpr auto mul = op("aten.mul.Tensor");
    constexpr auto reshape = op("aten.reshape.default");
    constexpr auto zeros_like = op("aten.zeros_like.default");

    const auto eps = computed([](const auto& m) { return Argument(m[bn]->arg("eps").as_double()); });
    const auto scale = let(scale_factor, div(bn_weight, sqrt(add(bn_running_var, eps))));
    const auto out_shape = computed([](const auto& m) {
      return channel_shape(conv_dims<Conv>(*m[conv]) + 2, 1);
    });
    const auto scaled_weight = [&] {
      if constexpr (!GroupedTranspose) {
        const auto weight_shape = computed([](const auto& m) {
          const Node& c = *m[conv];
          return channel_shape(conv_dims<Conv>(c) + 2, conv_transposed<Conv>(c) ? 1 : 0);
        });
        return mul(conv_weight, reshape(scale, weight_shape)).as(conv_weight);
      } else {
        // Shapes from the weight's own: the pass hands its Module as the context.
        const auto grouped_weight = computed([](const auto& m, const void* ctx) {
          return grouped_weight_shape(m, ctx);
        });
        const auto grouped_scale = computed([](const auto& m) {
          Argument::List l(static_cast<std::size_t>(conv_dims<Conv>(*m[conv]) + 3), Argument(1));
          l[0] = Argument(conv_groups(*m[conv]));
          l[2] = Argument(-1);
          return Argument(std::move(l));
        });
        const auto weight_shape = computed([](const auto& m, const void* ctx) { return weight_shape_of(m, ctx); });
        return reshape(mul(reshape(conv_weight, grouped_weight), reshape(scale, grouped_scale)), weight_shape)
            .as(conv_weight);
      }
    }();
    if constexpr (HasBias) {
      const auto new_conv = like(conv)(conv_input, scaled_weight, zeros_like(conv_bias).as(conv_bias)).as(conv);
      const auto y = add(div(new_conv, reshape(scale, out_shape)), reshape(conv_bias, out_shape));
      return like(bn)(y, bn_weight, bn_bias, bn_running_mean, bn_running_var).as(bn);
    } else {
      const auto new_conv = like(conv)(conv_input, scaled_weight, nullptr).as(conv);
      const auto y = div(new_conv, reshape(scale, out_shape));
      return like(bn)(y, bn_weight, bn_bias, bn_running_mean, bn_running_var).as(bn);
    }
  }

  static constexpr std::string_view rule_name = HasBias ? (GroupedTranspose ? "conv+bias (grouped transpose)" : "conv+bias")
                                                         : (GroupedTranspose ? "conv (grouped transpose)" : "conv");

  // The weight's shape, from the module's parameter (the pass's context) or the node's meta val.
  template <typename M>
  static Shape weight_shape_vector(const M& m, const void* ctx) {
    const Node& w = *m[captures::conv_weight];
    const auto* pc = static_cast<const PassContext*>(ctx);
    if (pc && pc->module && w.is_get_attr())
      if (const Tensor* t = pc->module->find_attr(w.target())) return t->shape();
    if (w.meta().val && !w.meta().val->is_tuple && w.meta().val->tensors.size() == 1)
      return w.meta().val->tensors[0].shape;
    throw GraphError("conv weight node " + w.describe() +
                     " has no known shape (no parameter, no meta val): a grouped conv-transpose "
                     "cannot be fused without it");
  }
  template <typename M>
  static Argument weight_shape_of(const M& m, const void* ctx) {
    return ints(weight_shape_vector(m, ctx));
  }
  // [groups, C_in/groups, C_out/groups, k...] for a weight [C_in, C_out/groups, k...].
  template <typename M>
  static Argument grouped_weight_shape(const M& m, const void* ctx) {
    Shape w = weight_shape_vector(m, ctx);
    std::int64_t g = conv_groups(*m[captures::conv]);
    Shape out{g, w[0] / g};
    out.insert(out.end(), w.begin() + 1, w.end());
    return ints(out);
  }
};

// ---- The convert (fold) patterns ----------------------------------------------------------------
//
// After prepare and a QAT convert, the weight fake-quantizer is a quantize -> dequantize pair on
// the scaled weight, and a quantized bias (a derived int32 qspec, say) one on the zero bias:
//
//   scale_factor = bn_weight / sqrt(running_var + eps)
//   w            = dq(q(conv_weight * scale_factor.reshape(wshape)))     (grouped transpose: the
//                                                                         reshaped product of prepare)
//   y            = conv(x, w, [zeros_like(conv_bias) | dq(q(zeros_like(conv_bias))) | None])
//   y            = y / scale_factor.reshape([1, -1, 1...]) [+ conv_bias.reshape([1, -1, 1...])]
//   out          = batch_norm(y, bn_weight, bn_bias, running_mean, running_var, ...)
//
// `QuantizedQatConvBn<Conv, WeightQ, Bias, GroupedTranspose>` is that pattern for one variant.
// The q/dq arguments (scales, zero points, ranges, dtypes, axis), eps and the conv's literal
// arguments are not constrained: the fold keeps the matched nodes' own.

// Weight quantization variants: which quantize/dequantize ops carry the weight.
struct PerTensorWeight {
  static constexpr std::string_view name = "per_tensor";
  static constexpr auto q = pattern::op("quantized_decomposed.quantize_per_tensor.default",
                                        "quantized_decomposed.quantize_per_tensor.tensor");
  static constexpr auto dq = pattern::op("quantized_decomposed.dequantize_per_tensor.default",
                                         "quantized_decomposed.dequantize_per_tensor.tensor");
};
struct PerChannelWeight {
  static constexpr std::string_view name = "per_channel";
  static constexpr auto q = pattern::op("quantized_decomposed.quantize_per_channel.default");
  static constexpr auto dq = pattern::op("quantized_decomposed.dequantize_per_channel.default");
};

// The conv's bias operand after convert.
enum class ConvBias {
  none,       // the conv had no bias: None
  floating,   // zeros_like(conv_bias)
  quantized,  // dq(q(zeros_like(conv_bias))), per tensor or per channel
};

// Any quantize / dequantize spelling (a quantized bias may be per tensor or per channel).
inline constexpr auto quantize_any = pattern::op(
    "quantized_decomposed.quantize_per_tensor.default", "quantized_decomposed.quantize_per_tensor.tensor",
    "quantized_decomposed.quantize_per_channel.default");
inline constexpr auto dequantize_any = pattern::op(
    "quantized_decomposed.dequantize_per_tensor.default", "quantized_decomposed.dequantize_per_tensor.tensor",
    "quantized_decomposed.dequantize_per_channel.default");

template <typename Conv, typename WeightQ, ConvBias Bias, bool GroupedTranspose = false>
struct QuantizedQatConvBn {
  // The quantized simulated fold above, for this conv op set, weight q/dq and bias variant.
  static auto pattern() {
    using namespace pattern;
    using namespace captures;
    constexpr auto conv_op = OpSet<Conv::targets.size()>{Conv::targets};
    constexpr auto add = op("aten.add.Tensor");
    constexpr auto sqrt = op("aten.sqrt.default");
    constexpr auto div = op("aten.div.Tensor");
    constexpr auto mul = op("aten.mul.Tensor");
    constexpr auto reshape = op("aten.reshape.default");
    constexpr auto zeros_like = op("aten.zeros_like.default");

    // Bound on the weight path (matched first), then required to be the same node on the output.
    const auto scale = div(bn_weight, sqrt(add(bn_running_var, any_literal()))).bind(scale_factor);
    const auto scaled = [&] {
      if constexpr (!GroupedTranspose)
        return mul(conv_weight, reshape(scale, any_literal())).bind(scaled_weight);
      else
        return reshape(mul(reshape(conv_weight, any_literal()), reshape(scale, any_literal())), any_literal())
            .bind(scaled_weight);
    }();
    const auto weight = WeightQ::dq(WeightQ::q(scaled).bind(weight_q)).bind(weight_dq);
    const auto convolved = [&] {
      if constexpr (Bias == ConvBias::none)
        return conv_op(conv_input, weight, none()).bind(conv);
      else if constexpr (Bias == ConvBias::floating)
        return conv_op(conv_input, weight, zeros_like(conv_bias).bind(zero_bias)).bind(conv);
      else
        return conv_op(conv_input, weight,
                       dequantize_any(quantize_any(zeros_like(conv_bias).bind(zero_bias)).bind(bias_q)).bind(bias_dq))
            .bind(conv);
    }();
    const auto rescaled = div(convolved, reshape(scale_factor, any_literal())).bind(output_rescale);
    if constexpr (Bias == ConvBias::none) {
      return batch_norm_any(rescaled, bn_weight, bn_bias, bn_running_mean, bn_running_var).bind(bn);
    } else {
      return batch_norm_any(add(rescaled, reshape(conv_bias, any_literal())).bind(bias_add), bn_weight, bn_bias,
                            bn_running_mean, bn_running_var)
          .bind(bn);
    }
  }

  static constexpr std::string_view bias_name =
      Bias == ConvBias::none ? "" : (Bias == ConvBias::floating ? "+bias" : "+quantized_bias");
};

}  // namespace graft::qat

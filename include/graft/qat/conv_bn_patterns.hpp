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
  // Where the guard rails list the conv-bn pairs they leave alone, with the reason (or null).
  std::vector<std::pair<const Node*, std::string>>* skipped = nullptr;
  // Where the guard rails found the last pair's tensors: the next pair's are usually just after
  // them (Module::find_attr with a cursor). The pass's own, like the rest of this context.
  mutable Module::AttrCursor attrs;
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
  // Checks each entry where it stands: this runs once per matched pair, so it builds nothing
  // (messages only when they throw).
  auto check_list = [&](const char* name, std::int64_t min) {
    const Argument* a = conv.find_arg(name);
    if (!a) return;
    auto check_value = [&](std::int64_t x) {
      if (x < min || x > (std::int64_t{1} << 31))
        bad(std::string(name) + " " + std::to_string(x) + " is out of range (at least " + std::to_string(min) + ")");
    };
    if (a->is_int()) {
      check_value(a->as_int());
      return;
    }
    if (!a->is_list()) bad(std::string(name) + " must be an integer list");
    const Argument::List& l = a->as_list();
    for (const Argument& e : l)
      if (!e.is_int()) bad(std::string(name) + " must be a list of integers");
    if (dims && l.size() != dims && l.size() != 1)
      bad(std::string(name) + " has " + std::to_string(l.size()) + " entries for " + std::to_string(dims) + " spatial dimensions");
    for (const Argument& e : l) check_value(e.as_int());
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
  auto make = [](std::int64_t r, std::int64_t a) {
    Argument::List l(static_cast<std::size_t>(r), Argument(1));
    l[static_cast<std::size_t>(a)] = Argument(-1);
    return Argument(std::move(l));
  };
  // Every rewrite asks for the same few lists: copies of these share them (lists are copy on
  // write), so a rewrite allocates nothing for its reshape shapes.
  constexpr std::int64_t kRanks = 6;  // conv weights and outputs: rank 3 to 5
  if (rank >= 1 && rank <= kRanks && axis >= 0 && axis < 2 && axis < rank) {
    static const auto shared = [&] {
      std::array<std::array<Argument, 2>, kRanks + 1> t;
      for (std::int64_t r = 1; r <= kRanks; ++r)
        for (std::int64_t a = 0; a < 2 && a < r; ++a) t[static_cast<std::size_t>(r)][static_cast<std::size_t>(a)] = make(r, a);
      return t;
    }();
    return shared[static_cast<std::size_t>(rank)][static_cast<std::size_t>(axis)];
  }
  return make(rank, axis);
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
// [groups, 1, C_out/groups, 1...]. The replacement chooses that form per match
// (`is_grouped_transpose`), so one template per conv op and bias variant covers both.
template <typename Conv, bool HasBias>
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

  // Whether the matched conv is a conv-transpose with more than one group: its weight is scaled
  // through the grouped view.
  static bool is_grouped_transpose(const Node& c) { return conv_transposed<Conv>(c) && conv_groups(c) > 1; }

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
    // conv_weight * scale_factor.reshape([-1, 1, ...] or [1, -1, 1, ...]).
    const auto weight_shape = computed([](const auto& m) {
      const Node& c = *m[conv];
      return channel_shape(conv_dims<Conv>(c) + 2, conv_transposed<Conv>(c) ? 1 : 0);
    });
    const auto plain = mul(conv_weight, reshape(scale, weight_shape));
    // The grouped conv-transpose form; shapes from the weight's own (the pass hands its Module
    // as the context).
    const auto grouped_weight = computed([](const auto& m, const void* ctx) { return grouped_weight_shape(m, ctx); });
    const auto grouped_scale = computed([](const auto& m) {
      Argument::List l(static_cast<std::size_t>(conv_dims<Conv>(*m[conv]) + 3), Argument(1));
      l[0] = Argument(conv_groups(*m[conv]));
      l[2] = Argument(-1);
      return Argument(std::move(l));
    });
    const auto own_shape = computed([](const auto& m, const void* ctx) { return weight_shape_of(m, ctx); });
    const auto grouped = reshape(mul(reshape(conv_weight, grouped_weight), reshape(scale, grouped_scale)), own_shape);
    const auto scaled_weight =
        choose([](const auto& m) { return is_grouped_transpose(*m[conv]); }, grouped, plain).as(conv_weight);
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

  static constexpr std::string_view rule_name = HasBias ? "conv+bias" : "conv";

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

// The pieces of the convert patterns, each written once; QuantizedQatConvBn (one variant) and
// AnyQuantizedQatConvBn (all twelve) are assembled from them.
template <typename Conv>
struct FoldPatternParts {
  static constexpr auto conv_op = pattern::OpSet<Conv::targets.size()>{Conv::targets};
  static constexpr auto add = pattern::op("aten.add.Tensor");
  static constexpr auto sqrt = pattern::op("aten.sqrt.default");
  static constexpr auto div = pattern::op("aten.div.Tensor");
  static constexpr auto mul = pattern::op("aten.mul.Tensor");
  static constexpr auto reshape = pattern::op("aten.reshape.default");
  static constexpr auto zeros_like = pattern::op("aten.zeros_like.default");

  // scale_factor = bn_weight / sqrt(running_var + eps): bound on the weight path (matched first),
  // then required to be the same node on the output.
  static constexpr auto scale() {
    using namespace pattern;
    using namespace captures;
    return div(bn_weight, sqrt(add(bn_running_var, any_literal()))).bind(scale_factor);
  }
  // conv_weight * scale_factor.reshape(wshape), or prepare's grouped conv-transpose form.
  template <bool GroupedTranspose>
  static constexpr auto scaled() {
    using namespace pattern;
    using namespace captures;
    if constexpr (!GroupedTranspose)
      return mul(conv_weight, reshape(scale(), any_literal())).bind(scaled_weight);
    else
      return reshape(mul(reshape(conv_weight, any_literal()), reshape(scale(), any_literal())), any_literal())
          .bind(scaled_weight);
  }
  // dq(q(scaled)) with the given quantize / dequantize op sets.
  template <typename Q, typename DQ, typename S>
  static constexpr auto weight(Q q, DQ dq, S scaled_w) {
    using namespace captures;
    return dq(q(scaled_w).bind(weight_q)).bind(weight_dq);
  }
  // The conv's bias operand: None, zeros_like(conv_bias), or dq(q(zeros_like(conv_bias))).
  template <ConvBias Bias>
  static constexpr auto bias() {
    using namespace pattern;
    using namespace captures;
    if constexpr (Bias == ConvBias::none) return none();
    else if constexpr (Bias == ConvBias::floating) return zeros_like(conv_bias).bind(zero_bias);
    else return dequantize_any(quantize_any(bias<ConvBias::floating>()).bind(bias_q)).bind(bias_dq);
  }
  // conv(x, w, b) / scale_factor.reshape([1, -1, 1...]).
  template <typename W, typename B>
  static constexpr auto rescaled(W w, B b) {
    using namespace pattern;
    using namespace captures;
    return div(conv_op(conv_input, w, b).bind(conv), reshape(scale_factor, any_literal())).bind(output_rescale);
  }
  // ... + conv_bias.reshape([1, -1, 1...]).
  template <typename R>
  static constexpr auto plus_bias(R r) {
    using namespace pattern;
    using namespace captures;
    return add(r, reshape(conv_bias, any_literal())).bind(bias_add);
  }
  // batch_norm(y, bn_weight, bn_bias, running_mean, running_var, ...).
  template <typename Y>
  static constexpr auto bn_of(Y y) {
    using namespace captures;
    return batch_norm_any(y, bn_weight, bn_bias, bn_running_mean, bn_running_var).bind(bn);
  }
};

template <typename Conv, typename WeightQ, ConvBias Bias, bool GroupedTranspose = false>
struct QuantizedQatConvBn {
  // The quantized simulated fold above, for this conv op set, weight q/dq and bias variant.
  static auto pattern() {
    using P = FoldPatternParts<Conv>;
    const auto rescaled = P::rescaled(P::weight(WeightQ::q, WeightQ::dq, P::template scaled<GroupedTranspose>()),
                                      P::template bias<Bias>());
    if constexpr (Bias == ConvBias::none) return P::bn_of(rescaled);
    else return P::bn_of(P::plus_bias(rescaled));
  }

  static constexpr std::string_view bias_name =
      Bias == ConvBias::none ? "" : (Bias == ConvBias::floating ? "+bias" : "+quantized_bias");
};

// All twelve variants in one pattern: the weight per tensor or per channel (any quantize /
// dequantize spelling; a pass checks that the pair agrees), the plain or grouped-transpose
// weight scaling, and the three bias forms, as alternatives inside one tree. Matching costs
// the same as trying the variants in turn, but the compiler generates one matcher instead of
// twelve nests (see docs/performance.md, compile cost). `conv_bias`, `zero_bias`, `bias_q`,
// `bias_dq` and `bias_add` are bound only on some paths: read them with Match::find. A match
// whose bias operand and bias add disagree (an add without a conv bias, or the reverse) is not
// one of the twelve variants; `AnyQuantizedQatConvBn::consistent` says so.
template <typename Conv>
struct AnyQuantizedQatConvBn {
  static auto pattern() {
    using namespace pattern;
    using P = FoldPatternParts<Conv>;
    const auto weight = P::weight(quantize_any, dequantize_any,
                                  either(P::template scaled<false>(), P::template scaled<true>()));
    const auto bias = either(P::template bias<ConvBias::none>(),
                             either(P::template bias<ConvBias::floating>(), P::template bias<ConvBias::quantized>()));
    const auto rescaled = P::rescaled(weight, bias);
    return P::bn_of(either(P::plus_bias(rescaled), rescaled));
  }

  // Whether a match of pattern() is one of the twelve variants: the weight quantize and
  // dequantize both per tensor or both per channel, and a bias add exactly when the conv has a
  // bias operand.
  template <typename M>
  static bool consistent(const M& m) {
    using namespace captures;
    if (per_channel(*m[weight_q]) != per_channel(*m[weight_dq])) return false;
    return m.find(zero_bias).has_value() == m.find(bias_add).has_value();
  }
  // "+bias", "+quantized_bias" or "" (the variant names of QuantizedQatConvBn::bias_name).
  template <typename M>
  static std::string_view bias_name(const M& m) {
    using namespace captures;
    return m.find(bias_q) ? "+quantized_bias" : m.find(zero_bias) ? "+bias" : "";
  }
  // "per_channel" or "per_tensor".
  template <typename M>
  static std::string_view weight_name(const M& m) {
    using namespace captures;
    return per_channel(*m[weight_q]) ? PerChannelWeight::name : PerTensorWeight::name;
  }

 private:
  // A per-channel quantize or dequantize (PerChannelWeight's ops), not a per-tensor one.
  static bool per_channel(const Node& n) {
    auto in = [&](const auto& set) {
      return std::find(set.targets.begin(), set.targets.end(), n.target()) != set.targets.end();
    };
    return in(PerChannelWeight::q) || in(PerChannelWeight::dq);
  }
};

}  // namespace graft::qat

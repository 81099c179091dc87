// graft/qat/prepare.hpp - fuse_conv_bn_qat: PyTorch PT2E's `_fuse_conv_bn_qat`, done once.
//
// Replaces every conv -> batch_norm pair whose conv output has no other user by the subgraph
// that simulates folding the BN into the conv weights during training (see
// graft/qat/conv_bn_patterns.hpp), keeping the BN's spelling, training flag, momentum and eps.
// Then, as the reference: metadata copied to the replacements, conv literal arguments kept, and
// every quantization annotation that referred to a replaced node or edge re-pointed.
#pragma once

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "graft/graph/module.hpp"
#include "graft/pattern.hpp"
#include "graft/qat/conv_bn_patterns.hpp"

namespace graft::qat {

struct PrepareReport {
  // Fused pairs per conv op and bias variant: "conv2d+bias", "conv1d", "conv_transpose2d+bias", ...
  std::vector<std::pair<std::string, std::size_t>> fused;
  // Pairs left unfused, by BN node name, with the reason.
  std::vector<std::pair<std::string, std::string>> skipped;
  std::size_t nodes_before = 0;
  std::size_t nodes_after = 0;

  // Pairs fused for one variant ("conv2d+bias"), and in all.
  std::size_t count(std::string_view rule) const {
    for (const auto& [r, n] : fused)
      if (r == rule) return n;
    return 0;
  }
  std::size_t total() const {
    std::size_t t = 0;
    for (const auto& [r, n] : fused) t += n;
    return t;
  }
};

namespace detail {

// The tensor a get_attr node names, or null (graph inputs and other nodes are symbolic),
// looked for first next to the tensors found last (see Module::find_attr).
inline const Tensor* constant_of(const Module& m, const Node* n, Module::AttrCursor& cursor) {
  return n && n->is_get_attr() ? m.find_attr(n->target(), cursor) : nullptr;
}

template <typename F>
void for_each_channel_value(const Tensor& t, F&& f) {
  if (t.dtype() == DType::float32) {
    const float* p = t.data<float>();
    for (std::size_t i = 0; i < t.numel(); ++i) f(i, static_cast<double>(p[i]));
  } else if (t.dtype() == DType::float64) {
    const double* p = t.data<double>();
    for (std::size_t i = 0; i < t.numel(); ++i) f(i, p[i]);
  }
}

// The pair's constant parameters must be floating point, and the BN's must have one value per
// output channel of the conv: otherwise the rewrite would produce a graph that cannot run.
// The BN parameters' tensors (null when symbolic) are left in `bn_tensors`, in the order given.
template <typename Conv>
void check_parameters(const PassContext& pc, const Node& conv_node, const Node& bn_node, const Node* weight_node,
                      std::initializer_list<const Node*> bn_params, const Tensor* (&bn_tensors)[4]) {
  static constexpr const char* names[] = {"weight", "bias", "running_mean", "running_var"};
  check_conv_args(conv_node);
  const Module& module = *pc.module;
  auto constant = [&](const Node* n) { return constant_of(module, n, pc.attrs); };
  const Tensor* weight = constant(weight_node);
  // (Messages are built only when thrown: this runs once per matched pair.)
  auto floating = [&](const Tensor* t, const char* what, const char* what2 = "") {
    if (t && !is_floating(t->dtype()))
      throw GraphError("batch norm node " + bn_node.describe() + ": " + what + what2 + " is " +
                       std::string(dtype_name(t->dtype())) + "; the conv-bn rewrite needs floating-point parameters");
  };
  floating(weight, "the conv weight");
  const Argument* bias = conv_node.find_arg("bias");
  const Tensor* bias_tensor = bias && bias->is_node() ? constant(bias->as_node()) : nullptr;
  floating(bias_tensor, "the conv bias");
  std::int64_t c_out = -1;
  if (weight) {
    const Argument* stride = conv_node.find_arg("stride");
    const std::size_t dims = stride && stride->is_list() ? stride->as_list().size() : 0;
    if (weight->dim() < 3 || (dims > 1 && weight->dim() != dims + 2) || weight->numel() == 0)
      throw GraphError("conv node " + conv_node.describe() + ": weight of shape " + shape_to_string(weight->shape()) +
                       " is not a conv weight" + (dims > 1 ? " for " + std::to_string(dims) + " spatial dimensions" : ""));
    const std::int64_t groups = conv_groups(conv_node);
    const bool transposed = conv_transposed<Conv>(conv_node);
    if (weight->shape()[0] % groups != 0)
      throw GraphError("conv node " + conv_node.describe() + ": weight of shape " + shape_to_string(weight->shape()) +
                       " does not split into " + std::to_string(groups) + " groups");
    c_out = transposed ? weight->shape()[1] * groups : weight->shape()[0];
    // The input's channels, when its meta says its shape.
    const Argument* input = conv_node.find_arg("input");
    if (input && input->is_node() && input->as_node()->has_meta()) {
      const auto& val = input->as_node()->meta().val;
      if (val && !val->is_tuple && val->tensors.size() == 1 && val->tensors[0].shape.size() == weight->dim()) {
        const std::int64_t have = val->tensors[0].shape[1];
        const std::int64_t want = transposed ? weight->shape()[0] : weight->shape()[1] * groups;
        if (have != want)
          throw GraphError("conv node " + conv_node.describe() + ": its input has " + std::to_string(have) +
                           " channels (meta val), the weight " + shape_to_string(weight->shape()) + " with " +
                           std::to_string(groups) + " groups expects " + std::to_string(want) + " channels");
      }
    }
  }
  // (A 1-d tensor's length is its numel, kept in the tensor itself: its shape is a heap block of
  // its own, a cache miss per tensor on a large model.)
  auto not_per_channel = [&](const Tensor& t) {
    return t.dim() != 1 || t.numel() != static_cast<std::size_t>(c_out);
  };
  if (const Tensor* b = bias_tensor; b && c_out >= 0 && not_per_channel(*b))
    throw GraphError("conv node " + conv_node.describe() + ": bias of shape " + shape_to_string(b->shape()) + " for " +
                     std::to_string(c_out) + " output channels");
  std::size_t i = 0;
  for (const Node* p : bn_params) {
    const char* what = names[i];
    const Tensor* t = constant(p);
    bn_tensors[i++] = t;
    floating(t, "bn ", what);
    if (t && c_out >= 0 && not_per_channel(*t))
      throw GraphError("batch norm node " + bn_node.describe() + ": bn " + what + " has shape " + shape_to_string(t->shape()) +
                       " but conv node " + conv_node.describe() + " has " + std::to_string(c_out) + " output channels");
  }
}

// Guard rails on a matched pair.
template <typename Conv, typename M>
bool prepare_filter(const M& m, const void* ctx) {
  using namespace captures;
  const Node& conv_node = *m[conv];
  const auto* pc = static_cast<const PassContext*>(ctx);
  if (!pc || !pc->module) return true;
  const Node& bn_node = *m[bn];
  const Tensor* bn_tensors[4] = {};
  check_parameters<Conv>(*pc, conv_node, bn_node, m[conv_weight],
                         {m[bn_weight], m[bn_bias], m[bn_running_mean], m[bn_running_var]}, bn_tensors);
  const double eps = bn_node.arg("eps").as_double();
  if (const Tensor* var = bn_tensors[3]) {
    for_each_channel_value(*var, [&](std::size_t c, double v) {
      std::string what;
      if (std::isnan(v)) what = "is NaN";
      else if (v < 0) what = "is negative (" + python_float_repr(v) + ")";
      else if (!(v + eps > 0)) what = "plus eps (" + python_float_repr(eps) + ") is not positive";
      if (!what.empty())
        throw GraphError("batch norm node " + bn_node.describe() + ": running_var channel " +
                         std::to_string(c) + " " + what);
    });
  }
  if (const Tensor* gamma = bn_tensors[0]) {
    std::size_t zero = gamma->numel();
    for_each_channel_value(*gamma, [&](std::size_t c, double v) {
      if (v == 0 && zero == gamma->numel()) zero = c;
    });
    if (zero != gamma->numel()) {
      if (pc->skipped)
        pc->skipped->emplace_back(&bn_node, "bn weight (gamma) is 0 on channel " + std::to_string(zero) +
                                                ": the simulated fold would divide by zero");
      return false;
    }
  }
  if (QatConvBn<Conv, true>::is_grouped_transpose(conv_node))
    QatConvBn<Conv, true>::weight_shape_vector(m, ctx);  // the grouped form needs it: throws if unknown
  return true;
}

template <typename Conv, bool HasBias>
auto prepare_rule() {
  using R = QatConvBn<Conv, HasBias>;
  return pattern::rewrite(R::pattern(), R::replacement())
      .named(R::rule_name)
      .where([](const Graph&, const auto& m, const void* ctx) { return prepare_filter<Conv>(m, ctx); });
}

// Every prepare rule, built once per program (a template, so that a translation unit that only
// includes this header does not instantiate them).
template <typename Conv = AnyConv>
const auto& prepare_rules() {
  static const auto rules =
      pattern::RuleSet(prepare_rule<Conv, true>(), prepare_rule<Conv, false>());
  return rules;
}

// Re-points annotations after rewrites: every input_qspec_map key and every node or edge a
// shared/derived qspec names that was replaced now names its replacement. A BN's annotation keyed
// by the old conv is keyed by the new BN's actual input. Built first (it allocates), then applied
// without allocating.
class AnnotationUpdate {
 public:
  // Records one rewrite (may allocate; changes nothing in the graph).
  void add(const pattern::ReplacedPattern& rp) {
    Node* old_conv = nullptr;
    Node* new_bn = nullptr;
    for (const auto& nm : rp.nodes_map) {
      replaced_[nm.original] = nm.replacement;
      if (nm.capture == "conv") old_conv = nm.original;
      if (nm.capture == "bn") new_bn = nm.replacement;
    }
    if (old_conv && new_bn) old_conv_of_new_bn_[new_bn] = old_conv;
  }
  void apply(Graph& g) const noexcept {
    if (replaced_.empty()) return;
    for (Node* n : g.nodes()) {
      if (!n->has_meta() || !n->meta().quantization_annotation) continue;
      auto& qa = *n->meta().quantization_annotation;
      if (auto it = old_conv_of_new_bn_.find(n); it != old_conv_of_new_bn_.end() && !n->args().empty())
        for (auto& [key, spec] : qa.input_qspec_map)
          if (key == it->second) key = n->args()[0].as_node();
      qa.for_each_node_ref([&](Node*& r) {
        if (auto it = replaced_.find(r); it != replaced_.end()) r = it->second;
      });
    }
  }

 private:
  std::unordered_map<Node*, Node*> replaced_;
  std::unordered_map<Node*, Node*> old_conv_of_new_bn_;
};

// Weight and bias replacements inherit the conv's module stack and source function when their
// originals (get_attr nodes) had none, so every new node of a conv stays attributable to it.
// (Writes only the metadata of nodes the rewrite created.)
inline void inherit_conv_meta(const pattern::ReplacedPattern& rp, const Node* old_conv) {
  if (!old_conv || !old_conv->has_meta()) return;
  for (const auto& nm : rp.nodes_map) {
    if (nm.capture != "conv_weight" && nm.capture != "conv_bias") continue;
    Meta& meta = nm.replacement->meta();
    if (!meta.nn_module_stack && old_conv->meta().nn_module_stack) meta.nn_module_stack = old_conv->meta().nn_module_stack;
    if (!meta.source_fn_stack && old_conv->meta().source_fn_stack) meta.source_fn_stack = old_conv->meta().source_fn_stack;
  }
}

}  // namespace detail

// Runs prepare's checks on every conv -> batch_norm pair without changing anything: throws the
// GraphError prepare would (bad statistics, parameters that do not fit the conv, bad conv
// arguments). For tools that want a graph checked before another pass.
template <typename Conv = AnyConv>
void check_conv_bn_pairs(const Module& module) {
  std::vector<std::pair<const Node*, std::string>> skipped;
  PassContext validate{&module, &skipped, {}};
  pattern::MatchOptions opt;
  opt.context = &validate;
  (void)detail::prepare_rules<Conv>().find(module.graph, opt);
}

// Fuses every conv -> batch_norm pair for QAT. Atomic: on any error the module is unchanged.
// Throws GraphError naming the BN node for a running variance that is negative, NaN, or not
// positive once eps is added; leaves a pair with a zero BN weight unfused (see the report).
// (A template only so that including this header costs nothing until the pass is called.)
template <typename Conv = AnyConv>
PrepareReport fuse_conv_bn_qat(Module& module) {
  PrepareReport report;
  report.nodes_before = module.graph.size();
  const auto& rules = detail::prepare_rules<Conv>();

  // Annotations are re-pointed only when the graph has some (building the map costs a lookup
  // per replaced node). Looked for before the rewrite, over the smaller graph: the rewrite copies
  // metadata only from matched nodes, so it cannot add an annotation the graph did not have.
  bool annotated = false;
  for (const Node* n : module.graph.nodes())
    if (n->has_meta() && n->meta().quantization_annotation) {
      annotated = true;
      break;
    }

  // One walk in graph order, inside a transaction: each pair is matched, checked by the guard
  // rails and rewritten where it stands. A guard rail that throws (or any other failure, say out
  // of memory) rolls the transaction back, so the graph is exactly as it was: atomic without a
  // separate validation walk, and each pair is matched once. Matches cannot overlap or cascade:
  // a rewritten pair's nodes are gone, and its replacement (placed before the node being
  // visited) has no conv feeding a batch norm. Each rewrite is handed over as it is made
  // (apply_each: no record kept per pair): it is counted by variant, its weight and bias
  // replacements inherit the conv's metadata, and, in an annotated graph, it is remembered for
  // the re-pointing of annotations, which runs last by a step that cannot fail midway.
  std::vector<std::pair<const Node*, std::string>> skipped;
  PassContext pass{&module, &skipped, {}};
  pattern::MatchOptions opt;
  opt.context = &pass;
  // "conv2d+bias", "conv_transpose1d", ...: the matched conv's op and whether it had a bias,
  // counted first by (op, bias) and spelt out once per variant.
  struct Variant {
    std::string_view op;
    bool bias;
    std::size_t count;
  };
  std::vector<Variant> variants;
  std::optional<detail::AnnotationUpdate> update;
  if (annotated) update.emplace();
  auto tx = module.graph.transaction();
  pattern::RewriteReport r = rules.apply_each(
      module.graph,
      [&](const pattern::ReplacedPattern& rp) {
        const Node* old_conv = nullptr;
        bool bias = false;
        for (const auto& nm : rp.nodes_map) {
          if (nm.capture == "conv") old_conv = nm.original;
          if (nm.capture == "conv_bias") bias = true;
        }
        const std::string_view op = old_conv ? old_conv->op()->op() : std::string_view();
        if (!variants.empty() && variants.back().op == op && variants.back().bias == bias) {
          ++variants.back().count;  // the common case: a network's pairs are mostly one variant
        } else {
          auto it = std::find_if(variants.begin(), variants.end(),
                                 [&](const Variant& v) { return v.op == op && v.bias == bias; });
          if (it == variants.end()) variants.push_back(Variant{op, bias, 1});
          else ++it->count;
        }
        detail::inherit_conv_meta(rp, old_conv);
        if (update) update->add(rp);
      },
      opt);
  for (const auto& [node, why] : skipped) report.skipped.emplace_back(node->name(), why);
  if (r.rewrites == 0) {
    tx.commit();
    report.nodes_after = report.nodes_before;
    return report;
  }
  std::vector<std::pair<std::string, std::size_t>> fused;
  fused.reserve(variants.size());
  for (const Variant& v : variants) fused.emplace_back(std::string(v.op) + (v.bias ? "+bias" : ""), v.count);
  if (update) update->apply(module.graph);
  tx.commit();
  report.fused = std::move(fused);
  report.nodes_after = module.graph.size();
  return report;
}

// With GRAFT_EXTERN_TEMPLATES the passes are compiled once, in the translation unit that includes
// graft/instantiate.hpp (CMake: link graft::instantiated), not in every file that calls them.
#ifdef GRAFT_EXTERN_TEMPLATES
extern template void check_conv_bn_pairs<AnyConv>(const Module&);
extern template PrepareReport fuse_conv_bn_qat<AnyConv>(Module&);
#endif

}  // namespace graft::qat

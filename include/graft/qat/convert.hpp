// graft/qat/convert.hpp - fold_conv_bn_qat: PyTorch PT2E's `_fold_conv_bn_qat`, done once.
//
// After QAT and convert, every simulated-fold subgraph of prepare carries a quantize ->
// dequantize pair on its scaled weight (see QuantizedQatConvBn in conv_bn_patterns.hpp). The
// fold turns each into `conv(x, dq(q(W_f)), b_f)`: the batch norm is folded into the conv's
// parameters with the BN's own eps (graft/tensor/fold.hpp, exact for grouped conv-transpose),
// and the BN, its getitems, the simulated-fold arithmetic and the BN's num_batches_tracked
// counter update disappear.
//
// How it differs from the reference, and why:
// - The matched conv and quantize/dequantize nodes are kept and re-wired instead of rebuilt, so
//   their real arguments (scales, zero points, ranges, dtypes, axis), conv literal arguments,
//   metadata and every quantization annotation naming them stay exactly as they were. The
//   reference rebuilds them from a traced pattern and copies all of that back by hand.
// - No dequantize node is duplicated: the matched conv input is an unconstrained operand, so a
//   dequantize feeding a skip connection does not block a match. Dequantize nodes that read the
//   same value with identical arguments are still merged into one afterwards, as the reference's
//   final clean-up does.
// - A weight or bias tensor that anything else reads is copied, never folded twice.
// - Only what the fold made dead is removed (not the graph's other dead code), and the counters of
//   BatchNorm of every dimensionality, unless something reads them.
// - Atomic: every fold is computed and checked before the graph changes; on any error the module
//   (graph, metadata, parameters, buffers) is unchanged.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "graft/graph/module.hpp"
#include "graft/graph/printer.hpp"
#include "graft/pattern.hpp"
#include "graft/qat/conv_bn_patterns.hpp"
#include "graft/tensor/fold.hpp"

namespace graft::qat {

struct ConvertReport {
  // Folded pairs per variant: "conv2d+bias per_tensor", "conv_transpose1d per_channel",
  // "conv3d+quantized_bias per_channel", ...
  std::vector<std::pair<std::string, std::size_t>> folded;
  // Matched pairs left unfolded, by BN node name, with the reason.
  std::vector<std::pair<std::string, std::string>> skipped;
  // Parameters whose tensor now holds the folded values (read by nothing else).
  std::vector<std::string> parameters_rewritten;
  // Parameters added: biases for convs that had none, and private copies of shared tensors.
  std::vector<std::string> parameters_created;
  // (shared tensor, private folded copy): tensors also read elsewhere, so not folded in place.
  std::vector<std::pair<std::string, std::string>> copied_on_write;
  // num_batches_tracked buffers whose counter update was removed / kept because it is read.
  std::vector<std::string> counters_removed;
  std::vector<std::string> counters_kept;
  // Dequantize nodes merged into an identical one reading the same value.
  std::size_t dequantize_merged = 0;
  std::size_t nodes_before = 0;
  std::size_t nodes_after = 0;

  // Pairs folded for one variant ("conv2d+bias per_channel"), and in all.
  std::size_t count(std::string_view variant) const {
    for (const auto& [v, n] : folded)
      if (v == variant) return n;
    return 0;
  }
  std::size_t total() const {
    std::size_t t = 0;
    for (const auto& [v, n] : folded) t += n;
    return t;
  }
};

namespace detail {

// One matched, checked fold: the nodes it reads and rewires, and its folded tensors.
struct FoldSite {
  std::string variant;
  Node* bn = nullptr;
  Node* conv = nullptr;
  Node* weight = nullptr;         // get_attr of the conv weight
  Node* scaled_weight = nullptr;  // what the weight quantize read
  Node* weight_q = nullptr;
  Node* bias = nullptr;  // get_attr of the conv bias (float or quantized bias variants)
  Node* zero_bias = nullptr;
  Node* bias_q = nullptr;
  Node* output_rescale = nullptr;
  Node* bias_add = nullptr;
  Node* bn_params[4] = {nullptr, nullptr, nullptr, nullptr};  // weight, bias, running mean, var
  std::vector<Node*> covered;                                 // op nodes of the match
  std::vector<Node*> getitems;                                // tuple BNs: every getitem user
  bool weight_owned = false;
  bool bias_owned = false;
  bool transposed = false;
  std::int64_t groups = 1;
  std::vector<double> scale;  // gamma / sqrt(var + eps) per output channel, in double
  Tensor folded_bias;         // (b - mean) * scale + beta, rounded once to the weight's dtype
};

inline bool is_dequantize_target(std::string_view t) {
  return t == "quantized_decomposed.dequantize_per_tensor.default" ||
         t == "quantized_decomposed.dequantize_per_tensor.tensor" ||
         t == "quantized_decomposed.dequantize_per_channel.default";
}

// Matches the twelve variants (weight per tensor / per channel x bias none / float / quantized x
// plain / grouped-transpose weight scaling) with their root at `n`, as one pattern
// (AnyQuantizedQatConvBn), and fills `site` from the match.
template <typename Conv>
bool match_fold(const Graph& g, Node* n, const pattern::MatchOptions& opt, FoldSite& site) {
  using namespace captures;
  using Any = AnyQuantizedQatConvBn<Conv>;
  static const auto p = Any::pattern();
  auto m = pattern::match_at(g, p, n, opt);
  if (!m || !Any::consistent(*m)) return false;
  site.variant = std::string((*m)[conv]->op() ? (*m)[conv]->op()->op() : std::string_view("conv"));
  site.variant += Any::bias_name(*m);
  site.variant += ' ';
  site.variant += Any::weight_name(*m);
  site.bn = (*m)[bn];
  site.conv = (*m)[conv];
  site.weight = (*m)[conv_weight];
  site.scaled_weight = (*m)[scaled_weight];
  site.weight_q = (*m)[weight_q];
  site.output_rescale = (*m)[output_rescale];
  if (m->find(zero_bias)) {
    site.bias = *m->find(conv_bias);
    site.zero_bias = *m->find(zero_bias);
    site.bias_add = *m->find(bias_add);
  }
  if (auto q = m->find(bias_q)) site.bias_q = *q;
  site.bn_params[0] = (*m)[bn_weight];
  site.bn_params[1] = (*m)[bn_bias];
  site.bn_params[2] = (*m)[bn_running_mean];
  site.bn_params[3] = (*m)[bn_running_var];
  site.covered = std::move(m->nodes);
  return true;
}

inline bool is_bn_target(std::string_view t) {
  for (std::string_view s : batch_norm_any.targets)
    if (s == t) return true;
  return false;
}

// Why a matched site cannot be folded, or empty. Only structural reasons: bad statistics are
// errors, raised by the fold itself.
inline std::string unfoldable_reason(const Module& m, FoldSite& site) {
  auto tensor_of = [&](const Node* n) { return n && n->is_get_attr() ? m.find_attr(n->target()) : nullptr; };
  if (!tensor_of(site.weight)) return "conv weight " + site.weight->describe() + " is not a parameter or buffer";
  if (site.bias && !tensor_of(site.bias)) return "conv bias " + site.bias->describe() + " is not a parameter or buffer";
  static constexpr const char* what[4] = {"weight", "bias", "running_mean", "running_var"};
  for (int i = 0; i < 4; ++i)
    if (!tensor_of(site.bn_params[i]))
      return std::string("bn ") + what[i] + " " + site.bn_params[i]->describe() +
             " is not a parameter or buffer (a graph input cannot be folded)";
  if (site.bn->target() == "aten.batch_norm.default") return {};
  for (Node* u : site.bn->users()) {
    if (u->target() != "operator.getitem" || u->args().size() < 2 || !u->args()[1].is_int())
      return "batch norm output is read by " + u->describe() + ", not by getitem";
    if (u->args()[1].as_int() != 0 && u->num_users() != 0)
      return "getitem(" + site.bn->name() + ", " + std::to_string(u->args()[1].as_int()) + ") is read by " +
             (*u->users().begin())->describe();
    if (std::find(site.getitems.begin(), site.getitems.end(), u) == site.getitems.end()) site.getitems.push_back(u);
  }
  return {};
}

// True when `attr` is the only get_attr node of its target and every one of its users is in
// `inside`: its tensor can be folded in place.
inline bool owned_by(const Node* attr, const std::vector<Node*>& inside,
                     const std::unordered_map<std::string_view, std::vector<Node*>>& attr_nodes) {
  auto it = attr_nodes.find(attr->target());
  if (it == attr_nodes.end() || it->second.size() != 1) return false;
  for (const Node* u : attr->users())
    if (std::find(inside.begin(), inside.end(), u) == inside.end()) return false;
  return true;
}

// "<prefix>bias" for a weight named "<prefix>weight", else "<weight>_bias"; made unique.
inline std::string new_bias_name(const Module& m, std::string_view weight_target) {
  constexpr std::string_view w = "weight";
  if (weight_target.size() >= w.size() && weight_target.substr(weight_target.size() - w.size()) == w)
    return m.unique_attr_name(std::string(weight_target.substr(0, weight_target.size() - w.size())) + "bias");
  return m.unique_attr_name(std::string(weight_target) + "_bias");
}

// The num_batches_tracked buffer of the BN whose running mean is `running_mean_target`.
inline std::string counter_target(std::string_view running_mean_target) {
  constexpr std::string_view rm = "running_mean";
  std::string_view prefix = running_mean_target;
  if (prefix.size() >= rm.size() && prefix.substr(prefix.size() - rm.size()) == rm)
    prefix = prefix.substr(0, prefix.size() - rm.size());
  else
    return {};
  return std::string(prefix) + "num_batches_tracked";
}

inline bool is_counter_update(const Node* u, const Node* counter) {
  return (u->target() == "aten.add_.Tensor" || u->target() == "aten.add_.Scalar") && !u->args().empty() &&
         u->args()[0].is_node() && u->args()[0].as_node() == counter && u->num_users() == 0;
}

// Where a tensor lives (parameters or buffers) and its name.
inline NamedTensors& home_of(Module& m, std::string_view target) {
  return m.parameters.contains(target) ? m.parameters : m.buffers;
}

inline void inherit_module_meta(Node* n, const Node* from) {
  if (!from || !from->has_meta()) return;
  Meta& meta = n->meta();
  if (!meta.nn_module_stack && from->meta().nn_module_stack) meta.nn_module_stack = from->meta().nn_module_stack;
  if (!meta.source_fn_stack && from->meta().source_fn_stack) meta.source_fn_stack = from->meta().source_fn_stack;
}

// After the fold: re-points annotation references to replaced nodes, and drops those that name
// nodes the fold erased without a replacement (an input_qspec_map entry keyed by one, a qspec
// sharing with one). Allocation-free, so that it cannot fail once the graph is rewritten.
inline void repoint_annotations(Graph& g, const std::unordered_map<Node*, Node*>& replaced) noexcept {
  auto dead = [&](const Node* r) { return r && !g.contains(r); };
  auto refs_dead = [&](QSpec& q) {
    bool any = false;
    for_each_node_ref(q, [&](Node*& r) { any = any || dead(r); });
    return any;
  };
  for (Node* n : g.nodes()) {
    if (!n->has_meta() || !n->meta().quantization_annotation) continue;
    auto& qa = *n->meta().quantization_annotation;
    qa.for_each_node_ref([&](Node*& r) {
      if (auto it = replaced.find(r); it != replaced.end()) r = it->second;
    });
    auto& map = qa.input_qspec_map;
    map.erase(std::remove_if(map.begin(), map.end(), [&](auto& e) { return dead(e.first) || refs_dead(e.second); }),
              map.end());
    if (qa.output_qspec && refs_dead(*qa.output_qspec)) qa.output_qspec.reset();
  }
}

}  // namespace detail

// Folds every quantized simulated-fold conv-bn subgraph (after prepare and a QAT convert) into
// `conv(x, dq(q(W_f)), b_f)`. Atomic: on any error the module is unchanged. Throws GraphError
// naming the BN node for a running variance that is negative, NaN or not positive with eps, and
// for BN parameters that do not fit the conv's channels.
// (A template only so that including this header costs nothing until the pass is called.)
template <typename Conv = AnyConv>
ConvertReport fold_conv_bn_qat(Module& module) {
  using detail::FoldSite;
  ConvertReport report;
  Graph& g = module.graph;
  report.nodes_before = g.size();

  // ---- 1. Match, check and compute every fold; nothing changes yet. --------------------------
  std::unordered_map<std::string_view, std::vector<Node*>> attr_nodes;
  for (Node* n : g.nodes())
    if (n->is_get_attr()) attr_nodes[n->target()].push_back(n);

  std::vector<FoldSite> sites;
  std::unordered_set<Node*> claimed;
  pattern::MatchOptions opt;
  for (Node* n : g.nodes()) {
    if (n->kind() != NodeKind::call_function || !detail::is_bn_target(n->target())) continue;
    FoldSite site;
    if (!detail::match_fold<Conv>(g, n, opt, site)) continue;
    if (std::any_of(site.covered.begin(), site.covered.end(), [&](Node* c) { return claimed.count(c) != 0; }))
      continue;
    if (std::string why = detail::unfoldable_reason(module, site); !why.empty()) {
      report.skipped.emplace_back(n->name(), std::move(why));
      continue;
    }
    claimed.insert(site.covered.begin(), site.covered.end());
    sites.push_back(std::move(site));
  }
  if (sites.empty()) {
    report.nodes_after = report.nodes_before;
    return report;
  }

  for (FoldSite& s : sites) {
    const Tensor& w = module.attr_of(*s.weight);
    const Tensor* b = s.bias ? &module.attr_of(*s.bias) : nullptr;
    check_conv_args(*s.conv);
    s.transposed = conv_transposed<Conv>(*s.conv);
    s.groups = conv_groups(*s.conv);
    try {
      if (!is_floating(w.dtype()) || (b && b->dtype() != w.dtype()))
        throw TensorError("the conv weight is " + std::string(dtype_name(w.dtype())) +
                          (b ? std::string(" and its bias ") + std::string(dtype_name(b->dtype())) : std::string()) +
                          "; folding needs float32 or float64 parameters of one dtype");
      const std::int64_t c_out = kernels::conv_out_channels(w, s.transposed, s.groups);
      s.scale = kernels::bn_fold_scale(module.attr_of(*s.bn_params[3]), s.bn->arg("eps").as_double(),
                                       &module.attr_of(*s.bn_params[0]), c_out);
      s.folded_bias = kernels::fold_conv_bn_bias(b, module.attr_of(*s.bn_params[2]), s.scale,
                                                 &module.attr_of(*s.bn_params[1]), w.dtype());
    } catch (const TensorError& e) {
      throw GraphError("batch norm node " + s.bn->describe() + " cannot be folded into conv node " +
                       s.conv->describe() + ": " + e.what());
    }
    s.weight_owned = detail::owned_by(s.weight, s.covered, attr_nodes);
    s.bias_owned = s.bias && detail::owned_by(s.bias, s.covered, attr_nodes);
  }

  // Counters: the num_batches_tracked buffers of the folded BNs, removable when only their own
  // in-place `add_(counter, 1)` updates read them.
  std::vector<std::string> counters;
  for (const FoldSite& s : sites) {
    std::string c = detail::counter_target(s.bn_params[2]->target());
    if (!c.empty() && module.find_attr(c) && std::find(counters.begin(), counters.end(), c) == counters.end())
      counters.push_back(std::move(c));
  }
  std::vector<Node*> counter_updates, counter_nodes;
  for (const std::string& c : counters) {
    auto it = attr_nodes.find(c);
    if (it == attr_nodes.end()) continue;
    bool only_updates = true;
    for (Node* a : it->second)
      for (Node* u : a->users()) only_updates = only_updates && detail::is_counter_update(u, a);
    if (!only_updates) {
      report.counters_kept.push_back(c);
      continue;
    }
    report.counters_removed.push_back(c);
    for (Node* a : it->second) {
      for (Node* u : a->users()) counter_updates.push_back(u);
      counter_nodes.push_back(a);
    }
  }

  // ---- 2. Rewrite inside a transaction; new tensors are rolled back by hand. -----------------
  std::vector<std::pair<NamedTensors*, std::string>> added;
  struct InPlace {
    Tensor* tensor;
    FoldSite* site;
    bool weight;
  };
  std::vector<InPlace> in_place;  // module tensors folded once nothing else can fail
  std::unordered_map<Node*, Node*> replaced;
  std::vector<std::string> folded;  // the variant of each site
  auto tx = g.transaction();
  try {
    auto add_tensor = [&](NamedTensors& home, std::string name, Tensor t) {
      home.add(name, std::move(t));
      added.emplace_back(&home, std::move(name));
      report.parameters_created.push_back(added.back().second);
    };
    auto erase_if_dead = [&](Node* n) {
      if (n && g.contains(n) && n->num_users() == 0 && !n->is_output()) g.erase(n);
    };
    for (FoldSite& s : sites) {
      // Weight: fold in place, or into a private copy read only by this conv's quantize.
      Node* w = s.weight;
      if (!s.weight_owned) {
        std::string name = module.unique_attr_name(std::string(s.weight->target()) + "_folded");
        const Tensor& original = module.attr_of(*s.weight);
        Tensor copy(original.dtype(), original.shape());
        kernels::scale_conv_weight(original, s.scale, s.transposed, s.groups, copy);
        add_tensor(detail::home_of(module, s.weight->target()), name, std::move(copy));
        report.copied_on_write.emplace_back(std::string(s.weight->target()), name);
        auto guard = g.inserting_before(s.weight_q);
        w = g.get_attr(name);
        if (s.weight->has_meta()) w->meta() = s.weight->meta();
        detail::inherit_module_meta(w, s.conv);
      }
      g.set_arg(s.weight_q, 0, w);
      replaced[s.scaled_weight] = w;

      // Bias: a new parameter, the old one folded in place, or a private copy.
      Node* b = s.bias;
      Node* bias_reader = s.bias_q ? s.bias_q : s.conv;
      if (!s.bias || !s.bias_owned) {
        std::string name = s.bias ? module.unique_attr_name(std::string(s.bias->target()) + "_folded")
                                  : detail::new_bias_name(module, s.weight->target());
        add_tensor(s.bias ? detail::home_of(module, s.bias->target()) : module.parameters, name,
                   std::move(s.folded_bias));
        if (s.bias) report.copied_on_write.emplace_back(std::string(s.bias->target()), name);
        auto guard = g.inserting_before(bias_reader);
        b = g.get_attr(name);
        if (s.bias && s.bias->has_meta()) b->meta() = s.bias->meta();
        detail::inherit_module_meta(b, s.conv);
      }
      if (s.bias_q) g.set_arg(s.bias_q, 0, b);
      else g.set_named_arg(s.conv, "bias", b);
      if (s.zero_bias) replaced[s.zero_bias] = b;

      // The conv now stands for the BN's output.
      if (s.getitems.empty()) {
        g.replace_all_uses_with(s.bn, s.conv);
        replaced[s.bn] = s.conv;
      } else {
        for (Node* gi : s.getitems)
          if (gi->args()[1].as_int() == 0) {
            g.replace_all_uses_with(gi, s.conv);
            replaced[gi] = s.conv;
          }
        for (Node* gi : s.getitems) g.erase(gi);
        replaced[s.bn] = s.conv;
      }
      replaced[s.output_rescale] = s.conv;
      if (s.bias_add) replaced[s.bias_add] = s.conv;

      // Everything the fold made dead, last first.
      std::vector<Node*> dead = s.covered;
      std::sort(dead.begin(), dead.end(), [](const Node* x, const Node* y) { return y->is_before(*x); });
      for (Node* d : dead)
        if (d != s.conv) erase_if_dead(d);
      erase_if_dead(s.weight);
      erase_if_dead(s.bias);
      for (Node* p : s.bn_params) erase_if_dead(p);

      folded.push_back(std::move(s.variant));
    }
    for (Node* u : counter_updates) g.erase(u);
    for (Node* a : counter_nodes) erase_if_dead(a);

    // Identical dequantize nodes reading the same value become one (the earliest).
    auto dq_of = [](const Node* u, const Node* n) {
      return detail::is_dequantize_target(u->target()) && !u->args().empty() && u->args()[0].is_node() &&
             u->args()[0].as_node() == n;
    };
    std::vector<Node*> producers;
    for (Node* n : g.nodes()) {
      std::size_t dq_users = 0;
      for (const Node* u : n->users()) dq_users += dq_of(u, n);
      if (dq_users >= 2) producers.push_back(n);
    }
    std::unordered_map<std::string, Node*> seen;
    std::string key;
    for (Node* n : producers) {
      std::vector<Node*> dqs;
      for (Node* u : n->users())
        if (dq_of(u, n)) dqs.push_back(u);
      std::sort(dqs.begin(), dqs.end(), [](const Node* x, const Node* y) { return x->is_before(*y); });
      dqs.erase(std::unique(dqs.begin(), dqs.end()), dqs.end());
      seen.clear();
      for (Node* dq : dqs) {
        key.assign(dq->target());
        for (const Argument& a : dq->args()) graft::detail::format_arg(key += '|', a);
        for (const Kwarg& k : dq->kwargs()) graft::detail::format_arg((key += '|') += k.name, k.value);
        auto [it, fresh] = seen.emplace(key, dq);
        if (fresh) continue;
        g.replace_all_uses_with(dq, it->second);
        replaced[dq] = it->second;
        g.erase(dq);
        ++report.dequantize_merged;
      }
    }

    // Report lines, and the module tensors folded in place (found now: adding may move them).
    std::vector<std::pair<std::string, std::size_t>> counts;
    for (std::string& v : folded) {
      auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& e) { return e.first == v; });
      if (it == counts.end()) counts.emplace_back(std::move(v), 1);
      else ++it->second;
    }
    report.folded = std::move(counts);
    for (FoldSite& s : sites) {
      if (s.weight_owned) {
        in_place.push_back({&module.attr(s.weight->target()), &s, true});
        report.parameters_rewritten.emplace_back(s.weight->target());
      }
      if (s.bias_owned) {
        in_place.push_back({&module.attr(s.bias->target()), &s, false});
        report.parameters_rewritten.emplace_back(s.bias->target());
      }
    }
  } catch (...) {
    for (auto it = added.rbegin(); it != added.rend(); ++it) it->first->erase(it->second);
    throw;  // the transaction puts the graph back
  }

  // ---- 3. Nothing below can fail. ------------------------------------------------------------
  detail::repoint_annotations(g, replaced);
  tx.commit();
  // Checked in step 1 (dtype, channels, factors), so the in-place scaling cannot throw, and it
  // allocates nothing.
  for (const InPlace& p : in_place) {
    if (p.weight) kernels::scale_conv_weight(*p.tensor, p.site->scale, p.site->transposed, p.site->groups, *p.tensor);
    else *p.tensor = std::move(p.site->folded_bias);
  }
  report.nodes_after = g.size();
  return report;
}

// With GRAFT_EXTERN_TEMPLATES the pass is compiled once (graft/instantiate.hpp).
#ifdef GRAFT_EXTERN_TEMPLATES
extern template ConvertReport fold_conv_bn_qat<AnyConv>(Module&);
#endif

}  // namespace graft::qat

// custom_ir: graft's patterns on a compiler's own IR, without converting it to graft::Graph.
//
// `mini::Program` stands for the IR of a small embedded compiler: a pool of instructions, each
// with an opcode string, a name and operands that are instruction references, numbers or shape
// immediates, kept in program (topological) order. Modelling graft's graph concept is the
// `graft::graph_model<mini::Program>` specialisation below (about 25 lines). Then, on that IR:
//
//   1. the QAT prepare patterns graft's own pass uses (qat::QatConvBn, with and without conv
//      bias) find the conv -> batch_norm pairs; the compiler rewrites each one, with its own
//      mutation API, into the simulated-fold subgraph PyTorch's prepare_qat_pt2e produces;
//   2. after weight quantize/dequantize are inserted, the QAT convert patterns
//      (qat::QuantizedQatConvBn) find those subgraphs, and the compiler folds each BN away;
//   3. a user-written pattern, mul(x, 1), is matched and the multiplication removed.
//
// graft's rewriter (RuleSet, rewrite()) mutates graft::Graph; on a foreign IR graft matches and
// the IR's own code rewrites, driven by the match's captures (m[conv_weight], m.nodes, ...).
// Every step is checked; the program returns 1 if a check fails.
#include <algorithm>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "graft/pattern.hpp"
#include "graft/qat/conv_bn_patterns.hpp"

namespace mini {

// An operand: another instruction, a number, or a shape immediate.
struct Operand {
  enum Kind { ref, number, shape } kind;
  int id = -1;
  double value = 0;
  std::vector<std::int64_t> dims;
};
Operand ref(int id) { return Operand{Operand::ref, id, 0, {}}; }
Operand num(double v) { return Operand{Operand::number, -1, v, {}}; }
Operand shape(std::vector<std::int64_t> d) { return Operand{Operand::shape, -1, 0, std::move(d)}; }

struct Instr {
  std::string opcode;  // "input", "const", or an op name such as "aten.conv2d.default"
  std::string name;
  std::vector<Operand> operands;
  std::vector<int> users;  // each reader once
};

struct Program {
  std::vector<Instr> pool;  // every instruction ever made, by id
  std::vector<int> order;   // the live ones, in program order

  // Adds an instruction at the end, or right before instruction `before`.
  int emit(std::string opcode, std::string name, std::vector<Operand> operands, int before = -1) {
    const int id = static_cast<int>(pool.size());
    for (const Operand& o : operands)
      if (o.kind == Operand::ref) add_user(o.id, id);
    pool.push_back(Instr{std::move(opcode), std::move(name), std::move(operands), {}});
    order.insert(before < 0 ? order.end() : std::find(order.begin(), order.end(), before), id);
    return id;
  }
  // Every reader of `from` reads `to` instead.
  void replace_uses(int from, int to) {
    for (int u : at(from).users) {
      for (Operand& o : at(u).operands)
        if (o.kind == Operand::ref && o.id == from) o.id = to;
      add_user(to, u);
    }
    at(from).users.clear();
  }
  // Removes an instruction nothing reads.
  void erase(int id) {
    if (!at(id).users.empty()) throw std::logic_error("erase: " + at(id).name + " still has users");
    for (const Operand& o : at(id).operands)
      if (o.kind == Operand::ref) {
        auto& us = at(o.id).users;
        us.erase(std::remove(us.begin(), us.end(), id), us.end());
      }
    order.erase(std::find(order.begin(), order.end(), id));
  }
  // Removes constants nothing reads any more.
  void erase_dead_constants() {
    for (int id : std::vector<int>(order))
      if (at(id).opcode == "const" && at(id).users.empty()) erase(id);
  }
  Instr& at(int id) { return pool[static_cast<std::size_t>(id)]; }
  const Instr& at(int id) const { return pool[static_cast<std::size_t>(id)]; }
  std::size_t count(std::string_view opcode_part) const {
    return static_cast<std::size_t>(std::count_if(order.begin(), order.end(), [&](int id) {
      return at(id).opcode.find(opcode_part) != std::string::npos;
    }));
  }
  std::string text() const {
    std::ostringstream os;
    for (int id : order) {
      const Instr& i = at(id);
      os << "  %" << i.name << " = " << i.opcode << "(";
      for (std::size_t k = 0; k < i.operands.size(); ++k) {
        const Operand& o = i.operands[k];
        os << (k ? ", " : "");
        if (o.kind == Operand::ref) os << "%" << at(o.id).name;
        else if (o.kind == Operand::number) os << o.value;
        else {
          os << "[";
          for (std::size_t d = 0; d < o.dims.size(); ++d) os << (d ? "," : "") << o.dims[d];
          os << "]";
        }
      }
      os << ")\n";
    }
    return os.str();
  }

 private:
  void add_user(int of, int user) {
    auto& us = at(of).users;
    if (std::find(us.begin(), us.end(), user) == us.end()) us.push_back(user);
  }
};

}  // namespace mini

// The whole adapter: graft's graph concept in terms of mini::Program (graft/graph/concept.hpp).
template <>
struct graft::graph_model<mini::Program> {
  using node = int;
  static const std::vector<int>& nodes(const mini::Program& g) { return g.order; }
  static NodeKind kind(const mini::Program& g, int n) {
    const std::string& op = g.at(n).opcode;
    if (op == "input") return NodeKind::placeholder;
    if (op == "const") return NodeKind::get_attr;
    return op == "output" ? NodeKind::output : NodeKind::call_function;
  }
  static std::string_view target(const mini::Program& g, int n) { return g.at(n).opcode; }
  static std::size_t num_operands(const mini::Program& g, int n) { return g.at(n).operands.size(); }
  static Operand<int> operand(const mini::Program& g, int n, std::size_t i) {
    const auto& ops = g.at(n).operands;
    if (i >= ops.size()) return Operand<int>{};  // absent: an optional argument not written
    const mini::Operand& o = ops[i];
    if (o.kind == mini::Operand::ref) return Operand<int>::of_node(o.id);
    if (o.kind == mini::Operand::number) return Operand<int>::of_value(Argument(o.value));
    return Operand<int>::of_value(ints(o.dims));
  }
  static std::size_t num_users(const mini::Program& g, int n) { return g.at(n).users.size(); }
  static const std::vector<int>& users(const mini::Program& g, int n) { return g.at(n).users; }
  static std::string_view name(const mini::Program& g, int n) { return g.at(n).name; }  // for explain
};

namespace {

using namespace graft::pattern;
using namespace graft::qat::captures;  // conv_input, conv_weight, conv_bias, conv, bn, bn_weight, ...
using graft::qat::AnyConv;
using graft::qat::ConvBias;
using graft::qat::PerTensorWeight;
using graft::qat::QatConvBn;
using graft::qat::QuantizedQatConvBn;

int failures = 0;
void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "custom_ir: CHECK FAILED: " << what << "\n";
    ++failures;
  }
}

// Erases the matched op instructions (root first in m.nodes) once nothing reads them.
template <typename M>
void erase_matched(mini::Program& p, const M& m) {
  for (bool progress = true; progress;) {
    progress = false;
    for (int n : m.nodes)
      if (std::find(p.order.begin(), p.order.end(), n) != p.order.end() && p.at(n).users.empty()) {
        p.erase(n);
        progress = true;
      }
  }
}

// Step 1, the compiler's prepare rewrite for one match: the subgraph of PyTorch's
// _fuse_conv_bn_qat, in aten ops, with the BN's own eps (operand 7) and momentum kept.
//   scale = bn_weight / sqrt(running_var + eps)
//   y = conv(x, conv_weight * scale.reshape([-1,1,1,1]), zeros_like(bias)) / scale.reshape([1,-1,1,1])
//   y = y + bias.reshape([1,-1,1,1])                   (only with a conv bias)
//   out = batch_norm(y, bn_weight, bn_bias, running_mean, running_var, training, momentum, eps)
template <bool HasBias, typename M>
void prepare_rewrite(mini::Program& p, const M& m) {
  using mini::ref;
  const int root = m[bn];
  const std::string tag = p.at(root).name + "_";
  const std::vector<mini::Operand> bn_literals(p.at(root).operands.begin() + 5, p.at(root).operands.end());
  const double eps = bn_literals.at(2).value;
  auto emit = [&](const char* op, const std::string& name, std::vector<mini::Operand> args) {
    return p.emit(op, tag + name, std::move(args), root);
  };
  const int var_eps = emit("aten.add.Tensor", "var_eps", {ref(m[bn_running_var]), mini::num(eps)});
  const int scale = emit("aten.div.Tensor", "scale",
                         {ref(m[bn_weight]), ref(emit("aten.sqrt.default", "std", {ref(var_eps)}))});
  const int w_scale = emit("aten.reshape.default", "w_scale", {ref(scale), mini::shape({-1, 1, 1, 1})});
  const int scaled = emit("aten.mul.Tensor", "scaled_weight", {ref(m[conv_weight]), ref(w_scale)});
  std::vector<mini::Operand> conv_args = p.at(m[conv]).operands;  // stride, padding, ... kept
  conv_args[1] = ref(scaled);
  if constexpr (HasBias) conv_args[2] = ref(emit("aten.zeros_like.default", "zero_bias", {ref(m[conv_bias])}));
  const int new_conv = emit(p.at(m[conv]).opcode.c_str(), "conv", conv_args);
  const int out_scale = emit("aten.reshape.default", "out_scale", {ref(scale), mini::shape({1, -1, 1, 1})});
  int y = emit("aten.div.Tensor", "rescaled", {ref(new_conv), ref(out_scale)});
  if constexpr (HasBias) {
    const int b = emit("aten.reshape.default", "bias_shape", {ref(m[conv_bias]), mini::shape({1, -1, 1, 1})});
    y = emit("aten.add.Tensor", "add_bias", {ref(y), ref(b)});
  }
  std::vector<mini::Operand> bn_args = {ref(y), ref(m[bn_weight]), ref(m[bn_bias]), ref(m[bn_running_mean]),
                                        ref(m[bn_running_var])};
  bn_args.insert(bn_args.end(), bn_literals.begin(), bn_literals.end());
  const int new_bn = emit(p.at(root).opcode.c_str(), "qat", bn_args);
  p.replace_uses(root, new_bn);
  erase_matched(p, m);
}

// Step 2, the compiler's convert rewrite for one match: conv(x, dq(q(W_f)), b_f). The folded
// constants W_f = W * scale and b_f = beta + (b - mean) * scale are computed by the compiler's
// constant folder from the constants the match names; here they are new named constants.
template <ConvBias Bias, typename M>
void convert_rewrite(mini::Program& p, const M& m) {
  using mini::ref;
  const int root = m[bn];
  const std::string weight = p.at(m[conv_weight]).name;
  const int w_f = p.emit("const", weight + "_folded", {}, root);
  const int b_f = p.emit("const", weight + "_folded_bias", {}, root);
  std::vector<mini::Operand> q_args = p.at(m[weight_q]).operands;   // scale, zero point, range, dtype kept
  std::vector<mini::Operand> dq_args = p.at(m[weight_dq]).operands;
  q_args[0] = ref(w_f);
  dq_args[0] = ref(p.emit(p.at(m[weight_q]).opcode, weight + "_q", q_args, root));
  std::vector<mini::Operand> conv_args = p.at(m[conv]).operands;
  conv_args[1] = ref(p.emit(p.at(m[weight_dq]).opcode, weight + "_dq", dq_args, root));
  conv_args.resize(std::max<std::size_t>(conv_args.size(), 3), mini::num(0));
  conv_args[2] = ref(b_f);
  const int folded = p.emit(p.at(m[conv]).opcode, p.at(m[conv]).name + "_folded", conv_args, root);
  p.replace_uses(root, folded);
  erase_matched(p, m);
  p.erase_dead_constants();
}

// Inserts quantize -> dequantize (per tensor, int8, scale 0.01) on a value, as a quantizer would.
void insert_weight_qdq(mini::Program& p, int conv_instr) {
  using mini::num;
  const int scaled = p.at(conv_instr).operands[1].id;
  const std::string name = p.at(scaled).name;
  const int q = p.emit("quantized_decomposed.quantize_per_tensor.default", name + "_q",
                       {mini::ref(scaled), num(0.01), num(0), num(-128), num(127)}, conv_instr);
  const int dq = p.emit("quantized_decomposed.dequantize_per_tensor.default", name + "_dq",
                        {mini::ref(q), num(0.01), num(0), num(-128), num(127)}, conv_instr);
  p.at(conv_instr).operands[1] = mini::ref(dq);
  auto& us = p.at(scaled).users;
  us.erase(std::remove(us.begin(), us.end(), conv_instr), us.end());
  p.at(dq).users.push_back(conv_instr);
}

}  // namespace

int main() {
  using mini::num;
  using mini::ref;
  using mini::shape;
  // ---- The program: three conv -> batch_norm blocks. -----------------------------------------
  // block1: conv with bias, BN eps 1e-3, then relu and a multiplication by 1 (left by some
  // earlier lowering); block2: conv without bias; block3: its conv is also read by a skip add.
  mini::Program p;
  const int x = p.emit("input", "x", {});
  auto conv_bn = [&](const std::string& name, int in, bool bias, double eps) {
    std::vector<mini::Operand> conv_args = {ref(in), ref(p.emit("const", name + "_w", {}))};
    if (bias) conv_args.push_back(ref(p.emit("const", name + "_b", {})));  // no bias: not written
    const int c = p.emit("aten.conv2d.default", name + "_conv", conv_args);
    std::vector<mini::Operand> bn_args = {ref(c)};
    for (const char* param : {"_gamma", "_beta", "_mean", "_var"}) bn_args.push_back(ref(p.emit("const", name + param, {})));
    for (double lit : {1.0, 0.1, eps}) bn_args.push_back(num(lit));  // training, momentum, eps
    return std::pair<int, int>{c, p.emit("aten.batch_norm.default", name + "_bn", bn_args)};
  };
  const int bn1 = conv_bn("block1", x, /*bias=*/true, 1e-3).second;
  const int relu1 = p.emit("aten.relu.default", "block1_relu", {ref(bn1)});
  const int times_one = p.emit("aten.mul.Tensor", "block1_times_one", {ref(relu1), num(1)});
  const int bn2 = conv_bn("block2", times_one, /*bias=*/false, 1e-5).second;
  auto [c3, bn3] = conv_bn("block3", bn2, /*bias=*/false, 1e-5);
  const int skip = p.emit("aten.add.Tensor", "skip", {ref(bn3), ref(c3)});
  p.emit("output", "output", {ref(skip)});
  std::cout << "the program:\n" << p.text() << "\n";

  // ---- 1. QAT prepare, with graft's own patterns. -------------------------------------------
  const auto with_bias = QatConvBn<AnyConv, /*HasBias=*/true>::pattern();
  const auto without_bias = QatConvBn<AnyConv, /*HasBias=*/false>::pattern();
  std::cout << "prepare pattern (no conv bias): " << describe(without_bias) << "\n";
  const auto prep_bias = find_matches(p, with_bias);
  const auto prep_plain = find_matches(p, without_bias);
  check(prep_bias.size() == 1 && prep_bias[0].root == bn1, "one conv+bias -> bn pair: block1");
  check(prep_plain.size() == 1 && prep_plain[0].root == bn2, "one conv -> bn pair without bias: block2");
  if (!prep_bias.empty()) check(p.at(prep_bias[0][conv_bias]).name == "block1_b", "the match names block1's bias");
  // block3 is not matched: its conv has a user outside the pattern (torch.fx's rule). Why:
  std::ostringstream why;
  MatchOptions explain;
  explain.explain = &why;
  const bool block3 = match_at(p, without_bias, bn3, explain).has_value();
  std::cout << "block3 matched: " << (block3 ? "yes" : "no") << "\n" << why.str();
  check(!block3 && why.str().find("user outside the match") != std::string::npos,
        "block3 is refused, and explain says its conv is read outside the match");
  for (const auto& m : prep_bias) prepare_rewrite<true>(p, m);
  for (const auto& m : prep_plain) prepare_rewrite<false>(p, m);
  std::cout << "\nafter prepare:\n" << p.text() << "\n";
  check(p.count("batch_norm") == 3 && p.count("sqrt") == 2 && p.count("zeros_like") == 1,
        "two pairs prepared (one with a zero bias), block3 untouched");
  check(p.text().find("block1_bn_var_eps = aten.add.Tensor(%block1_var, 0.001)") != std::string::npos,
        "block1's own eps (1e-3) in sqrt(var + eps)");

  // ---- 2. Weight q/dq, then QAT convert with graft's fold patterns. ----------------------------
  for (int id : std::vector<int>(p.order))
    if (p.at(id).opcode == "aten.conv2d.default" && p.at(p.at(id).operands[1].id).opcode == "aten.mul.Tensor")
      insert_weight_qdq(p, id);
  const auto fold_bias = find_matches(p, QuantizedQatConvBn<AnyConv, PerTensorWeight, ConvBias::floating>::pattern());
  const auto fold_plain = find_matches(p, QuantizedQatConvBn<AnyConv, PerTensorWeight, ConvBias::none>::pattern());
  check(fold_bias.size() == 1 && fold_plain.size() == 1, "convert finds both prepared pairs");
  for (const auto& m : fold_bias) convert_rewrite<ConvBias::floating>(p, m);
  for (const auto& m : fold_plain) convert_rewrite<ConvBias::none>(p, m);

  // ---- 3. A user-written pattern: mul(x, 1) -> x. ----------------------------------------------
  GRAFT_CAPTURE(value);
  const auto mul_by_one = op("aten.mul.Tensor", "aten.mul.Scalar")(value, 1);
  const auto ones = find_matches(p, mul_by_one);
  check(ones.size() == 1 && !ones.empty() && ones[0].root == times_one && ones[0][value] == relu1,
        "mul(x, 1) found once, on block1's relu");
  for (const auto& m : ones) {
    p.replace_uses(m.root, m[value]);
    p.erase(m.root);
  }

  std::cout << "after convert and mul(x, 1) -> x:\n" << p.text();
  check(p.count("batch_norm") == 1 && p.count("sqrt") == 0 && p.count("div") == 0 && p.count("aten.mul") == 0,
        "only block3's batch norm is left; the fold arithmetic and the mul are gone");
  const auto folded_consts = std::count_if(p.order.begin(), p.order.end(), [&](int id) {
    return p.at(id).opcode == "const" && p.at(id).name.find("_folded") != std::string::npos;
  });
  check(p.count(".quantize_per_tensor") == 2 && p.count(".dequantize_per_tensor") == 2 && folded_consts == 4,
        "two folded convs, each reading dq(q(folded weight)) and a folded bias");
  // block2's folded conv reads block1's relu directly now.
  bool relu_feeds_conv = false;
  for (int u : p.at(relu1).users) relu_feeds_conv = relu_feeds_conv || p.at(u).opcode == "aten.conv2d.default";
  check(relu_feeds_conv, "block2's conv reads block1's relu directly");

  if (failures) return 1;
  std::cout << "custom_ir: all checks passed\n";
  return 0;
}

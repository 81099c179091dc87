// custom_ir: graft's patterns on a compiler's own IR, without converting it to graft::Graph.
//
// `MiniIr` stands for the IR of a small embedded compiler: an array of instructions, each with
// an opcode string and operands that are instruction indices or integer/float immediates.
// Modelling graft's graph concept takes the `graph_model` specialisation below; then the same
// conv -> batch_norm pattern that runs on exported PyTorch graphs finds its matches here.
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "graft/pattern.hpp"

namespace mini {

struct Operand {
  bool is_ref;      // an instruction index, or an immediate
  int ref;
  double imm;
};

struct Instr {
  std::string opcode;  // "input", "const", or an op name such as "aten.conv2d.default"
  std::vector<Operand> operands;
  std::vector<int> users;
};

struct MiniIr {
  std::vector<Instr> code;  // in program (topological) order
  int add(std::string opcode, std::vector<Operand> operands) {
    int id = static_cast<int>(code.size());
    for (const Operand& o : operands)
      if (o.is_ref) code[static_cast<std::size_t>(o.ref)].users.push_back(id);
    code.push_back(Instr{std::move(opcode), std::move(operands), {}});
    return id;
  }
};

Operand ref(int i) { return Operand{true, i, 0}; }
Operand imm(double v) { return Operand{false, 0, v}; }

// An integer range, so that nodes(g) can be a range-for over instruction indices.
struct Indices {
  struct It {
    int i;
    int operator*() const { return i; }
    It& operator++() { ++i; return *this; }
    bool operator!=(const It& o) const { return i != o.i; }
  };
  int n;
  It begin() const { return {0}; }
  It end() const { return {n}; }
};

}  // namespace mini

// The whole adapter: graft's concept in terms of MiniIr.
template <>
struct graft::graph_model<mini::MiniIr> {
  using node = int;
  static mini::Indices nodes(const mini::MiniIr& g) { return {static_cast<int>(g.code.size())}; }
  static NodeKind kind(const mini::MiniIr& g, int n) {
    const std::string& op = g.code[static_cast<std::size_t>(n)].opcode;
    return op == "input" ? NodeKind::placeholder : op == "const" ? NodeKind::get_attr : NodeKind::call_function;
  }
  static std::string_view target(const mini::MiniIr& g, int n) { return g.code[static_cast<std::size_t>(n)].opcode; }
  static std::size_t num_operands(const mini::MiniIr& g, int n) { return g.code[static_cast<std::size_t>(n)].operands.size(); }
  static Operand<int> operand(const mini::MiniIr& g, int n, std::size_t i) {
    const auto& ops = g.code[static_cast<std::size_t>(n)].operands;
    if (i >= ops.size()) return Operand<int>{};
    if (ops[i].is_ref) return Operand<int>::of_node(ops[i].ref);
    return Operand<int>::of_value(Argument(ops[i].imm));
  }
  static std::size_t num_users(const mini::MiniIr& g, int n) { return g.code[static_cast<std::size_t>(n)].users.size(); }
  static const std::vector<int>& users(const mini::MiniIr& g, int n) { return g.code[static_cast<std::size_t>(n)].users; }
};

namespace {
using namespace graft::pattern;
GRAFT_CAPTURE(x);
GRAFT_CAPTURE(w);
GRAFT_CAPTURE(conv);
GRAFT_LITERAL_CAPTURE(eps);
constexpr auto conv_any = op("aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default");
constexpr auto batch_norm = op("aten.batch_norm.default");
}  // namespace

int main() {
  mini::MiniIr ir;
  int in = ir.add("input", {});
  int w1 = ir.add("const", {});
  int c1 = ir.add("aten.conv2d.default", {mini::ref(in), mini::ref(w1)});
  int bn1 = ir.add("aten.batch_norm.default", {mini::ref(c1), mini::imm(1e-3)});
  int w2 = ir.add("const", {});
  int c2 = ir.add("aten.conv2d.default", {mini::ref(bn1), mini::ref(w2)});
  int bn2 = ir.add("aten.batch_norm.default", {mini::ref(c2), mini::imm(1e-5)});
  ir.add("aten.add.Tensor", {mini::ref(bn2), mini::ref(c2)});  // a skip connection reads c2

  // conv -> batch_norm, the weight a constant, eps captured.
  auto conv_bn = batch_norm(conv_any(x, attr().bind(w)).bind(conv), eps);
  std::cout << "pattern: " << describe(conv_bn) << "\n";
  auto matches = find_matches(ir, conv_bn);
  for (const auto& m : matches)
    std::cout << "match at instruction " << m.root << ": conv " << m[conv] << ", input " << m[x]
              << ", weight " << m[w] << ", eps " << m[eps].as_double() << "\n";
  // The second pair is not matched: its conv has a user outside the pattern (torch.fx's rule).
  std::ostringstream why;
  MatchOptions explain;
  explain.explain = &why;
  bool second = match_at(ir, conv_bn, bn2, explain).has_value();
  std::cout << "second pair matched: " << (second ? "yes" : "no") << "\n" << why.str();
  return matches.size() == 1 && matches[0].root == bn1 && !second ? 0 : 1;
}

// write_a_pattern: two new rewrites in graft's pattern DSL, from pattern to applied rule.
//
//   1. mul(x, 1) -> x                      a multiplication by one is folded away
//   2. relu(conv2d(x, w, b, ...)) -> mycc.conv2d_act(x, w, b, ..., activation="relu")
//                                          conv -> relu fused into one conv that carries its
//                                          activation (an op of "mycc", a compiler, registered
//                                          with its schema so the graph can check its arguments)
//
// It also shows describe() (a pattern printed) and the explain mode (why a match failed). The
// program checks the rewritten graph and returns 1 if anything differs from what is expected.
// Reference: docs/patterns.md.
#include <iostream>
#include <sstream>
#include <string>

#include "graft/graph.hpp"
#include "graft/pattern.hpp"

using namespace graft;
using namespace graft::pattern;

namespace {

// Captures: names a pattern binds, read back from a match with m[name]. Node captures match a
// node; literal captures a literal (an int, a list, a string, ...).
GRAFT_CAPTURE(x);
GRAFT_CAPTURE(w);
GRAFT_CAPTURE(b);
GRAFT_CAPTURE(conv);
GRAFT_CAPTURE(act);
GRAFT_LITERAL_CAPTURE(stride);
GRAFT_LITERAL_CAPTURE(padding);
GRAFT_LITERAL_CAPTURE(dilation);
GRAFT_LITERAL_CAPTURE(groups);

// Ops, by target. A pattern op may name several targets (either matches).
constexpr auto mul = op("aten.mul.Tensor", "aten.mul.Scalar");
constexpr auto conv2d = op("aten.conv2d.default");
constexpr auto relu = op("aten.relu.default");
constexpr auto conv2d_act = op("mycc.conv2d_act.default");

int failures = 0;
void check(bool ok, const std::string& what) {
  if (!ok) {
    std::cerr << "write_a_pattern: CHECK FAILED: " << what << "\n";
    ++failures;
  }
}

std::size_t count(const Graph& g, std::string_view target) {
  std::size_t n = 0;
  for (const Node* node : g.nodes()) n += node->target() == target;
  return n;
}

}  // namespace

int main() {
  // ---- The graph: three conv -> relu blocks, two multiplications. -----------------------------
  Graph g;
  // The fused op's schema, in PyTorch's schema language: arguments, types and defaults.
  g.register_op(
      "mycc.conv2d_act.default(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, "
      "SymInt[2] padding=0, SymInt[2] dilation=1, SymInt groups=1, str activation=\"none\") -> Tensor");
  Node* in = g.placeholder("x");
  Node* c1 = g.call_function("aten.conv2d.default",
                             {in, g.get_attr("c1.weight"), g.get_attr("c1.bias"), ints({2, 2}), ints({1, 1})});
  Node* r1 = g.call_function("aten.relu.default", {c1});
  Node* times_one = g.call_function("aten.mul.Tensor", {r1, 1});                  // folded away
  Node* c2 = g.call_function("aten.conv2d.default", {times_one, g.get_attr("c2.weight")});  // no bias
  Node* r2 = g.call_function("aten.relu.default", {c2});
  Node* times_two = g.call_function("aten.mul.Tensor", {r2, 2});                  // kept: not 1
  Node* c3 = g.call_function("aten.conv2d.default", {times_two, g.get_attr("c3.weight")});
  Node* r3 = g.call_function("aten.relu.default", {c3});
  Node* skip = g.call_function("aten.add.Tensor", {r3, c3});  // c3 has a second reader
  g.output(skip);
  g.lint();
  std::cout << "before:\n" << g << "\n";

  // ---- Rule 1: mul(x, 1) -> x. ----------------------------------------------------------------
  // The pattern reads like the expression; the literal 1 matches 1 or 1.0 (Python equality).
  // The replacement is the capture itself: users of the mul now read x, and the mul is erased.
  const auto times_one_pattern = mul(x, 1);
  const auto mul_by_one = rewrite(times_one_pattern, x).named("mul_by_one");

  // ---- Rule 2: conv2d -> relu into one annotated conv. ----------------------------------------
  // Operands are read through the op's schema: stride, padding, dilation and groups are captured
  // whether they were written positionally, as keywords, or left to their defaults. The bias is
  // optional() (a node, or None): a capture inside optional() is read with m.find(b).
  const auto conv_relu_pattern =
      relu(conv2d(x, w, optional(b), stride, padding, dilation, groups).bind(conv)).bind(act);
  const auto bias_or_none = computed([](const auto& m) {
    std::optional<Node*> bias = m.find(b);
    return bias ? Argument(*bias) : Argument();
  });
  // `.as(act)`: the new node replaces the relu (its users move over, its metadata is copied).
  const auto fused = conv2d_act(x, w, bias_or_none, stride, padding, dilation, groups, "relu").as(act);
  const auto conv_relu = rewrite(conv_relu_pattern, fused).named("conv_relu");

  // describe() prints a pattern as it was written.
  const std::string d1 = describe(times_one_pattern);
  const std::string d2 = describe(conv_relu_pattern);
  std::cout << "rule mul_by_one: " << d1 << "\nrule conv_relu:  " << d2 << "\n\n";
  check(d1 == "aten.mul.Tensor|aten.mul.Scalar(x, 1)", "describe(mul(x, 1)) is " + d1);
  check(d2 ==
            "act=aten.relu.default(conv=aten.conv2d.default(x, w, optional(b), stride, padding, dilation, groups))",
        "describe(conv_relu) is " + d2);

  // ---- Explain mode: why did a match fail? ----------------------------------------------------
  // match_at tries a pattern at one node; with MatchOptions::explain set, a failure writes one
  // line per failing sub-pattern, innermost first. (Nothing is formatted when it is not set.)
  std::ostringstream why_mul, why_conv;
  MatchOptions explain_mul;
  explain_mul.explain = &why_mul;
  const bool mul_two_matches = match_at(g, times_one_pattern, times_two, explain_mul).has_value();
  MatchOptions explain_conv;
  explain_conv.explain = &why_conv;
  const bool c3_matches = match_at(g, conv_relu_pattern, r3, explain_conv).has_value();
  std::cout << "mul_by_one at " << times_two->name() << ": " << (mul_two_matches ? "matches" : "no match") << "\n"
            << why_mul.str() << "conv_relu at " << r3->name() << ": " << (c3_matches ? "matches" : "no match")
            << "\n"
            << why_conv.str() << "\n";
  check(!mul_two_matches && why_mul.str().find("a different literal") != std::string::npos,
        "mul(x, 2) is not mul(x, 1), and explain says the literal differs");
  check(!c3_matches && why_conv.str().find("has a user outside the match") != std::string::npos,
        "a conv read by the skip connection is not fused, and explain says why");

  // The rules match where they should before anything changes.
  check(find_matches(g, times_one_pattern).size() == 1, "one mul(x, 1)");
  check(find_matches(g, conv_relu_pattern).size() == 2, "two fusable conv -> relu pairs");

  // ---- Apply both rules. ----------------------------------------------------------------------
  // A RuleSet indexes rules by root op and walks the graph once per pass; apply_greedily repeats
  // passes until nothing changes (or the cap is reached) and reports what it replaced.
  RuleSet rules(mul_by_one, conv_relu);
  RewriteReport report = rules.apply_greedily(g, /*max_iterations=*/4);
  g.lint();  // every graph invariant still holds
  std::cout << "after (" << report.replaced.size() << " rewrites in " << report.iterations << " passes, "
            << report.nodes_before << " -> " << report.nodes_after << " nodes):\n"
            << g;
  for (const ReplacedPattern& r : report.replaced)
    std::cout << "  " << r.rule << " at " << r.anchor->name() << " (" << r.replacements.size() << " new nodes)\n";

  check(report.converged, "the rule set converged");
  check(report.count("mul_by_one") == 1, "one mul(x, 1) folded");
  check(report.count("conv_relu") == 2, "two conv -> relu pairs fused");
  check(count(g, "aten.mul.Tensor") == 1 && count(g, "aten.relu.default") == 1 &&
            count(g, "aten.conv2d.default") == 1 && count(g, "mycc.conv2d_act.default") == 2,
        "what is left: one mul, one conv2d, one relu, two fused convs");
  check(report.nodes_before - report.nodes_after == 3, "three nodes fewer");
  // The fused convs keep their arguments: the first its bias, stride [2, 2] and padding [1, 1];
  // the second no bias and the defaults.
  const Node* f1 = nullptr;
  const Node* f2 = nullptr;
  for (const Node* n : g.nodes())
    if (n->target() == "mycc.conv2d_act.default") (f1 ? f2 : f1) = n;
  check(f1 && f2, "two fused nodes");
  if (f1 && f2) {
    check(f1->arg("input").as_node() == in && f1->arg("bias").is_node() &&
              f1->arg("stride").as_int_list() == std::vector<std::int64_t>{2, 2} &&
              f1->arg("padding").as_int_list() == std::vector<std::int64_t>{1, 1} &&
              f1->arg("activation").as_string() == "relu",
          "the first fused conv keeps input, bias, stride and padding, and says relu");
    // mul(x, 1) is gone: the second conv reads the first fused node directly.
    check(f2->arg("input").as_node() == f1 && f2->arg("bias").is_none() && f2->arg("groups").as_int() == 1,
          "the second fused conv reads the first, has no bias, groups 1");
  }
  // The unfused block is intact: conv3 still feeds both the relu and the skip add.
  check(c3->num_users() == 2 && skip->arg(0).as_node() == r3 && count(g, "aten.add.Tensor") == 1,
        "the conv with a skip connection is left alone");

  if (failures) return 1;
  std::cout << "\nwrite_a_pattern: all checks passed\n";
  return 0;
}

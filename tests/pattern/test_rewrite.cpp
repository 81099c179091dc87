// The rewriter and the rule-set driver: replacements built in the DSL, reports as torch.fx's
// ReplacedPatterns, metadata copied, matched nodes erased, cycles refused, failures undone.
#include <doctest/doctest.h>

#include <sstream>
#include <stdexcept>

#include "graft/graph.hpp"
#include "graft/pattern.hpp"

using namespace graft;
using namespace graft::pattern;

namespace {
GRAFT_CAPTURE(x);
GRAFT_CAPTURE(w);
GRAFT_CAPTURE(b);
GRAFT_CAPTURE(conv);
GRAFT_CAPTURE(bn);
GRAFT_CAPTURE(r);
GRAFT_LITERAL_CAPTURE(eps);

constexpr auto mul_scalar = op("aten.mul.Scalar");
constexpr auto relu = op("aten.relu.default");
constexpr auto sigmoid = op("aten.sigmoid.default");
constexpr auto conv2d = op("aten.conv2d.default");
constexpr auto batch_norm = op("aten.batch_norm.default");

// x -> conv2d(x, w, b) -> batch_norm(eps=1e-3) -> relu -> output
struct ConvBn {
  Graph g;
  Node *in, *wt, *bias, *c, *norm, *act;
  ConvBn() {
    in = g.placeholder("x");
    wt = g.get_attr("conv.weight");
    bias = g.get_attr("conv.bias");
    c = g.call_function("aten.conv2d.default", {in, wt, bias});
    norm = g.call_function("aten.batch_norm.default", {c, nullptr, nullptr, nullptr, nullptr, true, 0.1, 1e-3, false});
    act = g.call_function("aten.relu.default", {norm});
    g.output(act);
    c->meta().stack_trace = "conv trace";
    norm->meta().stack_trace = "bn trace";
  }
};

const auto conv_bn = batch_norm(conv2d(x, w, b).bind(conv), anything(), anything(), anything(),
                                 anything(), any_literal(), any_literal(), eps)
                         .bind(bn);
}  // namespace

TEST_CASE("a rule replaces the matched subgraph and erases what is left unused") {
  Graph g;
  Node* in = g.placeholder("x");
  Node* m1 = g.call_function("aten.mul.Scalar", {in, 1});
  Node* rl = g.call_function("aten.relu.default", {m1});
  g.output(rl);
  RuleSet rules(rewrite(relu(mul_scalar(x, 1)), relu(x)).named("drop_mul_one"));
  RewriteReport rep = rules.apply(g);
  g.lint();
  CHECK(rep.count("drop_mul_one") == 1);
  CHECK(rep.nodes_before == 4);
  CHECK(rep.nodes_after == 3);
  CHECK(to_string(g) ==
        "graph():\n"
        "    %x : [num_users=1] = placeholder[target=x]\n"
        "    %relu_1 : [num_users=1] = call_function[target=torch.ops.aten.relu.default](args = (%x,), kwargs = {})\n"
        "    return relu_1\n");
  CHECK(m1->erased());
  CHECK(rl->erased());
}

TEST_CASE("a replacement can be a capture: the root's users read it directly") {
  Graph g;
  Node* in = g.placeholder("x");
  Node* m1 = g.call_function("aten.mul.Scalar", {in, 1});
  g.output(m1);
  RuleSet rules(rewrite(mul_scalar(x, 1), x));
  CHECK(rules.apply(g).replaced.size() == 1);
  CHECK(g.output_node()->args()[0].as_node() == in);
  CHECK(g.size() == 2);
}

TEST_CASE("the report pairs captures with their replacements, as ReplacedPatterns") {
  ConvBn t;
  auto replacement =
      same_op(bn)(conv2d(x, w, none()).as(conv), nullptr, nullptr, nullptr, nullptr, false, 0.1, eps).as(bn);
  RuleSet rules(rewrite(conv_bn, replacement).named("conv_bn_eval"));
  RewriteReport rep = rules.apply(t.g);
  t.g.lint();
  REQUIRE(rep.replaced.size() == 1);
  const ReplacedPattern& rp = rep.replaced[0];
  CHECK(rp.rule == "conv_bn_eval");
  CHECK(rp.anchor == t.norm);
  REQUIRE(rp.nodes_map.size() == 2);
  CHECK(rp.nodes_map[0].capture == "conv");
  CHECK(rp.nodes_map[0].original == t.c);
  CHECK(rp.nodes_map[1].capture == "bn");
  CHECK(rp.nodes_map[1].original == t.norm);
  REQUIRE(rp.replacements.size() == 2);
  Node* new_conv = rp.nodes_map[0].replacement;
  Node* new_bn = rp.nodes_map[1].replacement;
  CHECK(rp.replacements == std::vector<Node*>{new_conv, new_bn});
  CHECK(new_bn->arg("eps").as_double() == 1e-3);  // read from the match
  CHECK(new_bn->arg("training").as_bool() == false);
  CHECK(new_conv->arg("bias").is_none());
  CHECK(t.act->args()[0].as_node() == new_bn);
  CHECK(t.c->erased());
  CHECK(t.norm->erased());
  CHECK(t.bias->num_users() == 0);  // the old bias get_attr is left for dead-code elimination
}

TEST_CASE("metadata is copied from each named original to its replacement") {
  ConvBn t;
  RuleSet rules(rewrite(conv_bn, same_op(bn)(conv2d(x, w, b).as(conv), nullptr, nullptr, nullptr,
                                             nullptr, true, 0.1, eps)
                                     .as(bn)));
  RewriteReport rep = rules.apply(t.g);
  REQUIRE(rep.replaced.size() == 1);
  CHECK(*rep.replaced[0].nodes_map[0].replacement->meta().stack_trace == "conv trace");
  CHECK(*rep.replaced[0].nodes_map[1].replacement->meta().stack_trace == "bn trace");
  ConvBn u;
  RuleSet no_meta(rewrite(conv_bn, conv2d(x, w, b).as(conv)).without_meta_copy());
  RewriteReport rep2 = no_meta.apply(u.g);
  REQUIRE(rep2.replaced.size() == 1);
  CHECK_FALSE(rep2.replaced[0].nodes_map[0].replacement->has_meta());
}

TEST_CASE("computed values and lists are built from the match") {
  ConvBn t;
  auto shape = computed([](const auto& m) { return ints({-1, m[eps].as_double() > 1e-4 ? 1 : 2}); });
  RuleSet rules(rewrite(conv_bn, op("aten.reshape.default")(conv2d(x, w, b), shape)));
  rules.apply(t.g);
  t.g.lint();
  Node* reshape = t.act->args()[0].as_node();
  CHECK(reshape->target() == "aten.reshape.default");
  CHECK(reshape->arg("shape") == ints({-1, 1}));
  Graph g;
  Node* in = g.placeholder("x");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  g.output(s);
  RuleSet cat(rewrite(sigmoid(x), op("aten.cat.default")(list_of(x, x), 0)));
  cat.apply(g);
  Node* c = g.output_node()->args()[0].as_node();
  CHECK(c->args()[0] == list({in, in}));
}

TEST_CASE("a replacement that would create a cycle is refused and changes nothing") {
  Graph g;
  Node* in = g.placeholder("x");
  Node* rl = g.call_function("aten.relu.default", {in});
  g.output(rl);
  std::string before = to_string(g);
  // The replacement reads the root itself, which comes after the insertion point.
  RuleSet rules(rewrite(relu(x).bind(r), sigmoid(r)));
  RewriteReport rep = rules.apply(g);
  CHECK(rep.replaced.empty());
  CHECK(rep.refused == 1);
  CHECK(to_string(g) == before);
  g.lint();
}

TEST_CASE("a replacement that fails while being built leaves the graph unchanged") {
  ConvBn t;
  std::string before = to_string(t.g);
  auto bad = computed([](const auto&) -> Argument { throw std::runtime_error("no shape for this conv"); });
  RuleSet rules(rewrite(conv_bn, op("aten.reshape.default")(conv2d(x, w, b), bad)));
  CHECK_THROWS_WITH(rules.apply(t.g), "no shape for this conv");
  CHECK(to_string(t.g) == before);
  t.g.lint();
}

TEST_CASE("a rule filter sees the finished match") {
  ConvBn t;
  auto rule = rewrite(conv_bn, conv2d(x, w, b)).where([](const Graph&, const auto& m) {
    return m[eps].as_double() == 1e-5;  // this graph's BN has eps 1e-3
  });
  RuleSet rules(rule);
  CHECK(rules.apply(t.g).replaced.empty());
  CHECK(t.g.contains(t.norm));
}

TEST_CASE("rules with the same root are tried by benefit, then in declaration order") {
  Graph g;
  Node* in = g.placeholder("x");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  Node* rl = g.call_function("aten.relu.default", {s});
  g.output(rl);
  auto generic = rewrite(relu(x), sigmoid(x)).named("generic");
  auto specific = rewrite(relu(sigmoid(x)), op("aten.hardsigmoid.default")(x)).named("specific").with_benefit(5);
  RuleSet rules(generic, specific);
  RewriteReport rep = rules.apply(g);
  CHECK(rep.count("specific") == 1);
  CHECK(rep.count("generic") == 0);
  CHECK(g.output_node()->args()[0].as_node()->target() == "aten.hardsigmoid.default");
}

TEST_CASE("one pass rewrites every match in graph order") {
  Graph g;
  Node* cur = g.placeholder("x");
  for (int i = 0; i < 5; ++i) cur = g.call_function("aten.mul.Scalar", {g.call_function("aten.relu.default", {cur}), 1});
  g.output(cur);
  RuleSet rules(rewrite(mul_scalar(x, 1), x));
  RewriteReport rep = rules.apply(g);
  CHECK(rep.replaced.size() == 5);
  CHECK(g.size() == 7);
  for (std::size_t i = 1; i < rep.replaced.size(); ++i) CHECK(rep.replaced[i - 1].anchor->is_before(*rep.replaced[i].anchor));
  g.lint();
}

TEST_CASE("apply_each hands every rewrite over as it is made and keeps none in the report") {
  Graph g;
  Node* cur = g.placeholder("x");
  std::vector<Node*> relus;
  for (int i = 0; i < 5; ++i) {
    relus.push_back(g.call_function("aten.relu.default", {cur}));
    cur = g.call_function("aten.mul.Scalar", {relus.back(), 1});
  }
  g.output(cur);
  RuleSet rules(rewrite(relu(mul_scalar(x, 1)).bind(r), relu(x).as(r)).named("drop_mul_one"));
  std::vector<Node*> anchors, replacements;
  std::vector<std::size_t> graph_sizes;
  RewriteReport rep = rules.apply_each(g, [&](const ReplacedPattern& rp) {
    CHECK(rp.rule == "drop_mul_one");
    REQUIRE(rp.nodes_map.size() == 1);
    CHECK(rp.nodes_map[0].capture == "r");
    CHECK(rp.nodes_map[0].original == rp.anchor);
    CHECK(rp.replacements == std::vector<Node*>{rp.nodes_map[0].replacement});
    anchors.push_back(rp.anchor);
    replacements.push_back(rp.replacements[0]);
    graph_sizes.push_back(g.size());  // called right after each rewrite, not at the end
  });
  g.lint();
  CHECK(rep.replaced.empty());
  CHECK(rep.rewrites == 4);  // the first relu reads x directly: no mul to drop
  CHECK(graph_sizes == std::vector<std::size_t>{11, 10, 9, 8});
  REQUIRE(anchors.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(anchors[i]->erased());
    CHECK(replacements[i]->is_op("aten.relu.default"));
    CHECK(g.contains(replacements[i]));
    CHECK(replacements[i]->args()[0].as_node() == (i == 0 ? relus[0] : replacements[i - 1]));
  }
  // The report's other fields are kept as apply() keeps them.
  CHECK(rep.nodes_before == 12);
  CHECK(rep.nodes_after == 8);
  RuleSet same(rewrite(relu(mul_scalar(x, 1)).bind(r), relu(x).as(r)).named("drop_mul_one"));
  CHECK(same.apply(g).rewrites == 0);
}

TEST_CASE("an exception thrown by apply_each's callback ends the pass, and a transaction undoes it") {
  Graph g;
  Node* cur = g.placeholder("x");
  for (int i = 0; i < 3; ++i) cur = g.call_function("aten.mul.Scalar", {cur, 1});
  g.output(cur);
  const std::string before = to_string(g);
  RuleSet rules(rewrite(mul_scalar(x, 1), x));
  int calls = 0;
  {
    auto tx = g.transaction();
    CHECK_THROWS_WITH_AS(rules.apply_each(g, [&](const ReplacedPattern&) {
                           if (++calls == 2) throw std::runtime_error("stop at the second");
                         }),
                         "stop at the second", std::runtime_error);
  }
  CHECK(calls == 2);
  CHECK(to_string(g) == before);
  g.lint();
}

TEST_CASE("the greedy driver re-runs to a fixpoint and says it converged") {
  // relu(sigmoid(x)) -> sigmoid(relu(x)) moves a relu one step towards the input; the new relu
  // lands behind the walk, so each further step needs another pass.
  Graph g;
  Node* cur = g.placeholder("x");
  for (int i = 0; i < 2; ++i) cur = g.call_function("aten.sigmoid.default", {cur});
  g.output(g.call_function("aten.relu.default", {cur}));
  RuleSet rules(rewrite(relu(sigmoid(x)), sigmoid(relu(x))));
  RewriteReport rep = rules.apply_greedily(g, 10);
  CHECK(rep.converged);
  CHECK(rep.iterations == 3);  // two moves, then a quiet pass
  CHECK(rep.replaced.size() == 2);
  CHECK(g.first()->next()->target() == "aten.relu.default");
  CHECK(g.size() == 5);
  g.lint();
}

TEST_CASE("the greedy driver stops at its iteration cap and says it did not converge") {
  Graph g;
  Node* cur = g.placeholder("x");
  for (int i = 0; i < 5; ++i) cur = g.call_function("aten.sigmoid.default", {cur});
  g.output(g.call_function("aten.relu.default", {cur}));
  RuleSet rules(rewrite(relu(sigmoid(x)), sigmoid(relu(x))));
  RewriteReport rep = rules.apply_greedily(g, 2);
  CHECK_FALSE(rep.converged);
  CHECK(rep.iterations == 2);
  CHECK(rep.replaced.size() == 2);
  CHECK(g.size() == 8);
  g.lint();
}

TEST_CASE("one pass keeps matching after a rewrite: later roots see the new nodes") {
  Graph g;
  Node* cur = g.placeholder("x");
  for (int i = 0; i < 4; ++i) cur = g.call_function("aten.relu.default", {cur});
  g.output(cur);
  RuleSet rules(rewrite(relu(relu(x)), relu(x)));
  RewriteReport rep = rules.apply(g);
  CHECK(rep.replaced.size() == 3);
  CHECK(g.size() == 3);
  g.lint();
}

TEST_CASE("rules whose root is not an op are tried on every node") {
  Graph g;
  Node* in = g.placeholder("x");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  g.output(s);
  auto any_sigmoid = sigmoid(x).where([](const Graph&, Node*) { return true; });
  RuleSet rules(rewrite(either(any_sigmoid, relu(x)), op("aten.tanh.default")(x)));
  CHECK(rules.apply(g).replaced.size() == 1);
  CHECK(g.output_node()->args()[0].as_node()->target() == "aten.tanh.default");
}

TEST_CASE("let builds a shared value once; like keeps the original's other arguments") {
  Graph g;
  Node* in = g.placeholder("x");
  Node* wt = g.get_attr("w");
  Node* c = g.call_function("aten.conv2d.default", {in, wt, nullptr, ints({2, 2})}, {{"groups", 1}});
  g.output(c);
  GRAFT_CAPTURE(s);
  const auto scaled = let(s, op("aten.sigmoid.default")(w));
  RuleSet rules(rewrite(conv2d(x, w).bind(conv), op("aten.add.Tensor")(like(conv)(x, scaled).as(conv), scaled)));
  rules.apply(g);
  g.lint();
  Node* add = g.output_node()->args()[0].as_node();
  Node* new_conv = add->args()[0].as_node();
  CHECK(add->args()[1].as_node() == new_conv->args()[1].as_node());  // one sigmoid, used twice
  CHECK(new_conv->args().size() == 4);
  CHECK(new_conv->arg("stride") == ints({2, 2}));
  REQUIRE(new_conv->kwarg("groups") != nullptr);
  CHECK(*new_conv->kwarg("groups") == Argument(1));
  std::size_t sigmoids = 0;
  for (Node* n : g.nodes()) sigmoids += n->target() == "aten.sigmoid.default";
  CHECK(sigmoids == 1);
}

TEST_CASE("filters and computed values can read the pass's context") {
  ConvBn t;
  const double wanted_eps = 1e-3;
  MatchOptions opt;
  opt.context = &wanted_eps;
  auto rule = rewrite(conv_bn, op("aten.mul.Scalar")(conv2d(x, w, b), computed([](const auto&, const void* ctx) {
                        return Argument(*static_cast<const double*>(ctx) * 2);
                      })))
                  .where([](const Graph&, const auto& m, const void* ctx) {
                    return m[eps].as_double() == *static_cast<const double*>(ctx);
                  });
  RuleSet rules(rule);
  CHECK(rules.apply(t.g, opt).replaced.size() == 1);
  CHECK(t.act->args()[0].as_node()->args()[1] == Argument(2e-3));
}

// The matcher mirrors torch.fx's SubgraphMatcher: consistent captures, containment, greedy
// overlap resolution in graph order, ignore_literals, kwargs vs positional, explain.
#include <doctest/doctest.h>

#include <sstream>

#include "graft/graph.hpp"
#include "graft/pattern.hpp"

using namespace graft;
using namespace graft::pattern;

namespace {
GRAFT_CAPTURE(x);
GRAFT_CAPTURE(y);
GRAFT_CAPTURE(w);
GRAFT_CAPTURE(b);
GRAFT_CAPTURE(conv);
GRAFT_CAPTURE(r);
GRAFT_LITERAL_CAPTURE(eps);
GRAFT_LITERAL_CAPTURE(k);

constexpr auto add = op("aten.add.Tensor");
constexpr auto mul = op("aten.mul.Tensor");
constexpr auto relu = op("aten.relu.default");
constexpr auto sigmoid = op("aten.sigmoid.default");
constexpr auto conv2d = op("aten.conv2d.default");
constexpr auto conv_any = op("aten.conv1d.default", "aten.conv2d.default", "aten.conv3d.default");
constexpr auto batch_norm = op("aten.batch_norm.default");

std::vector<Node*> roots(const std::vector<Match<Graph, std::decay_t<decltype(relu(sigmoid(x)))>>>& ms) {
  std::vector<Node*> out;
  for (const auto& m : ms) out.push_back(m.root);
  return out;
}
}  // namespace

TEST_CASE("a capture used twice must bind the same node") {
  Graph g;
  Node* a = g.placeholder("a");
  Node* c = g.placeholder("c");
  Node* same = g.call_function("aten.add.Tensor", {a, a});
  Node* diff = g.call_function("aten.add.Tensor", {a, c});
  g.output(list({same, diff}));
  auto p = add(x, x);
  CHECK(match_at(g, p, same).has_value());
  CHECK_FALSE(match_at(g, p, diff).has_value());
  auto q = add(x, y);
  auto m = match_at(g, q, diff);
  REQUIRE(m);
  CHECK((*m)[x] == a);
  CHECK((*m)[y] == c);
}

TEST_CASE("an op pattern checks the target set and the operands") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* wt = g.get_attr("w");
  Node* c1 = g.call_function("aten.conv1d.default", {in, wt});
  Node* c2 = g.call_function("aten.conv2d.default", {c1, wt});
  Node* rl = g.call_function("aten.relu.default", {c2});
  g.output(rl);
  CHECK(match_at(g, conv_any(x, w), c1).has_value());
  CHECK(match_at(g, conv_any(x, w), c2).has_value());
  CHECK_FALSE(match_at(g, conv2d(x, w), c1).has_value());
  CHECK_FALSE(match_at(g, conv_any(x, w), rl).has_value());
  CHECK(match_at(g, conv2d(conv_any(input(), attr()), attr()), c2).has_value());
  CHECK_FALSE(match_at(g, conv2d(input(), attr()), c2).has_value());
}

TEST_CASE("keyword and positional arguments match alike") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* wt = g.get_attr("w");
  Node* pos = g.call_function("aten.conv2d.default", {in, wt, nullptr, ints({2, 2})});
  Node* kw = g.call_function("aten.conv2d.default", {in}, {{"stride", ints({2, 2})}, {"weight", wt}});
  g.output(list({pos, kw}));
  auto p = conv2d(x, w, none(), ints({2, 2}), ints({0, 0}));
  CHECK(match_at(g, p, pos).has_value());
  auto m = match_at(g, p, kw);
  REQUIRE(m);
  CHECK((*m)[w] == wt);
}

TEST_CASE("literals must be equal unless ignore_literals is set") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* bn = g.call_function("aten.batch_norm.default",
                             {in, nullptr, nullptr, nullptr, nullptr, true, 0.1, 1e-3, false});
  g.output(bn);
  auto p = batch_norm(x, anything(), anything(), anything(), anything(), true, 0.1, 1e-5);
  CHECK_FALSE(match_at(g, p, bn).has_value());
  MatchOptions ignore;
  ignore.ignore_literals = true;
  CHECK(match_at(g, p, bn, ignore).has_value());
  CHECK(match_at(g, batch_norm(x, anything(), anything(), anything(), anything(), true, 0.1, 1e-3), bn).has_value());
}

TEST_CASE("integer and float literals compare as Python does") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* a = g.call_function("aten.add.Scalar", {in, 1});
  g.output(a);
  CHECK(match_at(g, op("aten.add.Scalar")(x, 1.0), a).has_value());
  CHECK_FALSE(match_at(g, op("aten.add.Scalar")(x, 2), a).has_value());
}

TEST_CASE("a literal capture binds the value and compares on reuse") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* bn = g.call_function("aten.batch_norm.default",
                             {in, nullptr, nullptr, nullptr, nullptr, true, 0.3, 1e-3, false});
  Node* p2 = g.call_function("aten.add.Scalar", {in, 3}, {{"alpha", 3}});
  Node* p3 = g.call_function("aten.add.Scalar", {in, 3}, {{"alpha", 4}});
  g.output(list({bn, p2, p3}));
  auto m = match_at(g, batch_norm(x, anything(), anything(), anything(), anything(), true, k, eps), bn);
  REQUIRE(m);
  CHECK((*m)[eps] == Argument(1e-3));
  CHECK((*m)[k] == Argument(0.3));
  CHECK(match_at(g, op("aten.add.Scalar")(x, k, k), p2).has_value());
  CHECK_FALSE(match_at(g, op("aten.add.Scalar")(x, k, k), p3).has_value());
}

TEST_CASE("containment: an inner node used outside the match blocks it") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* wt = g.get_attr("w");
  Node* c = g.call_function("aten.conv2d.default", {in, wt});
  Node* bn = g.call_function("aten.batch_norm.default", {c});
  Node* skip = g.call_function("aten.add.Tensor", {bn, c});  // skip connection reads the conv
  g.output(skip);
  auto p = batch_norm(conv2d(x, w));
  CHECK_FALSE(match_at(g, p, bn).has_value());
  MatchOptions off;
  off.containment = false;
  CHECK(match_at(g, p, bn, off).has_value());
}

TEST_CASE("the root may have users outside the match, including the graph output") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  Node* rl = g.call_function("aten.relu.default", {s});
  Node* other = g.call_function("aten.add.Tensor", {rl, rl});
  g.output(list({rl, other}));
  auto m = match_at(g, relu(sigmoid(x)), rl);
  REQUIRE(m);
  CHECK(m->nodes == std::vector<Node*>{rl, s});
}

TEST_CASE("a multi-user node can be matched when all its users are inside") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  Node* a = g.call_function("aten.add.Tensor", {s, s});
  g.output(a);
  auto m = match_at(g, add(sigmoid(x).bind(y), y), a);
  REQUIRE(m);
  CHECK((*m)[y] == s);
  CHECK(m->nodes.size() == 2);
}

TEST_CASE("one_user and all_users_inside check the users of a node") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  Node* rl = g.call_function("aten.relu.default", {s});
  Node* other = g.call_function("aten.mul.Tensor", {s, in});
  g.output(list({rl, other}));
  MatchOptions off;
  off.containment = false;
  CHECK(match_at(g, relu(sigmoid(x)), rl, off).has_value());
  CHECK_FALSE(match_at(g, relu(sigmoid(x).one_user()), rl, off).has_value());
  CHECK_FALSE(match_at(g, relu(sigmoid(x).all_users_inside()), rl, off).has_value());
  CHECK(match_at(g, relu(x.one_user()), rl, off).has_value() == false);
  CHECK(match_at(g, relu(sigmoid(x)).all_users_inside(), rl, off).has_value() == false);  // output reads relu
}

TEST_CASE("a predicate filters the node it is attached to") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* wt = g.get_attr("w");
  Node* grouped = g.call_function("aten.conv2d.default", {in, wt}, {{"groups", 4}});
  Node* plain = g.call_function("aten.conv2d.default", {grouped, wt});
  g.output(plain);
  auto depthwise = conv2d(x, w).where([](const Graph&, Node* n) { return n->arg("groups").as_int() > 1; });
  CHECK(match_at(g, depthwise, grouped).has_value());
  CHECK_FALSE(match_at(g, depthwise, plain).has_value());
}

TEST_CASE("optional matches an absent or None argument, or the sub-pattern") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* wt = g.get_attr("w");
  Node* bias = g.get_attr("b");
  Node* with = g.call_function("aten.conv2d.default", {in, wt, bias});
  Node* without = g.call_function("aten.conv2d.default", {in, wt});
  Node* lit = g.call_function("aten.conv2d.default", {in, wt}, {{"bias", 3}});
  g.output(list({with, without, lit}));
  auto p = conv2d(x, w, optional(b));
  auto m1 = match_at(g, p, with);
  REQUIRE(m1);
  CHECK(m1->find(b) == std::optional<Node*>(bias));
  auto m2 = match_at(g, p, without);
  REQUIRE(m2);
  CHECK_FALSE(m2->find(b).has_value());
  CHECK_FALSE(match_at(g, p, lit).has_value());
}

TEST_CASE("alternatives are tried in order and a failed one leaves no captures") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  Node* rl = g.call_function("aten.relu.default", {s});
  g.output(rl);
  // The first alternative binds x to `s` before failing on the target; the second must see x free.
  auto p = relu(either(mul(x, x).bind(y), sigmoid(x).bind(y)));
  auto m = match_at(g, p, rl);
  REQUIRE(m);
  CHECK((*m)[y] == s);
  CHECK((*m)[x] == in);
  auto q = relu(sigmoid(input()) || mul(x, x));
  CHECK(match_at(g, q, rl).has_value());
}

TEST_CASE("a failed match is transactional: no partial result") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  Node* rl = g.call_function("aten.relu.default", {s});
  g.output(rl);
  auto m = match_at(g, relu(sigmoid(x).bind(y)).where([](const Graph&, Node*) { return false; }), rl);
  CHECK_FALSE(m.has_value());
}

TEST_CASE("overlapping matches are resolved greedily in graph order") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* r1 = g.call_function("aten.relu.default", {in});
  Node* s1 = g.call_function("aten.sigmoid.default", {r1});
  Node* r2 = g.call_function("aten.relu.default", {s1});
  Node* s2 = g.call_function("aten.sigmoid.default", {r2});
  Node* r3 = g.call_function("aten.relu.default", {s2});
  g.output(r3);
  // relu(sigmoid(x)) could be rooted at r2 (covering s1) and at r3 (covering s2): no overlap.
  auto ms = find_matches(g, relu(sigmoid(x)));
  CHECK(roots(ms) == std::vector<Node*>{r2, r3});
  // sigmoid(relu(x)) at s1 covers r1; at s2 covers r2. relu(sigmoid(relu(x))) at r2 covers r2,s1,r1
  // and then r3's candidate would need s2, r2: r2 is taken, so only one match.
  auto deep = find_matches(g, relu(sigmoid(relu(x))));
  REQUIRE(deep.size() == 1);
  CHECK(deep[0].root == r2);
}

TEST_CASE("find_matches visits only nodes with the root's target") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* a = g.call_function("aten.relu.default", {in});
  Node* b2 = g.call_function("aten.relu.default", {a});
  g.output(b2);
  auto ms = find_matches(g, relu(x));
  REQUIRE(ms.size() == 2);
  CHECK(ms[0].root == a);
  CHECK(ms[1].root == b2);
}

TEST_CASE("explain mode says which sub-pattern failed on which node and operand") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* wt = g.get_attr("w");
  Node* c = g.call_function("aten.conv1d.default", {in, wt});
  Node* bn = g.call_function("aten.batch_norm.default", {c});
  g.output(bn);
  std::ostringstream why;
  MatchOptions opt;
  opt.explain = &why;
  CHECK_FALSE(match_at(g, batch_norm(conv2d(x, w).bind(conv)), bn, opt).has_value());
  CHECK(why.str() ==
        "pattern aten.conv2d.default(x, w) failed on node 'conv1d' (aten.conv1d.default): its target "
        "is not in the pattern's set\n"
        "pattern aten.batch_norm.default(conv=aten.conv2d.default(x, w)) failed on node "
        "'batch_norm' (aten.batch_norm.default): operand 0 did not match\n");
}

TEST_CASE("explain mode reports a containment failure") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* s = g.call_function("aten.sigmoid.default", {in});
  Node* rl = g.call_function("aten.relu.default", {s});
  g.output(list({rl, s}));
  std::ostringstream why;
  MatchOptions opt;
  opt.explain = &why;
  CHECK_FALSE(match_at(g, relu(sigmoid(x)), rl, opt).has_value());
  CHECK(why.str() ==
        "pattern aten.relu.default(aten.sigmoid.default(x)) failed on node 'sigmoid' "
        "(aten.sigmoid.default): a matched node other than the root has a user outside the match\n");
}

TEST_CASE("describe prints a pattern") {
  auto p = batch_norm(conv_any(x, w, optional(b)).bind(conv), anything(), none(), any_literal(), any(), true, 0.1, eps);
  CHECK(describe(p) ==
        "aten.batch_norm.default(conv=aten.conv1d.default|aten.conv2d.default|aten.conv3d.default("
        "x, w, optional(b)), anything(), None, any_literal(), any(), True, 0.1, eps)");
  CHECK(describe(relu(x).one_user() || sigmoid(input())) ==
        "either(aten.relu.default(x).one_user(), aten.sigmoid.default(input()))");
}

TEST_CASE("to_graph instantiates a pattern as a graph") {
  auto p = batch_norm(conv2d(x, w).bind(conv), b, b, anything(), anything(), true, 0.1, eps);
  Graph pg = to_graph(p);
  pg.lint();
  CHECK(to_string(pg) ==
        "graph():\n"
        "    %x : [num_users=1] = placeholder[target=x]\n"
        "    %w : [num_users=1] = placeholder[target=w]\n"
        "    %conv : [num_users=1] = call_function[target=torch.ops.aten.conv2d.default](args = (%x, %w), kwargs = {})\n"
        "    %b : [num_users=1] = placeholder[target=b]\n"
        "    %anything : [num_users=1] = placeholder[target=anything]\n"
        "    %anything_1 : [num_users=1] = placeholder[target=anything]\n"
        "    %eps : [num_users=1] = placeholder[target=eps]\n"
        "    %batch_norm : [num_users=1] = call_function[target=torch.ops.aten.batch_norm.default](args = "
        "(%conv, %b, %b, %anything, %anything_1, True, 0.1, %eps), kwargs = {})\n"
        "    return batch_norm\n");
}

TEST_CASE("captures of a match are read with their types") {
  Graph g;
  Node* in = g.placeholder("in");
  Node* rl = g.call_function("aten.relu.default", {in});
  g.output(rl);
  auto m = match_at(g, relu(x).bind(r), rl);
  REQUIRE(m);
  Node* bound_r = (*m)[r];
  Node* bound_x = (*m)[x];
  CHECK(bound_r == rl);
  CHECK(bound_x == in);
  CHECK(m->covers(rl));
  CHECK_FALSE(m->covers(in));
}

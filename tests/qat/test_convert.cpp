// fold_conv_bn_qat: the cases of ../shared/docs/test-plan.md that concern convert (structure,
// q/dq arguments, bias variants, BN spellings, counters, shared weights, dequantize handling,
// metadata, annotations, guard rails, atomicity).
#include <doctest/doctest.h>

#include <limits>

#include "qat/convert_support.hpp"

using namespace graft;
using namespace graft::test;

namespace {

constexpr std::string_view kQpt = "quantized_decomposed.quantize_per_tensor.default";
constexpr std::string_view kDQpt = "quantized_decomposed.dequantize_per_tensor.default";
constexpr std::string_view kQpc = "quantized_decomposed.quantize_per_channel.default";
constexpr std::string_view kDQpc = "quantized_decomposed.dequantize_per_channel.default";


// No BN and nothing of the simulated fold is left.
void check_no_simulated_fold(const Graph& g) {
  CHECK(count_ops_containing(g, "batch_norm") == 0);
  CHECK(count_op(g, "operator.getitem") == 0);
  CHECK(count_op(g, "aten.div.Tensor") == 0);
  CHECK(count_op(g, "aten.add.Tensor") == 0);
  CHECK(count_op(g, "aten.mul.Tensor") == 0);
  CHECK(count_op(g, "aten.sqrt.default") == 0);
  CHECK(count_op(g, "aten.reshape.default") == 0);
  CHECK(count_op(g, "aten.zeros_like.default") == 0);
}

std::string snapshot(const Module& m) { return to_string(m.graph); }

}  // namespace

TEST_CASE("conv2d with bias and a per-tensor weight is folded into conv(x, dq(q(W)), b)") {
  Module m = quantized_qat_model({});
  const Node* q0 = only_op(m.graph, kQpt);
  const Argument scale = q0->args()[1];
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.total() == 1);
  CHECK(r.count("conv2d+bias per_tensor") == 1);
  check_no_simulated_fold(m.graph);
  const Node* conv = only_op(m.graph, "aten.conv2d.default");
  const Node* dq = arg_node(conv, 1);
  REQUIRE(dq->target() == kDQpt);
  const Node* q = arg_node(dq, 0);
  REQUIRE(q->target() == kQpt);
  CHECK(arg_node(q, 0)->is_get_attr());
  CHECK(arg_node(q, 0)->target() == "m.conv.weight");
  CHECK(q->args()[1] == scale);
  CHECK(arg_node(conv, 2)->is_get_attr());
  CHECK(arg_node(conv, 2)->target() == "m.conv.bias");
  CHECK(arg_node(conv, 0)->target() == "x");
  CHECK(only_op(m.graph, "aten.relu.default")->args()[0].as_node() == conv);
  CHECK(r.parameters_rewritten == std::vector<std::string>{"m.conv.weight", "m.conv.bias"});
  CHECK(r.parameters_created.empty());
  CHECK(r.nodes_after < r.nodes_before);
  CHECK(r.nodes_after == m.graph.size());
}

TEST_CASE("the folded parameters are the BN fold of the originals, with the BN's eps") {
  Module m = quantized_qat_model({}, {"aten.batch_norm.default", true, 0.1, 1e-3});
  const Tensor w = m.attr("m.conv.weight"), b = m.attr("m.conv.bias");
  auto expected = kernels::fold_conv_bn_weights(w, &b, m.attr("m.bn.running_mean"), m.attr("m.bn.running_var"), 1e-3,
                                                &m.attr("m.bn.weight"), &m.attr("m.bn.bias"));
  qat::fold_conv_bn_qat(m);
  CHECK(m.attr("m.conv.weight") == expected.weight);
  CHECK(m.attr("m.conv.bias") == expected.bias);
  CHECK_FALSE(m.attr("m.conv.weight") == w);
}

TEST_CASE("conv literal args are kept") {
  ConvSpec c;
  c.stride = {2, 2};
  c.padding = {4, 4};
  Module m = quantized_qat_model(c);
  qat::fold_conv_bn_qat(m);
  const Node* conv = only_op(m.graph, "aten.conv2d.default");
  CHECK(conv->arg("stride") == ints({2, 2}));
  CHECK(conv->arg("padding") == ints({4, 4}));
  CHECK(conv->arg("dilation") == ints({1, 1}));
  CHECK(conv->arg("groups") == Argument(1));
}

TEST_CASE("a conv without bias gets a new bias parameter with a unique name") {
  ConvSpec c;
  c.bias = false;
  Module m = quantized_qat_model(c);
  m.parameters.add("m.conv.bias", Tensor(DType::float32, {7}));  // taken by something else
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.count("conv2d per_tensor") == 1);
  const Node* conv = only_op(m.graph, "aten.conv2d.default");
  const Node* bias = conv->arg("bias").as_node();
  REQUIRE(bias->is_get_attr());
  CHECK(bias->target() == "m.conv.bias_1");
  CHECK(r.parameters_created == std::vector<std::string>{"m.conv.bias_1"});
  CHECK(m.attr("m.conv.bias_1").shape() == Shape{3});
  CHECK(m.attr("m.conv.bias").shape() == Shape{7});
}

TEST_CASE("per-channel weights keep their q/dq arguments, custom dtype and range included") {
  QuantizeSpec q;
  q.per_channel = true;
  q.weight_qmin = 0;
  q.weight_qmax = std::numeric_limits<std::int32_t>::max();
  q.weight_dtype = DType::int32;
  Module m = quantized_qat_model({}, {}, q);
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.count("conv2d+bias per_channel") == 1);
  const Node* dq = only_op(m.graph, kDQpc);
  CHECK(dq->args()[3] == Argument(0));  // axis
  CHECK(dq->args()[4] == Argument(0));
  CHECK(dq->args()[5] == Argument(std::int64_t{std::numeric_limits<std::int32_t>::max()}));
  CHECK(dq->args()[6] == Argument(DType::int32));
  CHECK(arg_node(dq, 1)->target() == "m.conv.weight_scales");
  CHECK(arg_node(arg_node(dq, 0), 0)->target() == "m.conv.weight");
}

TEST_CASE("the .tensor overload of per-tensor quantization is folded") {
  QuantizeSpec q;
  q.tensor_overload = true;
  Module m = quantized_qat_model({}, {}, q);
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.count("conv2d+bias per_tensor") == 1);
  const Node* q_node = only_op(m.graph, "quantized_decomposed.quantize_per_tensor.tensor");
  CHECK(arg_node(q_node, 0)->target() == "m.conv.weight");
  check_no_simulated_fold(m.graph);
}

TEST_CASE("a quantized bias keeps its q/dq with the derived int32 arguments and reads the folded bias") {
  QuantizeSpec q;
  q.quantize_bias = true;
  Module m = quantized_qat_model({}, {}, q);
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.count("conv2d+quantized_bias per_tensor") == 1);
  const Node* conv = only_op(m.graph, "aten.conv2d.default");
  const Node* bdq = arg_node(conv, 2);
  REQUIRE(bdq->target() == kDQpt);
  CHECK(bdq->args()[3] == Argument(std::int64_t{std::numeric_limits<std::int32_t>::min()}));
  CHECK(bdq->args()[4] == Argument(std::int64_t{std::numeric_limits<std::int32_t>::max()}));
  CHECK(bdq->args()[5] == Argument(DType::int32));
  const Node* bq = arg_node(bdq, 0);
  REQUIRE(bq->target() == kQpt);
  CHECK(arg_node(bq, 0)->target() == "m.conv.bias");
  CHECK(count_op(m.graph, "aten.zeros_like.default") == 0);
}

TEST_CASE("per-channel weight and quantized bias: the reference's q/dq node counts") {
  QuantizeSpec q;
  q.per_channel = true;
  q.quantize_bias = true;
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, {}, {}, "m");
  t.g.output(y);
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m, q);
  insert_activation_qdq(m.graph, *m.graph.nodes().begin());  // x
  Node* out = m.graph.output_node();
  insert_activation_qdq(m.graph, out->args()[0].as_node());
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.count("conv2d+quantized_bias per_channel") == 1);
  CHECK(count_op(m.graph, kQpt) == 2);
  CHECK(count_op(m.graph, kDQpt) == 2);
  CHECK(count_op(m.graph, kQpc) == 2);  // weight and bias (graft keeps q on constants)
  CHECK(count_op(m.graph, kDQpc) == 2);
  check_no_simulated_fold(m.graph);
}

TEST_CASE("every conv spelling is folded") {
  struct Case {
    ConvSpec conv;
    std::string_view target, variant;
  };
  const Case cases[] = {
      {cs("aten.conv1d.default", 3, 3, 3, 1), "aten.conv1d.default", "conv1d+bias per_tensor"},
      {cs("aten.conv3d.default", 3, 3, 3, 3), "aten.conv3d.default", "conv3d+bias per_tensor"},
      {cs("aten.conv_transpose1d.default", 3, 5, 3, 1), "aten.conv_transpose1d.default", "conv_transpose1d+bias per_tensor"},
      {cs("aten.conv_transpose2d.input", 3, 5, 3, 2), "aten.conv_transpose2d.input", "conv_transpose2d+bias per_tensor"},
      {cs("aten.conv_transpose3d.input", 3, 5, 3, 3), "aten.conv_transpose3d.input", "conv_transpose3d+bias per_tensor"},
      {cs("aten.convolution.default", 3, 5, 3, 2, 1, true, true), "aten.convolution.default", "convolution+bias per_tensor"},
      {cs("aten.conv_transpose2d.input", 4, 6, 3, 2, 2), "aten.conv_transpose2d.input", "conv_transpose2d+bias per_tensor"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.variant);
    Module m = quantized_qat_model(c.conv);
    auto r = qat::fold_conv_bn_qat(m);
    m.lint();
    CHECK(r.count(c.variant) == 1);
    CHECK(count_op(m.graph, c.target) == 1);
    check_no_simulated_fold(m.graph);
  }
}

TEST_CASE("every batch norm spelling, in training and eval mode, is folded away with its getitems") {
  const char* ops[] = {"aten.batch_norm.default", "aten._native_batch_norm_legit.default",
                       "aten.native_batch_norm.default", "aten._native_batch_norm_legit_no_training.default"};
  for (const char* op : ops)
    for (bool training : {true, false}) {
      CAPTURE(op);
      CAPTURE(training);
      Module m = quantized_qat_model({}, {op, training});
      auto r = qat::fold_conv_bn_qat(m);
      m.lint();
      CHECK(r.total() == 1);
      check_no_simulated_fold(m.graph);
      CHECK(only_op(m.graph, "aten.relu.default")->args()[0].as_node() == only_op(m.graph, "aten.conv2d.default"));
    }
}

TEST_CASE("a batch norm output that is a graph output becomes the conv") {
  Builder t;
  Node* x = t.g.placeholder("x");
  t.g.output(t.conv_bn(x, {}, {"aten._native_batch_norm_legit.default"}, "m"));
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(m.graph.output_node()->args()[0].as_node() == only_op(m.graph, "aten.conv2d.default"));
}

TEST_CASE("a prepared graph without weight quantization is not a convert pattern") {
  Builder t;
  Node* x = t.g.placeholder("x");
  t.g.output(t.conv_bn(x, {}, {}, "m"));
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  const std::string before = snapshot(m);
  auto r = qat::fold_conv_bn_qat(m);
  CHECK(r.total() == 0);
  CHECK(snapshot(m) == before);
  CHECK(r.nodes_after == r.nodes_before);
}

TEST_CASE("a weight quantized per tensor but dequantized per channel is not a convert variant") {
  QuantizeSpec q;
  q.per_channel = true;
  Module m = quantized_qat_model({}, {}, q);
  Node* dq = only_op(m.graph, kDQpc);
  Node* old_q = arg_node(dq, 0);
  {
    auto at = m.graph.inserting_before(dq);
    Node* q_pt = m.graph.call_function("quantized_decomposed.quantize_per_tensor.default",
                                       {arg_node(old_q, 0), 0.05, 0, -128, 127, DType::int8});
    m.graph.set_arg(dq, 0, q_pt);
  }
  m.graph.erase(old_q);
  m.lint();
  const std::string before = snapshot(m);
  auto r = qat::fold_conv_bn_qat(m);
  CHECK(r.total() == 0);
  CHECK(snapshot(m) == before);
}

TEST_CASE("a bias add after the rescale of a conv without bias is not a convert variant") {
  Module m = quantized_qat_model(cs("aten.conv2d.default", 3, 3, 3, 2, 1, false));
  Node* bn = only_op(m.graph, "aten.batch_norm.default");
  Node* div = arg_node(bn, 0);  // the output rescale
  REQUIRE(div->target() == "aten.div.Tensor");
  m.parameters.add("extra_bias", test::filled({3}, -0.2, 0.4));
  {
    auto at = m.graph.inserting_before(bn);
    Node* b = m.graph.get_attr("extra_bias");
    Node* shaped = m.graph.call_function("aten.reshape.default", {b, ints({1, -1, 1, 1})});
    Node* add = m.graph.call_function("aten.add.Tensor", {div, shaped});
    m.graph.set_arg(bn, 0, add);
  }
  m.lint();
  const std::string before = snapshot(m);
  auto r = qat::fold_conv_bn_qat(m);
  CHECK(r.total() == 0);
  CHECK(snapshot(m) == before);
}

TEST_CASE("num_batches_tracked counter updates are removed for BNs of every dimensionality") {
  for (std::int64_t dims : {1, 2, 3}) {
    CAPTURE(dims);
    Builder t;
    Node* x = t.g.placeholder("x");
    Node* y = t.conv_bn(x, cs("aten.conv" + std::to_string(dims) + "d.default", 3, 3, 3, dims), {}, "m");
    Node* counter = t.param("m.bn.num_batches_tracked", Tensor(DType::int64, {}), true);
    t.g.call_function("aten.add_.Tensor", {counter, 1});
    t.g.output(y);
    Module m = std::move(t.m);
    qat::fuse_conv_bn_qat(m);
    insert_weight_qdq(m);
    auto r = qat::fold_conv_bn_qat(m);
    m.lint();
    CHECK(r.counters_removed == std::vector<std::string>{"m.bn.num_batches_tracked"});
    CHECK(count_op(m.graph, "aten.add_.Tensor") == 0);
    CHECK(count_op(m.graph, "m.bn.num_batches_tracked") == 0);
    CHECK(m.buffers.contains("m.bn.num_batches_tracked"));
  }
}

TEST_CASE("a counter that the model reads is kept") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, {}, {}, "m");
  Node* counter = t.param("m.bn.num_batches_tracked", Tensor(DType::int64, {}), true);
  t.g.call_function("aten.add_.Tensor", {counter, 1});
  t.g.output(list({y, counter}));
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.total() == 1);
  CHECK(r.counters_kept == std::vector<std::string>{"m.bn.num_batches_tracked"});
  CHECK(r.counters_removed.empty());
  CHECK(count_op(m.graph, "aten.add_.Tensor") == 1);
}

TEST_CASE("a weight shared by two convs is copied, never folded twice") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y1 = t.conv_bn(x, {}, {}, "a");
  // The second conv reads the first conv's weight get_attr node.
  Node* conv2 = t.conv(y1, {}, "b.conv");
  Node* shared = only_op(t.g, "a.conv.weight");
  t.g.set_arg(conv2, 1, shared);
  Node* gamma = t.param("b.bn.weight", filled({3}, 0.5, 1.0));
  Node* beta = t.param("b.bn.bias", filled({3}, -0.3, 0.6));
  Node* mean = t.param("b.bn.running_mean", filled({3}, -0.1, 0.2), true);
  Node* var = t.param("b.bn.running_var", filled({3}, 2.0, 1.0), true);
  Node* bn2 = t.g.call_function("aten.batch_norm.default", {conv2, gamma, beta, mean, var, true, 0.1, 1e-5, false});
  t.g.output(bn2);
  Module m = std::move(t.m);
  const Tensor original = m.attr("a.conv.weight");
  REQUIRE(qat::fuse_conv_bn_qat(m).total() == 2);
  insert_weight_qdq(m);
  Module unfolded = m;
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.total() == 2);
  REQUIRE(r.copied_on_write.size() == 2);
  CHECK(r.copied_on_write[0] == std::pair<std::string, std::string>{"a.conv.weight", "a.conv.weight_folded"});
  CHECK(r.copied_on_write[1] == std::pair<std::string, std::string>{"a.conv.weight", "a.conv.weight_folded_1"});
  CHECK(m.attr("a.conv.weight") == original);
  CHECK_FALSE(m.attr("a.conv.weight_folded") == m.attr("a.conv.weight_folded_1"));
  const Tensor xin = input_for({});
  CHECK(relative_error(run_eval(m, xin), run_eval(unfolded, xin)) < 1e-5);
}

TEST_CASE("a dequantize feeding a skip connection does not block the fold and is not duplicated") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, {}, {}, "m");
  Node* sum = t.g.call_function("aten.add_.Tensor", {y, x});
  t.g.output(t.g.call_function("aten.relu_.default", {sum}));
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  Node* dq = insert_activation_qdq(m.graph, *m.graph.nodes().begin());
  REQUIRE(dq->num_users() == 2);
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.total() == 1);
  CHECK(count_op(m.graph, kDQpt) == 2);  // activation and weight
  CHECK(dq->num_users() == 2);
  CHECK(r.dequantize_merged == 0);
}

TEST_CASE("identical dequantize nodes of one value are merged into one") {
  Module m = quantized_qat_model({});
  Graph& g = m.graph;
  Node* x = *g.nodes().begin();
  Node* dq1 = insert_activation_qdq(g, x);
  Node* q = arg_node(dq1, 0);
  Node* relu = only_op(g, "aten.relu.default");
  Node* dq2;
  {
    auto guard = g.inserting_before(relu);
    dq2 = g.call_function(kDQpt, {q, 0.05, 0, -128, 127, DType::int8});
  }
  Node* extra;
  {
    auto guard = g.inserting_before(g.output_node());
    extra = g.call_function("aten.neg.default", {dq2});
  }
  g.set_args(g.output_node(), {list({relu, extra})});
  auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.total() == 1);
  CHECK(r.dequantize_merged == 1);
  CHECK(arg_node(extra, 0) == dq1);
}

TEST_CASE("a negative or NaN running variance is an error naming the BN, and nothing changes") {
  for (double bad : {-1.0, std::nan("")}) {
    Module m = quantized_qat_model({});
    m.attr("m.bn.running_var").data<float>()[1] = static_cast<float>(bad);
    const std::string before = snapshot(m);
    const Module copy = m;
    CHECK_THROWS_WITH_AS(qat::fold_conv_bn_qat(m), doctest::Contains("batch_norm"), GraphError);
    CHECK(snapshot(m) == before);
    CHECK(m.parameters == copy.parameters);
    CHECK(m.buffers == copy.buffers);
  }
}

TEST_CASE("an error on a later pair leaves the earlier, foldable pairs unchanged too") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, cs("aten.conv2d.default", 3, 3, 3, 2, 1, false), {}, "a");
  y = t.conv_bn(y, {}, {}, "b");
  t.g.output(y);
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  m.attr("b.bn.running_var").data<float>()[0] = -2.0f;
  const Module copy = m;
  CHECK_THROWS_AS(qat::fold_conv_bn_qat(m), GraphError);
  CHECK(snapshot(m) == snapshot(copy));
  CHECK(m.parameters == copy.parameters);
  CHECK(m.buffers == copy.buffers);
  CHECK(m.parameters.size() == copy.parameters.size());
}

TEST_CASE("BN statistics that are graph inputs cannot be folded: the pair is skipped with the reason") {
  Module m = quantized_qat_model({});
  Graph& g = m.graph;
  Node* mean = only_op(g, "m.bn.running_mean");
  Node* input = g.placeholder("running_mean_in");
  g.move_before(input, *g.nodes().begin());
  g.replace_all_uses_with(mean, input);
  g.erase(mean);
  const std::string before = snapshot(m);
  auto r = qat::fold_conv_bn_qat(m);
  CHECK(r.total() == 0);
  REQUIRE(r.skipped.size() == 1);
  CHECK(r.skipped[0].second.find("running_mean") != std::string::npos);
  CHECK(snapshot(m) == before);
}

TEST_CASE("a read getitem(bn, 1) keeps the pair unfolded") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, {}, {"aten._native_batch_norm_legit.default"}, "m");
  Node* bn = arg_node(y, 0);
  Node* saved = t.g.call_function("operator.getitem", {bn, 1});
  t.g.output(list({y, saved}));
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  auto r = qat::fold_conv_bn_qat(m);
  CHECK(r.total() == 0);
  REQUIRE(r.skipped.size() == 1);
  CHECK(r.skipped[0].second.find("getitem") != std::string::npos);
}

TEST_CASE("the conv, its weight and its new bias keep the conv's module stack and source function") {
  ConvSpec c;
  c.bias = false;
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y1 = t.conv_bn(x, c, {}, "a");
  Node* y2 = t.conv_bn(y1, c, {}, "b");
  t.g.output(y2);
  int i = 0;
  for (Node* n : t.g.nodes())
    if (n->target() == "aten.conv2d.default") {
      const std::string name = i++ == 0 ? "a" : "b";
      n->meta().nn_module_stack = std::vector<ModuleStackEntry>{{name, name + ".conv", "torch.nn.Conv2d"}};
      n->meta().source_fn_stack = std::vector<SourceFn>{{name + "_conv", "torch.nn.Conv2d"}};
    }
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  qat::fold_conv_bn_qat(m);
  m.lint();
  std::vector<std::string> seen;
  for (Node* conv : m.graph.nodes()) {
    if (conv->target() != "aten.conv2d.default") continue;
    REQUIRE(conv->meta().nn_module_stack);
    const auto& stack = *conv->meta().nn_module_stack;
    const Node* bias = conv->arg("bias").as_node();
    REQUIRE(bias->has_meta());
    CHECK(bias->meta().nn_module_stack == stack);
    CHECK(bias->meta().source_fn_stack == conv->meta().source_fn_stack);
    seen.push_back(stack[0].key);
  }
  CHECK(seen == std::vector<std::string>{"a", "b"});
}

TEST_CASE("annotations that named the BN output or the simulated fold now name the conv; none names an erased node") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, {}, {"aten._native_batch_norm_legit.default"}, "m");
  Node* act = t.g.call_function("aten.hardtanh.default", {y, 0.0, 6.0});
  t.g.output(act);
  QuantizationAnnotation qa;
  qa.input_qspec_map.emplace_back(y, SharedQuantizationSpec{EdgeOrNode{y, nullptr}});
  qa.output_qspec = SharedQuantizationSpec{EdgeOrNode{y, act}};
  act->meta().quantization_annotation = qa;
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  // A derived bias qspec on the conv, from its input and scaled weight edges.
  Node* conv = only_op(m.graph, "aten.conv2d.default");
  Node* scaled = arg_node(arg_node(arg_node(conv, 1), 0), 0);
  REQUIRE(scaled->target() == "aten.mul.Tensor");
  QuantizationAnnotation cqa;
  DerivedQuantizationSpec derived;
  derived.derived_from = {EdgeOrNode{x, conv}, EdgeOrNode{scaled, conv}};
  cqa.input_qspec_map.emplace_back(scaled, derived);
  conv->meta().quantization_annotation = cqa;
  qat::fold_conv_bn_qat(m);
  m.lint();
  const auto& a = *act->meta().quantization_annotation;
  REQUIRE(a.input_qspec_map.size() == 1);
  CHECK(a.input_qspec_map[0].first == conv);
  CHECK(std::get<SharedQuantizationSpec>(a.input_qspec_map[0].second).edge_or_node.src == conv);
  CHECK(std::get<SharedQuantizationSpec>(*a.output_qspec).edge_or_node.src == conv);
  const auto& c = *conv->meta().quantization_annotation;
  REQUIRE(c.input_qspec_map.size() == 1);
  Node* weight = only_op(m.graph, "m.conv.weight");
  CHECK(c.input_qspec_map[0].first == weight);
  const auto& d = std::get<DerivedQuantizationSpec>(c.input_qspec_map[0].second);
  CHECK(d.derived_from[1].src == weight);
  for (Node* n : m.graph.nodes())
    if (n->has_meta())
      n->meta().for_each_node_ref([&](Node*& r) { CHECK(m.graph.contains(r)); });
}

TEST_CASE("convert can be restricted to one conv op") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, cs("aten.conv1d.default", 3, 3, 3, 1), {}, "a");
  t.g.output(y);
  Module m = std::move(t.m);
  qat::fuse_conv_bn_qat(m);
  insert_weight_qdq(m);
  CHECK(qat::fold_conv_bn_qat<qat::Conv2d>(m).total() == 0);
  CHECK(qat::fold_conv_bn_qat<qat::Conv1d>(m).total() == 1);
}

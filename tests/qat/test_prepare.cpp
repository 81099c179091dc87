// fuse_conv_bn_qat: the cases of ../shared/docs/test-plan.md that concern prepare (structure,
// literal args, bias variants, BN spellings, metadata, annotations, guard rails, atomicity).
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "graft/graph.hpp"
#include "graft/qat/prepare.hpp"
#include "support/models.hpp"

using namespace graft;
using graft::test::BnSpec;
using graft::test::Builder;
using graft::test::ConvSpec;
using graft::test::arg_node;
using graft::test::count_op;

namespace {


Node* only(const Graph& g, std::string_view target) {
  Node* found = nullptr;
  for (Node* n : g.nodes())
    if (n->target() == target) {
      REQUIRE_MESSAGE(found == nullptr, "more than one ", target);
      found = n;
    }
  REQUIRE_MESSAGE(found != nullptr, "no ", target);
  return found;
}


// x -> conv -> bn [-> getitem] -> relu -> output
Builder single(const ConvSpec& c, const BnSpec& b = {}) {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, c, b, "m");
  t.g.output(t.g.call_function("aten.relu.default", {y}));
  return t;
}

// The reference's structure check, walking back from the BN:
//   bn <- add(div, reshape(conv_bias)) <- div(conv, reshape(scale)) <- conv(x, mul(w, reshape(scale)), zeros_like(b))
//   scale = div(bn_weight, sqrt(add(running_var, eps)))
void check_fused_structure(const Graph& g, const Node* bn, bool bias, std::string_view conv_target, double eps,
                           const Argument& weight_shape, const Argument& out_shape) {
  const Node* y = arg_node(bn, 0);
  const Node* div = y;
  if (bias) {
    REQUIRE(y->target() == "aten.add.Tensor");
    div = arg_node(y, 0);
    const Node* rb = arg_node(y, 1);
    CHECK(rb->target() == "aten.reshape.default");
    CHECK(arg_node(rb, 0)->is_get_attr());
    CHECK(rb->args()[1] == out_shape);
  }
  REQUIRE(div->target() == "aten.div.Tensor");
  const Node* conv = arg_node(div, 0);
  const Node* rs = arg_node(div, 1);
  REQUIRE(conv->target() == conv_target);
  REQUIRE(rs->target() == "aten.reshape.default");
  CHECK(rs->args()[1] == out_shape);
  const Node* scale = arg_node(rs, 0);
  REQUIRE(scale->target() == "aten.div.Tensor");
  CHECK(arg_node(scale, 0) == arg_node(bn, 1));  // bn_weight
  const Node* sq = arg_node(scale, 1);
  REQUIRE(sq->target() == "aten.sqrt.default");
  const Node* add_eps = arg_node(sq, 0);
  REQUIRE(add_eps->target() == "aten.add.Tensor");
  CHECK(arg_node(add_eps, 0) == arg_node(bn, 4));  // running_var
  CHECK(add_eps->args()[1] == Argument(eps));
  const Node* mul = arg_node(conv, 1);
  REQUIRE(mul->target() == "aten.mul.Tensor");
  CHECK(arg_node(mul, 0)->is_get_attr());
  const Node* rw = arg_node(mul, 1);
  CHECK(rw->target() == "aten.reshape.default");
  CHECK(arg_node(rw, 0) == scale);
  CHECK(rw->args()[1] == weight_shape);
  if (bias) {
    const Node* zb = arg_node(conv, 2);
    REQUIRE(zb->target() == "aten.zeros_like.default");
    CHECK(arg_node(zb, 0)->is_get_attr());
  } else {
    CHECK(conv->arg("bias").is_none());
    CHECK(count_op(g, "aten.zeros_like.default") == 0);
  }
}

}  // namespace

TEST_CASE("conv2d with bias -> batch_norm is fused into the reference's structure") {
  Builder t = single({});
  auto report = qat::fuse_conv_bn_qat(t.m);
  t.m.lint();
  CHECK(report.total() == 1);
  CHECK(report.count("conv2d+bias") == 1);
  check_fused_structure(t.g, only(t.g, "aten.batch_norm.default"), true, "aten.conv2d.default", 1e-5,
                        ints({-1, 1, 1, 1}), ints({1, -1, 1, 1}));
}

TEST_CASE("conv1d and conv3d are fused with reshapes of their rank") {
  for (std::int64_t dims : {1, 3}) {
    ConvSpec c;
    c.op = dims == 1 ? "aten.conv1d.default" : "aten.conv3d.default";
    c.dims = dims;
    Builder t = single(c);
    auto report = qat::fuse_conv_bn_qat(t.m);
    t.m.lint();
    CHECK(report.count(dims == 1 ? "conv1d+bias" : "conv3d+bias") == 1);
    Argument w = dims == 1 ? ints({-1, 1, 1}) : ints({-1, 1, 1, 1, 1});
    Argument o = dims == 1 ? ints({1, -1, 1}) : ints({1, -1, 1, 1, 1});
    check_fused_structure(t.g, only(t.g, "aten.batch_norm.default"), true, c.op, 1e-5, w, o);
  }
}

TEST_CASE("a conv without bias is fused without zeros_like and add") {
  ConvSpec c;
  c.bias = false;
  Builder t = single(c);
  auto report = qat::fuse_conv_bn_qat(t.m);
  CHECK(report.count("conv2d") == 1);
  CHECK(count_op(t.g, "aten.add.Tensor") == 1);  // only running_var + eps
  check_fused_structure(t.g, only(t.g, "aten.batch_norm.default"), false, "aten.conv2d.default", 1e-5,
                        ints({-1, 1, 1, 1}), ints({1, -1, 1, 1}));
}

TEST_CASE("a bias-free conv-bn followed by a biased one are both fused, each with its own shape") {
  Builder t;
  Node* x = t.g.placeholder("x");
  ConvSpec a;
  a.bias = false;
  a.out = 4;
  ConvSpec b;
  b.in = 4;
  b.out = 5;
  Node* y = t.conv_bn(x, a, {}, "first");
  y = t.conv_bn(y, b, {}, "second");
  t.g.output(y);
  auto report = qat::fuse_conv_bn_qat(t.m);
  t.m.lint();
  CHECK(report.count("conv2d") == 1);
  CHECK(report.count("conv2d+bias") == 1);
  CHECK(count_op(t.g, "aten.batch_norm.default") == 2);
  CHECK(count_op(t.g, "aten.zeros_like.default") == 1);
}

TEST_CASE("conv literal args are carried over to the new conv") {
  ConvSpec c;
  c.stride = {2, 2};
  c.padding = {4, 4};
  Builder t = single(c);
  qat::fuse_conv_bn_qat(t.m);
  Node* conv = only(t.g, "aten.conv2d.default");
  CHECK(conv->arg("stride") == ints({2, 2}));
  CHECK(conv->arg("padding") == ints({4, 4}));
  CHECK(conv->arg("dilation") == ints({1, 1}));
  CHECK(conv->arg("groups") == Argument(1));
}

TEST_CASE("the new batch norm keeps the original's eps, momentum and training flag") {
  BnSpec b;
  b.eps = 1e-3;
  b.momentum = 0.03;
  Builder t = single({}, b);
  qat::fuse_conv_bn_qat(t.m);
  Node* bn = only(t.g, "aten.batch_norm.default");
  CHECK(bn->arg("eps").as_double() == 1e-3);
  CHECK(bn->arg("momentum").as_double() == 0.03);
  CHECK(bn->arg("training").as_bool());
  check_fused_structure(t.g, bn, true, "aten.conv2d.default", 1e-3, ints({-1, 1, 1, 1}), ints({1, -1, 1, 1}));
}

TEST_CASE("every batch norm spelling is fused and keeps its spelling and getitem users") {
  for (const char* spelling : {"aten._native_batch_norm_legit.default", "aten.native_batch_norm.default",
                               "aten._native_batch_norm_legit_no_training.default"}) {
    BnSpec b;
    b.op = spelling;
    b.eps = 1e-3;
    Builder t = single({}, b);
    Node* getitem = only(t.g, "operator.getitem");
    auto report = qat::fuse_conv_bn_qat(t.m);
    t.m.lint();
    CHECK_MESSAGE(report.total() == 1, spelling);
    Node* bn = only(t.g, spelling);
    CHECK(arg_node(getitem, 0) == bn);
    CHECK(bn->arg("eps").as_double() == 1e-3);
    check_fused_structure(t.g, bn, true, "aten.conv2d.default", 1e-3, ints({-1, 1, 1, 1}), ints({1, -1, 1, 1}));
  }
}

TEST_CASE("conv_transpose scales the weight on axis 1") {
  for (const char* op : {"aten.conv_transpose1d.default", "aten.conv_transpose2d.input", "aten.conv_transpose3d.input"}) {
    ConvSpec c;
    c.op = op;
    c.dims = op[std::string_view(op).find('d') - 1] - '0';
    c.in = 3;
    c.out = 5;
    Builder t = single(c);
    auto report = qat::fuse_conv_bn_qat(t.m);
    t.m.lint();
    REQUIRE_MESSAGE(report.total() == 1, op);
    Argument::List w(static_cast<std::size_t>(c.dims + 2), Argument(1));
    w[1] = Argument(-1);
    check_fused_structure(t.g, only(t.g, "aten.batch_norm.default"), true, op, 1e-5, Argument(w), Argument(w));
  }
}

TEST_CASE("aten.convolution reads its transposed flag") {
  for (bool transposed : {false, true}) {
    ConvSpec c;
    c.op = "aten.convolution.default";
    c.transposed = transposed;
    Builder t = single(c);
    auto report = qat::fuse_conv_bn_qat(t.m);
    REQUIRE(report.count("convolution+bias") == 1);
    check_fused_structure(t.g, only(t.g, "aten.batch_norm.default"), true, "aten.convolution.default", 1e-5,
                          transposed ? ints({1, -1, 1, 1}) : ints({-1, 1, 1, 1}), ints({1, -1, 1, 1}));
  }
}

TEST_CASE("a grouped conv_transpose scales per absolute output channel") {
  ConvSpec c;
  c.op = "aten.conv_transpose2d.input";
  c.in = 4;
  c.out = 6;
  c.groups = 2;  // weight [4, 3, 3, 3]
  Builder t = single(c);
  auto report = qat::fuse_conv_bn_qat(t.m);
  t.m.lint();
  REQUIRE(report.count("conv_transpose2d+bias") == 1);
  Node* conv = only(t.g, "aten.conv_transpose2d.input");
  // weight: reshape(mul(reshape(w, [2, 2, 3, 3, 3]), reshape(scale, [2, 1, -1, 1, 1])), [4, 3, 3, 3])
  Node* back = arg_node(conv, 1);
  REQUIRE(back->target() == "aten.reshape.default");
  CHECK(back->args()[1] == ints({4, 3, 3, 3}));
  Node* mul = arg_node(back, 0);
  REQUIRE(mul->target() == "aten.mul.Tensor");
  CHECK(arg_node(mul, 0)->args()[1] == ints({2, 2, 3, 3, 3}));
  CHECK(arg_node(mul, 1)->args()[1] == ints({2, 1, -1, 1, 1}));
  CHECK(conv->arg("groups") == Argument(2));
}

TEST_CASE("no rewrite when the conv output has another user") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* y = t.conv_bn(x, {}, {}, "m");
  Node* conv = arg_node(y, 0);
  t.g.output(t.g.call_function("aten.add.Tensor", {y, conv}));
  std::string before = to_string(t.g);
  auto report = qat::fuse_conv_bn_qat(t.m);
  CHECK(report.total() == 0);
  CHECK(to_string(t.g) == before);
}

TEST_CASE("a module without batch norm is returned unchanged") {
  Builder t;
  Node* x = t.g.placeholder("x");
  ConvSpec c;
  c.bias = false;
  Node* conv = t.conv(x, c, "conv");
  t.g.output(t.g.call_function("aten.relu.default", {conv}));
  std::string before = to_string(t.g);
  auto report = qat::fuse_conv_bn_qat(t.m);
  CHECK(report.total() == 0);
  CHECK(report.nodes_after == report.nodes_before);
  CHECK(to_string(t.g) == before);
}

TEST_CASE("relu after the batch norm stays after it") {
  Builder t = single({});
  qat::fuse_conv_bn_qat(t.m);
  Node* relu = only(t.g, "aten.relu.default");
  CHECK(arg_node(relu, 0)->target() == "aten.batch_norm.default");
}

TEST_CASE("the input of a conv-bn may be a getitem of an earlier batch norm") {
  Builder t;
  Node* x = t.g.placeholder("x");
  BnSpec legit;
  legit.op = "aten._native_batch_norm_legit.default";
  Node* y = t.conv_bn(x, {}, legit, "first");
  y = t.conv_bn(y, {}, legit, "second");
  t.g.output(y);
  auto report = qat::fuse_conv_bn_qat(t.m);
  t.m.lint();
  CHECK(report.total() == 2);
  CHECK(count_op(t.g, "aten._native_batch_norm_legit.default") == 2);
}

TEST_CASE("a negative, NaN or non-positive running variance is an error naming the node, and nothing changes") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    double value;
    double eps;
    const char* text;
  } cases[] = {{-0.5, 1e-5, "running_var channel 1 is negative (-0.5)"},
               {nan, 1e-5, "running_var channel 1 is NaN"},
               {0.0, 0.0, "running_var channel 1 plus eps (0.0) is not positive"}};
  for (const auto& c : cases) {
    BnSpec b;
    b.eps = c.eps;
    Builder t = single({}, b);
    t.m.buffers.at("m.bn.running_var").data<float>()[1] = static_cast<float>(c.value);
    std::string before = to_string(t.g);
    CHECK_THROWS_WITH_AS(qat::fuse_conv_bn_qat(t.m),
                         ("batch norm node 'batch_norm' (aten.batch_norm.default): " + std::string(c.text)).c_str(),
                         GraphError);
    CHECK(to_string(t.g) == before);
  }
}

TEST_CASE("a zero-variance channel with eps 1e-5 is fused") {
  Builder t = single({});
  t.m.buffers.at("m.bn.running_var").data<float>()[0] = 0.0f;
  CHECK(qat::fuse_conv_bn_qat(t.m).total() == 1);
}

TEST_CASE("a zero batch norm weight leaves the pair unfused, with the reason") {
  Builder t = single({});
  t.m.parameters.at("m.bn.weight").data<float>()[2] = 0.0f;
  std::string before = to_string(t.g);
  auto report = qat::fuse_conv_bn_qat(t.m);
  CHECK(report.total() == 0);
  REQUIRE(report.skipped.size() == 1);
  CHECK(report.skipped[0].first == "batch_norm");
  CHECK(report.skipped[0].second == "bn weight (gamma) is 0 on channel 2: the simulated fold would divide by zero");
  CHECK(to_string(t.g) == before);
}

TEST_CASE("a negative batch norm weight is fused") {
  Builder t = single({});
  t.m.parameters.at("m.bn.weight").data<float>()[0] = -1.5f;
  CHECK(qat::fuse_conv_bn_qat(t.m).total() == 1);
}

TEST_CASE("running statistics that are graph inputs are fused symbolically") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* mean = t.g.placeholder("mean");
  Node* var = t.g.placeholder("var");
  Node* conv = t.conv(x, {}, "conv");
  Node* gamma = t.param("bn.weight", test::filled({3}, 1, 1));
  Node* beta = t.param("bn.bias", test::filled({3}, 0, 1));
  Node* bn = t.g.call_function("aten.batch_norm.default", {conv, gamma, beta, mean, var, true, 0.1, 1e-5, false});
  t.g.output(bn);
  CHECK(qat::fuse_conv_bn_qat(t.m).total() == 1);
  t.m.lint();
}

TEST_CASE("metadata is copied to the new conv, BN and weight/bias nodes, with the conv's module stack") {
  Builder t = single({});
  Node* conv = only(t.g, "aten.conv2d.default");
  Node* bn = only(t.g, "aten.batch_norm.default");
  conv->meta().nn_module_stack = std::vector<ModuleStackEntry>{{"L__self___conv", "conv", "torch.nn.modules.conv.Conv2d"}};
  conv->meta().source_fn_stack = std::vector<SourceFn>{{"conv", "torch.nn.modules.conv.Conv2d"}};
  conv->meta().stack_trace = "conv line";
  bn->meta().stack_trace = "bn line";
  qat::fuse_conv_bn_qat(t.m);
  Node* new_conv = only(t.g, "aten.conv2d.default");
  Node* new_bn = only(t.g, "aten.batch_norm.default");
  CHECK(*new_conv->meta().stack_trace == "conv line");
  CHECK(*new_bn->meta().stack_trace == "bn line");
  for (Node* n : {new_conv, arg_node(new_conv, 1), arg_node(new_conv, 2)}) {
    REQUIRE_MESSAGE(n->meta().nn_module_stack.has_value(), n->name());
    CHECK(n->meta().nn_module_stack->at(0).path == "conv");
    REQUIRE(n->meta().source_fn_stack.has_value());
    CHECK(n->meta().source_fn_stack->at(0).name == "conv");
  }
}

TEST_CASE("different convs keep distinguishable metadata") {
  Builder t;
  Node* x = t.g.placeholder("x");
  Node* a = t.conv_bn(x, {}, {}, "a");
  Node* b = t.conv_bn(a, {}, {}, "b");
  t.g.output(b);
  arg_node(a, 0)->meta().source_fn_stack = std::vector<SourceFn>{{"a", "Conv2d"}};
  arg_node(b, 0)->meta().source_fn_stack = std::vector<SourceFn>{{"b", "Conv2d"}};
  qat::fuse_conv_bn_qat(t.m);
  std::vector<std::string> names;
  for (Node* n : t.g.nodes())
    if (n->target() == "aten.conv2d.default") names.push_back(n->meta().source_fn_stack->at(0).name);
  CHECK(names == std::vector<std::string>{"a", "b"});
}

TEST_CASE("the new conv's input_qspec_map is re-keyed by operand role") {
  Builder t = single({});
  Node* conv = only(t.g, "aten.conv2d.default");
  Node* x = arg_node(conv, 0);
  Node* w = arg_node(conv, 1);
  Node* b = arg_node(conv, 2);
  auto& qa = conv->meta().quantization_annotation.emplace();
  QuantizationSpec act{DType::int8, -128, 127, QScheme::per_tensor_affine, std::nullopt, false, "act"};
  QuantizationSpec weight{DType::int8, -127, 127, QScheme::per_channel_symmetric, 0, false, "weight"};
  DerivedQuantizationSpec bias;
  bias.derived_from = {EdgeOrNode::edge(x, conv), EdgeOrNode::edge(w, conv)};
  bias.quant_min = -2147483648LL;
  bias.quant_max = 2147483647LL;
  // Inserted out of role order: a positional re-keying would get this wrong.
  qa.input_qspec_map.emplace_back(w, weight);
  qa.input_qspec_map.emplace_back(b, bias);
  qa.input_qspec_map.emplace_back(x, act);
  qat::fuse_conv_bn_qat(t.m);
  t.m.lint();
  Node* new_conv = only(t.g, "aten.conv2d.default");
  const auto& nq = *new_conv->meta().quantization_annotation;
  REQUIRE(nq.input_qspec_map.size() == 3);
  CHECK(nq.input_qspec_map[0].first == arg_node(new_conv, 1));  // the scaled weight (mul)
  CHECK(std::get<QuantizationSpec>(nq.input_qspec_map[0].second).observer_or_fake_quant_ctr == "weight");
  CHECK(nq.input_qspec_map[1].first == arg_node(new_conv, 2));  // zeros_like(bias)
  CHECK(nq.input_qspec_map[2].first == x);
  const auto& derived = std::get<DerivedQuantizationSpec>(nq.input_qspec_map[1].second);
  CHECK(derived.derived_from[0] == EdgeOrNode::edge(x, new_conv));
  CHECK(derived.derived_from[1] == EdgeOrNode::edge(arg_node(new_conv, 1), new_conv));
}

TEST_CASE("shared qspecs anywhere in the graph follow the replaced nodes") {
  Builder t;
  Node* x = t.g.placeholder("x");
  BnSpec legit;
  legit.op = "aten._native_batch_norm_legit.default";
  Node* a = t.conv_bn(x, {}, legit, "a");
  Node* b = t.conv_bn(x, {}, legit, "b");
  Node* cat = t.g.call_function("aten.cat.default", {list({a, b}), 1});
  Node* ht = t.g.call_function("aten.hardtanh.default", {cat, 0.0, 6.0});
  t.g.output(ht);
  Node* bn_a = arg_node(a, 0);
  Node* conv_b = arg_node(arg_node(b, 0), 0);
  auto& cq = cat->meta().quantization_annotation.emplace();
  cq.input_qspec_map.emplace_back(a, SharedQuantizationSpec{EdgeOrNode::node(bn_a)});
  cq.output_qspec = SharedQuantizationSpec{EdgeOrNode::edge(conv_b, arg_node(b, 0))};
  ht->meta().quantization_annotation.emplace().output_qspec = SharedQuantizationSpec{EdgeOrNode::node(conv_b)};
  auto report = qat::fuse_conv_bn_qat(t.m);
  REQUIRE(report.total() == 2);
  t.m.lint();  // no qspec anywhere refers to an erased node
  const auto& nq = *cat->meta().quantization_annotation;
  Node* new_bn_a = arg_node(a, 0);
  CHECK(std::get<SharedQuantizationSpec>(nq.input_qspec_map[0].second).edge_or_node == EdgeOrNode::node(new_bn_a));
  Node* new_bn_b = arg_node(b, 0);
  Node* new_conv_b = nullptr;
  for (Node* n : t.g.nodes())
    if (n->target() == "aten.conv2d.default") new_conv_b = n;  // the second one
  CHECK(std::get<SharedQuantizationSpec>(*nq.output_qspec).edge_or_node == EdgeOrNode::edge(new_conv_b, new_bn_b));
  CHECK(std::get<SharedQuantizationSpec>(*ht->meta().quantization_annotation->output_qspec).edge_or_node ==
        EdgeOrNode::node(new_conv_b));
}

TEST_CASE("ResNet-18-shaped and MobileNetV2-shaped graphs have every conv-bn pair fused") {
  Module resnet = test::resnet18_shaped();
  auto r = qat::fuse_conv_bn_qat(resnet);
  resnet.lint();
  CHECK(r.total() == 20);
  CHECK(r.count("conv2d") == 20);
  Module mobilenet = test::mobilenet_v2_shaped();
  auto mr = qat::fuse_conv_bn_qat(mobilenet);
  mobilenet.lint();
  CHECK(mr.total() == 52);
}

TEST_CASE("prepare can be restricted to one conv op") {
  Builder t;
  Node* x = t.g.placeholder("x");
  ConvSpec c1;
  c1.op = "aten.conv1d.default";
  c1.dims = 1;
  Node* a = t.conv_bn(x, c1, {}, "a");
  Node* b = t.conv_bn(x, {}, {}, "b");
  t.g.output(list({a, b}));
  Module copy = t.m;
  auto only2d = qat::fuse_conv_bn_qat<qat::Conv2d>(t.m);
  CHECK(only2d.total() == 1);
  CHECK(only2d.count("conv2d+bias") == 1);
  CHECK(qat::fuse_conv_bn_qat(copy).total() == 2);
}

TEST_CASE("BN parameters of the wrong length for the conv's channels are an error, and nothing changes") {
  Builder t = single(ConvSpec{});
  t.m.parameters.at("m.bn.weight") = Tensor::full<float>({5}, 1.0f);
  std::string before = to_string(t.g);
  CHECK_THROWS_WITH_AS(qat::fuse_conv_bn_qat(t.m), doctest::Contains("bn weight has shape [5] but conv node"), GraphError);
  CHECK(to_string(t.g) == before);
}

TEST_CASE("BN parameters and conv bias with one value per channel but not 1-d are an error") {
  // numel equals the channel count; the rank does not.
  Builder t = single(ConvSpec{});
  t.m.buffers.at("m.bn.running_mean") = Tensor(DType::float32, {1, 3});
  std::string before = to_string(t.g);
  CHECK_THROWS_WITH_AS(qat::fuse_conv_bn_qat(t.m), doctest::Contains("bn running_mean has shape [1, 3] but conv node"),
                       GraphError);
  CHECK(to_string(t.g) == before);
  Builder u = single(ConvSpec{});
  u.m.parameters.at("m.conv.bias") = Tensor(DType::float32, {3, 1});
  CHECK_THROWS_WITH_AS(qat::fuse_conv_bn_qat(u.m), doctest::Contains("bias of shape [3, 1] for 3 output channels"), GraphError);
  Builder v = single(ConvSpec{});
  v.m.parameters.at("m.conv.bias") = Tensor(DType::float32, {4});
  CHECK_THROWS_WITH_AS(qat::fuse_conv_bn_qat(v.m), doctest::Contains("bias of shape [4] for 3 output channels"), GraphError);
}

TEST_CASE("integer conv or BN parameters are an error naming the BN node") {
  Builder t = single(ConvSpec{});
  t.m.buffers.at("m.bn.running_var") = Tensor(DType::int64, {3});
  CHECK_THROWS_WITH_AS(qat::fuse_conv_bn_qat(t.m), doctest::Contains("bn running_var is int64"), GraphError);
  Builder u = single(ConvSpec{});
  u.m.parameters.at("m.conv.weight") = Tensor(DType::int32, {3, 3, 3, 3});
  CHECK_THROWS_WITH_AS(qat::fuse_conv_bn_qat(u.m), doctest::Contains("the conv weight is int32"), GraphError);
}

// The interpreter: conv -> bn -> relu graphs in eval and training mode, every BN spelling,
// tuple outputs through getitem, in-place ops, freeing of intermediates, and error messages.
#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "convbn_graph.hpp"
#include "golden.hpp"
#include "graft/exec/interpreter.hpp"
#include "graft/tensor/batch_norm.hpp"
#include "graft/tensor/conv.hpp"
#include "graft/tensor/ops.hpp"

namespace {

namespace k = graft::kernels;
using graft::Node;
using graft::Tensor;

const char* kBnOps[] = {"aten.batch_norm.default", "aten._native_batch_norm_legit.default", "aten.native_batch_norm.default"};

}  // namespace

TEST_CASE("interpreter: conv -> bn -> relu in eval mode matches the PyTorch reference for every BN spelling") {
  for (const char* name : {"fold_conv1d", "fold_conv2d_groups2_eps1e-3", "fold_conv3d", "fold_conv2d_f64_groups2"}) {
    auto c = golden::load(name);
    Tensor ref = k::relu(c["reference_output"]);
    for (const char* op : {"aten.batch_norm.default", "aten._native_batch_norm_legit.default", "aten.native_batch_norm.default",
                           "aten._native_batch_norm_legit_no_training.default"}) {
      CAPTURE(name);
      CAPTURE(op);
      convbn::Options o;
      o.bn_op = op;
      o.training = false;
      o.relu = true;
      graft::Module m = convbn::build(c, o);
      auto out = graft::run_module(m, {c["input"]});
      REQUIRE(out.size() == 1);
      CHECK(golden::rel_err(out[0], ref) < golden::tol(c) * (c.f64() ? 100 : 1));
      CHECK(m.buffers.at("bn.running_mean") == c["running_mean"]);
    }
  }
}

TEST_CASE("interpreter: training mode updates the module's running stats and num_batches_tracked") {
  auto c = golden::load("fold_conv2d");
  for (const char* op : kBnOps) {
    CAPTURE(op);
    convbn::Options o;
    o.bn_op = op;
    o.training = true;
    o.relu = true;
    graft::Module m = convbn::build(c, o);
    auto out = graft::run_module(m, {c["input"]});
    // Reference: the kernels called directly.
    Tensor conv = k::convolution(c["input"], c["weight"], c.find("bias"), golden::conv_params(c));
    Tensor rm = c["running_mean"], rv = c["running_var"];
    auto bn = k::batch_norm(conv, &c["bn_weight"], &c["bn_bias"], &rm, &rv, true, 0.1, c.params.at("eps").get<double>());
    CHECK(out[0] == k::relu(bn.output));
    CHECK(m.buffers.at("bn.running_mean") == rm);
    CHECK(m.buffers.at("bn.running_var") == rv);
    CHECK(m.buffers.at("bn.running_var") != c["running_var"]);
    CHECK(m.buffers.at("bn.num_batches_tracked").data<std::int64_t>()[0] == 1);
    // A second step keeps counting.
    graft::run_module(m, {c["input"]});
    CHECK(m.buffers.at("bn.num_batches_tracked").data<std::int64_t>()[0] == 2);
  }
}

TEST_CASE("interpreter: ExecMode::eval runs a training graph with running stats and leaves the module unchanged") {
  auto c = golden::load("fold_conv2d_groups2_eps1e-3");
  convbn::Options o;
  o.bn_op = "aten._native_batch_norm_legit.default";
  o.training = true;
  graft::Module m = convbn::build(c, o);
  graft::Interpreter interp(m, graft::ExecMode::eval);
  auto out = interp.run({c["input"]});
  CHECK(golden::rel_err(out[0], c["reference_output"]) < 1e-5);
  CHECK(m.buffers.at("bn.running_mean") == c["running_mean"]);
  CHECK(m.buffers.at("bn.running_var") == c["running_var"]);
  CHECK(m.buffers.at("bn.num_batches_tracked").data<std::int64_t>()[0] == 0);
}

TEST_CASE("interpreter: ExecMode::train turns an eval-flagged batch_norm into a training step") {
  auto c = golden::load("fold_conv2d");
  convbn::Options o;
  o.bn_op = "aten.batch_norm.default";
  o.training = false;
  graft::Module m = convbn::build(c, o);
  graft::run_module(m, {c["input"]}, graft::ExecMode::train);
  CHECK(m.buffers.at("bn.running_mean") != c["running_mean"]);
}

TEST_CASE("interpreter: getitem reads every element of a tuple-returning batch norm") {
  auto c = golden::load("bn_input4d_train_m0p1_eps1e-5");
  graft::Module m;
  m.buffers.add("rm", c["running_mean"]);
  m.buffers.add("rv", c["running_var"]);
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* rm = g.get_attr("rm");
  Node* rv = g.get_attr("rv");
  Node* bn = g.call_function("aten.native_batch_norm.default", {x, nullptr, nullptr, rm, rv, true, 0.1, 1e-5});
  Node* out0 = g.call_function("operator.getitem", {bn, 0});
  Node* mean = g.call_function("operator.getitem", {bn, 1});
  Node* invstd = g.call_function("operator.getitem", {bn, -1});
  g.output(graft::list({out0, mean, invstd}));
  auto out = graft::run_module(m, {c["input"]});
  REQUIRE(out.size() == 3);
  CHECK(golden::rel_err(out[1], c["batch_mean"]) < 1e-6);
  Tensor expect_invstd = k::rsqrt(k::add(c["batch_var_biased"], k::scalar_tensor(c["batch_var_biased"], 1e-5)));
  CHECK(golden::rel_err(out[2], expect_invstd) < 1e-6);
  CHECK(golden::rel_err(m.buffers.at("rm"), c["running_mean_after"]) < 1e-6);
}

TEST_CASE("interpreter: in-place add_ and relu_ on an intermediate behave as in PyTorch (x += x0, then relu_)") {
  graft::Module m;
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* x0 = g.placeholder("x0");
  Node* y = g.call_function("aten.mul.Tensor", {x, 2.0});
  Node* added = g.call_function("aten.add_.Tensor", {y, x0});
  Node* r = g.call_function("aten.relu_.default", {added});
  g.output(graft::list({r, y}));  // y was modified in place: it aliases the result
  auto out = graft::run_module(m, {Tensor::from<float>({1, -3, 2}, {3}), Tensor::from<float>({0.5f, 1, -5}, {3})});
  CHECK(out[0] == Tensor::from<float>({2.5f, 0, 0}, {3}));
  CHECK(out[1] == out[0]);
}

TEST_CASE("interpreter: arguments are read through the schema (keywords and defaults)") {
  graft::Module m;
  m.parameters.add("w", Tensor::from<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("w");
  Node* wt = g.call_function("aten.t.default", {w});
  Node* b = g.placeholder("b");
  Node* mm = g.call_function("aten.addmm.default", {b, x, wt}, {{"beta", 2}, {"alpha", 0.5}});
  Node* sub = g.call_function("aten.sub.Tensor", {mm, 1}, {{"alpha", 3}});
  Node* ht = g.call_function("aten.hardtanh.default", {sub}, {{"max_val", 10.0}});
  g.output(graft::list({ht}));
  // x @ w^T = [1+2+3, 4+5+6] = [6, 15]; 2*b + 0.5*[6, 15] - 3 = [2*1+3-3, 2*2+7.5-3] -> [2, 8.5]; hardtanh(-1, 10)
  auto out = graft::run_module(m, {Tensor::from<float>({1, 1, 1}, {1, 3}), Tensor::from<float>({1, 2}, {2})});
  CHECK(out[0] == Tensor::from<float>({2, 8.5f}, {1, 2}));
}

TEST_CASE("interpreter: a classifier head (pool, flatten, linear, cat, hardswish) runs end to end") {
  graft::Module m;
  m.parameters.add("fc.weight", Tensor::from<float>({1, 0, 0, 1, 1, 1}, {3, 2}));
  m.parameters.add("fc.bias", Tensor::from<float>({0, 0, -1}, {3}));
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* p = g.call_function("aten.adaptive_avg_pool2d.default", {x, graft::ints({1, 1})});
  Node* f = g.call_function("aten.flatten.using_ints", {p, 1});
  Node* l = g.call_function("aten.linear.default", {f, g.get_attr("fc.weight"), g.get_attr("fc.bias")});
  Node* c = g.call_function("aten.cat.default", {graft::list({l, l}), 1});
  Node* h = g.call_function("aten.hardswish.default", {c});
  Node* d = g.call_function("aten.dropout.default", {h, 0.5, false});
  g.output(graft::list({d}));
  // channel means: 1 and 2 -> linear: [1, 2, 2] -> hardswish: x*(x+3)/6 = [4/6, 10/6, 10/6]
  Tensor in = Tensor::from<float>({0, 2, 1, 1, 2, 2, 3, 1}, {1, 2, 2, 2});
  auto out = graft::run_module(m, {in});
  REQUIRE(out[0].shape() == graft::Shape{1, 6});
  const float* o = out[0].data<float>();
  for (int i = 0; i < 6; ++i) CHECK(o[i] == doctest::Approx(i % 3 == 0 ? 4.0 / 6 : 10.0 / 6).epsilon(1e-6));
}

TEST_CASE("interpreter: intermediate values are freed after their last use") {
  graft::Module m;
  graft::Graph& g = m.graph;
  Node* cur = g.placeholder("x");
  for (int i = 0; i < 200; ++i) cur = g.call_function("aten.relu.default", {cur});
  g.output(graft::list({cur}));
  graft::Interpreter interp(m);
  auto out = interp.run({Tensor::from<float>({-1, 1}, {2})});
  CHECK(out[0] == Tensor::from<float>({0, 1}, {2}));
  CHECK(interp.peak_live_values() <= 2);
}

TEST_CASE("interpreter: an unsupported op is an error naming the node, the op and the input shapes") {
  graft::Module m;
  graft::Graph& g = m.graph;
  g.register_op("mylib.fancy.default(Tensor x) -> Tensor");
  Node* x = g.placeholder("x");
  Node* f = g.call_function("mylib.fancy.default", {x});
  g.output(graft::list({f}));
  CHECK_THROWS_WITH_AS(graft::run_module(m, {Tensor(graft::DType::float32, {2, 3})}),
                       "node 'fancy' (mylib.fancy.default): unsupported op; inputs (x: float32[2, 3])", graft::ExecError);
}

TEST_CASE("interpreter: a shape mismatch is an error naming the node, the op and the shapes") {
  graft::Module m;
  graft::Graph& g = m.graph;
  Node* a = g.placeholder("a");
  Node* b = g.placeholder("b");
  Node* s = g.call_function("aten.add.Tensor", {a, b});
  g.output(graft::list({s}));
  std::string msg;
  try {
    graft::run_module(m, {Tensor(graft::DType::float32, {2, 3}), Tensor(graft::DType::float32, {4})});
  } catch (const graft::ExecError& e) {
    msg = e.what();
  }
  CHECK(msg.find("node 'add' (aten.add.Tensor)") != std::string::npos);
  CHECK(msg.find("shapes [2, 3] and [4] do not broadcast") != std::string::npos);
  CHECK(msg.find("inputs (a: float32[2, 3], b: float32[4])") != std::string::npos);
}

TEST_CASE("interpreter: a dtype mismatch is an error naming the node and the dtypes") {
  auto c = golden::load("conv2d_plain");
  graft::Module m;
  m.parameters.add("w", k::to_dtype(c["weight"], graft::DType::float64));
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* conv = g.call_function("aten.conv2d.default", {x, g.get_attr("w")});
  g.output(graft::list({conv}));
  CHECK_THROWS_WITH_AS(graft::run_module(m, {c["input"]}),
                       doctest::Contains("node 'conv2d' (aten.conv2d.default): conv (input [2, 3, 6, 7], weight [4, 3, 3, 3]): "
                                         "dtype mismatch, input float32 vs weight float64"),
                       graft::ExecError);
}

TEST_CASE("interpreter: a wrong number of inputs and a literal where a tensor belongs are errors") {
  graft::Module m;
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* r = g.call_function("aten.relu.default", {x});
  Node* bad = g.call_function("aten.mul.Tensor", {3.0, r});
  g.output(graft::list({bad}));
  CHECK_THROWS_WITH_AS(graft::run_module(m, {}), "interpreter: the graph has 1 placeholders, 0 inputs were given",
                       graft::ExecError);
  CHECK_THROWS_WITH_AS(graft::run_module(m, {Tensor(graft::DType::float32, {1})}),
                       "node 'mul' (aten.mul.Tensor): argument 'self' is float, expected a tensor", graft::ExecError);
}

TEST_CASE("interpreter: aten.convolution runs transposed grouped convs, and conv2d.padding 'same' pads symmetrically") {
  auto c = golden::load("conv_transpose2d_groups2_stride2_outpad1");
  graft::Module m;
  m.parameters.add("w", c["weight"]);
  m.parameters.add("b", c["bias"]);
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* conv = g.call_function("aten.convolution.default",
                               {x, g.get_attr("w"), g.get_attr("b"), graft::ints({2, 2}), graft::ints({1, 1}),
                                graft::ints({1, 1}), true, graft::ints({1, 1}), 2});
  g.output(graft::list({conv}));
  auto out = graft::run_module(m, {c["input"]});
  CHECK(golden::rel_err(out[0], c["output"]) < 1e-5);

  auto p = golden::load("conv2d_groups2");  // 3x3, padding 1, groups 2: the same as padding='same'
  graft::Module m2;
  m2.parameters.add("w", p["weight"]);
  graft::Graph& g2 = m2.graph;
  Node* x2 = g2.placeholder("x");
  Node* same = g2.call_function("aten.conv2d.padding", {x2, g2.get_attr("w"), nullptr, graft::ints({1, 1}), "same"},
                                {{"groups", 2}});
  Node* bias = g2.placeholder("bias");
  Node* added = g2.call_function("aten.add.Tensor",
                                 {same, g2.call_function("aten.reshape.default", {bias, graft::ints({1, -1, 1, 1})})});
  g2.output(graft::list({added}));
  auto out2 = graft::run_module(m2, {p["input"], p["bias"]});
  CHECK(golden::rel_err(out2[0], p["output"]) < 1e-5);
}

TEST_CASE("interpreter: _native_batch_norm_legit_functional returns new running stats and leaves the buffers alone") {
  auto c = golden::load("bn_input3d_train_m0p3_eps1e-3");
  graft::Module m;
  m.buffers.add("rm", c["running_mean"]);
  m.buffers.add("rv", c["running_var"]);
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* bn = g.call_function("aten._native_batch_norm_legit_functional.default",
                             {x, nullptr, nullptr, g.get_attr("rm"), g.get_attr("rv"), true, 0.3, 1e-3});
  g.output(graft::list({g.call_function("operator.getitem", {bn, 3}), g.call_function("operator.getitem", {bn, 4})}));
  auto out = graft::run_module(m, {c["input"]});
  REQUIRE(out.size() == 2);
  CHECK(golden::rel_err(out[0], c["running_mean_after"]) < 1e-6);
  CHECK(golden::rel_err(out[1], c["running_var_after"]) < 1e-6);
  CHECK(m.buffers.at("rm") == c["running_mean"]);
}

TEST_CASE("interpreter: getitem out of range names the node and the tuple size") {
  graft::Module m;
  graft::Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* bn = g.call_function("aten.native_batch_norm.default", {x, nullptr, nullptr, nullptr, nullptr, true, 0.1, 1e-5});
  g.output(graft::list({g.call_function("operator.getitem", {bn, 3})}));
  CHECK_THROWS_WITH_AS(graft::run_module(m, {Tensor::from<float>({1, 2, 3, 4}, {2, 2})}),
                       "node 'getitem' (operator.getitem): index 3 out of range for a 3-tuple", graft::ExecError);
}

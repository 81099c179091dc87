// The separately compiled mode (GRAFT_EXTERN_TEMPLATES + graft::instantiated): the same passes,
// interpreter and readers, called from a file that does not compile them.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "graft/graft.hpp"
#include "support/models.hpp"

#ifndef GRAFT_EXTERN_TEMPLATES
#error "this test must be compiled with GRAFT_EXTERN_TEMPLATES (link graft::instantiated)"
#endif

using namespace graft;
using namespace graft::test;

namespace {
Tensor eval(Module& m, const Tensor& x) {
  auto out = run_module(m, {x}, ExecMode::eval);
  REQUIRE(out.size() == 1);
  return out[0];
}
}  // namespace

TEST_CASE("prepare from the compiled library fuses every pair of a ResNet-18-shaped graph, outputs unchanged") {
  Module m = resnet18_shaped(16);
  const Tensor x = filled({1, 3, 32, 32}, -1.0, 2.0);
  const Tensor before = eval(m, x);
  const auto r = qat::fuse_conv_bn_qat(m);
  m.lint();
  CHECK(r.total() == 20);
  CHECK(count_op(m.graph, "aten.sqrt.default") == 20);
  CHECK(relative_error(eval(m, x), before) <= 1e-5);  // float32, as tests/qat
}

TEST_CASE("check_conv_bn_pairs from the compiled library names the BN with a negative running variance") {
  Builder t;
  Node* x = t.g.placeholder("x");
  t.g.output(t.conv_bn(x, {}, {}, "m"));
  t.m.buffers.at("m.bn.running_var").data<float>()[1] = -1.0f;
  CHECK_THROWS_WITH_AS(qat::check_conv_bn_pairs(t.m), doctest::Contains("running_var channel 1 is negative"), GraphError);
}

TEST_CASE("quantize and fold from the compiled library keep a MobileNetV2-shaped graph's outputs") {
  Module m = mobilenet_v2_shaped(4);
  REQUIRE(qat::fuse_conv_bn_qat(m).total() == 52);
  const Tensor x = filled({2, 3, 32, 32}, -1.0, 2.0);
  run_module(m, {x}, ExecMode::train);
  qat::QuantizeSpec q;
  q.per_channel = true;
  REQUIRE(qat::insert_weight_qdq(m, q) == 52);
  Module unfolded = m;
  const auto r = qat::fold_conv_bn_qat(m);
  m.lint();
  CHECK(r.total() == 52);
  CHECK(count_op(m.graph, "aten.div.Tensor") == 0);
  CHECK(count_op(m.graph, "quantized_decomposed.dequantize_per_channel.default") == 52);
  CHECK(relative_error(eval(m, x), eval(unfolded, x)) < 1e-4);
}

TEST_CASE("the graph writer and readers from the compiled library round-trip a prepared model") {
  Module m = resnet18_shaped(8);
  REQUIRE(qat::fuse_conv_bn_qat(m).total() == 20);
  const std::string text = io::serialize_graph(m);
  const std::string weights = io::serialize_weights(m);
  Module back = io::parse_graph_with_weights(text, reinterpret_cast<const unsigned char*>(weights.data()), weights.size());
  CHECK(to_string(back.graph) == to_string(m.graph));
  CHECK(io::serialize_graph(back) == text);
  const SafetensorsFile st = parse_safetensors(reinterpret_cast<const unsigned char*>(weights.data()), weights.size());
  CHECK(st.tensors.size() == m.parameters.size() + m.buffers.size());
  const Tensor x = filled({1, 3, 16, 16}, -1.0, 2.0);
  CHECK(relative_error(eval(back, x), eval(m, x)) == 0.0);
}

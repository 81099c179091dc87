// fuse_conv_bn_qat against torch.nn.intrinsic.qat.ConvBn{1,2,3}d: the plain conv -> batch_norm
// graph is fused by graft, the weight fake-quantizer PT2E would insert is placed on the scaled
// weight (the new conv's weight operand), and the interpreter's output and running statistics
// match PyTorch's goldens (tests/golden/make_golden.py).
#include <doctest/doctest.h>

#include <string>

#include "graft/exec/interpreter.hpp"
#include "graft/graph.hpp"
#include "graft/qat/prepare.hpp"
#include "numerics/convbn_graph.hpp"
#include "numerics/golden.hpp"

using namespace graft;

namespace {

bool per_channel(const golden::Case& c) {
  return c.params.at("weight_qscheme").get<std::string>() == "per_channel_symmetric";
}

// Puts quantize -> dequantize (the golden's scale and zero point) between the scaled weight and
// the conv, as QAT convert leaves it.
void insert_weight_fake_quant(Module& m, const golden::Case& c) {
  Node* conv = nullptr;
  for (Node* n : m.graph.nodes())
    if (n->target().find("conv") != std::string_view::npos && n->is_call_function()) conv = n;
  REQUIRE(conv != nullptr);
  Node* scaled = conv->args()[1].as_node();
  REQUIRE(scaled->target() == "aten.mul.Tensor");
  m.buffers.add("fq.scale", c["weight_fq_scale"]);
  m.buffers.add("fq.zero_point", c["weight_fq_zero_point"]);
  auto guard = m.graph.inserting_before(conv);
  Node* scale = m.graph.get_attr("fq.scale");
  Node* zp = m.graph.get_attr("fq.zero_point");
  Node* q;
  Node* dq;
  if (per_channel(c)) {
    q = m.graph.call_function("quantized_decomposed.quantize_per_channel.default",
                              {scaled, scale, zp, 0, -128, 127, DType::int8});
    dq = m.graph.call_function("quantized_decomposed.dequantize_per_channel.default",
                               {q, scale, zp, 0, -128, 127, DType::int8});
  } else {
    q = m.graph.call_function("quantized_decomposed.quantize_per_tensor.tensor",
                              {scaled, scale, zp, -128, 127, DType::int8});
    dq = m.graph.call_function("quantized_decomposed.dequantize_per_tensor.tensor",
                               {q, scale, zp, -128, 127, DType::int8});
  }
  m.graph.replace_input_with(conv, scaled, dq);
}

}  // namespace

TEST_CASE("prepare + weight fake-quant reproduces nniqat.ConvBn{1,2,3}d forward and stats") {
  std::size_t checked = 0;
  for (const auto& c : golden::load_all("qat_convbn")) {
    // graft's prepare is PT2E's approximate method; the slow-path golden is another algorithm.
    if (c.params.at("forward_path").get<std::string>() != "approximate") continue;
    CAPTURE(c.name);
    convbn::Options o;
    o.bn_op = "aten._native_batch_norm_legit.default";
    o.training = c.params.at("training").get<bool>();
    if (!o.training) o.bn_op = "aten._native_batch_norm_legit_no_training.default";
    Module m = convbn::build(c, o);
    auto report = qat::fuse_conv_bn_qat(m);
    REQUIRE(report.total() == 1);
    insert_weight_fake_quant(m, c);
    m.lint();
    auto out = run_module(m, {c["input"]});
    REQUIRE(out.size() == 1);
    CHECK(golden::rel_err(out[0], c["output"]) < 1e-5);
    CHECK(golden::rel_err(m.buffers.at("bn.running_mean"), c["running_mean_after"]) < 1e-5);
    CHECK(golden::rel_err(m.buffers.at("bn.running_var"), c["running_var_after"]) < 1e-5);
    ++checked;
  }
  CHECK(checked == 13);  // every approximate-path golden: 1-d, 2-d, 3-d; per tensor and channel
}

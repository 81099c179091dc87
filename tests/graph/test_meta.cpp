#include <doctest/doctest.h>

#include "graft/graph.hpp"
#include "support/graphs.hpp"

using namespace graft;

TEST_CASE("a node without metadata reads as empty and gets it on first write") {
  test::ConvBnRelu m;
  CHECK_FALSE(m.conv->has_meta());
  CHECK(m.conv->meta().empty());
  m.conv->meta().stack_trace = "File \"model.py\", line 12, in forward";
  CHECK(m.conv->has_meta());
  CHECK(*m.conv->meta().stack_trace == "File \"model.py\", line 12, in forward");
}

TEST_CASE("well-known meta keys are typed") {
  test::ConvBnRelu m;
  Meta& meta = m.conv->meta();
  meta.nn_module_stack = std::vector<ModuleStackEntry>{{"L__self___conv", "conv", "torch.nn.modules.conv.Conv2d"}};
  meta.source_fn_stack = std::vector<SourceFn>{{"conv", "torch.nn.modules.conv.Conv2d"}};
  meta.val = ValueMeta::tensor({1, 3, 8, 8});
  const Meta& r = m.conv->meta();
  CHECK(r.nn_module_stack->at(0).path == "conv");
  CHECK(r.source_fn_stack->at(0).type == "torch.nn.modules.conv.Conv2d");
  CHECK(r.val->tensors.at(0).shape == std::vector<std::int64_t>{1, 3, 8, 8});
  CHECK(r.val->tensors.at(0).dtype == DType::float32);
  CHECK_FALSE(r.val->is_tuple);
}

TEST_CASE("unknown meta keys are kept verbatim as JSON text") {
  test::ConvBnRelu m;
  m.conv->meta().set_other("custom", "{\"a\": [1, 2]}");
  m.conv->meta().set_other("custom", "{\"a\": [3]}");
  m.conv->meta().set_other("other", "null");
  REQUIRE(m.conv->meta().find_other("custom") != nullptr);
  CHECK(*m.conv->meta().find_other("custom") == "{\"a\": [3]}");
  CHECK(m.conv->meta().other.size() == 2);
  CHECK(m.conv->meta().find_other("missing") == nullptr);
}

TEST_CASE("a quantization annotation keeps its input map in insertion order") {
  test::ConvBnRelu m;
  auto& qa = m.conv->meta().quantization_annotation.emplace();
  QuantizationSpec act{DType::int8, -128, 127, QScheme::per_tensor_affine, std::nullopt, false, "FakeQuantize"};
  QuantizationSpec weight{DType::int8, -127, 127, QScheme::per_channel_symmetric, 0, false, "FakeQuantize"};
  DerivedQuantizationSpec bias;
  bias.derived_from = {EdgeOrNode::edge(m.x, m.conv), EdgeOrNode::edge(m.w, m.conv)};
  bias.derive_qparams_fn = "_derive_bias_qparams_fn";
  bias.quant_min = -2147483648LL;
  bias.quant_max = 2147483647LL;
  qa.input_qspec_map.emplace_back(m.x, act);
  qa.input_qspec_map.emplace_back(m.w, weight);
  qa.input_qspec_map.emplace_back(m.b, bias);
  qa.annotated = true;
  CHECK(qa.input_qspec_map[0].first == m.x);
  CHECK(qa.input_qspec_map[2].first == m.b);
  REQUIRE(qa.input_qspec(m.w) != nullptr);
  CHECK(std::get<QuantizationSpec>(*qa.input_qspec(m.w)).ch_axis == 0);
  CHECK(qa.input_qspec(m.relu) == nullptr);
  std::vector<Node*> refs;
  m.conv->meta().for_each_node_ref([&](Node*& r) { refs.push_back(r); });
  CHECK(refs == std::vector<Node*>{m.x, m.w, m.b, m.x, m.conv, m.w, m.conv});
}

TEST_CASE("node references in metadata can be re-pointed") {
  test::ConvBnRelu m;
  m.relu->meta().quantization_annotation.emplace().output_qspec =
      SharedQuantizationSpec{EdgeOrNode::edge(m.conv, m.bn)};
  m.relu->meta().for_each_node_ref([&](Node*& r) {
    if (r == m.conv) r = m.x;
  });
  auto& shared = std::get<SharedQuantizationSpec>(*m.relu->meta().quantization_annotation->output_qspec);
  CHECK(shared.edge_or_node == EdgeOrNode::edge(m.x, m.bn));
}

TEST_CASE("qscheme and dtype names parse with or without the torch prefix") {
  CHECK(parse_qscheme("torch.per_channel_symmetric") == QScheme::per_channel_symmetric);
  CHECK(parse_qscheme("per_tensor_affine") == QScheme::per_tensor_affine);
  CHECK_FALSE(parse_qscheme("per_nothing").has_value());
  CHECK(qscheme_name(QScheme::per_channel_affine) == "per_channel_affine");
  CHECK(parse_dtype("torch.int8") == DType::int8);
  CHECK(parse_dtype("float") == DType::float32);
  CHECK(parse_dtype("long") == DType::int64);
  CHECK(parse_dtype("bool") == DType::boolean);
  CHECK_FALSE(parse_dtype("float128").has_value());
  CHECK(dtype_name(DType::quint8) == "quint8");
}

TEST_CASE("copying a graph re-points metadata references to the copies") {
  test::ConvBnRelu m;
  auto& qa = m.relu->meta().quantization_annotation.emplace();
  qa.input_qspec_map.emplace_back(m.bn, QuantizationSpec{});
  qa.output_qspec = SharedQuantizationSpec{EdgeOrNode::edge(m.conv, m.bn)};
  m.relu->meta().stack_trace = "trace";
  std::unordered_map<const Node*, Node*> map;
  Graph copy = m.g.clone(&map);
  const Meta& cm = map.at(m.relu)->meta();
  CHECK(*cm.stack_trace == "trace");
  CHECK(cm.quantization_annotation->input_qspec_map[0].first == map.at(m.bn));
  CHECK(std::get<SharedQuantizationSpec>(*cm.quantization_annotation->output_qspec).edge_or_node ==
        EdgeOrNode::edge(map.at(m.conv), map.at(m.bn)));
  copy.lint();
}

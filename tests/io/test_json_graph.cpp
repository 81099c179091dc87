// Graph files (format v1, docs/format.md): everything a graph holds survives write -> read, and
// read -> write -> read is the identity.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "graft/graph/printer.hpp"
#include "graft/io/json_graph.hpp"

using namespace graft;
namespace fs = std::filesystem;

namespace {

fs::path tmp_dir(const std::string& name) {
  fs::path d = fs::path(GRAFT_TMP_DIR) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

Node* by_name(const Graph& g, std::string_view name) {
  for (Node* n : g.nodes())
    if (n->name() == name) return n;
  FAIL("no node ", name);
  return nullptr;
}

// A graph with every kind of argument and metadata.
Module everything() {
  Module m;
  Graph& g = m.graph;
  m.parameters.add("conv.weight", Tensor::full<float>({2, 1, 1, 1}, 0.5f));
  m.buffers.add("bn.running_var", Tensor::full<double>({2}, 2.0));
  m.buffers.add("bn.num_batches_tracked", Tensor(DType::int64, {}));
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("conv.weight");
  Node* var = g.get_attr("bn.running_var");
  Node* conv = g.call_function("aten.conv2d.default", {x, w, nullptr, ints({1, 1}), ints({0, 0})});
  Node* c = g.call_function("aten.add.Tensor", {conv, 1.0}, {{"alpha", 2}});
  Node* odd = g.call_function("mylib.odd.default",
                              {c, std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN(), true, false, "text \"quoted\"", DType::int8,
                               list({list({1, 2.5}), list({}), nullptr}), var, std::int64_t{-9007199254740993}});
  g.output(list({odd, conv}));
  conv->meta().stack_trace = "File \"model.py\", line 3, in forward";
  conv->meta().nn_module_stack = std::vector<ModuleStackEntry>{{"L__self__", "", "M"}, {"L__self___conv", "conv", "torch.nn.Conv2d"}};
  conv->meta().source_fn_stack = std::vector<SourceFn>{{"conv", "torch.nn.Conv2d"}};
  conv->meta().val = ValueMeta::tensor({1, 2, 4, 4});
  c->meta().val = ValueMeta{{TensorMeta{{1}, DType::float32}, TensorMeta{{2, 3}, DType::float64}}, true};
  c->meta().other.emplace_back("custom", "{\"a\":[1,2,{\"b\":null}]}");
  QuantizationAnnotation qa;
  QuantizationSpec q;
  q.dtype = DType::uint8;
  q.quant_min = 0;
  q.quant_max = 255;
  q.qscheme = QScheme::per_tensor_affine;
  q.observer_or_fake_quant_ctr = "HistogramObserver";
  qa.input_qspec_map.emplace_back(x, q);
  DerivedQuantizationSpec d;
  d.derived_from = {EdgeOrNode::edge(x, conv), EdgeOrNode::edge(w, conv)};
  d.derive_qparams_fn = "derive_bias_qparams";
  d.quant_min = std::numeric_limits<std::int32_t>::min();
  d.quant_max = std::numeric_limits<std::int32_t>::max();
  d.qscheme = QScheme::per_channel_symmetric;
  d.ch_axis = 0;
  qa.input_qspec_map.emplace_back(w, d);
  qa.output_qspec = SharedQuantizationSpec{EdgeOrNode::node(odd)};  // a later node
  qa.annotated = true;
  qa.allow_implicit_sharing = false;
  conv->meta().quantization_annotation = qa;
  QuantizationAnnotation fixed;
  fixed.output_qspec = FixedQParamsQuantizationSpec{DType::uint8, 1.0 / 256, 0, 0, 255, QScheme::per_tensor_affine};
  odd->meta().quantization_annotation = fixed;
  return m;
}

}  // namespace

TEST_CASE("serialize -> parse -> serialize is the identity, for every argument and meta kind") {
  Module m = everything();
  const std::string text = io::serialize_graph(m);
  Module back = io::parse_graph(text, {}, {false});
  CHECK(io::serialize_graph(back) == text);
  CHECK(to_string(back.graph) == to_string(m.graph));
}

TEST_CASE("arguments come back with their kinds and values") {
  Module back = io::parse_graph(io::serialize_graph(everything()), {}, {false});
  const Node* odd = by_name(back.graph, "odd");
  const auto& a = odd->args();
  REQUIRE(a.size() == 11);
  CHECK(a[0].as_node() == by_name(back.graph, "add"));
  CHECK(std::isinf(a[1].as_double()));
  CHECK(a[1].as_double() > 0);
  CHECK(a[2].as_double() < 0);
  CHECK(std::isnan(a[3].as_double()));
  CHECK(a[4] == Argument(true));
  CHECK(a[6].as_string() == "text \"quoted\"");
  CHECK(a[7] == Argument(DType::int8));
  CHECK(a[8] == list({list({1, 2.5}), list({}), nullptr}));
  CHECK(a[8].as_list()[0].as_list()[1].kind() == ArgKind::real);
  CHECK(a[9].as_node()->target() == "bn.running_var");
  CHECK(a[10] == Argument(std::int64_t{-9007199254740993}));
  const Node* add = by_name(back.graph, "add");
  REQUIRE(add->kwargs().size() == 1);
  CHECK(add->kwargs()[0].name == "alpha");
  CHECK(add->kwargs()[0].value == Argument(2));
  CHECK(add->args()[1].kind() == ArgKind::real);  // 1.0 stays a float
}

TEST_CASE("metadata and quantization annotations come back, node references included") {
  Module back = io::parse_graph(io::serialize_graph(everything()), {}, {false});
  const Node* conv = by_name(back.graph, "conv2d");
  const Meta& meta = conv->meta();
  CHECK(*meta.stack_trace == "File \"model.py\", line 3, in forward");
  REQUIRE(meta.nn_module_stack);
  CHECK((*meta.nn_module_stack)[1] == ModuleStackEntry{"L__self___conv", "conv", "torch.nn.Conv2d"});
  CHECK(*meta.source_fn_stack == std::vector<SourceFn>{{"conv", "torch.nn.Conv2d"}});
  CHECK(*meta.val == ValueMeta::tensor({1, 2, 4, 4}));
  const auto& qa = *meta.quantization_annotation;
  REQUIRE(qa.input_qspec_map.size() == 2);
  CHECK(qa.input_qspec_map[0].first == by_name(back.graph, "x"));
  CHECK(std::get<QuantizationSpec>(qa.input_qspec_map[0].second).observer_or_fake_quant_ctr == "HistogramObserver");
  const auto& d = std::get<DerivedQuantizationSpec>(qa.input_qspec_map[1].second);
  CHECK(d.derived_from[1] == EdgeOrNode::edge(by_name(back.graph, "conv_weight"), const_cast<Node*>(conv)));
  CHECK(d.ch_axis == 0);
  CHECK(std::get<SharedQuantizationSpec>(*qa.output_qspec).edge_or_node.src == by_name(back.graph, "odd"));
  CHECK(qa.annotated);
  CHECK_FALSE(qa.allow_implicit_sharing);
  const Node* add = by_name(back.graph, "add");
  CHECK(add->meta().val->is_tuple);
  CHECK(*add->meta().find_other("custom") == "{\"a\":[1,2,{\"b\":null}]}");
  const auto& f = std::get<FixedQParamsQuantizationSpec>(*by_name(back.graph, "odd")->meta().quantization_annotation->output_qspec);
  CHECK(f.scale == 1.0 / 256);
}

TEST_CASE("write_graph writes the JSON and its tensors; read_graph puts parameters and buffers back") {
  const fs::path dir = tmp_dir("write_read");
  Module m = everything();
  io::write_graph(m, dir / "model.json");
  CHECK(fs::exists(dir / "model.safetensors"));
  CHECK(io::read_file(dir / "model.json").find("\"weights\": \"model.safetensors\"") != std::string::npos);
  io::LoadedGraph back = io::load_graph(dir / "model.json");
  CHECK(back.weights == dir / "model.safetensors");
  CHECK(back.module.parameters == m.parameters);
  CHECK(back.module.buffers == m.buffers);
  CHECK(io::serialize_graph(back.module) == io::serialize_graph(m));
  // Nothing else is left in the directory (no temporary files).
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 2);
}

TEST_CASE("weights in another directory are referenced relative to the JSON file") {
  const fs::path dir = tmp_dir("relative");
  fs::create_directories(dir / "graphs");
  fs::create_directories(dir / "weights");
  io::WriteOptions wo;
  wo.weights = dir / "weights" / "w.safetensors";
  io::write_graph(everything(), dir / "graphs" / "m.json", wo);
  CHECK(io::read_file(dir / "graphs" / "m.json").find("\"weights\": \"../weights/w.safetensors\"") != std::string::npos);
  CHECK(io::read_graph(dir / "graphs" / "m.json").parameters.size() == 1);
}

TEST_CASE("a failed write leaves nothing behind") {
  const fs::path dir = tmp_dir("failed_write");
  io::WriteOptions wo;
  wo.weights = dir / "missing_dir" / "w.safetensors";
  CHECK_THROWS_AS(io::write_graph(everything(), dir / "m.json", wo), io::FileError);
  CHECK(fs::is_empty(dir));
}

// Bad graph files: each gives a FormatError that says what and where (file, JSON path or byte
// offset, node name), and nothing is returned half-read.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "graft/io/json_graph.hpp"

using namespace graft;
namespace fs = std::filesystem;

namespace {

// x -> relu -> output, with `extra` spliced into the node list before the output.
std::string graph_with(const std::string& extra, const std::string& output = R"({"name": "output", "op": "output", "target": "output", "args": [{"node": "relu"}]})") {
  return R"({"graft": 1, "nodes": [
    {"name": "x", "op": "placeholder", "target": "x"},
    {"name": "relu", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}]})" +
         (extra.empty() ? "" : ",\n" + extra) + (output.empty() ? "" : ",\n" + output) + "]}";
}

void check_error(const std::string& text, const std::string& expected) {
  CAPTURE(text);
  CHECK_THROWS_WITH_AS(io::parse_graph(text, {}, {}, "bad.json"), doctest::Contains(expected.c_str()), io::FormatError);
}

}  // namespace

TEST_CASE("the well-formed base graph of these tests reads") {
  Module m = io::parse_graph(graph_with(""));
  CHECK(m.graph.size() == 3);
}

TEST_CASE("malformed JSON is reported with its byte offset") {
  check_error("{\"graft\": 1, \"nodes\": [", "bad.json: malformed JSON at byte 24");
  check_error("{\"graft\": 1,, }", "malformed JSON at byte 13");
}

TEST_CASE("a file that is not a graft graph, or of another version, is refused") {
  check_error("[1, 2]", "$: expected a JSON object");
  check_error("{\"nodes\": []}", "missing \"graft\": 1");
  check_error("{\"graft\": 2, \"nodes\": []}", "$.graft: unsupported format version 2");
  check_error("{\"graft\": 1, \"nodes\": {}}", "$.nodes: expected an array");
}

TEST_CASE("an unknown op kind names the node's JSON path") {
  check_error(graph_with(R"({"name": "y", "op": "call_module", "target": "m"})"),
              "$.nodes[2].op: unknown op \"call_module\"");
}

TEST_CASE("references to undefined and to later nodes are errors") {
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "nope"}]})"),
              "$.nodes[2].args[0].node: reference to node \"nope\", which is not defined");
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.add.Tensor", "args": [{"node": "z"}, 1]},
    {"name": "z", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}]})"),
              "reference to node \"z\", which is defined later (graph order must be topological)");
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "y"}]})"),
              "reference to node \"y\", which is defined later");
}

TEST_CASE("duplicate names are errors") {
  check_error(graph_with(R"({"name": "relu", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}]})"),
              "$.nodes[2].name: duplicate node name \"relu\"");
}

TEST_CASE("a missing output node, a second one, or nodes after it are errors") {
  check_error(graph_with("", ""), "$.nodes: no output node");
  check_error(graph_with("", R"({"name": "output", "op": "output", "target": "output", "args": [{"node": "relu"}]},
    {"name": "output_1", "op": "output", "target": "output", "args": [{"node": "relu"}]})"),
              "$.nodes[3]: node \"output_1\" comes after the output node");
  check_error(graph_with("", R"({"name": "output", "op": "output", "target": "output", "args": []})"),
              "the output node takes one argument");
}

TEST_CASE("unknown dtype names, argument objects and qspec kinds are errors") {
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.to.dtype", "args": [{"node": "x"}, {"dtype": "float13"}]})"),
              "$.nodes[2].args[1].dtype: unknown dtype \"float13\"");
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.relu.default", "args": [{"tensor": 1}]})"),
              "$.nodes[2].args[0]: unknown argument object");
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.relu.default", "args": [{"float": "big"}]})"),
              "expected \"inf\", \"-inf\" or \"nan\"");
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}],
    "meta": {"quantization_annotation": {"output_qspec": {"kind": "magic"}}}})"),
              "$.nodes[2].meta.quantization_annotation.output_qspec.kind: unknown qspec kind \"magic\"");
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}],
    "meta": {"val": {"shape": [1, "a"], "dtype": "float32"}}})"),
              "$.nodes[2].meta.val.shape: expected an array of integers");
}

TEST_CASE("a get_attr with no tensor in the weights file, or without any weights file, is an error") {
  const std::string text = graph_with(R"({"name": "w", "op": "get_attr", "target": "conv.weight"})");
  check_error(text, "get_attr node \"w\" names \"conv.weight\", which is not in any weights file");
  const fs::path dir = fs::path(GRAFT_TMP_DIR) / "weights_errors";
  fs::remove_all(dir);
  fs::create_directories(dir);
  write_safetensors((dir / "w.safetensors").string(), {{"other", Tensor(DType::float32, {1})}});
  std::string with_weights = text;
  with_weights.replace(with_weights.find("\"graft\": 1"), 10, "\"graft\": 1, \"weights\": \"w.safetensors\"");
  CHECK_THROWS_WITH_AS(io::parse_graph(with_weights, dir, {}, "m.json"),
                       doctest::Contains("which is not in the weights file w.safetensors"), io::FormatError);
  // A weights file that fails the safetensors checks.
  io::write_file_atomically(dir / "w.safetensors", std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13));
  CHECK_THROWS_WITH_AS(io::parse_graph(with_weights, dir, {}, "m.json"), doctest::Contains("$.weights: safetensors"),
                       io::FormatError);
  // Missing file.
  fs::remove(dir / "w.safetensors");
  CHECK_THROWS_WITH_AS(io::parse_graph(with_weights, dir, {}, "m.json"), doctest::Contains("cannot open"), io::FormatError);
}

TEST_CASE("nesting deeper than the limit is refused before it is built") {
  const std::string deep = std::string(100000, '[') + "1" + std::string(100000, ']');
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.relu.default", "args": )" + deep + "}"),
              "JSON nested deeper than the limit of 256 levels");
}

TEST_CASE("a graph file that does not exist is an error naming it") {
  CHECK_THROWS_WITH_AS(io::read_graph("/nonexistent/graft/model.json"), doctest::Contains("/nonexistent/graft/model.json"),
                       io::FormatError);
}

TEST_CASE("arguments that do not fit the op's schema are errors naming the node and argument") {
  check_error(graph_with(R"({"name": "c", "op": "call_function", "target": "aten.conv2d.default", "args": [{"node": "x"}]})"),
              "$.nodes[2]: node \"c\": aten.conv2d.default(input, weight, bias, stride, padding, dilation, groups): missing required argument 'weight'");
  check_error(graph_with(R"({"name": "b", "op": "call_function", "target": "aten.batch_norm.default",
    "args": [{"node": "x"}, null, null, null, null, true, 0.1, "1e-5", false]})"),
              "argument 'eps' must be float, got str");
  check_error(graph_with(R"({"name": "r", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}, 1]})"),
              "takes at most 1 positional arguments, got 2");
  check_error(graph_with(R"({"name": "r", "op": "call_function", "target": "aten.relu.default", "args": [{"node": "x"}], "kwargs": {"inplace": true}})"),
              "has no argument named 'inplace'");
  check_error(graph_with(R"({"name": "r", "op": "call_function", "target": "aten.relu.default", "args": ["three"]})"),
              "argument 'self' must be Tensor, got str");
}

TEST_CASE("a number beyond double's range is a FormatError, not nlohmann's out_of_range") {
  check_error(graph_with(R"({"name": "y", "op": "call_function", "target": "aten.mul.Tensor", "args": [{"node": "x"}, 1e3082]})"),
              "bad.json: malformed JSON: [json.exception.out_of_range.406] number overflow parsing '1e3082'");
}

TEST_CASE("a graph larger than ReadOptions::max_file_bytes is refused before parsing") {
  const std::string text = graph_with("");
  io::ReadOptions opt;
  opt.max_file_bytes = text.size() - 1;
  CHECK_THROWS_WITH_AS(io::parse_graph(text, {}, opt, "big.json"),
                       ("graph file big.json: " + std::to_string(text.size()) + " bytes, more than the limit of " +
                        std::to_string(text.size() - 1)).c_str(),
                       io::FormatError);
  opt.max_file_bytes = text.size();
  CHECK(io::parse_graph(text, {}, opt).graph.size() == 3);
  // The same limit applies to files, checked against the file size before reading.
  const fs::path dir = fs::path(GRAFT_TMP_DIR) / "max_file_bytes";
  fs::create_directories(dir);
  io::write_files_atomically({{dir / "g.json", text}});
  opt.max_file_bytes = 10;
  CHECK_THROWS_WITH_AS(io::read_graph(dir / "g.json", opt), doctest::Contains("bytes, more than the limit of 10"),
                       io::FormatError);
}

TEST_CASE("ReadOptions::max_nodes and max_depth are enforced with their values in the message") {
  io::ReadOptions opt;
  opt.max_nodes = 2;
  CHECK_THROWS_WITH_AS(io::parse_graph(graph_with(""), {}, opt, "g.json"),
                       "graph file g.json: $.nodes: 3 nodes, more than the limit 2", io::FormatError);
  opt = {};
  opt.max_depth = 3;
  CHECK_THROWS_WITH_AS(io::parse_graph(graph_with(R"({"name": "y", "op": "call_function", "target": "my.op", "args": [[[1]]]})"), {}, opt, "g.json"),
                       doctest::Contains("JSON nested deeper than the limit of 3 levels at byte"), io::FormatError);
}

TEST_CASE("weights given as bytes in memory are read instead of a file, with the same checks") {
  const std::string text = R"({"graft": 1, "weights": "not/read.safetensors", "nodes": [
    {"name": "x", "op": "placeholder", "target": "x"},
    {"name": "w", "op": "get_attr", "target": "w"},
    {"name": "y", "op": "call_function", "target": "aten.mul.Tensor", "args": [{"node": "x"}, {"node": "w"}]},
    {"name": "output", "op": "output", "target": "output", "args": [{"node": "y"}]}]})";
  const std::string bytes = serialize_safetensors({{"w", Tensor::from<float>({1.5f, -2.0f}, {2})}});
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  Module m = io::parse_graph_with_weights(text, data, bytes.size());
  CHECK(m.attr("w") == Tensor::from<float>({1.5f, -2.0f}, {2}));
  // A missing tensor is named; so is a malformed weights buffer (and its offset).
  const std::string other = serialize_safetensors({{"v", Tensor::from<float>({1.0f}, {1})}});
  CHECK_THROWS_WITH_AS(io::parse_graph_with_weights(text, reinterpret_cast<const unsigned char*>(other.data()), other.size()),
                       doctest::Contains("get_attr node \"w\" names \"w\", which is not in the weights file <memory>"),
                       io::FormatError);
  CHECK_THROWS_WITH_AS(io::parse_graph_with_weights(text, data, 7), doctest::Contains("shorter than the 8-byte header length at offset 0"),
                       io::FormatError);
}

// Every graph file under tests/data reads, writes back identically, and the models exported from
// PyTorch (tools/export_torch.py) give PyTorch's outputs, before and after prepare, and after
// prepare -> quantize -> convert within quantization error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "graft/exec/interpreter.hpp"
#include "graft/io/json_graph.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "graft/qat/weight_qdq.hpp"

using namespace graft;
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> graph_files() {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(GRAFT_DATA_DIR))
    if (e.is_regular_file() && e.path().extension() == ".json" && e.path().parent_path().filename() != "bad") {
      const std::string head = io::read_file(e.path()).substr(0, 64);
      if (head.find("\"graft\"") != std::string::npos) out.push_back(e.path());
    }
  std::sort(out.begin(), out.end());
  return out;
}

double rel_err(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  Tensor x = kernels::to_dtype(a, DType::float64), y = kernels::to_dtype(b, DType::float64);
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < x.numel(); ++i) {
    diff = std::max(diff, std::abs(x.data<double>()[i] - y.data<double>()[i]));
    scale = std::max(scale, std::abs(y.data<double>()[i]));
  }
  return scale == 0 ? diff : diff / scale;
}

// <stem>.input.safetensors / <stem>.output.safetensors beside a model, when present.
struct Example {
  std::vector<Tensor> inputs;
  Tensor output;
};
std::optional<Example> example_for(const fs::path& model, const Module& m) {
  fs::path in = model, out = model;
  in.replace_extension(".input.safetensors");
  out.replace_extension(".output.safetensors");
  if (!fs::exists(in) || !fs::exists(out)) return std::nullopt;
  Example ex;
  const SafetensorsFile fin = read_safetensors(in.string());
  for (const Node* n : m.graph.nodes())
    if (n->is_placeholder()) ex.inputs.push_back(fin.at(std::string(n->target())));
  ex.output = read_safetensors(out.string()).at("output_0");
  return ex;
}

}  // namespace

TEST_CASE("every graph file under tests/data reads and writes back identically") {
  const auto files = graph_files();
  CHECK(files.size() >= 4);
  for (const fs::path& f : files) {
    CAPTURE(f.string());
    io::LoadedGraph g = io::load_graph(f);
    const std::string weights = g.weights.empty() ? std::string() : g.weights.filename().string();
    const std::string once = io::serialize_graph(g.module, weights);
    Module back = io::parse_graph(once, f.parent_path(), {}, f.string());
    CHECK(io::serialize_graph(back, weights) == once);
    CHECK(back.parameters == g.module.parameters);
    CHECK(back.buffers == g.module.buffers);
  }
}

TEST_CASE("models exported from PyTorch give PyTorch's outputs, before and after prepare") {
  std::size_t checked = 0;
  for (const fs::path& f : graph_files()) {
    Module m = io::read_graph(f);
    auto ex = example_for(f, m);
    if (!ex) continue;
    CAPTURE(f.string());
    Module run = m;
    CHECK(rel_err(run_module(run, ex->inputs).at(0), ex->output) < 1e-5);
    Module prepared = m;
    auto r = qat::fuse_conv_bn_qat(prepared);
    CHECK(r.total() >= 1);
    prepared.lint();
    CHECK(rel_err(run_module(prepared, ex->inputs).at(0), ex->output) < 1e-5);
    ++checked;
  }
  CHECK(checked >= 3);
}

TEST_CASE("exported models go through prepare -> quantize -> convert with no BN left") {
  std::size_t checked = 0;
  for (const fs::path& f : graph_files()) {
    Module m = io::read_graph(f);
    auto ex = example_for(f, m);
    if (!ex) continue;
    CAPTURE(f.string());
    auto p = qat::fuse_conv_bn_qat(m);
    REQUIRE(p.total() >= 1);
    qat::QuantizeSpec q;
    q.per_channel = true;
    REQUIRE(qat::insert_weight_qdq(m, q) == static_cast<int>(p.total()));
    Module qat_model = m;
    auto c = qat::fold_conv_bn_qat(m);
    m.lint();
    CHECK(c.total() == p.total());
    for (const Node* n : m.graph.nodes()) CHECK(n->target().find("batch_norm") == std::string_view::npos);
    CHECK(rel_err(run_module(m, ex->inputs, ExecMode::eval).at(0), run_module(qat_model, ex->inputs, ExecMode::eval).at(0)) < 1e-4);
    ++checked;
  }
  CHECK(checked >= 3);
}

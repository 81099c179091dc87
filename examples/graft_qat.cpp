// graft-qat: PyTorch PT2E's conv-bn QAT passes on graph files, from the command line.
//
//   graft-qat demo                                    the whole flow on a built-in model
//   graft-qat prepare IN.json -o OUT.json             fuse conv-bn for QAT
//   graft-qat quantize IN.json -o OUT.json [--per-channel] [--quantize-bias]
//                                                     weight q/dq on a prepared graph, as a
//                                                     quantizer + convert_pt2e would leave them
//   graft-qat convert IN.json -o OUT.json             fold BN into conv; writes OUT.safetensors
//   graft-qat run MODEL.json INPUTS.safetensors -o OUTPUTS.safetensors [--train|--eval]
//                                                     [--save-weights W.safetensors]
//   graft-qat show MODEL.json [--dot FILE.dot] [--report REPORT.json]
//   graft-qat compare GOT.safetensors REF.safetensors [--tolerance T]
//                                                     same tensors within a relative tolerance
//
// prepare/convert print a summary (--quiet: nothing; --report FILE.json: machine-readable).
// Errors go to stderr as "graft-qat: error: ..."; exit code 2 for bad input, 1 for bad usage,
// 3 when the demo's final check fails or compare finds a difference. Nothing is written when a command fails.
// Graph files: docs/format.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "graft/exec/interpreter.hpp"
#include "graft/graph.hpp"
#include "graft/io/dot.hpp"
#include "graft/io/file.hpp"
#include "graft/io/json_graph.hpp"
#include "graft/io/safetensors.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "graft/qat/weight_qdq.hpp"

namespace fs = std::filesystem;
using namespace graft;
using json = nlohmann::ordered_json;

namespace {

constexpr const char* kUsage =
    "usage: graft-qat demo\n"
    "       graft-qat prepare IN.json -o OUT.json [--report REPORT.json] [--quiet]\n"
    "       graft-qat quantize IN.json -o OUT.json [--per-channel] [--quantize-bias]\n"
    "       graft-qat convert IN.json -o OUT.json [--report REPORT.json] [--quiet]\n"
    "       graft-qat run MODEL.json INPUTS.safetensors -o OUTPUTS.safetensors [--train|--eval]\n"
    "                     [--save-weights WEIGHTS.safetensors]\n"
    "       graft-qat show MODEL.json [--dot FILE.dot] [--report REPORT.json]\n"
    "       graft-qat compare GOT.safetensors REF.safetensors [--tolerance T]\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- Arguments --------------------------------------------------------------------------------

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // --name value
  std::set<std::string> flags;                 // --name
};

Args parse_args(int argc, char** argv, int first, const std::set<std::string>& with_value,
                const std::set<std::string>& flags) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s.size() > 1 && s[0] == '-') {
      if (with_value.count(s)) {
        if (i + 1 >= argc) throw UsageError(s + " needs a value");
        a.options[s] = argv[++i];
      } else if (flags.count(s)) {
        a.flags.insert(s);
      } else {
        throw UsageError("unknown option " + s);
      }
    } else {
      a.positional.push_back(std::move(s));
    }
  }
  return a;
}

bool on_terminal() {
#if defined(__unix__) || defined(__APPLE__)
  return isatty(fileno(stderr)) != 0;
#else
  return false;
#endif
}

// Progress lines for long runs, on a terminal only.
struct Progress {
  bool enabled = false;
  void step(const std::string& what) const {
    if (enabled) std::cerr << "graft-qat: " << what << "...\n";
  }
};

// ---- What a pass changed, by node name ----------------------------------------------------------

struct Snapshot {
  std::unordered_map<std::string, std::string> nodes;  // name -> signature
  std::set<std::string> tensors;
};

// What a node computes: its target and arguments (not its users).
std::string signature(const Node& n) {
  std::string s(n.target());
  for (const Argument& a : n.args()) detail::format_arg(s += '|', a);
  for (const Kwarg& k : n.kwargs()) detail::format_arg((s += '|') += k.name, k.value);
  return s;
}

std::set<std::string> tensor_names(const Module& m) {
  std::set<std::string> names;
  m.parameters.for_each([&](const NamedTensors::Entry& e) { names.insert(e.name); });
  m.buffers.for_each([&](const NamedTensors::Entry& e) { names.insert(e.name); });
  return names;
}

Snapshot snapshot(const Module& m) {
  Snapshot s;
  for (const Node* n : m.graph.nodes()) s.nodes.emplace(std::string(n->name()), signature(*n));
  s.tensors = tensor_names(m);
  return s;
}

struct Diff {
  std::vector<std::string> created, changed, removed;
};

Diff diff(const Snapshot& before, const Module& after) {
  Diff d;
  std::unordered_set<std::string> alive;
  for (const Node* n : after.graph.nodes()) {
    std::string name(n->name());
    auto it = before.nodes.find(name);
    if (it == before.nodes.end()) d.created.push_back(name);
    else if (it->second != signature(*n)) d.changed.push_back(name);
    alive.insert(std::move(name));
  }
  for (const auto& [name, line] : before.nodes)
    if (!alive.count(name)) d.removed.push_back(name);
  std::sort(d.removed.begin(), d.removed.end());
  return d;
}

json string_list(const std::vector<std::string>& v) {
  json a = json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

// ---- Files ---------------------------------------------------------------------------------------

std::string relative_to(const fs::path& target, const fs::path& dir) {
  const fs::path t = fs::absolute(target).lexically_normal();
  const fs::path d = fs::absolute(dir.empty() ? fs::path(".") : dir).lexically_normal();
  fs::path r = t.lexically_relative(d);
  return (r.empty() ? t : r).generic_string();
}

void write_report(const std::optional<std::string>& path, const json& report) {
  if (path) io::write_file_atomically(*path, report.dump(2) + "\n");
}

// ---- prepare / convert ---------------------------------------------------------------------------

int run_pass(const std::string& pass, int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"-o", "--report"}, {"--quiet"});
  if (a.positional.size() != 1 || !a.options.count("-o")) throw UsageError(pass + " needs IN.json and -o OUT.json");
  const fs::path in = a.positional[0], out = a.options["-o"];
  const bool quiet = a.flags.count("--quiet") != 0;
  std::optional<std::string> report_path;
  if (a.options.count("--report")) report_path = a.options["--report"];

  Progress progress;
  progress.enabled = on_terminal() && !quiet;
  progress.step("reading " + in.string());
  io::LoadedGraph loaded = io::load_graph(in);
  Module& m = loaded.module;
  progress.enabled = progress.enabled && m.graph.size() > 100000;
  const Snapshot before = snapshot(m);

  progress.step(pass == "prepare" ? "fusing conv-bn pairs" : "folding batch norms");
  const auto t0 = std::chrono::steady_clock::now();
  json variants = json::object();
  json skipped = json::array();
  json params = json::object();
  std::size_t nodes_before = 0, nodes_after = 0, total = 0;
  if (pass == "prepare") {
    auto r = qat::fuse_conv_bn_qat(m);
    for (const auto& [v, n] : r.fused) variants[v] = n;
    for (const auto& [bn, why] : r.skipped) skipped.push_back(json::array({bn, why}));
    nodes_before = r.nodes_before;
    nodes_after = r.nodes_after;
    total = r.total();
  } else {
    qat::check_conv_bn_pairs(m);  // conv-bn pairs left unprepared must be sound too
    auto r = qat::fold_conv_bn_qat(m);
    for (const auto& [v, n] : r.folded) variants[v] = n;
    for (const auto& [bn, why] : r.skipped) skipped.push_back(json::array({bn, why}));
    nodes_before = r.nodes_before;
    nodes_after = r.nodes_after;
    total = r.total();
    params["rewritten"] = string_list(r.parameters_rewritten);
    params["created"] = string_list(r.parameters_created);
    json cow = json::array();
    for (const auto& [from, to] : r.copied_on_write) cow.push_back(json::array({from, to}));
    params["copied_on_write"] = std::move(cow);
    params["counters_removed"] = string_list(r.counters_removed);
    params["counters_kept"] = string_list(r.counters_kept);
    params["dequantize_merged"] = r.dequantize_merged;
  }
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  Diff d = diff(before, m);
  if (pass == "convert") {
    // get_attr nodes whose tensor was folded in place changed too, and the tensors no node reads
    // any more (the BN's) are left out of the written weights.
    std::set<std::string> rewritten;
    for (const auto& p : params["rewritten"]) rewritten.insert(p.get<std::string>());
    std::set<std::string> read;
    for (const Node* n : m.graph.nodes())
      if (n->is_get_attr()) {
        read.insert(std::string(n->target()));
        if (rewritten.count(std::string(n->target())) &&
            std::find(d.changed.begin(), d.changed.end(), n->name()) == d.changed.end())
          d.changed.push_back(std::string(n->name()));
      }
    std::vector<std::string> unused;
    for (const auto* tensors : {&m.parameters, &m.buffers})
      tensors->for_each([&](const NamedTensors::Entry& e) {
        if (!read.count(e.name)) unused.push_back(e.name);
      });
    for (const auto& name : unused) {
      if (!m.parameters.erase(name)) m.buffers.erase(name);
    }
    params["dropped_unused"] = string_list(unused);
  }

  progress.step("writing " + out.string());
  io::WriteOptions wo;
  if (pass == "prepare" && tensor_names(m) == before.tensors) {
    // prepare changes no tensor: point at the input's weights.
    if (!loaded.weights.empty()) wo.existing_weights = relative_to(loaded.weights, out.parent_path());
    else wo.existing_weights = std::string();
  }
  json report = json::object();
  report["pass"] = pass;
  report["input"] = in.generic_string();
  report["output"] = out.generic_string();
  report["matches"] = total;
  report["variants"] = variants;
  report["skipped"] = skipped;
  report["nodes_before"] = nodes_before;
  report["nodes_after"] = nodes_after;
  report["created"] = string_list(d.created);
  report["changed"] = string_list(d.changed);
  report["removed"] = string_list(d.removed);
  if (pass == "convert") report["parameters"] = params;
  report["time_ms"] = ms;
  // Serialise everything first: the output files and the report land together or not at all.
  io::write_graph(m, out, wo);
  write_report(report_path, report);

  if (!quiet) {
    std::cout << "graft-qat " << pass << ": " << in.generic_string() << " -> " << out.generic_string() << "\n";
    std::cout << "  " << (pass == "prepare" ? "fused " : "folded ") << total << " conv-bn pair" << (total == 1 ? "" : "s")
              << " in " << std::fixed << std::setprecision(2) << ms << " ms";
    std::string sep = ": ";
    for (const auto& [v, n] : variants.items()) {
      std::cout << sep << v << " " << n.get<std::size_t>();
      sep = ", ";
    }
    std::cout << "\n  nodes " << nodes_before << " -> " << nodes_after << " (" << d.created.size() << " created, "
              << d.changed.size() << " changed, " << d.removed.size() << " removed)\n";
    if (pass == "convert") {
      std::cout << "  parameters: " << params["rewritten"].size() << " folded in place, " << params["created"].size()
                << " created, " << params["copied_on_write"].size() << " copied on write; counters removed "
                << params["counters_removed"].size() << ", kept " << params["counters_kept"].size()
                << "; dequantize nodes merged " << params["dequantize_merged"].get<std::size_t>() << "; "
                << params["dropped_unused"].size() << " tensors no node reads any more left out\n";
      std::cout << "  weights: " << fs::path(out).replace_extension(".safetensors").generic_string() << "\n";
    }
    for (const auto& s : skipped) std::cout << "  skipped " << s[0].get<std::string>() << ": " << s[1].get<std::string>() << "\n";
  }
  return 0;
}

// ---- quantize -------------------------------------------------------------------------------------

int quantize(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"-o"}, {"--per-channel", "--quantize-bias", "--quiet"});
  if (a.positional.size() != 1 || !a.options.count("-o")) throw UsageError("quantize needs IN.json and -o OUT.json");
  Module m = io::read_graph(a.positional[0]);
  qat::QuantizeSpec spec;
  spec.per_channel = a.flags.count("--per-channel") != 0;
  spec.quantize_bias = a.flags.count("--quantize-bias") != 0;
  const int n = qat::insert_weight_qdq(m, spec);
  m.lint();
  io::write_graph(m, a.options["-o"]);
  if (!a.flags.count("--quiet"))
    std::cout << "graft-qat quantize: " << a.positional[0] << " -> " << a.options["-o"] << "\n  weight q/dq ("
              << (spec.per_channel ? "per channel" : "per tensor") << ", int8) on " << n << " prepared conv"
              << (n == 1 ? "" : "s") << (spec.quantize_bias ? ", int32 bias q/dq" : "") << "\n";
  return 0;
}

// ---- run -----------------------------------------------------------------------------------------

int run_model(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"-o", "--save-weights"}, {"--train", "--eval"});
  if (a.positional.size() != 2 || !a.options.count("-o"))
    throw UsageError("run needs MODEL.json INPUTS.safetensors -o OUTPUTS.safetensors");
  if (a.flags.count("--train") && a.flags.count("--eval")) throw UsageError("--train and --eval exclude each other");
  const ExecMode mode = a.flags.count("--train") ? ExecMode::train : a.flags.count("--eval") ? ExecMode::eval : ExecMode::as_graph;
  Module m = io::read_graph(a.positional[0]);
  const SafetensorsFile inputs = read_safetensors(a.positional[1]);
  std::vector<Tensor> in;
  for (const Node* n : m.graph.nodes()) {
    if (!n->is_placeholder()) continue;
    const Tensor* t = inputs.find(std::string(n->target()));
    if (!t) throw io::FormatError("inputs " + a.positional[1] + ": no tensor named \"" + std::string(n->target()) +
                                  "\" for the graph input of that name");
    in.push_back(*t);
  }
  std::vector<Tensor> out = run_module(m, in, mode);
  std::vector<std::pair<std::string, Tensor>> named;
  for (std::size_t i = 0; i < out.size(); ++i) named.emplace_back("output_" + std::to_string(i), std::move(out[i]));
  const std::string outputs = serialize_safetensors(named);
  if (a.options.count("--save-weights")) {
    const std::string weights = io::serialize_weights(m);
    io::write_files_atomically({{a.options["-o"], outputs}, {a.options["--save-weights"], weights}});
  } else {
    io::write_file_atomically(a.options["-o"], outputs);
  }
  return 0;
}

// ---- show ----------------------------------------------------------------------------------------

int show(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"--dot", "--report"}, {});
  if (a.positional.size() != 1) throw UsageError("show needs MODEL.json");
  io::ReadOptions ro;
  ro.load_weights = true;
  io::LoadedGraph loaded = io::load_graph(a.positional[0], ro);
  const Module& m = loaded.module;
  std::unordered_map<std::string, io::Highlight> highlight;
  if (a.options.count("--report")) {
    json r;
    const std::string text = io::read_file(a.options["--report"]);
    r = json::parse(text, nullptr, false);
    if (r.is_discarded() || !r.is_object())
      throw io::FormatError("report " + a.options["--report"] + ": not a graft-qat report (malformed JSON)");
    for (const char* key : {"created", "changed"}) {
      if (!r.contains(key) || !r[key].is_array())
        throw io::FormatError("report " + a.options["--report"] + ": no \"" + key + "\" list (not a graft-qat report)");
      for (const json& n : r[key])
        if (n.is_string())
          highlight[n.get<std::string>()] = std::string(key) == "created" ? io::Highlight::created : io::Highlight::changed;
    }
  }
  std::cout << m.graph;
  std::map<std::string, std::size_t> ops;
  std::size_t inputs = 0, attrs = 0;
  for (const Node* n : m.graph.nodes()) {
    if (n->is_call_function()) ++ops[std::string(n->target())];
    inputs += n->is_placeholder();
    attrs += n->is_get_attr();
  }
  std::size_t tensor_bytes = 0, tensors = 0;
  auto count = [&](const NamedTensors::Entry& e) {
    tensor_bytes += e.tensor.nbytes();
    ++tensors;
  };
  m.parameters.for_each(count);
  m.buffers.for_each(count);
  std::cout << "\n" << m.graph.size() << " nodes: " << inputs << " inputs, " << attrs << " get_attr, "
            << (m.graph.size() - inputs - attrs - 1) << " calls, 1 output; " << tensors << " tensors ("
            << tensor_bytes << " bytes)" << (loaded.weights.empty() ? "" : " from " + loaded.weights.generic_string())
            << "\n";
  for (const auto& [op, n] : ops) std::cout << "  " << n << "  " << op << "\n";
  if (a.options.count("--dot")) {
    std::ostringstream dot;
    io::write_dot(dot, m.graph, highlight, fs::path(a.positional[0]).stem().string());
    io::write_file_atomically(a.options["--dot"], dot.str());
  }
  return 0;
}

// ---- compare -------------------------------------------------------------------------------------

// Every tensor of REF must be in GOT with the same dtype and shape, and, for floating-point
// tensors, max |got - ref| / max |ref| <= tolerance (other dtypes: equal). Exit 3 otherwise.
int compare(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"--tolerance"}, {});
  if (a.positional.size() != 2) throw UsageError("compare needs GOT.safetensors REF.safetensors");
  double tolerance = 1e-4;
  if (a.options.count("--tolerance")) {
    std::istringstream in(a.options["--tolerance"]);
    if (!(in >> tolerance) || !in.eof() || !(tolerance >= 0))
      throw UsageError("--tolerance needs a non-negative number, not \"" + a.options["--tolerance"] + "\"");
  }
  const SafetensorsFile got = read_safetensors(a.positional[0]);
  const SafetensorsFile ref = read_safetensors(a.positional[1]);
  if (ref.tensors.empty()) throw io::FormatError("reference " + a.positional[1] + ": no tensors to compare");
  std::size_t differ = 0;
  for (const auto& [name, r] : ref.tensors) {
    const Tensor* g = got.find(name);
    std::cout << name << ": ";
    if (!g) {
      std::cout << "missing from " << a.positional[0] << "\n";
      ++differ;
      continue;
    }
    if (g->dtype() != r.dtype() || g->shape() != r.shape()) {
      std::cout << dtype_name(g->dtype()) << shape_to_string(g->shape()) << " vs " << dtype_name(r.dtype())
                << shape_to_string(r.shape()) << "\n";
      ++differ;
      continue;
    }
    if (r.dtype() != DType::float32 && r.dtype() != DType::float64) {
      const bool same = *g == r;
      std::cout << (same ? "equal" : "DIFFERENT") << "\n";
      differ += !same;
      continue;
    }
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < r.numel(); ++i) {
      const double x = r.dtype() == DType::float32 ? double(g->data<float>()[i]) : g->data<double>()[i];
      const double y = r.dtype() == DType::float32 ? double(r.data<float>()[i]) : r.data<double>()[i];
      diff = std::isnan(x) != std::isnan(y) ? std::numeric_limits<double>::infinity() : std::max(diff, std::abs(x - y));
      scale = std::max(scale, std::abs(y));
    }
    const double rel = scale == 0 ? diff : diff / scale;
    const bool ok = rel <= tolerance;
    std::cout << "max relative difference " << std::scientific << std::setprecision(2) << rel << std::defaultfloat
              << (ok ? " (ok)" : " (OVER the tolerance)") << "\n";
    differ += !ok;
  }
  std::cout << (differ ? std::to_string(differ) + " of " + std::to_string(ref.tensors.size()) + " tensors differ"
                       : "all " + std::to_string(ref.tensors.size()) + " tensors match")
            << " (relative tolerance " << tolerance << ")\n";
  return differ ? 3 : 0;
}

// ---- demo ----------------------------------------------------------------------------------------

Tensor values(Shape shape, std::uint32_t seed, float lo, float hi) {
  Tensor t(DType::float32, std::move(shape));
  std::uint32_t s = seed * 2654435761u + 12345u;
  for (std::size_t i = 0; i < t.numel(); ++i) {
    s = s * 1664525u + 1013904223u;
    t.data<float>()[i] = lo + (hi - lo) * static_cast<float>(s >> 8) / static_cast<float>(1u << 24);
  }
  return t;
}

// x -> [conv(3->8, bias) -> bn(eps 1e-3, momentum 0.03) -> relu]
//   -> [conv(8->8, no bias) -> bn -> relu] -> [conv(8->4, bias) -> bn] -> output
Module demo_model() {
  Module m;
  Graph& g = m.graph;
  Node* x = g.placeholder("x");
  struct Block {
    std::string name;
    std::int64_t in, out;
    bool bias, relu;
    double eps, momentum;
  };
  const Block blocks[] = {{"block1", 3, 8, true, true, 1e-3, 0.03},
                          {"block2", 8, 8, false, true, 1e-5, 0.1},
                          {"block3", 8, 4, true, false, 1e-5, 0.1}};
  std::uint32_t seed = 1;
  for (const Block& b : blocks) {
    auto attr = [&](const std::string& name, Tensor t, bool buffer) {
      (buffer ? m.buffers : m.parameters).add(b.name + "." + name, std::move(t));
      return g.get_attr(b.name + "." + name);
    };
    Node* w = attr("conv.weight", values({b.out, b.in, 3, 3}, seed++, -0.3f, 0.3f), false);
    Node* bias = b.bias ? attr("conv.bias", values({b.out}, seed++, -0.1f, 0.1f), false) : nullptr;
    Node* conv = g.call_function("aten.conv2d.default", {x, w, bias, ints({1, 1}), ints({1, 1})});
    Node* gamma = attr("bn.weight", values({b.out}, seed++, 0.5f, 1.5f), false);
    Node* beta = attr("bn.bias", values({b.out}, seed++, -0.2f, 0.2f), false);
    Node* mean = attr("bn.running_mean", Tensor(DType::float32, {b.out}), true);
    Node* var = attr("bn.running_var", Tensor::full<float>({b.out}, 1.0f), true);
    Node* counter = attr("bn.num_batches_tracked", Tensor(DType::int64, {}), true);
    g.call_function("aten.add_.Tensor", {counter, 1});
    Node* bn = g.call_function("aten._native_batch_norm_legit.default", {conv, gamma, beta, mean, var, true, b.momentum, b.eps});
    x = g.call_function("operator.getitem", {bn, 0});
    if (b.relu) x = g.call_function("aten.relu.default", {x});
  }
  g.output(x);
  return m;
}

double rel_err(const Tensor& a, const Tensor& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(double(a.data<float>()[i]) - double(b.data<float>()[i])));
    scale = std::max(scale, std::abs(double(b.data<float>()[i])));
  }
  return scale == 0 ? diff : diff / scale;
}

std::size_t count_target(const Graph& g, std::string_view part) {
  std::size_t n = 0;
  for (const Node* node : g.nodes()) n += node->target().find(part) != std::string_view::npos;
  return n;
}

int demo() {
  Module m = demo_model();
  std::cout << "graft-qat demo: a conv-bn-relu network (3 conv-bn pairs; block1's BN has eps 1e-3 and "
               "momentum 0.03; block2's conv has no bias)\n\n"
            << m.graph << "\n";

  auto prep = qat::fuse_conv_bn_qat(m);
  m.lint();
  std::cout << "1. prepare (fuse_conv_bn_qat): " << prep.total() << " pairs fused";
  for (const auto& [v, n] : prep.fused) std::cout << ", " << v << " " << n;
  std::cout << "; nodes " << prep.nodes_before << " -> " << prep.nodes_after << "\n";
  for (const Node* n : m.graph.nodes())
    if (n->target() == "aten._native_batch_norm_legit.default")
      std::cout << "   " << n->name() << " keeps momentum " << n->arg("momentum").as_double() << " and eps "
                << n->arg("eps").as_double() << "\n";

  const Tensor mean0 = m.attr("block1.bn.running_mean");
  for (std::uint32_t step = 0; step < 3; ++step) run_module(m, {values({4, 3, 8, 8}, 100 + step, -1.0f, 1.0f)}, ExecMode::train);
  const Tensor& mean1 = m.attr("block1.bn.running_mean");
  std::cout << "2. three training steps: block1 running_mean[0] " << mean0.data<float>()[0] << " -> "
            << mean1.data<float>()[0] << ", num_batches_tracked "
            << m.attr("block1.bn.num_batches_tracked").data<std::int64_t>()[0] << "\n";

  qat::QuantizeSpec spec;
  spec.per_channel = true;
  const int quantized = qat::insert_weight_qdq(m, spec);
  std::cout << "3. weight quantize/dequantize inserted (per channel, int8) on " << quantized << " convs, as convert_pt2e would\n";

  Module qat_model = m;
  auto fold = qat::fold_conv_bn_qat(m);
  m.lint();
  std::cout << "4. convert (fold_conv_bn_qat): " << fold.total() << " pairs folded";
  for (const auto& [v, n] : fold.folded) std::cout << ", " << v << " " << n;
  std::cout << "; nodes " << fold.nodes_before << " -> " << fold.nodes_after << "\n   parameters folded in place:";
  for (const auto& p : fold.parameters_rewritten) std::cout << " " << p;
  std::cout << "\n   parameters created:";
  for (const auto& p : fold.parameters_created) std::cout << " " << p;
  std::cout << "\n   counters removed: " << fold.counters_removed.size() << "; batch norms left: "
            << count_target(m.graph, "batch_norm") << "\n\n"
            << m.graph << "\n";

  const Tensor x = values({2, 3, 8, 8}, 7, -1.0f, 1.0f);
  const Tensor expected = run_module(qat_model, {x}, ExecMode::eval)[0];
  const Tensor got = run_module(m, {x}, ExecMode::eval)[0];
  const double err = rel_err(got, expected);
  const bool ok = err < 1e-5 && fold.total() == 3 && count_target(m.graph, "batch_norm") == 0;
  std::cout << "5. folded model vs QAT model, eval mode, same input: max relative difference " << std::scientific
            << std::setprecision(2) << err << (ok ? " (within 1e-5: they match)\n" : " (MISMATCH)\n");
  return ok ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) throw UsageError("no command");
    const std::string cmd = argv[1];
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (cmd == "demo") {
      if (argc != 2) throw UsageError("demo takes no arguments");
      return demo();
    }
    if (cmd == "prepare" || cmd == "convert") return run_pass(cmd, argc, argv);
    if (cmd == "quantize") return quantize(argc, argv);
    if (cmd == "run") return run_model(argc, argv);
    if (cmd == "show") return show(argc, argv);
    if (cmd == "compare") return compare(argc, argv);
    throw UsageError("unknown command \"" + cmd + "\"");
  } catch (const UsageError& e) {
    std::cerr << "graft-qat: error: " << e.what() << "\n" << kUsage;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "graft-qat: error: " << e.what() << "\n";
    return 2;
  }
}

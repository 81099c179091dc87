// graft/io/json_graph.hpp - graph files, format v1 (docs/format.md): a JSON graph plus a
// safetensors file for the tensors its get_attr nodes name.
//
//   graft::Module m = graft::io::read_graph("model.json");          // + model.safetensors
//   graft::io::write_graph(m, "out.json");                           // writes out.safetensors too
//
// Reading checks everything before returning: malformed JSON (with its byte offset), the JSON
// path of any bad field, unknown `op` kinds, references to undefined or later nodes, duplicate
// names, a missing or extra output node, unknown dtype names, get_attr nodes without a tensor,
// and the safetensors checks; each is a FormatError whose message starts with the file name.
// Writing goes through temporary files, so a failure leaves no file behind.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "graft/graph/module.hpp"
#include "graft/io/file.hpp"
#include "graft/io/safetensors.hpp"

namespace graft::io {

class FormatError : public Error {
 public:
  using Error::Error;
};

struct ReadOptions {
  bool load_weights = true;              // false: get_attr targets are not checked against tensors
  std::size_t max_nodes = 10'000'000;    // more nodes than this is an error
  std::size_t max_depth = 256;           // JSON nesting (arguments, meta) deeper than this is an error
  std::uint64_t max_file_bytes = std::uint64_t{1} << 30;  // a graph file larger than 1 GiB is an error
  SafetensorsLimits weights{};           // limits on the weights file (io/safetensors.hpp)
};

struct WriteOptions {
  // Where the tensors go: empty means beside the JSON file, with its stem and `.safetensors`.
  std::filesystem::path weights;
  // Refer to this existing weights file instead of writing one (path as written in the JSON,
  // relative to it).
  std::optional<std::string> existing_weights;
};

namespace detail {

using ojson = nlohmann::ordered_json;

inline constexpr std::string_view kNodeKinds[] = {"placeholder", "get_attr", "call_function", "output"};
inline constexpr NodeKind kNodeKindValues[] = {NodeKind::placeholder, NodeKind::get_attr, NodeKind::call_function,
                                               NodeKind::output};

inline std::string_view node_kind_name(NodeKind k) {
  for (std::size_t i = 0; i < std::size(kNodeKindValues); ++i)
    if (kNodeKindValues[i] == k) return kNodeKinds[i];
  return "?";
}

// Names in graph order, for resolving references (`index` tells "later" from "undefined").
struct NameTable {
  std::unordered_map<std::string_view, std::size_t> index;
  std::vector<Node*> nodes;
};

class Reader {
 public:
  Reader(std::string source, const ReadOptions& opt) : source_(std::move(source)), opt_(opt) {}

  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw FormatError("graph file " + source_ + ": " + path + ": " + what);
  }

  const ojson& field(const ojson& obj, const char* key, const std::string& path) const {
    auto it = obj.find(key);
    if (it == obj.end()) fail(path, std::string("missing \"") + key + "\"");
    return *it;
  }
  std::string string_field(const ojson& obj, const char* key, const std::string& path) const {
    const ojson& v = field(obj, key, path);
    if (!v.is_string()) fail(path + "." + key, "expected a string, got " + std::string(v.type_name()));
    return v.get<std::string>();
  }
  std::optional<std::int64_t> int_field(const ojson& obj, const char* key, const std::string& path) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer()) fail(path + "." + key, "expected an integer or null");
    return it->get<std::int64_t>();
  }

  DType dtype(const ojson& v, const std::string& path) const {
    if (!v.is_string()) fail(path, "expected a dtype name");
    auto d = parse_dtype(v.get<std::string>());
    if (!d) fail(path, "unknown dtype \"" + v.get<std::string>() + "\"");
    return *d;
  }

  Node* node_ref(const std::string& name, std::size_t before, const std::string& path) const {
    auto it = names_.index.find(name);
    if (it == names_.index.end()) fail(path, "reference to node \"" + name + "\", which is not defined");
    if (it->second >= before)
      fail(path, "reference to node \"" + name + "\", which is defined later (graph order must be topological)");
    return names_.nodes[it->second];
  }

  Argument argument(const ojson& j, std::size_t node_index, const std::string& path) const {
    switch (j.type()) {
      case ojson::value_t::null: return Argument();
      case ojson::value_t::boolean: return Argument(j.get<bool>());
      case ojson::value_t::number_integer: return Argument(j.get<std::int64_t>());
      case ojson::value_t::number_unsigned: {
        const auto u = j.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
          fail(path, "integer " + std::to_string(u) + " does not fit in int64");
        return Argument(static_cast<std::int64_t>(u));
      }
      case ojson::value_t::number_float: return Argument(j.get<double>());
      case ojson::value_t::string: return Argument(j.get<std::string>());
      case ojson::value_t::array: {
        Argument::List l;
        l.reserve(j.size());
        std::size_t i = 0;
        for (const ojson& e : j) l.push_back(argument(e, node_index, path + "[" + std::to_string(i++) + "]"));
        return Argument(std::move(l));
      }
      case ojson::value_t::object: {
        if (j.size() == 1 && j.contains("node")) {
          const ojson& n = j["node"];
          if (!n.is_string()) fail(path + ".node", "expected a node name");
          return Argument(node_ref(n.get<std::string>(), node_index, path + ".node"));
        }
        if (j.size() == 1 && j.contains("dtype")) return Argument(dtype(j["dtype"], path + ".dtype"));
        if (j.size() == 1 && j.contains("float")) {
          const ojson& f = j["float"];
          const std::string s = f.is_string() ? f.get<std::string>() : "";
          if (s == "inf") return Argument(std::numeric_limits<double>::infinity());
          if (s == "-inf") return Argument(-std::numeric_limits<double>::infinity());
          if (s == "nan") return Argument(std::numeric_limits<double>::quiet_NaN());
          fail(path + ".float", "expected \"inf\", \"-inf\" or \"nan\"");
        }
        fail(path, "unknown argument object " + j.dump() + " (expected {\"node\": ...}, {\"dtype\": ...} or {\"float\": ...})");
      }
      default: fail(path, "unsupported JSON value " + j.dump());
    }
  }

  EdgeOrNode edge_or_node(const ojson& j, const std::string& path) const {
    const std::size_t all = names_.nodes.size();  // annotations may name any node
    if (j.is_string()) return EdgeOrNode::node(node_ref(j.get<std::string>(), all, path));
    if (j.is_array() && j.size() == 2 && j[0].is_string() && j[1].is_string())
      return EdgeOrNode::edge(node_ref(j[0].get<std::string>(), all, path + "[0]"),
                              node_ref(j[1].get<std::string>(), all, path + "[1]"));
    fail(path, "expected a node name or a [src, dst] edge");
  }

  std::optional<QScheme> qscheme(const ojson& obj, const std::string& path) const {
    auto it = obj.find("qscheme");
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) fail(path + ".qscheme", "expected a qscheme name");
    auto q = parse_qscheme(it->get<std::string>());
    if (!q) fail(path + ".qscheme", "unknown qscheme \"" + it->get<std::string>() + "\"");
    return q;
  }

  QSpec qspec(const ojson& j, const std::string& path) const {
    if (!j.is_object()) fail(path, "expected a qspec object");
    const std::string kind = string_field(j, "kind", path);
    if (kind == "quantization") {
      QuantizationSpec q;
      q.dtype = dtype(field(j, "dtype", path), path + ".dtype");
      q.quant_min = int_field(j, "quant_min", path);
      q.quant_max = int_field(j, "quant_max", path);
      q.qscheme = qscheme(j, path);
      q.ch_axis = int_field(j, "ch_axis", path);
      if (auto it = j.find("is_dynamic"); it != j.end() && !it->is_null()) {
        if (!it->is_boolean()) fail(path + ".is_dynamic", "expected a boolean");
        q.is_dynamic = it->get<bool>();
      }
      if (auto it = j.find("observer_or_fake_quant_ctr"); it != j.end() && !it->is_null()) {
        if (!it->is_string()) fail(path + ".observer_or_fake_quant_ctr", "expected a string");
        q.observer_or_fake_quant_ctr = it->get<std::string>();
      }
      return q;
    }
    if (kind == "shared") return SharedQuantizationSpec{edge_or_node(field(j, "edge_or_node", path), path + ".edge_or_node")};
    if (kind == "derived") {
      DerivedQuantizationSpec d;
      const ojson& from = field(j, "derived_from", path);
      if (!from.is_array()) fail(path + ".derived_from", "expected an array");
      for (std::size_t i = 0; i < from.size(); ++i)
        d.derived_from.push_back(edge_or_node(from[i], path + ".derived_from[" + std::to_string(i) + "]"));
      if (auto it = j.find("derive_qparams_fn"); it != j.end() && !it->is_null()) {
        if (!it->is_string()) fail(path + ".derive_qparams_fn", "expected a string");
        d.derive_qparams_fn = it->get<std::string>();
      }
      d.dtype = dtype(field(j, "dtype", path), path + ".dtype");
      d.quant_min = int_field(j, "quant_min", path);
      d.quant_max = int_field(j, "quant_max", path);
      d.qscheme = qscheme(j, path);
      d.ch_axis = int_field(j, "ch_axis", path);
      return d;
    }
    if (kind == "fixed") {
      FixedQParamsQuantizationSpec f;
      const ojson& s = field(j, "scale", path);
      if (!s.is_number()) fail(path + ".scale", "expected a number");
      f.scale = s.get<double>();
      f.zero_point = int_field(j, "zero_point", path).value_or(0);
      f.dtype = dtype(field(j, "dtype", path), path + ".dtype");
      f.quant_min = int_field(j, "quant_min", path);
      f.quant_max = int_field(j, "quant_max", path);
      f.qscheme = qscheme(j, path);
      return f;
    }
    fail(path + ".kind", "unknown qspec kind \"" + kind + "\" (expected quantization, shared, derived or fixed)");
  }

  // The typed keys; node references in annotations are resolved against the whole graph.
  void meta(const ojson& j, Node* n, const std::string& path) const {
    if (!j.is_object()) fail(path, "expected an object");
    if (j.empty()) return;
    Meta& m = n->meta();
    for (const auto& [key, v] : j.items()) {
      const std::string p = path + "." + key;
      if (key == "stack_trace") {
        if (!v.is_string()) fail(p, "expected a string");
        m.stack_trace = v.get<std::string>();
      } else if (key == "nn_module_stack") {
        if (!v.is_object()) fail(p, "expected an object of key: [path, type]");
        std::vector<ModuleStackEntry> stack;
        for (const auto& [k, e] : v.items()) {
          if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_string())
            fail(p + "." + k, "expected [path, type]");
          stack.push_back({k, e[0].get<std::string>(), e[1].get<std::string>()});
        }
        m.nn_module_stack = std::move(stack);
      } else if (key == "source_fn_stack") {
        if (!v.is_array()) fail(p, "expected an array of [name, type]");
        std::vector<SourceFn> stack;
        for (std::size_t i = 0; i < v.size(); ++i) {
          const ojson& e = v[i];
          if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_string())
            fail(p + "[" + std::to_string(i) + "]", "expected [name, type]");
          stack.push_back({e[0].get<std::string>(), e[1].get<std::string>()});
        }
        m.source_fn_stack = std::move(stack);
      } else if (key == "val") {
        ValueMeta val;
        auto one = [&](const ojson& t, const std::string& tp) {
          if (!t.is_object()) fail(tp, "expected {\"shape\": [...], \"dtype\": ...}");
          const ojson& shape = field(t, "shape", tp);
          if (!shape.is_array()) fail(tp + ".shape", "expected an array of integers");
          TensorMeta tm;
          for (const ojson& d : shape) {
            if (!d.is_number_integer()) fail(tp + ".shape", "expected an array of integers");
            tm.shape.push_back(d.get<std::int64_t>());
          }
          tm.dtype = dtype(field(t, "dtype", tp), tp + ".dtype");
          val.tensors.push_back(std::move(tm));
        };
        if (v.is_array()) {
          val.is_tuple = true;
          for (std::size_t i = 0; i < v.size(); ++i) one(v[i], p + "[" + std::to_string(i) + "]");
        } else {
          one(v, p);
        }
        m.val = std::move(val);
      } else if (key == "quantization_annotation") {
        if (!v.is_object()) fail(p, "expected an object");
        QuantizationAnnotation qa;
        if (auto it = v.find("input_qspec_map"); it != v.end() && !it->is_null()) {
          if (!it->is_array()) fail(p + ".input_qspec_map", "expected an array of [node, qspec]");
          for (std::size_t i = 0; i < it->size(); ++i) {
            const ojson& e = (*it)[i];
            const std::string ep = p + ".input_qspec_map[" + std::to_string(i) + "]";
            if (!e.is_array() || e.size() != 2 || !e[0].is_string()) fail(ep, "expected [node name, qspec]");
            qa.input_qspec_map.emplace_back(node_ref(e[0].get<std::string>(), names_.nodes.size(), ep + "[0]"),
                                            qspec(e[1], ep + "[1]"));
          }
        }
        if (auto it = v.find("output_qspec"); it != v.end() && !it->is_null()) qa.output_qspec = qspec(*it, p + ".output_qspec");
        if (auto it = v.find("allow_implicit_sharing"); it != v.end()) {
          if (!it->is_boolean()) fail(p + ".allow_implicit_sharing", "expected a boolean");
          qa.allow_implicit_sharing = it->get<bool>();
        }
        if (auto it = v.find("_annotated"); it != v.end()) {
          if (!it->is_boolean()) fail(p + "._annotated", "expected a boolean");
          qa.annotated = it->get<bool>();
        }
        m.quantization_annotation = std::move(qa);
      } else {
        m.other.emplace_back(key, v.dump());
      }
    }
  }

  // The "weights" field of the last document read (empty when none).
  const std::string& weights() const noexcept { return weights_; }

  // `in_memory`: the weights as safetensors bytes, used instead of the file the graph names.
  Module read(const ojson& doc, const std::filesystem::path& base_dir, const SafetensorsBytes* in_memory = nullptr) {
    if (!doc.is_object()) fail("$", "expected a JSON object");
    auto version = doc.find("graft");
    if (version == doc.end()) fail("$", "missing \"graft\": 1 (not a graft graph file)");
    if (!version->is_number_integer() || version->get<std::int64_t>() != 1)
      fail("$.graft", "unsupported format version " + version->dump() + " (this reader knows 1)");
    const ojson& nodes = field(doc, "nodes", "$");
    if (!nodes.is_array()) fail("$.nodes", "expected an array");
    if (nodes.size() > opt_.max_nodes)
      fail("$.nodes", std::to_string(nodes.size()) + " nodes, more than the limit " + std::to_string(opt_.max_nodes));

    // Names first, so that references can say "later" rather than "undefined".
    std::vector<std::string> names(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const std::string p = "$.nodes[" + std::to_string(i) + "]";
      if (!nodes[i].is_object()) fail(p, "expected an object");
      names[i] = string_field(nodes[i], "name", p);
      if (names[i].empty()) fail(p + ".name", "empty node name");
      if (!names_.index.emplace(names[i], i).second)
        fail(p + ".name", "duplicate node name \"" + names[i] + "\"");
    }
    // names_ keys view the strings in `names`, which outlive the reader's use of them.

    Module m;
    Graph& g = m.graph;
    names_.nodes.assign(nodes.size(), nullptr);
    std::size_t outputs = 0;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const ojson& j = nodes[i];
      const std::string p = "$.nodes[" + std::to_string(i) + "]";
      const std::string op = string_field(j, "op", p);
      std::size_t k = 0;
      while (k < std::size(kNodeKinds) && kNodeKinds[k] != op) ++k;
      if (k == std::size(kNodeKinds))
        fail(p + ".op", "unknown op \"" + op + "\" (expected placeholder, get_attr, call_function or output)");
      const NodeKind kind = kNodeKindValues[k];
      if (outputs) fail(p, "node \"" + names[i] + "\" comes after the output node");
      const std::string target = string_field(j, "target", p);
      std::vector<Argument> args;
      if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
        if (!it->is_array()) fail(p + ".args", "expected an array");
        for (std::size_t a = 0; a < it->size(); ++a)
          args.push_back(argument((*it)[a], i, p + ".args[" + std::to_string(a) + "]"));
      }
      Kwargs kwargs;
      if (auto it = j.find("kwargs"); it != j.end() && !it->is_null()) {
        if (!it->is_object()) fail(p + ".kwargs", "expected an object");
        for (const auto& [key, v] : it->items()) kwargs.push_back(Kwarg{key, argument(v, i, p + ".kwargs." + key)});
      }
      if (kind == NodeKind::output) {
        ++outputs;
        if (args.size() != 1) fail(p + ".args", "the output node takes one argument (a node or a list of nodes)");
      }
      if ((kind == NodeKind::placeholder || kind == NodeKind::get_attr) && (!args.empty() || !kwargs.empty()))
        fail(p, std::string(op) + " node \"" + names[i] + "\" takes no arguments");
      if (target.empty() && kind != NodeKind::output) fail(p + ".target", "empty target");
      try {
        names_.nodes[i] = g.create_node(kind, kind == NodeKind::output ? std::string_view("output") : std::string_view(target),
                                        std::move(args), std::move(kwargs), names[i], NameMode::exact);
      } catch (const Error& e) {
        fail(p, e.what());
      }
      if (std::string why = schema_mismatch(*names_.nodes[i]); !why.empty()) fail(p, "node \"" + names[i] + "\": " + why);
    }
    if (outputs == 0) fail("$.nodes", "no output node");
    for (std::size_t i = 0; i < nodes.size(); ++i)
      if (auto it = nodes[i].find("meta"); it != nodes[i].end() && !it->is_null())
        meta(*it, names_.nodes[i], "$.nodes[" + std::to_string(i) + "].meta");

    // Tensors.
    std::string& weights = weights_;
    if (auto it = doc.find("weights"); it != doc.end() && !it->is_null()) {
      if (!it->is_string()) fail("$.weights", "expected a file name");
      weights = it->get<std::string>();
    }
    if (opt_.load_weights) {
      if (in_memory) weights = "<memory>";  // the tensors come from memory, whatever the file names
      if (!weights.empty()) {
        SafetensorsFile file;
        try {
          file = in_memory ? parse_safetensors(in_memory->data, in_memory->size, "<memory>", opt_.weights)
                           : read_safetensors((base_dir / weights).string(), opt_.weights);
        } catch (const Error& e) {
          fail("$.weights", e.what());
        }
        std::vector<std::string> buffers;
        if (auto b = file.metadata.find("graft.buffers"); b != file.metadata.end()) {
          auto list = ojson::parse(b->second, nullptr, false);
          if (list.is_array())
            for (const ojson& e : list)
              if (e.is_string()) buffers.push_back(e.get<std::string>());
        }
        for (auto& [name, t] : file.tensors) {
          bool buffer = std::find(buffers.begin(), buffers.end(), name) != buffers.end();
          (buffer ? m.buffers : m.parameters).add(name, std::move(t));
        }
      }
      for (std::size_t i = 0; i < nodes.size(); ++i) {
        const Node* n = names_.nodes[i];
        if (n->is_get_attr() && !m.find_attr(n->target()))
          fail("$.nodes[" + std::to_string(i) + "]",
               "get_attr node \"" + std::string(n->name()) + "\" names \"" + std::string(n->target()) + "\", which is not in " +
                   (weights.empty() ? std::string("any weights file (the graph names none)") : "the weights file " + weights));
      }
    }
    const auto problems = opt_.load_weights ? m.lint_problems() : g.lint_problems();
    if (!problems.empty()) fail("$", problems.front());
    return m;
  }

 private:
  std::string source_;
  ReadOptions opt_;
  NameTable names_;
  std::string weights_;
};

inline ojson write_argument(const Argument& a) {
  switch (a.kind()) {
    case ArgKind::none: return nullptr;
    case ArgKind::boolean: return a.as_bool();
    case ArgKind::integer: return a.as_int();
    case ArgKind::real: {
      const double d = a.as_double();
      if (std::isnan(d)) return ojson{{"float", "nan"}};
      if (std::isinf(d)) return ojson{{"float", d > 0 ? "inf" : "-inf"}};
      return d;
    }
    case ArgKind::string: return a.as_string();
    case ArgKind::dtype: return ojson{{"dtype", std::string(dtype_name(a.as_dtype()))}};
    case ArgKind::node: return ojson{{"node", std::string(a.as_node()->name())}};
    case ArgKind::list: {
      ojson l = ojson::array();
      for (const Argument& e : a.as_list()) l.push_back(write_argument(e));
      return l;
    }
  }
  return nullptr;
}

inline ojson write_edge_or_node(const EdgeOrNode& e) {
  if (!e.is_edge()) return std::string(e.src->name());
  return ojson::array({std::string(e.src->name()), std::string(e.dst->name())});
}

inline void put_optional(ojson& o, const char* key, const std::optional<std::int64_t>& v) {
  if (v) o[key] = *v;
  else o[key] = nullptr;
}
inline void put_qscheme(ojson& o, const std::optional<QScheme>& q) {
  if (q) o["qscheme"] = std::string(qscheme_name(*q));
  else o["qscheme"] = nullptr;
}

inline ojson write_qspec(const QSpec& q) {
  ojson o = ojson::object();
  if (const auto* s = std::get_if<QuantizationSpec>(&q)) {
    o["kind"] = "quantization";
    o["dtype"] = std::string(dtype_name(s->dtype));
    put_optional(o, "quant_min", s->quant_min);
    put_optional(o, "quant_max", s->quant_max);
    put_qscheme(o, s->qscheme);
    put_optional(o, "ch_axis", s->ch_axis);
    o["is_dynamic"] = s->is_dynamic;
    o["observer_or_fake_quant_ctr"] = s->observer_or_fake_quant_ctr;
  } else if (const auto* sh = std::get_if<SharedQuantizationSpec>(&q)) {
    o["kind"] = "shared";
    o["edge_or_node"] = write_edge_or_node(sh->edge_or_node);
  } else if (const auto* d = std::get_if<DerivedQuantizationSpec>(&q)) {
    o["kind"] = "derived";
    ojson from = ojson::array();
    for (const EdgeOrNode& e : d->derived_from) from.push_back(write_edge_or_node(e));
    o["derived_from"] = std::move(from);
    o["derive_qparams_fn"] = d->derive_qparams_fn;
    o["dtype"] = std::string(dtype_name(d->dtype));
    put_optional(o, "quant_min", d->quant_min);
    put_optional(o, "quant_max", d->quant_max);
    put_qscheme(o, d->qscheme);
    put_optional(o, "ch_axis", d->ch_axis);
  } else if (const auto* f = std::get_if<FixedQParamsQuantizationSpec>(&q)) {
    o["kind"] = "fixed";
    o["scale"] = f->scale;
    o["zero_point"] = f->zero_point;
    o["dtype"] = std::string(dtype_name(f->dtype));
    put_optional(o, "quant_min", f->quant_min);
    put_optional(o, "quant_max", f->quant_max);
    put_qscheme(o, f->qscheme);
  }
  return o;
}

inline ojson write_meta(const Node& n) {
  ojson o = ojson::object();
  if (!n.has_meta()) return o;
  const Meta& m = n.meta();
  if (m.stack_trace) o["stack_trace"] = *m.stack_trace;
  if (m.nn_module_stack) {
    ojson s = ojson::object();
    for (const ModuleStackEntry& e : *m.nn_module_stack) s[e.key] = ojson::array({e.path, e.type});
    o["nn_module_stack"] = std::move(s);
  }
  if (m.source_fn_stack) {
    ojson s = ojson::array();
    for (const SourceFn& e : *m.source_fn_stack) s.push_back(ojson::array({e.name, e.type}));
    o["source_fn_stack"] = std::move(s);
  }
  if (m.val) {
    auto one = [](const TensorMeta& t) { return ojson{{"shape", t.shape}, {"dtype", std::string(dtype_name(t.dtype))}}; };
    if (m.val->is_tuple) {
      ojson l = ojson::array();
      for (const TensorMeta& t : m.val->tensors) l.push_back(one(t));
      o["val"] = std::move(l);
    } else if (!m.val->tensors.empty()) {
      o["val"] = one(m.val->tensors[0]);
    }
  }
  if (m.quantization_annotation) {
    const QuantizationAnnotation& qa = *m.quantization_annotation;
    ojson a = ojson::object();
    ojson map = ojson::array();
    for (const auto& [node, spec] : qa.input_qspec_map) map.push_back(ojson::array({std::string(node->name()), write_qspec(spec)}));
    a["input_qspec_map"] = std::move(map);
    a["output_qspec"] = qa.output_qspec ? write_qspec(*qa.output_qspec) : ojson(nullptr);
    a["allow_implicit_sharing"] = qa.allow_implicit_sharing;
    a["_annotated"] = qa.annotated;
    o["quantization_annotation"] = std::move(a);
  }
  for (const auto& [key, text] : m.other) o[key] = ojson::parse(text);
  return o;
}

}  // namespace detail

// A graph file read with its tensors, and where they came from.
struct LoadedGraph {
  Module module;
  std::filesystem::path weights;  // the weights file as found (base dir + "weights"); empty when none
};

namespace detail {
// (A template only so that GRAFT_EXTERN_TEMPLATES can compile it once: graft/instantiate.hpp.)
template <typename Unused = void>
LoadedGraph parse(std::string_view text, const std::filesystem::path& base_dir, const ReadOptions& opt,
                         const std::string& source, const SafetensorsBytes* in_memory = nullptr) {
  Reader reader(source, opt);
  if (text.size() > opt.max_file_bytes)
    throw FormatError("graph file " + source + ": " + std::to_string(text.size()) + " bytes, more than the limit of " +
                      std::to_string(opt.max_file_bytes));
  // Depth is checked by a linear scan before parsing (nlohmann's parse callback, which could do
  // it, rescans containers and makes big files quadratic).
  if (auto at = graft::detail::json_too_deep_at(text.data(), text.data() + text.size(), opt.max_depth); at >= 0)
    throw FormatError("graph file " + source + ": JSON nested deeper than the limit of " + std::to_string(opt.max_depth) +
                      " levels at byte " + std::to_string(at));
  ojson doc;
  try {
    doc = ojson::parse(text.begin(), text.end());
  } catch (const ojson::parse_error& e) {
    throw FormatError("graph file " + source + ": malformed JSON at byte " + std::to_string(e.byte) + ": " + e.what());
  } catch (const ojson::exception& e) {  // a number out of range (1e400): nlohmann says which, not where
    throw FormatError("graph file " + source + ": malformed JSON: " + e.what());
  }
  LoadedGraph out;
  try {
    out.module = reader.read(doc, base_dir, in_memory);
  } catch (const ojson::exception& e) {  // a safety net: every field is type-checked before use
    throw FormatError("graph file " + source + ": unexpected JSON value: " + e.what());
  }
  if (!reader.weights().empty() && !in_memory) out.weights = base_dir / reader.weights();
  return out;
}
}  // namespace detail

// Parses a graph file's text. `base_dir` resolves its `weights` file; `source` names it in errors.
inline Module parse_graph(std::string_view text, const std::filesystem::path& base_dir = {}, const ReadOptions& opt = {},
                          const std::string& source = "<memory>") {
  return detail::parse(text, base_dir, opt, source).module;
}

// Parses a graph file's text with its tensors given as safetensors bytes in memory (the graph's
// `weights` field, if any, is ignored): for models that never touch a file system.
inline Module parse_graph_with_weights(std::string_view text, const unsigned char* weights, std::size_t weights_size,
                                       const ReadOptions& opt = {}, const std::string& source = "<memory>") {
  const SafetensorsBytes bytes{weights, weights_size};
  return detail::parse(text, {}, opt, source, &bytes).module;
}

// Reads `path` and the weights file it names (relative to it).
inline LoadedGraph load_graph(const std::filesystem::path& path, const ReadOptions& opt = {}) {
  std::string text;
  try {
    text = read_file(path, opt.max_file_bytes);
  } catch (const FileError& e) {
    throw FormatError("graph file " + std::string(e.what()));
  }
  return detail::parse(text, path.parent_path(), opt, path.string());
}
// The module a graph file describes, weights loaded (load_graph also says which weights file).
inline Module read_graph(const std::filesystem::path& path, const ReadOptions& opt = {}) {
  return load_graph(path, opt).module;
}

namespace detail {
// serialize_graph's body (a template only for GRAFT_EXTERN_TEMPLATES).
template <typename Unused = void>
std::string serialize_graph_text(const Module& m, std::string_view weights) {
  using detail::ojson;
  std::string out = "{\n  \"graft\": 1,\n";
  if (!weights.empty()) out += "  \"weights\": " + ojson(std::string(weights)).dump() + ",\n";
  out += "  \"nodes\": [";
  bool first = true;
  for (const Node* n : m.graph.nodes()) {
    ojson j = ojson::object();
    j["name"] = std::string(n->name());
    j["op"] = std::string(detail::node_kind_name(n->kind()));
    j["target"] = std::string(n->target());
    ojson args = ojson::array();
    for (const Argument& a : n->args()) args.push_back(detail::write_argument(a));
    j["args"] = std::move(args);
    ojson kwargs = ojson::object();
    for (const Kwarg& k : n->kwargs()) kwargs[k.name] = detail::write_argument(k.value);
    j["kwargs"] = std::move(kwargs);
    j["meta"] = detail::write_meta(*n);
    out += first ? "\n    " : ",\n    ";
    first = false;
    out += j.dump();
  }
  out += "\n  ]\n}\n";
  return out;
}
}  // namespace detail

// The JSON text of `m`, one node per line; `weights` is written as the "weights" field when set.
inline std::string serialize_graph(const Module& m, std::string_view weights = {}) {
  return detail::serialize_graph_text(m, weights);
}

// The module's tensors as safetensors bytes (parameters, then buffers, in insertion order; the
// buffer names are listed in the "graft.buffers" metadata so that reading puts them back).
inline std::string serialize_weights(const Module& m) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  detail::ojson buffers = detail::ojson::array();
  m.parameters.for_each([&](const NamedTensors::Entry& e) { tensors.emplace_back(e.name, e.tensor); });
  m.buffers.for_each([&](const NamedTensors::Entry& e) {
    tensors.emplace_back(e.name, e.tensor);
    buffers.push_back(e.name);
  });
  return serialize_safetensors(tensors, {{"graft.buffers", buffers.dump()}, {"format", "pt"}});
}

// Writes `m` to `path` (JSON) and its tensors to a safetensors file, atomically.
inline void write_graph(const Module& m, const std::filesystem::path& path, const WriteOptions& opt = {}) {
  if (opt.existing_weights) {
    const std::string text = serialize_graph(m, *opt.existing_weights);
    write_file_atomically(path, text);
    return;
  }
  std::filesystem::path weights = opt.weights;
  if (weights.empty()) {
    weights = path;
    weights.replace_extension(".safetensors");
  }
  std::filesystem::path ref = weights.lexically_relative(path.parent_path().empty() ? "." : path.parent_path());
  if (ref.empty() || weights.is_absolute() != path.is_absolute()) ref = std::filesystem::absolute(weights);
  const std::string tensors = serialize_weights(m);
  const std::string text = serialize_graph(m, ref.generic_string());
  write_files_atomically({{weights, tensors}, {path, text}});
}

// With GRAFT_EXTERN_TEMPLATES the reader and writer are compiled once (graft/instantiate.hpp).
#ifdef GRAFT_EXTERN_TEMPLATES
extern template LoadedGraph detail::parse<void>(std::string_view, const std::filesystem::path&, const ReadOptions&,
                                                const std::string&, const SafetensorsBytes*);
extern template std::string detail::serialize_graph_text<void>(const Module&, std::string_view);
#endif

}  // namespace graft::io

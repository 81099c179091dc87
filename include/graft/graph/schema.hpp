// graft/graph/schema.hpp - op schemas: argument names, positions, types and defaults.
//
// Schemas are written in PyTorch's own schema language (native_functions.yaml), with graft's
// target spelling as the name: "aten.conv2d.default(Tensor input, Tensor weight, ...) -> Tensor".
// The built-in table covers every op of the conv + batch-norm QAT passes and the ops needed to
// run common CNNs; users add their own through `OpRegistry::add` / `Graph::register_op`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "graft/graph/argument.hpp"
#include "graft/error.hpp"

namespace graft {

// The coarse type of a schema argument.
enum class ArgType : std::uint8_t {
  tensor,       // Tensor
  tensor_list,  // Tensor[]
  integer,      // int, SymInt
  int_list,     // int[], int[N], SymInt[N]
  real,         // float
  real_list,    // float[]
  boolean,      // bool
  scalar,       // Scalar (int or float)
  scalar_type,  // ScalarType (a dtype)
  string,       // str
  other,        // Layout, Device, MemoryFormat, Any, ...
};

struct ArgSpec {
  std::string name;
  std::string type_text;  // as written in the schema, e.g. "SymInt[2]", "Tensor(a!)"
  ArgType type = ArgType::other;
  bool optional = false;    // `T?`: None is a valid value
  bool kwarg_only = false;  // after `*`
  bool mutated = false;     // `Tensor(a!)`: the op writes to it
  std::size_t fixed_length = 0;          // N of `int[N]`, 0 when unsized
  std::optional<Argument> default_value;  // nullopt: required
};

namespace detail {
class SchemaParser;
}

// One op overload. `name()` is graft's target spelling: "aten.conv2d.default",
// "quantized_decomposed.quantize_per_tensor.tensor", "operator.getitem".
class OpSchema {
 public:
  // A name-only schema, for ops graft has no schema for: arguments can be read by position only.
  explicit OpSchema(std::string name) : name_(std::move(name)) { split_name(); }

  // Parses "ns.op.overload(<args>) -> <returns>". Throws SchemaError naming the column at fault.
  static OpSchema parse(std::string_view text);

  // The full name ("aten.conv2d.default") and its namespace ("aten").
  const std::string& name() const noexcept { return name_; }
  std::string_view ns() const noexcept { return std::string_view(name_).substr(0, ns_len_); }
  // The op without namespace and overload: "conv2d", "add_", "getitem".
  std::string_view op() const noexcept {
    return std::string_view(name_).substr(op_begin_, op_len_);
  }
  // The overload ("default", "Tensor"), or empty.
  std::string_view overload() const noexcept {
    return op_begin_ + op_len_ >= name_.size()
               ? std::string_view()
               : std::string_view(name_).substr(op_begin_ + op_len_ + 1);
  }

  // False for a name-only schema.
  bool has_signature() const noexcept { return has_signature_; }
  // Every argument in schema order (positional first, then keyword-only), and how many are positional.
  const std::vector<ArgSpec>& args() const noexcept { return args_; }
  std::size_t num_positional() const noexcept { return num_positional_; }
  // Index of the argument called `arg_name`, or nullopt.
  std::optional<std::size_t> index_of(std::string_view arg_name) const noexcept {
    // Length and first character first: most names differ there, so the scan compares whole
    // names (a call to memcmp) about once, for the one that matches.
    for (std::size_t i = 0; i < args_.size(); ++i) {
      const std::string& n = args_[i].name;
      if (n.size() == arg_name.size() && (n.empty() || (n[0] == arg_name[0] && std::string_view(n) == arg_name)))
        return i;
    }
    return std::nullopt;
  }
  // How many values the op returns, and whether as a tuple (read with operator.getitem).
  std::size_t num_outputs() const noexcept { return num_outputs_; }
  bool returns_tuple() const noexcept { return returns_tuple_; }
  // The op writes to one of its arguments (`Tensor(a!)`), or is an in-place op by name (`add_`).
  bool mutates() const noexcept { return mutates_; }
  // Declares the op as having effects beyond its outputs, so dead-code elimination keeps it.
  void set_side_effects(bool v) noexcept { side_effects_ = v; }
  // True once set_side_effects(true) declared it (mutating ops are kept by DCE regardless).
  bool has_side_effects() const noexcept { return side_effects_; }
  // Index of a `bool training` argument, or nullopt.
  std::optional<std::size_t> training_index() const noexcept { return training_index_; }

  // "input, weight, bias, ..." for error messages.
  std::string arg_names() const {
    std::string s;
    for (const auto& a : args_) s += (s.empty() ? "" : ", ") + a.name;
    return s;
  }

 private:
  friend class detail::SchemaParser;
  OpSchema() = default;
  void split_name();
  void finish();

  std::string name_;
  std::size_t ns_len_ = 0, op_begin_ = 0, op_len_ = 0;
  bool has_signature_ = false;
  std::vector<ArgSpec> args_;
  std::size_t num_positional_ = 0;
  std::size_t num_outputs_ = 1;
  bool returns_tuple_ = false;
  bool mutates_ = false;
  bool side_effects_ = false;
  std::optional<std::size_t> training_index_;
};

namespace detail {

// A tiny recursive-descent reader for schema text.
class SchemaParser {
 public:
  explicit SchemaParser(std::string_view text) : s_(text) {}

  OpSchema parse_into(OpSchema schema_shell);

  [[noreturn]] void fail(const std::string& what) const {
    throw SchemaError("schema \"" + std::string(s_) + "\": " + what + " at column " +
                      std::to_string(pos_ + 1));
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n')) ++pos_;
  }
  bool eat(char c) {
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  bool at(char c) {
    skip_ws();
    return pos_ < s_.size() && s_[pos_] == c;
  }
  static bool ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
  }
  std::string_view ident() {
    skip_ws();
    std::size_t b = pos_;
    while (pos_ < s_.size() && ident_char(s_[pos_])) ++pos_;
    if (b == pos_) fail("expected a name");
    return s_.substr(b, pos_ - b);
  }
  // Type text up to the argument name: "Tensor(a!)?", "SymInt[2]", "int[1]?".
  std::string_view type_text() {
    skip_ws();
    std::size_t b = pos_;
    ident();
    std::size_t e = pos_;
    if (at('(')) {
      while (pos_ < s_.size() && s_[pos_] != ')') ++pos_;
      expect(')');
      e = pos_;
    }
    if (at('[')) {
      while (pos_ < s_.size() && s_[pos_] != ']') ++pos_;
      expect(']');
      e = pos_;
    }
    if (eat('?')) e = pos_;
    return s_.substr(b, e - b);
  }
  Argument literal();
  std::size_t pos() const { return pos_; }
  bool done() {
    skip_ws();
    return pos_ >= s_.size();
  }
  std::string_view rest() const { return s_.substr(pos_); }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

inline Argument SchemaParser::literal() {
  skip_ws();
  if (eat('[')) {
    Argument::List items;
    if (!eat(']')) {
      do items.push_back(literal());
      while (eat(','));
      expect(']');
    }
    return Argument(std::move(items));
  }
  if (at('"') || at('\'')) {
    char q = s_[pos_++];
    std::size_t b = pos_;
    while (pos_ < s_.size() && s_[pos_] != q) ++pos_;
    if (pos_ >= s_.size()) fail("unterminated string");
    std::string v(s_.substr(b, pos_ - b));
    ++pos_;
    return Argument(std::move(v));
  }
  std::size_t b = pos_;
  while (pos_ < s_.size() && (ident_char(s_[pos_]) || s_[pos_] == '-' || s_[pos_] == '+')) ++pos_;
  std::string_view tok = s_.substr(b, pos_ - b);
  if (tok.empty()) fail("expected a default value");
  if (tok == "None") return Argument();
  if (tok == "True") return Argument(true);
  if (tok == "False") return Argument(false);
  bool numeric = (tok[0] >= '0' && tok[0] <= '9') || tok[0] == '-' || tok[0] == '+';
  if (numeric) {
    std::string t(tok);
    std::size_t used = 0;
    bool is_float = t.find_first_of(".eE") != std::string::npos || t == "inf" || t == "-inf";
    try {
      if (is_float) {
        double d = std::stod(t, &used);
        if (used == t.size()) return Argument(d);
      } else {
        long long i = std::stoll(t, &used);
        if (used == t.size()) return Argument(static_cast<std::int64_t>(i));
      }
    } catch (const std::exception&) {
    }
    fail("bad number '" + t + "'");
  }
  return Argument(std::string(tok));  // enum-like names: contiguous_format, Mean, ...
}

inline ArgSpec make_arg_spec(std::string_view type, std::string_view name) {
  ArgSpec a;
  a.name = std::string(name);
  a.type_text = std::string(type);
  if (!type.empty() && type.back() == '?') {
    a.optional = true;
    type.remove_suffix(1);
  }
  std::string_view base = type.substr(0, type.find_first_of("[("));
  bool is_list = type.find('[') != std::string_view::npos;
  if (auto lb = type.find('['); is_list && lb + 1 < type.size() && type[lb + 1] != ']') {
    std::size_t n = 0;
    for (std::size_t i = lb + 1; i < type.size() && type[i] >= '0' && type[i] <= '9'; ++i)
      n = n * 10 + static_cast<std::size_t>(type[i] - '0');
    a.fixed_length = n;
  }
  a.mutated = type.find('!') != std::string_view::npos;
  if (base == "Tensor") a.type = is_list ? ArgType::tensor_list : ArgType::tensor;
  else if (base == "int" || base == "SymInt") a.type = is_list ? ArgType::int_list : ArgType::integer;
  else if (base == "float") a.type = is_list ? ArgType::real_list : ArgType::real;
  else if (base == "bool") a.type = ArgType::boolean;
  else if (base == "Scalar") a.type = ArgType::scalar;
  else if (base == "ScalarType") a.type = ArgType::scalar_type;
  else if (base == "str") a.type = ArgType::string;
  else a.type = ArgType::other;
  return a;
}

inline OpSchema SchemaParser::parse_into(OpSchema schema) {
  // Arguments.
  expect('(');
  std::vector<ArgSpec> args;
  bool kwarg_only = false;
  if (!eat(')')) {
    do {
      if (eat('*')) {
        kwarg_only = true;
        continue;
      }
      std::string_view type = type_text();
      std::string_view name = ident();
      ArgSpec a = make_arg_spec(type, name);
      a.kwarg_only = kwarg_only;
      if (eat('=')) {
        Argument d = literal();
        // `int[2] stride=1` means [1, 1]: store the default expanded.
        if (a.type == ArgType::int_list && a.fixed_length > 0 && d.is_int())
          d = Argument(Argument::List(a.fixed_length, Argument(d.as_int())));
        a.default_value = std::move(d);
      }  // without `=`, the argument is required even when it is optional (`Tensor? bias`)
      args.push_back(std::move(a));
    } while (eat(','));
    expect(')');
  }
  // Returns.
  skip_ws();
  if (!(eat('-') && eat('>'))) fail("expected '->'");
  std::size_t outputs = 1;
  bool tuple = false;
  if (eat('(')) {
    tuple = true;
    outputs = 0;
    if (!eat(')')) {
      int depth = 0;
      outputs = 1;
      skip_ws();
      while (!done()) {
        char c = rest()[0];
        if (c == ')' && depth == 0) break;
        if (c == '(') ++depth;
        if (c == ')') --depth;
        if (c == ',' && depth == 0) ++outputs;
        eat(c);
      }
      expect(')');
    }
  } else {
    type_text();
    if (!done()) ident();  // an optional return name
  }
  if (!done()) fail("unexpected text after the return type");
  schema.args_ = std::move(args);
  schema.num_outputs_ = outputs;
  schema.returns_tuple_ = tuple;
  schema.has_signature_ = true;
  schema.finish();
  return schema;
}

}  // namespace detail

inline void OpSchema::split_name() {
  // ns.op[.overload]; an op name may itself not contain '.'.
  auto first = name_.find('.');
  if (first == std::string::npos || first == 0 || first + 1 >= name_.size())
    throw SchemaError("op name '" + name_ + "' is not of the form namespace.op[.overload]");
  ns_len_ = first;
  op_begin_ = first + 1;
  auto second = name_.find('.', op_begin_);
  op_len_ = (second == std::string::npos ? name_.size() : second) - op_begin_;
  if (op_len_ == 0) throw SchemaError("op name '" + name_ + "' has an empty op part");
}

inline void OpSchema::finish() {
  num_positional_ = 0;
  for (std::size_t i = 0; i < args_.size(); ++i) {
    if (!args_[i].kwarg_only) ++num_positional_;
    if (args_[i].mutated) mutates_ = true;
    if (args_[i].name == "training" && args_[i].type == ArgType::boolean) training_index_ = i;
  }
  std::string_view o = op();
  if (!o.empty() && o.back() == '_' && !(o.size() >= 2 && o[0] == '_' && o[1] == '_')) mutates_ = true;
}

inline OpSchema OpSchema::parse(std::string_view text) {
  detail::SchemaParser p(text);
  std::string name(p.ident());
  OpSchema shell;
  shell.name_ = std::move(name);
  shell.split_name();
  return p.parse_into(std::move(shell));
}

namespace detail {

// PyTorch ATen / quantized_decomposed schemas (argument names, order and defaults as in
// torch's native_functions.yaml and torch/ao/quantization/fx/_decomposed.py).
inline constexpr std::string_view kBuiltinSchemas[] = {
    // Convolution.
    "aten.convolution.default(Tensor input, Tensor weight, Tensor? bias, SymInt[] stride, SymInt[] padding, SymInt[] dilation, bool transposed, SymInt[] output_padding, SymInt groups) -> Tensor",
    "aten.conv1d.default(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, SymInt[1] padding=0, SymInt[1] dilation=1, SymInt groups=1) -> Tensor",
    "aten.conv2d.default(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, SymInt[2] padding=0, SymInt[2] dilation=1, SymInt groups=1) -> Tensor",
    "aten.conv3d.default(Tensor input, Tensor weight, Tensor? bias=None, SymInt[3] stride=1, SymInt[3] padding=0, SymInt[3] dilation=1, SymInt groups=1) -> Tensor",
    "aten.conv1d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, str padding=\"valid\", SymInt[1] dilation=1, SymInt groups=1) -> Tensor",
    "aten.conv2d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, str padding=\"valid\", SymInt[2] dilation=1, SymInt groups=1) -> Tensor",
    "aten.conv3d.padding(Tensor input, Tensor weight, Tensor? bias=None, SymInt[3] stride=1, str padding=\"valid\", SymInt[3] dilation=1, SymInt groups=1) -> Tensor",
    "aten.conv_transpose1d.default(Tensor input, Tensor weight, Tensor? bias=None, SymInt[1] stride=1, SymInt[1] padding=0, SymInt[1] output_padding=0, SymInt groups=1, SymInt[1] dilation=1) -> Tensor",
    "aten.conv_transpose2d.input(Tensor input, Tensor weight, Tensor? bias=None, SymInt[2] stride=1, SymInt[2] padding=0, SymInt[2] output_padding=0, SymInt groups=1, SymInt[2] dilation=1) -> Tensor",
    "aten.conv_transpose3d.input(Tensor input, Tensor weight, Tensor? bias=None, SymInt[3] stride=1, SymInt[3] padding=0, SymInt[3] output_padding=0, SymInt groups=1, SymInt[3] dilation=1) -> Tensor",
    // Batch norm.
    "aten.batch_norm.default(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool training, float momentum, float eps, bool cudnn_enabled) -> Tensor",
    "aten._native_batch_norm_legit.default(Tensor input, Tensor? weight, Tensor? bias, Tensor(a!) running_mean, Tensor(b!) running_var, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
    "aten._native_batch_norm_legit.no_stats(Tensor input, Tensor? weight, Tensor? bias, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
    "aten._native_batch_norm_legit_no_training.default(Tensor input, Tensor? weight, Tensor? bias, Tensor running_mean, Tensor running_var, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
    "aten._native_batch_norm_legit_functional.default(Tensor input, Tensor? weight, Tensor? bias, Tensor running_mean, Tensor running_var, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor, Tensor running_mean_out, Tensor running_var_out)",
    "aten.native_batch_norm.default(Tensor input, Tensor? weight, Tensor? bias, Tensor? running_mean, Tensor? running_var, bool training, float momentum, float eps) -> (Tensor, Tensor, Tensor)",
    // Quantize / dequantize.
    "quantized_decomposed.quantize_per_tensor.default(Tensor input, float scale, int zero_point, int quant_min, int quant_max, ScalarType dtype) -> Tensor",
    "quantized_decomposed.quantize_per_tensor.tensor(Tensor input, Tensor scale, Tensor zero_point, int quant_min, int quant_max, ScalarType dtype) -> Tensor",
    "quantized_decomposed.quantize_per_tensor.tensor2(Tensor input, Tensor scale, Tensor zero_point, Tensor quant_min, Tensor quant_max, ScalarType dtype) -> Tensor",
    "quantized_decomposed.dequantize_per_tensor.default(Tensor input, float scale, int zero_point, int quant_min, int quant_max, ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor",
    "quantized_decomposed.dequantize_per_tensor.tensor(Tensor input, Tensor scale, Tensor zero_point, int quant_min, int quant_max, ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor",
    "quantized_decomposed.dequantize_per_tensor.tensor2(Tensor input, Tensor scale, Tensor zero_point, Tensor quant_min, Tensor quant_max, ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor",
    "quantized_decomposed.quantize_per_channel.default(Tensor input, Tensor scales, Tensor zero_points, int axis, int quant_min, int quant_max, ScalarType dtype) -> Tensor",
    "quantized_decomposed.dequantize_per_channel.default(Tensor input, Tensor scales, Tensor? zero_points, int axis, int quant_min, int quant_max, ScalarType dtype, *, ScalarType? out_dtype=None) -> Tensor",
    // Arithmetic.
    "aten.add.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
    "aten.add.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
    "aten.add_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
    "aten.add_.Scalar(Tensor(a!) self, Scalar other, Scalar alpha=1) -> Tensor(a!)",
    "aten.sub.Tensor(Tensor self, Tensor other, *, Scalar alpha=1) -> Tensor",
    "aten.sub.Scalar(Tensor self, Scalar other, Scalar alpha=1) -> Tensor",
    "aten.sub_.Tensor(Tensor(a!) self, Tensor other, *, Scalar alpha=1) -> Tensor(a!)",
    "aten.mul.Tensor(Tensor self, Tensor other) -> Tensor",
    "aten.mul.Scalar(Tensor self, Scalar other) -> Tensor",
    "aten.mul_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
    "aten.mul_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
    "aten.div.Tensor(Tensor self, Tensor other) -> Tensor",
    "aten.div.Scalar(Tensor self, Scalar other) -> Tensor",
    "aten.div.Tensor_mode(Tensor self, Tensor other, *, str? rounding_mode) -> Tensor",
    "aten.div_.Tensor(Tensor(a!) self, Tensor other) -> Tensor(a!)",
    "aten.div_.Scalar(Tensor(a!) self, Scalar other) -> Tensor(a!)",
    "aten.neg.default(Tensor self) -> Tensor",
    "aten.reciprocal.default(Tensor self) -> Tensor",
    "aten.sqrt.default(Tensor self) -> Tensor",
    "aten.rsqrt.default(Tensor self) -> Tensor",
    "aten.pow.Tensor_Scalar(Tensor self, Scalar exponent) -> Tensor",
    "aten.clamp.default(Tensor self, Scalar? min=None, Scalar? max=None) -> Tensor",
    "aten.mm.default(Tensor self, Tensor mat2) -> Tensor",
    "aten.addmm.default(Tensor self, Tensor mat1, Tensor mat2, *, Scalar beta=1, Scalar alpha=1) -> Tensor",
    "aten.linear.default(Tensor input, Tensor weight, Tensor? bias=None) -> Tensor",
    // Activations.
    "aten.relu.default(Tensor self) -> Tensor",
    "aten.relu_.default(Tensor(a!) self) -> Tensor(a!)",
    "aten.hardtanh.default(Tensor self, Scalar min_val=-1, Scalar max_val=1) -> Tensor",
    "aten.hardtanh_.default(Tensor(a!) self, Scalar min_val=-1, Scalar max_val=1) -> Tensor(a!)",
    "aten.hardswish.default(Tensor self) -> Tensor",
    "aten.hardswish_.default(Tensor(a!) self) -> Tensor(a!)",
    "aten.hardsigmoid.default(Tensor self) -> Tensor",
    "aten.hardsigmoid_.default(Tensor(a!) self) -> Tensor(a!)",
    "aten.sigmoid.default(Tensor self) -> Tensor",
    "aten.tanh.default(Tensor self) -> Tensor",
    "aten.silu.default(Tensor self) -> Tensor",
    "aten.silu_.default(Tensor(a!) self) -> Tensor(a!)",
    "aten.softmax.int(Tensor self, int dim, ScalarType? dtype=None) -> Tensor",
    // Pooling and reductions.
    "aten.max_pool2d.default(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> Tensor",
    "aten.max_pool2d_with_indices.default(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, int[2] dilation=1, bool ceil_mode=False) -> (Tensor, Tensor)",
    "aten.avg_pool2d.default(Tensor self, int[2] kernel_size, int[2] stride=[], int[2] padding=0, bool ceil_mode=False, bool count_include_pad=True, int? divisor_override=None) -> Tensor",
    "aten.adaptive_avg_pool2d.default(Tensor self, SymInt[2] output_size) -> Tensor",
    "aten.mean.dim(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
    "aten.sum.dim_IntList(Tensor self, int[1]? dim, bool keepdim=False, *, ScalarType? dtype=None) -> Tensor",
    // Shapes and copies.
    "aten.reshape.default(Tensor(a) self, SymInt[] shape) -> Tensor(a)",
    "aten.view.default(Tensor(a) self, SymInt[] size) -> Tensor(a)",
    "aten.flatten.using_ints(Tensor(a) self, int start_dim=0, int end_dim=-1) -> Tensor(a)",
    "aten.permute.default(Tensor(a) self, int[] dims) -> Tensor(a)",
    "aten.transpose.int(Tensor(a) self, int dim0, int dim1) -> Tensor(a)",
    "aten.t.default(Tensor(a) self) -> Tensor(a)",
    "aten.unsqueeze.default(Tensor(a) self, int dim) -> Tensor(a)",
    "aten.squeeze.dim(Tensor(a) self, int dim) -> Tensor(a)",
    "aten.cat.default(Tensor[] tensors, int dim=0) -> Tensor",
    "aten.upsample_nearest2d.vec(Tensor input, SymInt[]? output_size, float[]? scale_factors) -> Tensor",
    "aten.zeros_like.default(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
    "aten.ones_like.default(Tensor self, *, ScalarType? dtype=None, Layout? layout=None, Device? device=None, bool? pin_memory=None, MemoryFormat? memory_format=None) -> Tensor",
    "aten.clone.default(Tensor self, *, MemoryFormat? memory_format=None) -> Tensor",
    "aten.detach.default(Tensor(a) self) -> Tensor(a)",
    "aten.dropout.default(Tensor input, float p, bool train) -> Tensor",
    "aten.copy_.default(Tensor(a!) self, Tensor src, bool non_blocking=False) -> Tensor(a!)",
    // Python operators that appear in exported graphs.
    "operator.getitem(Any a, Any b) -> Any",
};

}  // namespace detail

// A set of schemas looked up by name. `OpRegistry::builtin()` holds the built-in table and is
// immutable; each Graph owns a registry for the ops its users add and for unknown op names.
class OpRegistry {
 public:
  OpRegistry() = default;
  OpRegistry(const OpRegistry&) = delete;
  OpRegistry& operator=(const OpRegistry&) = delete;
  OpRegistry(OpRegistry&&) noexcept = default;
  OpRegistry& operator=(OpRegistry&&) noexcept = default;

  // The built-in schemas, parsed once on first use.
  static const OpRegistry& builtin() {
    static const OpRegistry instance = [] {
      OpRegistry r;
      for (std::string_view text : detail::kBuiltinSchemas) r.add(OpSchema::parse(text));
      return r;
    }();
    return instance;
  }

  // Adds a schema; replaces none: a second schema with the same name is an error.
  const OpSchema* add(OpSchema schema) {
    auto owned = std::make_unique<OpSchema>(std::move(schema));
    const OpSchema* p = owned.get();
    auto [it, inserted] = by_name_.emplace(std::string_view(p->name()), p);
    (void)it;
    if (!inserted) throw SchemaError("op '" + p->name() + "' is already registered");
    storage_.push_back(std::move(owned));
    return p;
  }

  // The schema registered under `name`, or null.
  const OpSchema* find(std::string_view name) const noexcept {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }

  // How many schemas are registered.
  std::size_t size() const noexcept { return storage_.size(); }
  // Schemas in the order they were added.
  template <typename F>
  void for_each(F&& f) const {
    for (const auto& s : storage_) f(*s);
  }

 private:
  std::vector<std::unique_ptr<OpSchema>> storage_;
  std::unordered_map<std::string_view, const OpSchema*> by_name_;
};

// Normalises a target spelling to graft's: strips "torch.ops.", turns "aten::conv2d" into
// "aten.conv2d.default" and "aten::add.Tensor" into "aten.add.Tensor".
inline std::string canonical_op_name(std::string_view name) {
  constexpr std::string_view torch_ops = "torch.ops.";
  if (name.substr(0, torch_ops.size()) == torch_ops) name.remove_prefix(torch_ops.size());
  auto colons = name.find("::");
  if (colons == std::string_view::npos) return std::string(name);
  std::string out(name.substr(0, colons));
  std::string_view rest = name.substr(colons + 2);
  out += '.';
  out += rest;
  if (rest.find('.') == std::string_view::npos) out += ".default";
  return out;
}

}  // namespace graft

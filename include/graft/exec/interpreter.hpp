// graft/exec/interpreter.hpp - runs a graft::Module on tensors, like torch.fx.Interpreter.
//
// Nodes run in graph order; every argument is read through the op schema (positional, keyword
// or default alike). get_attr nodes alias the module's parameters and buffers, so training-mode
// batch norm and in-place ops (`add_(num_batches_tracked, 1)`) update the module's state exactly
// as PyTorch does. Each intermediate value is released right after its last reader ran. An
// unsupported op, a shape or a dtype mismatch raises ExecError naming the node, the op and the
// shapes of its inputs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "graft/error.hpp"
#include "graft/graph/argument.hpp"
#include "graft/graph/graph.hpp"
#include "graft/graph/module.hpp"
#include "graft/graph/node.hpp"
#include "graft/tensor/batch_norm.hpp"
#include "graft/tensor/conv.hpp"
#include "graft/tensor/ops.hpp"
#include "graft/tensor/pool.hpp"
#include "graft/tensor/quantize.hpp"
#include "graft/tensor/tensor.hpp"

namespace graft {

// A node that could not be executed; `what()` names the node, its op and its input shapes.
class ExecError : public Error {
 public:
  using Error::Error;
};

// How batch norm and dropout nodes run.
enum class ExecMode : std::uint8_t {
  as_graph,  // as each node's own `training` / `train` argument says
  eval,      // running statistics; the module's state is never modified
  train,     // batch statistics; running statistics and in-place buffer updates are applied
};

namespace detail {

// The value a node produced: a tensor, a tuple of tensors, or nothing (None).
struct ExecValue {
  std::shared_ptr<Tensor> tensor;
  std::vector<std::shared_ptr<Tensor>> tuple;
  bool is_tuple = false;
  bool module_state = false;  // aliases a parameter or buffer of the module
};

inline std::string describe_tensor(const Tensor& t) {
  return std::string(dtype_name(t.dtype())) + shape_to_string(t.shape());
}

}  // namespace detail

class Interpreter {
 public:
  explicit Interpreter(Module& module, ExecMode mode = ExecMode::as_graph) : module_(&module), mode_(mode) {}

  // How batch norm and dropout run: as each node says, or all in training or eval mode.
  ExecMode mode() const noexcept { return mode_; }
  void set_mode(ExecMode m) noexcept { mode_ = m; }

  // Runs the graph on `inputs` (one per placeholder, in graph order) and returns the graph's
  // outputs in order (a single output gives a one-element vector).
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) {
    env_.clear();
    peak_live_ = 0;
    const Graph& g = module_->graph;
    // Last reader of every node, so values can be released as early as possible.
    std::unordered_map<const Node*, const Node*> last_use;
    std::size_t num_placeholders = 0;
    for (const Node* n : g.nodes()) {
      if (n->is_placeholder()) ++num_placeholders;
      for (const Node* in : n->input_nodes()) last_use[in] = n;
    }
    if (inputs.size() != num_placeholders)
      throw ExecError("interpreter: the graph has " + std::to_string(num_placeholders) + " placeholders, " +
                      std::to_string(inputs.size()) + " inputs were given");
    std::size_t next_input = 0;
    std::vector<Tensor> outputs;
    for (const Node* n : g.nodes()) {
      if (n->is_output()) {
        outputs = collect_outputs(*n);
        break;
      }
      detail::ExecValue v;
      if (n->is_placeholder()) {
        v.tensor = std::make_shared<Tensor>(inputs[next_input++]);
      } else if (n->is_get_attr()) {
        v = attr_value(*n);
      } else {
        v = run_node(*n);
      }
      if (n->num_users() > 0) env_[n] = std::move(v);
      for (const Node* in : n->input_nodes()) {
        auto it = last_use.find(in);
        if (it != last_use.end() && it->second == n) env_.erase(in);
      }
      peak_live_ = std::max(peak_live_, env_.size());
    }
    env_.clear();
    return outputs;
  }

  // The largest number of node values held at once during the last run (for tests and tuning).
  std::size_t peak_live_values() const noexcept { return peak_live_; }

 private:
  using Handler = detail::ExecValue (*)(Interpreter&, const Node&);

  // ---- values -------------------------------------------------------------------------------
  detail::ExecValue attr_value(const Node& n) {
    Tensor* t = module_->find_attr(n.target());
    if (!t)
      throw ExecError("node " + n.describe() + ": get_attr names '" + std::string(n.target()) +
                      "', which is no parameter or buffer of the module");
    detail::ExecValue v;
    v.module_state = true;
    v.tensor = std::shared_ptr<Tensor>(t, [](Tensor*) {});  // an alias: no copy, no ownership
    return v;
  }

  const detail::ExecValue& value_of(const Node& user, const Node* in) const {
    auto it = env_.find(in);
    if (it == env_.end())
      throw ExecError("node " + user.describe() + ": input " + in->describe() + " has no value (was it run?)");
    return it->second;
  }

  std::vector<Tensor> collect_outputs(const Node& out) {
    std::vector<Tensor> result;
    if (out.args().empty()) return result;
    const Argument& a = out.args()[0];
    auto take = [&](const Argument& item) {
      if (item.is_none()) return;
      if (!item.is_node()) throw ExecError("output: element is a literal, not a node");
      const detail::ExecValue& v = value_of(out, item.as_node());
      if (v.is_tuple) {
        for (const auto& t : v.tuple) result.push_back(*t);
      } else if (v.tensor) {
        result.push_back(*v.tensor);
      }
    };
    if (a.is_list()) {
      for (const Argument& item : a.as_list()) take(item);
    } else {
      take(a);
    }
    return result;
  }

  // ---- argument access ----------------------------------------------------------------------
  [[noreturn]] static void arg_error(const Node& n, std::string_view name, const std::string& what) {
    throw ExecError("node " + n.describe() + ": argument '" + std::string(name) + "' " + what);
  }

  std::shared_ptr<Tensor> tensor_ptr(const Node& n, std::string_view name) const {
    const Argument& a = n.arg(name);
    if (!a.is_node()) arg_error(n, name, "is " + std::string(arg_kind_name(a.kind())) + ", expected a tensor");
    const detail::ExecValue& v = value_of(n, a.as_node());
    if (v.is_tuple || !v.tensor) arg_error(n, name, "is a tuple or None, expected a tensor");
    return v.tensor;
  }
  const Tensor& tensor(const Node& n, std::string_view name) const { return *tensor_ptr(n, name); }
  Tensor* opt_tensor(const Node& n, std::string_view name) const {
    const Argument* a = n.find_arg(name);
    if (!a || a->is_none()) return nullptr;
    return tensor_ptr(n, name).get();
  }
  bool module_state(const Node& n, std::string_view name) const {
    const Argument& a = n.arg(name);
    return a.is_node() && value_of(n, a.as_node()).module_state;
  }
  static double number(const Node& n, std::string_view name) {
    const Argument& a = n.arg(name);
    if (a.is_int() || a.is_double()) return a.as_double();
    if (a.is_bool()) return a.as_bool() ? 1.0 : 0.0;
    arg_error(n, name, "is " + std::string(arg_kind_name(a.kind())) + ", expected a number");
  }
  static std::int64_t integer(const Node& n, std::string_view name) {
    const Argument& a = n.arg(name);
    if (!a.is_int()) arg_error(n, name, "is " + std::string(arg_kind_name(a.kind())) + ", expected an int");
    return a.as_int();
  }
  static bool boolean(const Node& n, std::string_view name) {
    const Argument& a = n.arg(name);
    if (!a.is_bool()) arg_error(n, name, "is " + std::string(arg_kind_name(a.kind())) + ", expected a bool");
    return a.as_bool();
  }
  static std::vector<std::int64_t> int_list(const Node& n, std::string_view name) {
    const Argument& a = n.arg(name);
    if (a.is_int()) return {a.as_int()};
    if (!a.is_list()) arg_error(n, name, "is " + std::string(arg_kind_name(a.kind())) + ", expected an int list");
    return a.as_int_list();
  }
  static DType dtype_arg(const Node& n, std::string_view name) {
    const Argument& a = n.arg(name);
    if (!a.is_dtype()) arg_error(n, name, "is " + std::string(arg_kind_name(a.kind())) + ", expected a dtype");
    return a.as_dtype();
  }
  // A Tensor-or-Scalar operand as a tensor (a Python number becomes a 0-d tensor).
  Tensor operand(const Node& n, std::string_view name, const Tensor& like) const {
    const Argument& a = n.arg(name);
    if (a.is_int()) return kernels::scalar_tensor(like, static_cast<double>(a.as_int()), false);
    if (a.is_double()) return kernels::scalar_tensor(like, a.as_double(), true);
    if (a.is_bool()) return kernels::scalar_tensor(like, a.as_bool() ? 1.0 : 0.0, false);
    return tensor(n, name);
  }

  static detail::ExecValue wrap(Tensor t) {
    detail::ExecValue v;
    v.tensor = std::make_shared<Tensor>(std::move(t));
    return v;
  }
  static detail::ExecValue wrap_tuple(std::vector<Tensor> ts) {
    detail::ExecValue v;
    v.is_tuple = true;
    for (auto& t : ts) v.tuple.push_back(std::make_shared<Tensor>(std::move(t)));
    return v;
  }

  // In-place ops write into `self` and return it (aliasing, as PyTorch); in eval mode a module
  // tensor is never written: the node gets the new value and the module keeps the old one.
  detail::ExecValue inplace(const Node& n, Tensor result) {
    std::shared_ptr<Tensor> self = tensor_ptr(n, "self");
    const bool state = module_state(n, "self");
    detail::ExecValue v;
    if (state && mode_ == ExecMode::eval) {
      // Copy on write: the node sees the new value, the module keeps its own.
      Tensor copy = *self;
      kernels::assign_inplace(copy, std::move(result), "in-place op");
      v.tensor = std::make_shared<Tensor>(std::move(copy));
      return v;
    }
    kernels::assign_inplace(*self, std::move(result), "in-place op");
    v.tensor = self;
    v.module_state = state;
    return v;
  }

  bool bn_training(const Node& n) const {
    if (mode_ == ExecMode::eval) return false;
    if (mode_ == ExecMode::train) return true;
    return boolean(n, "training");
  }

  // ---- dispatch ---------------------------------------------------------------------------------
  detail::ExecValue run_node(const Node& n) {
    const auto& table = handlers();
    auto it = table.find(n.target());
    if (it == table.end()) throw ExecError("node " + n.describe() + ": unsupported op; inputs " + input_summary(n));
    try {
      return it->second(*this, n);
    } catch (const ExecError&) {
      throw;
    } catch (const Error& e) {
      throw ExecError("node " + n.describe() + ": " + e.what() + "; inputs " + input_summary(n));
    }
  }

  std::string input_summary(const Node& n) const {
    std::string s = "(";
    bool first = true;
    for (const Node* in : n.input_nodes()) {
      s += first ? "" : ", ";
      first = false;
      s += in->name() + ": ";
      auto it = env_.find(in);
      if (it == env_.end()) s += "?";
      else if (it->second.is_tuple) s += "tuple";
      else if (it->second.tensor) s += detail::describe_tensor(*it->second.tensor);
      else s += "None";
    }
    return s + ")";
  }

  static detail::ExecValue run_conv(Interpreter& I, const Node& n, bool transposed_op, bool generic) {
    const Tensor& x = I.tensor(n, "input");
    const Tensor& w = I.tensor(n, "weight");
    const Tensor* b = I.opt_tensor(n, "bias");
    kernels::ConvParams p;
    p.stride = int_list(n, "stride");
    p.dilation = int_list(n, "dilation");
    p.groups = integer(n, "groups");
    p.transposed = generic ? boolean(n, "transposed") : transposed_op;
    if (p.transposed) p.output_padding = int_list(n, "output_padding");
    const Argument& pad = n.arg("padding");
    if (pad.is_string()) {
      // conv*.padding overloads: "valid" or "same" (stride 1, symmetric padding only).
      const std::string& mode = pad.as_string();
      const std::size_t nsp = w.dim() >= 2 ? w.dim() - 2 : 0;
      p.padding.assign(nsp, 0);
      if (mode == "same") {
        for (std::size_t i = 0; i < nsp; ++i) {
          const std::int64_t d = p.dilation.size() == 1 ? p.dilation[0] : p.dilation[i];
          const std::int64_t total = d * (w.shape()[2 + i] - 1);
          if (total % 2 != 0)
            throw ExecError("node " + n.describe() + ": padding='same' needs asymmetric padding here, which is unsupported");
          p.padding[i] = total / 2;
        }
      } else if (mode != "valid") {
        throw ExecError("node " + n.describe() + ": padding '" + mode + "' is neither 'valid' nor 'same'");
      }
    } else {
      p.padding = int_list(n, "padding");
    }
    return wrap(kernels::convolution(x, w, b, p));
  }

  static detail::ExecValue run_batch_norm(Interpreter& I, const Node& n, bool has_stats, bool has_training, bool tuple,
                                          bool functional) {
    const Tensor& x = I.tensor(n, "input");
    const Tensor* w = I.opt_tensor(n, "weight");
    const Tensor* b = I.opt_tensor(n, "bias");
    Tensor* rm = has_stats ? I.opt_tensor(n, "running_mean") : nullptr;
    Tensor* rv = has_stats ? I.opt_tensor(n, "running_var") : nullptr;
    // _no_training always uses the running statistics; no_stats always the batch statistics.
    const bool training = !has_stats || (has_training && I.bn_training(n));
    const double momentum = number(n, "momentum"), eps = number(n, "eps");
    Tensor rm_copy, rv_copy;
    if (functional && rm && rv) {
      rm_copy = *rm;
      rv_copy = *rv;
      rm = &rm_copy;
      rv = &rv_copy;
    }
    kernels::BatchNormResult r = kernels::batch_norm(x, w, b, rm, rv, training, momentum, eps);
    if (!tuple) return wrap(std::move(r.output));
    std::vector<Tensor> outs;
    outs.push_back(std::move(r.output));
    outs.push_back(std::move(r.save_mean));
    outs.push_back(std::move(r.save_invstd));
    if (functional) {
      outs.push_back(rm ? std::move(rm_copy) : Tensor());
      outs.push_back(rv ? std::move(rv_copy) : Tensor());
    }
    return wrap_tuple(std::move(outs));
  }

  static detail::ExecValue run_quant(Interpreter& I, const Node& n, bool quantize, int overload) {
    // overload: 0 = .default (float scale, int zero point), 1 = .tensor, 2 = .tensor2
    const Tensor& x = I.tensor(n, "input");
    double scale = 0;
    std::int64_t zp = 0, qmin = 0, qmax = 0;
    if (overload == 0) {
      scale = number(n, "scale");
      zp = integer(n, "zero_point");
    } else {
      scale = kernels::item(I.tensor(n, "scale"), "scale");
      zp = static_cast<std::int64_t>(kernels::item(I.tensor(n, "zero_point"), "zero_point"));
    }
    if (overload == 2) {
      qmin = static_cast<std::int64_t>(kernels::item(I.tensor(n, "quant_min"), "quant_min"));
      qmax = static_cast<std::int64_t>(kernels::item(I.tensor(n, "quant_max"), "quant_max"));
    } else {
      qmin = integer(n, "quant_min");
      qmax = integer(n, "quant_max");
    }
    const DType dtype = dtype_arg(n, "dtype");
    if (quantize) return wrap(kernels::quantize_per_tensor(x, scale, zp, qmin, qmax, dtype));
    const Argument* od = n.find_arg("out_dtype");
    const DType out = od && od->is_dtype() ? od->as_dtype() : DType::float32;
    return wrap(kernels::dequantize_per_tensor(x, scale, zp, qmin, qmax, dtype, out));
  }

  static detail::ExecValue run_quant_channel(Interpreter& I, const Node& n, bool quantize) {
    const Tensor& x = I.tensor(n, "input");
    const Tensor& scales = I.tensor(n, "scales");
    const std::int64_t axis = integer(n, "axis"), qmin = integer(n, "quant_min"), qmax = integer(n, "quant_max");
    const DType dtype = dtype_arg(n, "dtype");
    if (quantize) return wrap(kernels::quantize_per_channel(x, scales, I.tensor(n, "zero_points"), axis, qmin, qmax, dtype));
    const Argument* od = n.find_arg("out_dtype");
    const DType out = od && od->is_dtype() ? od->as_dtype() : DType::float32;
    return wrap(kernels::dequantize_per_channel(x, scales, I.opt_tensor(n, "zero_points"), axis, qmin, qmax, dtype, out));
  }

  static detail::ExecValue run_getitem(Interpreter& I, const Node& n) {
    if (n.args().size() != 2 || !n.args()[0].is_node() || !n.args()[1].is_int())
      throw ExecError("node " + n.describe() + ": expected getitem(node, int)");
    const detail::ExecValue& v = I.value_of(n, n.args()[0].as_node());
    std::int64_t i = n.args()[1].as_int();
    if (!v.is_tuple) throw ExecError("node " + n.describe() + ": getitem on a value that is not a tuple");
    const auto size = static_cast<std::int64_t>(v.tuple.size());
    if (i < 0) i += size;
    if (i < 0 || i >= size)
      throw ExecError("node " + n.describe() + ": index " + std::to_string(n.args()[1].as_int()) + " out of range for a " +
                      std::to_string(size) + "-tuple");
    detail::ExecValue r;
    r.tensor = v.tuple[static_cast<std::size_t>(i)];
    return r;
  }

  static kernels::Pool2dParams pool_params(const Node& n, bool dilation) {
    kernels::Pool2dParams p;
    p.kernel_size = int_list(n, "kernel_size");
    p.stride = int_list(n, "stride");
    p.padding = int_list(n, "padding");
    if (dilation) p.dilation = int_list(n, "dilation");
    p.ceil_mode = boolean(n, "ceil_mode");
    return p;
  }

  static const std::unordered_map<std::string_view, Handler>& handlers() {
    using V = detail::ExecValue;
    using I_ = Interpreter;
    static const std::unordered_map<std::string_view, Handler> table = {
        // Convolution.
        {"aten.convolution.default", [](I_& I, const Node& n) { return run_conv(I, n, false, true); }},
        {"aten.conv1d.default", [](I_& I, const Node& n) { return run_conv(I, n, false, false); }},
        {"aten.conv2d.default", [](I_& I, const Node& n) { return run_conv(I, n, false, false); }},
        {"aten.conv3d.default", [](I_& I, const Node& n) { return run_conv(I, n, false, false); }},
        {"aten.conv1d.padding", [](I_& I, const Node& n) { return run_conv(I, n, false, false); }},
        {"aten.conv2d.padding", [](I_& I, const Node& n) { return run_conv(I, n, false, false); }},
        {"aten.conv3d.padding", [](I_& I, const Node& n) { return run_conv(I, n, false, false); }},
        {"aten.conv_transpose1d.default", [](I_& I, const Node& n) { return run_conv(I, n, true, false); }},
        {"aten.conv_transpose2d.input", [](I_& I, const Node& n) { return run_conv(I, n, true, false); }},
        {"aten.conv_transpose3d.input", [](I_& I, const Node& n) { return run_conv(I, n, true, false); }},
        // Batch norm.
        {"aten.batch_norm.default", [](I_& I, const Node& n) { return run_batch_norm(I, n, true, true, false, false); }},
        {"aten._native_batch_norm_legit.default",
         [](I_& I, const Node& n) { return run_batch_norm(I, n, true, true, true, false); }},
        {"aten._native_batch_norm_legit.no_stats",
         [](I_& I, const Node& n) { return run_batch_norm(I, n, false, true, true, false); }},
        {"aten._native_batch_norm_legit_no_training.default",
         [](I_& I, const Node& n) { return run_batch_norm(I, n, true, false, true, false); }},
        {"aten._native_batch_norm_legit_functional.default",
         [](I_& I, const Node& n) { return run_batch_norm(I, n, true, true, true, true); }},
        {"aten.native_batch_norm.default", [](I_& I, const Node& n) { return run_batch_norm(I, n, true, true, true, false); }},
        // Quantize / dequantize.
        {"quantized_decomposed.quantize_per_tensor.default", [](I_& I, const Node& n) { return run_quant(I, n, true, 0); }},
        {"quantized_decomposed.quantize_per_tensor.tensor", [](I_& I, const Node& n) { return run_quant(I, n, true, 1); }},
        {"quantized_decomposed.quantize_per_tensor.tensor2", [](I_& I, const Node& n) { return run_quant(I, n, true, 2); }},
        {"quantized_decomposed.dequantize_per_tensor.default", [](I_& I, const Node& n) { return run_quant(I, n, false, 0); }},
        {"quantized_decomposed.dequantize_per_tensor.tensor", [](I_& I, const Node& n) { return run_quant(I, n, false, 1); }},
        {"quantized_decomposed.dequantize_per_tensor.tensor2", [](I_& I, const Node& n) { return run_quant(I, n, false, 2); }},
        {"quantized_decomposed.quantize_per_channel.default", [](I_& I, const Node& n) { return run_quant_channel(I, n, true); }},
        {"quantized_decomposed.dequantize_per_channel.default",
         [](I_& I, const Node& n) { return run_quant_channel(I, n, false); }},
        // Arithmetic.
        {"aten.add.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::add(a, I.operand(n, "other", a), number(n, "alpha")));
         }},
        {"aten.add.Scalar", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::add(a, I.operand(n, "other", a), number(n, "alpha")));
         }},
        {"aten.add_.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return I.inplace(n, kernels::add(a, I.operand(n, "other", a), number(n, "alpha")));
         }},
        {"aten.add_.Scalar", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return I.inplace(n, kernels::add(a, I.operand(n, "other", a), number(n, "alpha")));
         }},
        {"aten.sub.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::sub(a, I.operand(n, "other", a), number(n, "alpha")));
         }},
        {"aten.sub.Scalar", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::sub(a, I.operand(n, "other", a), number(n, "alpha")));
         }},
        {"aten.sub_.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return I.inplace(n, kernels::sub(a, I.operand(n, "other", a), number(n, "alpha")));
         }},
        {"aten.mul.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::mul(a, I.operand(n, "other", a)));
         }},
        {"aten.mul.Scalar", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::mul(a, I.operand(n, "other", a)));
         }},
        {"aten.mul_.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return I.inplace(n, kernels::mul(a, I.operand(n, "other", a)));
         }},
        {"aten.mul_.Scalar", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return I.inplace(n, kernels::mul(a, I.operand(n, "other", a)));
         }},
        {"aten.div.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::div(a, I.operand(n, "other", a)));
         }},
        {"aten.div.Scalar", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return wrap(kernels::div(a, I.operand(n, "other", a)));
         }},
        {"aten.div_.Tensor", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return I.inplace(n, kernels::div(a, I.operand(n, "other", a)));
         }},
        {"aten.div_.Scalar", [](I_& I, const Node& n) -> V {
           const Tensor& a = I.tensor(n, "self");
           return I.inplace(n, kernels::div(a, I.operand(n, "other", a)));
         }},
        {"aten.neg.default", [](I_& I, const Node& n) -> V { return wrap(kernels::neg(I.tensor(n, "self"))); }},
        {"aten.reciprocal.default", [](I_& I, const Node& n) -> V { return wrap(kernels::reciprocal(I.tensor(n, "self"))); }},
        {"aten.sqrt.default", [](I_& I, const Node& n) -> V { return wrap(kernels::sqrt(I.tensor(n, "self"))); }},
        {"aten.rsqrt.default", [](I_& I, const Node& n) -> V { return wrap(kernels::rsqrt(I.tensor(n, "self"))); }},
        {"aten.clamp.default", [](I_& I, const Node& n) -> V {
           const Argument& lo = n.arg("min");
           const Argument& hi = n.arg("max");
           return wrap(kernels::clamp(I.tensor(n, "self"), lo.is_none() ? -std::numeric_limits<double>::infinity() : number(n, "min"),
                                      hi.is_none() ? std::numeric_limits<double>::infinity() : number(n, "max")));
         }},
        {"aten.mm.default", [](I_& I, const Node& n) -> V { return wrap(kernels::mm(I.tensor(n, "self"), I.tensor(n, "mat2"))); }},
        {"aten.addmm.default", [](I_& I, const Node& n) -> V {
           return wrap(kernels::addmm(I.tensor(n, "self"), I.tensor(n, "mat1"), I.tensor(n, "mat2"), number(n, "beta"),
                                      number(n, "alpha")));
         }},
        {"aten.linear.default", [](I_& I, const Node& n) -> V {
           return wrap(kernels::linear(I.tensor(n, "input"), I.tensor(n, "weight"), I.opt_tensor(n, "bias")));
         }},
        // Activations.
        {"aten.relu.default", [](I_& I, const Node& n) -> V { return wrap(kernels::relu(I.tensor(n, "self"))); }},
        {"aten.relu_.default", [](I_& I, const Node& n) -> V { return I.inplace(n, kernels::relu(I.tensor(n, "self"))); }},
        {"aten.hardtanh.default", [](I_& I, const Node& n) -> V {
           return wrap(kernels::hardtanh(I.tensor(n, "self"), number(n, "min_val"), number(n, "max_val")));
         }},
        {"aten.hardtanh_.default", [](I_& I, const Node& n) -> V {
           return I.inplace(n, kernels::hardtanh(I.tensor(n, "self"), number(n, "min_val"), number(n, "max_val")));
         }},
        {"aten.hardswish.default", [](I_& I, const Node& n) -> V { return wrap(kernels::hardswish(I.tensor(n, "self"))); }},
        {"aten.hardswish_.default", [](I_& I, const Node& n) -> V { return I.inplace(n, kernels::hardswish(I.tensor(n, "self"))); }},
        {"aten.hardsigmoid.default", [](I_& I, const Node& n) -> V { return wrap(kernels::hardsigmoid(I.tensor(n, "self"))); }},
        {"aten.hardsigmoid_.default",
         [](I_& I, const Node& n) -> V { return I.inplace(n, kernels::hardsigmoid(I.tensor(n, "self"))); }},
        {"aten.sigmoid.default", [](I_& I, const Node& n) -> V { return wrap(kernels::sigmoid(I.tensor(n, "self"))); }},
        {"aten.tanh.default", [](I_& I, const Node& n) -> V { return wrap(kernels::tanh(I.tensor(n, "self"))); }},
        {"aten.silu.default", [](I_& I, const Node& n) -> V { return wrap(kernels::silu(I.tensor(n, "self"))); }},
        {"aten.silu_.default", [](I_& I, const Node& n) -> V { return I.inplace(n, kernels::silu(I.tensor(n, "self"))); }},
        // Pooling and reductions.
        {"aten.max_pool2d.default",
         [](I_& I, const Node& n) -> V { return wrap(kernels::max_pool2d(I.tensor(n, "self"), pool_params(n, true))); }},
        {"aten.max_pool2d_with_indices.default", [](I_& I, const Node& n) -> V {
           auto r = kernels::max_pool2d_with_indices(I.tensor(n, "self"), pool_params(n, true));
           std::vector<Tensor> outs;
           outs.push_back(std::move(r.values));
           outs.push_back(std::move(r.indices));
           return wrap_tuple(std::move(outs));
         }},
        {"aten.avg_pool2d.default", [](I_& I, const Node& n) -> V {
           const Argument& d = n.arg("divisor_override");
           return wrap(kernels::avg_pool2d(I.tensor(n, "self"), pool_params(n, false), boolean(n, "count_include_pad"),
                                           d.is_none() ? 0 : integer(n, "divisor_override")));
         }},
        {"aten.adaptive_avg_pool2d.default", [](I_& I, const Node& n) -> V {
           auto s = int_list(n, "output_size");
           if (s.size() != 1 && s.size() != 2) throw ExecError("node " + n.describe() + ": output_size needs 1 or 2 entries");
           return wrap(kernels::adaptive_avg_pool2d(I.tensor(n, "self"), s[0], s.size() == 2 ? s[1] : s[0]));
         }},
        {"aten.mean.dim", [](I_& I, const Node& n) -> V {
           const Argument& d = n.arg("dim");
           return wrap(kernels::mean_dim(I.tensor(n, "self"), d.is_none() ? std::vector<std::int64_t>{} : int_list(n, "dim"),
                                         boolean(n, "keepdim")));
         }},
        // Shapes and copies.
        {"aten.reshape.default",
         [](I_& I, const Node& n) -> V { return wrap(kernels::reshape(I.tensor(n, "self"), int_list(n, "shape"))); }},
        {"aten.view.default",
         [](I_& I, const Node& n) -> V { return wrap(kernels::reshape(I.tensor(n, "self"), int_list(n, "size"))); }},
        {"aten.flatten.using_ints", [](I_& I, const Node& n) -> V {
           return wrap(kernels::flatten(I.tensor(n, "self"), integer(n, "start_dim"), integer(n, "end_dim")));
         }},
        {"aten.t.default", [](I_& I, const Node& n) -> V { return wrap(kernels::t(I.tensor(n, "self"))); }},
        {"aten.cat.default", [](I_& I, const Node& n) -> V {
           const Argument& a = n.arg("tensors");
           if (!a.is_list()) throw ExecError("node " + n.describe() + ": argument 'tensors' is not a list");
           std::vector<const Tensor*> xs;
           for (const Argument& item : a.as_list()) {
             if (!item.is_node()) throw ExecError("node " + n.describe() + ": 'tensors' holds a literal, not a node");
             const detail::ExecValue& v = I.value_of(n, item.as_node());
             if (!v.tensor) throw ExecError("node " + n.describe() + ": 'tensors' holds a tuple");
             xs.push_back(v.tensor.get());
           }
           return wrap(kernels::cat(xs, integer(n, "dim")));
         }},
        {"aten.zeros_like.default", [](I_& I, const Node& n) -> V {
           const Argument& d = n.arg("dtype");
           const Tensor& x = I.tensor(n, "self");
           return wrap(Tensor(d.is_dtype() ? d.as_dtype() : x.dtype(), x.shape()));
         }},
        {"aten.ones_like.default", [](I_& I, const Node& n) -> V {
           const Argument& d = n.arg("dtype");
           const Tensor& x = I.tensor(n, "self");
           return wrap(kernels::ones_like(d.is_dtype() ? Tensor(d.as_dtype(), x.shape()) : x));
         }},
        {"aten.clone.default", [](I_& I, const Node& n) -> V { return wrap(I.tensor(n, "self")); }},
        {"aten.detach.default", [](I_& I, const Node& n) -> V {
           detail::ExecValue v;
           v.tensor = I.tensor_ptr(n, "self");  // a view: same storage
           v.module_state = I.module_state(n, "self");
           return v;
         }},
        {"aten.dropout.default", [](I_& I, const Node& n) -> V {
           const bool train = I.mode_ == ExecMode::eval ? false : (I.mode_ == ExecMode::train || boolean(n, "train"));
           if (train && number(n, "p") != 0.0)
             throw ExecError("node " + n.describe() + ": dropout in training mode (random) is not supported");
           return wrap(I.tensor(n, "input"));
         }},
        {"aten.copy_.default", [](I_& I, const Node& n) -> V {
           const Tensor& src = I.tensor(n, "src");
           const Tensor& self = I.tensor(n, "self");
           Shape so = kernels::broadcast_shapes(self.shape(), src.shape());
           if (so != self.shape())
             throw ExecError("node " + n.describe() + ": cannot copy " + shape_to_string(src.shape()) + " into " +
                             shape_to_string(self.shape()));
           Tensor v = kernels::add(kernels::zeros_like(kernels::to_dtype(self, src.dtype())), src);
           return I.inplace(n, std::move(v));
         }},
        {"operator.getitem", [](I_& I, const Node& n) -> V { return run_getitem(I, n); }},
    };
    return table;
  }

  Module* module_;
  ExecMode mode_;
  std::unordered_map<const Node*, detail::ExecValue> env_;
  std::size_t peak_live_ = 0;
};

namespace detail {
// run_module's body (a template only for GRAFT_EXTERN_TEMPLATES).
template <typename Unused = void>
std::vector<Tensor> run_module_once(Module& module, const std::vector<Tensor>& inputs, ExecMode mode) {
  Interpreter interp(module, mode);
  return interp.run(inputs);
}
}  // namespace detail

// Runs `module` once on `inputs`; see Interpreter.
inline std::vector<Tensor> run_module(Module& module, const std::vector<Tensor>& inputs,
                                      ExecMode mode = ExecMode::as_graph) {
  return detail::run_module_once(module, inputs, mode);
}

// With GRAFT_EXTERN_TEMPLATES the interpreter is compiled once (graft/instantiate.hpp).
#ifdef GRAFT_EXTERN_TEMPLATES
extern template std::vector<Tensor> detail::run_module_once<void>(Module&, const std::vector<Tensor>&, ExecMode);
#endif

}  // namespace graft

// conv_bn_graph: build the graph torch.export makes of `relu(bn(conv(x)))`, with its parameters,
// then look at it the ways graft offers: the FX-style printout, schema-normalised arguments,
// users, lint, and dead-code elimination. Returns 1 if any of them is not what it should be.
#include <cstdint>
#include <iostream>
#include <vector>

#include "graft/graph.hpp"

int main() {
  using namespace graft;

  Module m;
  Graph& g = m.graph;
  Node* x = g.placeholder("x");
  Node* w = g.get_attr("conv.weight");
  Node* b = g.get_attr("conv.bias");
  Node* gamma = g.get_attr("bn.weight");
  Node* beta = g.get_attr("bn.bias");
  Node* mean = g.get_attr("bn.running_mean");
  Node* var = g.get_attr("bn.running_var");
  Node* conv = g.call_function("aten.conv2d.default", {x, w, b, ints({2, 2}), ints({1, 1})});
  // training=True, momentum=0.1, eps=1e-3: PyTorch's prepare would reset eps to 1e-5; graft won't.
  Node* bn = g.call_function("aten.batch_norm.default",
                             {conv, gamma, beta, mean, var, true, 0.1, 1e-3, false});
  Node* relu = g.call_function("aten.relu.default", {bn});
  Node* unused = g.call_function("aten.sigmoid.default", {conv});
  g.output(list({relu}));

  const std::int64_t out_ch = 8, in_ch = 3;
  m.parameters.add("conv.weight", Tensor(DType::float32, {out_ch, in_ch, 3, 3}));
  m.parameters.add("conv.bias", Tensor(DType::float32, {out_ch}));
  m.parameters.add("bn.weight", Tensor::full<float>({out_ch}, 1.0f));
  m.parameters.add("bn.bias", Tensor(DType::float32, {out_ch}));
  m.buffers.add("bn.running_mean", Tensor(DType::float32, {out_ch}));
  m.buffers.add("bn.running_var", Tensor::full<float>({out_ch}, 1.0f));

  m.lint();
  std::cout << "# The exported conv -> batch_norm -> relu graph\n" << g << "\n";

  std::cout << "# Arguments read through the op schemas (positional, keyword or default)\n";
  std::cout << "conv2d stride   = " << conv->arg("stride").as_int_list().at(0) << "\n";
  std::cout << "conv2d dilation = " << conv->arg("dilation").as_int_list().at(0) << " (default)\n";
  std::cout << "conv2d groups   = " << conv->arg("groups").as_int() << " (default)\n";
  std::cout << "batch_norm eps  = " << python_float_repr(bn->arg("eps").as_double()) << "\n";
  std::cout << "batch_norm momentum = " << python_float_repr(bn->arg("momentum").as_double()) << "\n";
  std::cout << "conv2d users: ";
  for (Node* u : conv->users()) std::cout << u->name() << ' ';
  std::cout << "\n\n";

  std::size_t removed = g.eliminate_dead_code();
  std::cout << "# After dead-code elimination (" << removed << " node removed: "
            << (g.contains(unused) ? "none" : "sigmoid") << ")\n"
            << g;
  m.lint();
  const bool ok = removed == 1 && !g.contains(unused) && g.contains(relu) && conv->num_users() == 1 &&
                  conv->arg("stride").as_int_list() == std::vector<std::int64_t>{2, 2} &&
                  conv->arg("groups").as_int() == 1 && bn->arg("eps").as_double() == 1e-3;
  if (!ok) std::cerr << "conv_bn_graph: the graph is not what it should be\n";
  return ok ? 0 : 1;
}

// libFuzzer target: load + prepare + quantize + convert + lint, as graft-qat runs them. The input
// is a graph file's JSON text, optionally followed by a NUL byte and the bytes of its safetensors
// weights (JSON text never contains a raw NUL). The last byte's low bits pick the quantizer's
// options, so every convert pattern variant is reachable.
// Properties: each step either succeeds with lint() holding, or throws a graft::Error and leaves
// the module exactly as it was (the strong exception guarantee); nothing else escapes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"
#include "graft/qat/weight_qdq.hpp"

namespace {

using namespace graft;

// Runs `step` on `m`; on a graft::Error checks that `m` is unchanged. Returns whether it ran.
template <typename F>
bool atomic_step(Module& m, const char* name, F&& step) {
  const std::string before = fuzz::state_of(m);
  try {
    step(m);
  } catch (const Error& e) {
    fuzz::require(fuzz::state_of(m) == before, "a failed pass leaves the module unchanged",
                  std::string(name) + ": " + e.what());
    return false;
  }
  if (const auto problems = m.lint_problems(); !problems.empty())
    fuzz::violated("lint holds after a pass", std::string(name) + ": " + problems.front());
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto* nul = static_cast<const std::uint8_t*>(std::memchr(data, 0, size));
  const std::size_t text_size = nul ? static_cast<std::size_t>(nul - data) : size;
  const std::string_view text(reinterpret_cast<const char*>(data), text_size);
  const io::ReadOptions opt = fuzz::read_options();
  Module m;
  try {
    m = nul ? io::parse_graph_with_weights(text, nul + 1, size - text_size - 1, opt) : io::parse_graph(text, {}, opt);
  } catch (const Error&) {
    return 0;
  }
  const unsigned flags = size ? data[size - 1] : 0u;

  if (!atomic_step(m, "prepare", [](Module& x) { qat::fuse_conv_bn_qat(x); })) return 0;
  qat::QuantizeSpec spec;
  spec.per_channel = flags & 1u;
  spec.quantize_bias = flags & 2u;
  spec.tensor_overload = flags & 4u;
  if (!atomic_step(m, "quantize", [&](Module& x) { qat::insert_weight_qdq(x, spec); })) return 0;
  atomic_step(m, "convert", [](Module& x) {
    qat::check_conv_bn_pairs(x);
    qat::fold_conv_bn_qat(x);
  });
  return 0;
}

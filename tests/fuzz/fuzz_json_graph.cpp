// libFuzzer target: the JSON graph reader (io/json_graph.hpp) on arbitrary text, tensors not
// loaded. Properties: it returns a module that passes lint() or throws a graft::Error (anything
// else escapes and libFuzzer reports it); a module it accepts writes back to text that reads
// again to the same text (the writer and reader agree).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace graft;
  io::ReadOptions opt = fuzz::read_options();
  opt.load_weights = false;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Module m;
  try {
    m = io::parse_graph(text, {}, opt);
  } catch (const Error&) {
    return 0;
  }
  if (const auto problems = m.graph.lint_problems(); !problems.empty())
    fuzz::violated("an accepted graph passes lint", problems.front());
  const std::string once = io::serialize_graph(m);
  Module again;
  try {
    again = io::parse_graph(once, {}, opt);
  } catch (const Error& e) {
    fuzz::violated("graft reads what it wrote", std::string(e.what()) + "\n" + once);
  }
  const std::string twice = io::serialize_graph(again);
  fuzz::require(once == twice, "write(read(write(g))) == write(g)", once + "\n----\n" + twice);
  return 0;
}

// Shared by graft's libFuzzer targets: the limits they read with, and a check that aborts (so
// libFuzzer reports it) when a property graft promises does not hold.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "../support/module_state.hpp"
#include "graft/io/json_graph.hpp"

namespace graft::fuzz {

// Tight limits so that a hostile input is refused by a limit rather than by running out of the
// fuzzer's memory budget (-rss_limit_mb).
inline io::ReadOptions read_options() {
  io::ReadOptions opt;
  opt.max_nodes = 20'000;
  opt.max_depth = 64;
  opt.max_file_bytes = 1u << 20;
  opt.weights.max_file_bytes = 1u << 20;
  opt.weights.max_tensors = 10'000;
  return opt;
}

[[noreturn]] inline void violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "graft fuzz: property violated: %s\n%s\n", what, detail.c_str());
  std::abort();
}

inline void require(bool ok, const char* what, const std::string& detail = {}) {
  if (!ok) violated(what, detail);
}

using test::state_of;  // the whole module as bytes (graph, meta, annotations, tensors)

}  // namespace graft::fuzz

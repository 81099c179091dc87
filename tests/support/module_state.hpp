// A module's whole state as bytes, for "nothing changed" checks: the graph (node order, names,
// targets, arguments, meta, annotations) and every parameter and buffer, bit for bit.
#pragma once

#include <string>

#include "graft/io/json_graph.hpp"

namespace graft::test {

inline std::string state_of(const Module& m) {
  return io::serialize_graph(m) + std::string(1, '\0') + io::serialize_weights(m);
}

}  // namespace graft::test

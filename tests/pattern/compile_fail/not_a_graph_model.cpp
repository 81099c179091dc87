// Matching on a type that does not model the graph concept gives one readable error.
#include "graft/pattern.hpp"

struct MyIr {};
template <>
struct graft::graph_model<MyIr> {
  using node = int;  // nothing else
};

int main() {
  using namespace graft::pattern;
  MyIr ir;
  auto m = find_matches(ir, op("aten.relu.default")(any()));
  (void)m;
}

// A replacement reading a capture the pattern does not bind must not compile.
#include "graft/pattern.hpp"

using namespace graft::pattern;
GRAFT_CAPTURE(x);
GRAFT_CAPTURE(bias);  // never bound by the pattern below

int main() {
  auto rule = rewrite(op("aten.relu.default")(x), op("aten.add.Tensor")(x, bias));
  (void)rule;
}

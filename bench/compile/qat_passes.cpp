// Compile-cost probe (a): only the QAT headers, running both passes.
#include "graft/qat/convert.hpp"
#include "graft/qat/prepare.hpp"

int main() {
  graft::Module m;
  auto p = graft::qat::fuse_conv_bn_qat(m);
  auto c = graft::qat::fold_conv_bn_qat(m);
  return static_cast<int>(p.total() + c.total());
}

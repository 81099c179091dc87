// Deterministic cost of one QAT prepare: heap allocations and bytes per conv-bn-relu block, and
// (under bench/instructions.sh) instructions per block. Timings on a shared machine move by
// +-30 % between runs; these counts do not, so a change to the pass can be judged by them first.
//
//   cmake --build build-bench --target cost_probe && build-bench/bench/cost_probe 1000
//   bash bench/instructions.sh build-bench/bench/cost_probe 1000     (needs valgrind)
#include <cstdio>
#include <cstdlib>

#include "heap_probe.hpp"
#include "models.hpp"
#include "graft/graph.hpp"
#include "graft/qat/prepare.hpp"

int main(int argc, char** argv) {
  using namespace graft;
  const long blocks = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 1000;
  if (blocks < 1) {
    std::fprintf(stderr, "usage: cost_probe [blocks >= 1]\n");
    return 2;
  }
  Module m = bench::conv_bn_relu_chain(blocks);
  std::int64_t allocations = 0, peak = 0;
  qat::PrepareReport report;
  {
    bench::heap::HeapProbe probe;
    report = qat::fuse_conv_bn_qat(m);
    allocations = probe.allocations_so_far();
    peak = probe.peak_bytes();
  }
  if (report.total() != static_cast<std::size_t>(blocks)) {
    std::fprintf(stderr, "cost_probe: %zu of %ld pairs fused\n", report.total(), blocks);
    return 1;
  }
  std::printf("prepare, %ld conv-bn-relu blocks: %.2f heap allocations and %.0f bytes of peak heap growth per block\n",
              blocks, static_cast<double>(allocations) / static_cast<double>(blocks),
              static_cast<double>(peak) / static_cast<double>(blocks));
  return 0;
}

// Numerics costs, each against a baseline measured in the same run.
//
//   cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DGRAFT_BUILD_BENCH=ON -DGRAFT_NATIVE=ON
//   cmake --build build-bench --target bench_numerics && build-bench/bench/bench_numerics
//   /usr/bin/python3 bench/compare_torch_conv.py build-bench/bench/bench_numerics   # ratios, torch side by side
//
// BM_Fold_512x512x3x3 folds BN into a 512x512x3x3 float32 conv weight (per-channel factors in
// double, one rounding) into a preallocated output; BM_Memcpy_512x512x3x3 copies the same buffer.
// Both report bytes read + written, so their bytes/s compare directly (target: fold >= 80 %).
// BM_Conv2d_1x64x56x56_k3 is conv2d 1x64x56x56 -> 64, 3x3, padding 1, one thread (target: >= 0.5x
// PyTorch's CPU conv on the same machine); it reports GFLOP/s.
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "graft/tensor/conv.hpp"
#include "graft/tensor/fold.hpp"

namespace {

graft::Tensor random_tensor(graft::Shape shape, unsigned seed) {
  graft::Tensor t(graft::DType::float32, std::move(shape));
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  float* p = t.data<float>();
  for (std::size_t i = 0; i < t.numel(); ++i) p[i] = dist(gen);
  return t;
}

const graft::Shape kFoldShape{512, 512, 3, 3};

void BM_Fold_512x512x3x3(benchmark::State& state) {
  graft::Tensor w = random_tensor(kFoldShape, 1);
  graft::Tensor var = random_tensor({512}, 2);
  for (std::size_t i = 0; i < 512; ++i) var.data<float>()[i] = var.data<float>()[i] * var.data<float>()[i] + 0.1f;
  graft::Tensor gamma = random_tensor({512}, 3);
  graft::Tensor out(graft::DType::float32, kFoldShape);
  for (auto _ : state) {
    std::vector<double> s = graft::kernels::bn_fold_scale(var, 1e-5, &gamma, 512);
    graft::kernels::scale_conv_weight(w, s, false, 1, out);
    benchmark::DoNotOptimize(out.raw_data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * static_cast<std::int64_t>(w.nbytes()));
}

void BM_Memcpy_512x512x3x3(benchmark::State& state) {
  graft::Tensor w = random_tensor(kFoldShape, 1);
  graft::Tensor out(graft::DType::float32, kFoldShape);
  for (auto _ : state) {
    std::memcpy(out.raw_data(), w.raw_data(), w.nbytes());
    benchmark::DoNotOptimize(out.raw_data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * static_cast<std::int64_t>(w.nbytes()));
}

// The whole fold_conv_bn_weights call, allocation of the result included (for reference).
void BM_FoldConvBnWeights_512x512x3x3(benchmark::State& state) {
  graft::Tensor w = random_tensor(kFoldShape, 1);
  graft::Tensor b = random_tensor({512}, 4), mean = random_tensor({512}, 5), beta = random_tensor({512}, 6);
  graft::Tensor var = random_tensor({512}, 2);
  for (std::size_t i = 0; i < 512; ++i) var.data<float>()[i] = var.data<float>()[i] * var.data<float>()[i] + 0.1f;
  graft::Tensor gamma = random_tensor({512}, 3);
  for (auto _ : state) {
    auto f = graft::kernels::fold_conv_bn_weights(w, &b, mean, var, 1e-5, &gamma, &beta);
    benchmark::DoNotOptimize(f.weight.raw_data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * static_cast<std::int64_t>(w.nbytes()));
}

void BM_Conv2d_1x64x56x56_k3(benchmark::State& state) {
  graft::Tensor x = random_tensor({1, 64, 56, 56}, 7);
  graft::Tensor w = random_tensor({64, 64, 3, 3}, 8);
  graft::Tensor b = random_tensor({64}, 9);
  for (auto _ : state) {
    graft::Tensor y = graft::kernels::conv(x, w, &b, {1}, {1});
    benchmark::DoNotOptimize(y.raw_data());
  }
  const double flops = 2.0 * 64 * 64 * 9 * 56 * 56;
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

}  // namespace

BENCHMARK(BM_Memcpy_512x512x3x3)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Fold_512x512x3x3)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_FoldConvBnWeights_512x512x3x3)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Conv2d_1x64x56x56_k3)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();

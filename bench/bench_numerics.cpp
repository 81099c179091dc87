// Numerics costs, each against a baseline measured in the same run.
//
//   cmake --build build-bench --target bench_numerics && build-bench/bench/bench_numerics
//   /usr/bin/python3 bench/compare_torch.py       torch's fuse_conv_bn_weights, F.conv2d, F.batch_norm
//
// Fold math, on float32 conv weights 64x64x3x3 (147 KB), 512x512x3x3 (9.4 MB), 2048x512x1x1 (4.2 MB):
//   BM_Fold/<shape>               BN factors in double + scaling every weight into a preallocated
//                                 output (one rounding per element)
//   BM_Memcpy/<shape>             memcpy of the same buffer: the bandwidth baseline (target: fold
//                                 >= 80 % of its bytes/s; both count bytes read + written)
//   BM_FoldConvBnWeights/<shape>  the whole fold_conv_bn_weights call, allocating the folded
//                                 weight and bias: the work torch.nn.utils.fusion.fuse_conv_bn_weights does
// Kernels on ResNet-50 shapes (batch 1, float32, one thread), reporting GFLOP/s:
//   BM_Conv2d/<layer>             conv2d (2 * C_out * C_in/g * kh * kw * H_out * W_out flops)
//   BM_BatchNormEval/<shape>      eval-mode batch norm, 2 flops per element (x * scale + shift)
//   BM_BatchNormTrain/<shape>     training-mode batch norm with running-stat update, counted as
//                                 6 flops per element (sum, centred square sum, normalise)
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "graft/tensor/batch_norm.hpp"
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

graft::Tensor positive_tensor(std::int64_t c, unsigned seed) {
  graft::Tensor v = random_tensor({c}, seed);
  for (std::int64_t i = 0; i < c; ++i) v.data<float>()[i] = v.data<float>()[i] * v.data<float>()[i] + 0.1f;
  return v;
}

void BM_Fold(benchmark::State& state, graft::Shape shape) {
  const std::int64_t c = shape[0];
  graft::Tensor w = random_tensor(shape, 1);
  graft::Tensor var = positive_tensor(c, 2);
  graft::Tensor gamma = random_tensor({c}, 3);
  graft::Tensor out(graft::DType::float32, shape);
  for (auto _ : state) {
    std::vector<double> s = graft::kernels::bn_fold_scale(var, 1e-5, &gamma, c);
    graft::kernels::scale_conv_weight(w, s, false, 1, out);
    benchmark::DoNotOptimize(out.raw_data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * static_cast<std::int64_t>(w.nbytes()));
}

void BM_Memcpy(benchmark::State& state, graft::Shape shape) {
  graft::Tensor w = random_tensor(shape, 1);
  graft::Tensor out(graft::DType::float32, shape);
  for (auto _ : state) {
    std::memcpy(out.raw_data(), w.raw_data(), w.nbytes());
    benchmark::DoNotOptimize(out.raw_data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * static_cast<std::int64_t>(w.nbytes()));
}

void BM_FoldConvBnWeights(benchmark::State& state, graft::Shape shape) {
  const std::int64_t c = shape[0];
  graft::Tensor w = random_tensor(shape, 1);
  graft::Tensor b = random_tensor({c}, 4), mean = random_tensor({c}, 5), beta = random_tensor({c}, 6);
  graft::Tensor var = positive_tensor(c, 2);
  graft::Tensor gamma = random_tensor({c}, 3);
  for (auto _ : state) {
    auto f = graft::kernels::fold_conv_bn_weights(w, &b, mean, var, 1e-5, &gamma, &beta);
    benchmark::DoNotOptimize(f.weight.raw_data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 2 * static_cast<std::int64_t>(w.nbytes()));
}

// conv2d 1 x cin x hw x hw -> cout, k x k, stride, padding k / 2, groups.
void BM_Conv2d(benchmark::State& state, std::int64_t cin, std::int64_t hw, std::int64_t cout, std::int64_t k,
               std::int64_t stride, std::int64_t groups) {
  graft::Tensor x = random_tensor({1, cin, hw, hw}, 7);
  graft::Tensor w = random_tensor({cout, cin / groups, k, k}, 8);
  graft::Tensor b = random_tensor({cout}, 9);
  const std::int64_t out_hw = (hw + 2 * (k / 2) - k) / stride + 1;
  for (auto _ : state) {
    graft::Tensor y = graft::kernels::conv(x, w, &b, {stride}, {k / 2}, {1}, groups);
    benchmark::DoNotOptimize(y.raw_data());
  }
  const double flops = 2.0 * static_cast<double>(cout * (cin / groups) * k * k * out_hw * out_hw);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}

void batch_norm(benchmark::State& state, std::int64_t c, std::int64_t hw, bool training) {
  graft::Tensor x = random_tensor({1, c, hw, hw}, 10);
  graft::Tensor gamma = random_tensor({c}, 11), beta = random_tensor({c}, 12);
  graft::Tensor mean = random_tensor({c}, 13), var = positive_tensor(c, 14);
  for (auto _ : state) {
    auto r = graft::kernels::batch_norm(x, &gamma, &beta, &mean, &var, training, 0.1, 1e-5);
    benchmark::DoNotOptimize(r.output.raw_data());
  }
  const double flops = (training ? 6.0 : 2.0) * static_cast<double>(c * hw * hw);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * static_cast<double>(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
}
void BM_BatchNormEval(benchmark::State& state, std::int64_t c, std::int64_t hw) { batch_norm(state, c, hw, false); }
void BM_BatchNormTrain(benchmark::State& state, std::int64_t c, std::int64_t hw) { batch_norm(state, c, hw, true); }

}  // namespace

BENCHMARK_CAPTURE(BM_Memcpy, 64x64x3x3, graft::Shape{64, 64, 3, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fold, 64x64x3x3, graft::Shape{64, 64, 3, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FoldConvBnWeights, 64x64x3x3, graft::Shape{64, 64, 3, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Memcpy, 512x512x3x3, graft::Shape{512, 512, 3, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fold, 512x512x3x3, graft::Shape{512, 512, 3, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FoldConvBnWeights, 512x512x3x3, graft::Shape{512, 512, 3, 3})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Memcpy, 2048x512x1x1, graft::Shape{2048, 512, 1, 1})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Fold, 2048x512x1x1, graft::Shape{2048, 512, 1, 1})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_FoldConvBnWeights, 2048x512x1x1, graft::Shape{2048, 512, 1, 1})->Unit(benchmark::kMicrosecond);

// ResNet-50 layers at batch 1 (input 224x224): name = in x hw -> out, kernel, stride.
BENCHMARK_CAPTURE(BM_Conv2d, conv1_3x224_64_k7s2, 3, 224, 64, 7, 2, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv2d, l1_64x56_64_k3, 64, 56, 64, 3, 1, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv2d, l1_64x56_256_k1, 64, 56, 256, 1, 1, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv2d, l2_128x28_128_k3, 128, 28, 128, 3, 1, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv2d, l3_256x14_256_k3, 256, 14, 256, 3, 1, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv2d, l4_512x7_512_k3, 512, 7, 512, 3, 1, 1)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Conv2d, l4_512x7_2048_k1, 512, 7, 2048, 1, 1, 1)->Unit(benchmark::kMillisecond);
// A MobileNetV2 depthwise layer, for reference (grouped: im2col per group).
BENCHMARK_CAPTURE(BM_Conv2d, mbv2_dw_144x56_k3, 144, 56, 144, 3, 1, 144)->Unit(benchmark::kMillisecond);

BENCHMARK_CAPTURE(BM_BatchNormEval, 64x112, 64, 112)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BatchNormEval, 256x56, 256, 56)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BatchNormEval, 2048x7, 2048, 7)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BatchNormTrain, 64x112, 64, 112)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BatchNormTrain, 256x56, 256, 56)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_BatchNormTrain, 2048x7, 2048, 7)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();

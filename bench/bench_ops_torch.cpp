// The workload of bench_ops.cpp in libtorch: a chain of kChain ops of one kind recorded with
// autograd and walked backward, per iteration. Built with -DTAPEGRAD_BENCH_TORCH=ON.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

constexpr int kChain = 64;

template <class Op>
void run_chain(benchmark::State& state, Op op) {
  torch::set_num_threads(1);
  torch::manual_seed(1);
  const auto n = state.range(0), m = state.range(1);
  const torch::Tensor x0 = (torch::rand({n, m}) - 0.5).mul(1.0);
  const torch::Tensor seed = torch::ones({n, m});
  for (auto _ : state) {
    torch::Tensor x = x0.clone().requires_grad_(true);
    torch::Tensor y = x;
    for (int i = 0; i < kChain; ++i) y = op(y);
    y.backward(seed);
    benchmark::DoNotOptimize(x.grad().data_ptr());
  }
  state.counters["per_op"] =
      benchmark::Counter(double(state.iterations()) * kChain,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_torch_tanh(benchmark::State& state) {
  run_chain(state, [](const torch::Tensor& y) { return torch::tanh(y); });
}

void BM_torch_add_broadcast(benchmark::State& state) {
  torch::manual_seed(2);
  torch::Tensor bias = ((torch::rand({state.range(1)}) - 0.5) * 0.2).requires_grad_(true);
  run_chain(state, [&](const torch::Tensor& y) { return y + bias; });
}

void BM_torch_matmul(benchmark::State& state) {
  torch::manual_seed(3);
  const auto m = state.range(1);
  torch::Tensor w = ((torch::rand({m, m}) - 0.5) * (2.0 / double(m))).requires_grad_(true);
  run_chain(state, [&](const torch::Tensor& y) { return torch::matmul(y, w); });
}

}  // namespace

BENCHMARK(BM_torch_tanh)->Args({1, 5})->Args({32, 512});
BENCHMARK(BM_torch_add_broadcast)->Args({1, 5})->Args({32, 512});
BENCHMARK(BM_torch_matmul)->Args({1, 5})->Args({32, 512});
BENCHMARK_MAIN();

// Per-op cost of the engine: record + backward of one op, on a reused tape.
//
// Each iteration clears the tape, records a chain of kChain ops of one kind and walks it
// backward, so the fixed per-iteration work (clear, the leaf, the seed) is spread over many
// ops. The "per_op" counter is the time per op, forward and backward together.
#include <benchmark/benchmark.h>

#include <random>

#include <tapegrad/autograd.hpp>

using namespace tapegrad;

namespace {

constexpr int kChain = 64;

Tensor<float> random(const Shape& shape, float scale, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-scale, scale);
  Tensor<float> t = Tensor<float>::from_shape(shape);
  for (float& v : t) v = u(rng);
  return t;
}

template <class Op>
void run_chain(benchmark::State& state, const Shape& shape, Op op) {
  Tape<float> tape;
  const Tensor<float> x0 = random(shape, 0.5f, 1);
  const Tensor<float> seed = full<float>(shape, 1.0f);
  for (auto _ : state) {
    tape.clear();
    Var<float> y = tape.leaf(x0);
    for (int i = 0; i < kChain; ++i) y = op(tape, y);
    tape.backward(y, seed);
    benchmark::DoNotOptimize(y.grad().data());
  }
  // Seconds per op (printed with an SI prefix: 113n = 113 ns).
  state.counters["per_op"] =
      benchmark::Counter(double(state.iterations()) * kChain,
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

Shape shape_of(const benchmark::State& state) {
  return {std::size_t(state.range(0)), std::size_t(state.range(1))};
}

void BM_tanh(benchmark::State& state) {
  run_chain(state, shape_of(state), [](Tape<float>&, const Var<float>& y) { return tanh(y); });
}

void BM_add_broadcast(benchmark::State& state) {
  // y [n, m] + bias [m]: the bias gradient is summed over the rows in backward.
  const Shape s = shape_of(state);
  Parameter<float> bias(random({s[1]}, 0.1f, 2));
  run_chain(state, s, [&](Tape<float>& t, const Var<float>& y) { return y + t.param(bias); });
}

void BM_matmul(benchmark::State& state) {
  // y [n, m] . W [m, m]: forward one GEMM, backward two.
  const Shape s = shape_of(state);
  Parameter<float> w(random({s[1], s[1]}, 1.0f / float(s[1]), 3));
  run_chain(state, s, [&](Tape<float>& t, const Var<float>& y) { return matmul(y, t.param(w)); });
}

}  // namespace

BENCHMARK(BM_tanh)->Args({1, 5})->Args({32, 512});
BENCHMARK(BM_add_broadcast)->Args({1, 5})->Args({32, 512});
BENCHMARK(BM_matmul)->Args({1, 5})->Args({32, 512});
BENCHMARK_MAIN();

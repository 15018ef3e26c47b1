// The workload of workload.hpp written with tapegrad's public API, the way a user would:
// nn::RNNCell + nn::Linear, one-hot inputs as tape constants, one fused softmax_cross_entropy
// over the concatenated logits of all T steps, nn::SGD, and one Tape reused (cleared) each step.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

#include <tapegrad/nn/nn.hpp>

#include "workload.hpp"

namespace {

using tapegrad::Indices;
using tapegrad::Parameter;
using tapegrad::Tape;
using tapegrad::Tensor;
using tapegrad::Var;

void load(Parameter<float>& p, const std::vector<float>& values) {
  if (values.size() != p.value.size()) throw tapegrad::Error("load: size mismatch");
  std::copy(values.begin(), values.end(), p.value.begin());
}

int run(const bench::Args& a) {
  const std::size_t H = a.H, B = a.B, T = a.T, V = a.V;
  tapegrad::nn::Rng rng(0);
  tapegrad::nn::RNNCell<float> cell(V, H, rng);
  tapegrad::nn::Linear<float> out(H, V, rng);
  load(cell.weight_ih, bench::init_weight(bench::kWeightIH, H, V, H));
  load(cell.weight_hh, bench::init_weight(bench::kWeightHH, H, H, H));
  load(out.weight, bench::init_weight(bench::kWeightHY, V, H, H));
  cell.bias_ih->value.fill(0.0f);
  cell.bias_hh->value.fill(0.0f);
  out.bias->value.fill(0.0f);

  std::vector<Parameter<float>*> params = cell.parameters();
  for (Parameter<float>* p : out.parameters()) params.push_back(p);
  tapegrad::nn::SGD<float> sgd(params, bench::kLearningRate);

  // The batch, prepared once as a data loader would: one [B, V] one-hot matrix per step.
  const std::vector<std::int64_t> chars = bench::make_chars(B, T, V);
  std::vector<Tensor<float>> xs;
  for (std::size_t t = 0; t < T; ++t)
    xs.push_back(tapegrad::one_hot<float>(bench::inputs_at(chars, B, T, t), V));
  const Indices targets = bench::targets_time_major(chars, B, T);

  Tape<float> tape;
  std::vector<Var<float>> logits;
  auto step = [&]() -> float {
    logits.clear();
    Var<float> h = cell.zero_state(tape, B);
    for (std::size_t t = 0; t < T; ++t) {
      h = cell(tape.constant(xs[t]), h);
      logits.push_back(out(h));
    }
    Var<float> loss = tapegrad::softmax_cross_entropy(tapegrad::concat(logits, 0), targets);
    const float value = loss.item();
    tape.backward(loss);
    sgd.step();
    sgd.zero_grad();
    tape.clear();
    return value;
  };

  const float loss0 = step();
  const float loss1 = step();
  const double rate = bench::steps_per_second(a, step);
  bench::print_result("tapegrad", a, loss0, loss1, rate);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args a = bench::parse_args(argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}

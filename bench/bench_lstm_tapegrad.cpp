// The LSTM variant of the workload of workload.hpp (gates i, f, g, o; W_ih [4H, V]) written
// with tapegrad's public API, the way a user would: the T steps' one-hot inputs as one
// [T, B, V] Tape::one_hot constant, nn::LSTM over the whole sequence ([T, B, H] hidden states),
// nn::Linear over them ([T, B, V] logits), one fused softmax_cross_entropy, nn::SGD, and one
// Tape reused (cleared) each step.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

#include <tapegrad/nn/nn.hpp>
#include <tapegrad/train/stream_batcher.hpp>

#include "args.hpp"
#include "workload.hpp"

namespace {

using tapegrad::Indices;
using tapegrad::Parameter;
using tapegrad::Tape;
using tapegrad::Var;

void load(Parameter<float>& p, const std::vector<float>& values) {
  if (values.size() != p.value.size()) throw tapegrad::Error("load: size mismatch");
  std::copy(values.begin(), values.end(), p.value.begin());
}

int run(const bench::Args& a) {
  const std::size_t H = a.H, B = a.B, T = a.T, V = a.V;
  tapegrad::nn::Rng rng(0);
  tapegrad::nn::LSTM<float> rnn(V, H, 1, rng);  // one layer
  tapegrad::nn::LSTMCell<float>& cell = rnn.layer(0);
  tapegrad::nn::Linear<float> out(H, V, rng);
  load(cell.weight_ih(), bench::init_weight(bench::kWeightIH, 4 * H, V, H));
  load(cell.weight_hh(), bench::init_weight(bench::kWeightHH, 4 * H, H, H));
  load(out.weight(), bench::init_weight(bench::kWeightHY, V, H, H));
  cell.bias_ih().value.fill(0.0f);
  cell.bias_hh().value.fill(0.0f);
  out.bias().value.fill(0.0f);

  std::vector<Parameter<float>*> params = rnn.parameters();
  for (Parameter<float>* p : out.parameters()) params.push_back(p);
  tapegrad::nn::SGD<float> sgd(params, bench::kLearningRate);

  // The batch, prepared once as a data loader would: the training library's stream batcher
  // cuts the B streams of T + 1 characters into the characters at each of the T steps and the
  // time-major targets (the same numbers the libtorch programs read from workload.hpp).
  const tapegrad::train::Batch batch =
      tapegrad::train::StreamBatcher(bench::make_chars(B, T, V), B, T).next();
  const std::vector<Indices>& inputs = batch.inputs;
  const Indices& targets = batch.targets;

  Tape<float> tape;
  auto step = [&]() -> float {
    Var<float> logits = out(rnn(tape.one_hot(inputs, V)).output);  // [T, B, V]
    Var<float> loss = tapegrad::softmax_cross_entropy(logits, targets);
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
  bench::print_result("lstm_tapegrad", a, loss0, loss1, rate);
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

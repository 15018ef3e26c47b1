// Tutorial section 3: memory versus none. A 1-D convolution and an RNN read the same input
// [1, 2, 3, 4]; the tape's gradients show what each output depends on.
//
// d output_j / d input_i, one backward pass per output: the convolution's Jacobian is banded
// (output j sees only inputs j .. j+k-1), the RNN's is lower-triangular and full (output j has
// seen every input up to j).
#include <cstdio>

#include <tapegrad/nn/nn.hpp>
#include "common/main.hpp"

using namespace tapegrad;

namespace {

void print_matrix(const char* title, const std::vector<std::vector<double>>& m) {
  std::printf("%s\n          ", title);
  for (std::size_t i = 0; i < m[0].size(); ++i) std::printf("   x%zu    ", i + 1);
  std::printf("\n");
  for (std::size_t j = 0; j < m.size(); ++j) {
    std::printf("  out%zu  ", j + 1);
    for (double v : m[j]) std::printf(" %+.3e ", v);
    std::printf("\n");
  }
}

}  // namespace

static int run(int, char**) {
  const Tensor<double> input = {1.0, 2.0, 3.0, 4.0};
  nn::Rng rng(5);

  // Convolution with kernel [1, 0]: out_j = 1 * x_j + 0 * x_{j+1}.
  nn::Conv1d<double> conv(1, 1, 2, rng);
  conv.weight().value = Tensor<double>{{{1.0, 0.0}}};
  conv.bias().value.fill(0.0);
  Tape<double> tape;
  auto conv_out = [&] { return conv(reshape(tape.leaf(input), {1, 1, 4})); };
  Var<double> y = conv_out();
  std::printf("convolution of [1, 2, 3, 4] with kernel [1, 0]: [");
  for (std::size_t j = 0; j < 3; ++j) std::printf("%s%g", j ? ", " : "", y.value()(0, 0, j));
  std::printf("]\n");

  // The RNN: h_t = tanh(w x_t + u h_{t-1}), out_t = h_t, with w = 0.5, u = 0.8.
  nn::RNNCell<double> cell(1, 1, rng, false);
  cell.weight_ih().value.fill(0.5);
  cell.weight_hh().value.fill(0.8);

  std::vector<std::vector<double>> conv_j, rnn_j;
  for (std::size_t j = 0; j < 3; ++j) {  // d conv_out_j / d x
    tape.clear();
    Var<double> x = tape.leaf(input);
    Var<double> out = conv(reshape(x, {1, 1, 4}));
    tape.backward(sum(slice(out, 2, j, j + 1)));
    conv_j.emplace_back(x.grad().begin(), x.grad().end());
  }
  std::vector<double> rnn_out;
  for (std::size_t j = 0; j < 4; ++j) {  // d h_j / d x
    tape.clear();
    Var<double> x = tape.leaf(input);
    Var<double> h = cell.zero_state(tape, 1);
    for (std::size_t t = 0; t <= j; ++t) h = cell(reshape(slice(x, 0, t, t + 1), {1, 1}), h);
    rnn_out.push_back(h.value()(0, 0));
    tape.backward(sum(h));
    rnn_j.emplace_back(x.grad().begin(), x.grad().end());
  }
  std::printf("RNN (w = 0.5, u = 0.8) on the same input: [");
  for (std::size_t j = 0; j < 4; ++j) std::printf("%s%.4f", j ? ", " : "", rnn_out[j]);
  std::printf("]\n\n");
  print_matrix("convolution: d out_j / d x_i (banded: each output sees its own window only)",
               conv_j);
  std::printf("\n");
  print_matrix(
      "RNN: d h_j / d x_i (lower-triangular and full: each output remembers every past input)",
      rnn_j);
  return 0;
}

TAPEGRAD_EXAMPLE_MAIN(run)

// Tutorial section 1: one forward pass of a vanilla RNN, every number printed.
//   input size 1, hidden size 2, output size 1, sequence [1, 2, 3], seeded random weights
//   h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),   y_t = W_hy h_t + b_y
#include <cstdio>

#include <tapegrad/nn/nn.hpp>
#include "common/main.hpp"

using namespace tapegrad;

static void print_row(const char* label, const Tensor<float>& t) {
  std::printf("  %-6s [", label);
  for (std::size_t i = 0; i < t.size(); ++i) std::printf("%s%+.4f", i ? ", " : "", t.data()[i]);
  std::printf("]\n");
}

static int run(int, char**) {
  nn::Rng rng(42);
  nn::RNNCell<float> cell(1, 2, rng);
  nn::Linear<float> out(2, 1, rng);
  // Small random biases too, so that every term of the formula shows up in the numbers.
  cell.bias_ih().value = nn::uniform<float>({2}, -0.1, 0.1, rng);
  out.bias().value = nn::uniform<float>({1}, -0.1, 0.1, rng);

  std::printf("weights (seed 42, Xavier-uniform):\n");
  print_row("W_xh", cell.weight_ih().value);
  print_row("W_hh", cell.weight_hh().value);
  print_row("b_h", cell.bias_ih().value);
  print_row("W_hy", out.weight().value);
  print_row("b_y", out.bias().value);

  Tape<float> tape;
  NoGradGuard inference;  // forward only: nothing needs a gradient
  Var<float> h = cell.zero_state(tape, 1);
  const float xs[] = {1.f, 2.f, 3.f};
  std::printf("\nforward pass over the sequence [1, 2, 3] from h_0 = [0, 0]:\n");
  for (int t = 0; t < 3; ++t) {
    Var<float> x = tape.constant(full<float>({1, 1}, xs[t]));
    h = cell(x, h);
    Var<float> y = out(h);
    std::printf("t=%d  x=%.1f  h=[%+.4f, %+.4f]  y=%+.4f\n", t + 1, xs[t], h.value()(0, 0),
                h.value()(0, 1), y.value()(0, 0));
  }
  return 0;
}

TAPEGRAD_EXAMPLE_MAIN(run)

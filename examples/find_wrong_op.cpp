// Finding a wrong backward: a user's own activation, LeCun's scaled tanh
// y = 1.7159 tanh(2x/3), whose backward forgets the inner factor 2/3, runs inside a 5-step RNN.
// gradcheck says *that* the weights' gradients are wrong; check_ops says *where*: it checks every
// op of the recording on its own and names the first whose backward is not the derivative of
// its forward, with its tape position and the scope (time step) it was recorded in.
//
//   find_wrong_op            (no flags)
#include <cstdio>
#include <random>
#include <vector>

#include <tapegrad/autograd.hpp>
#include "common/main.hpp"

using namespace tapegrad;

namespace {

// y = A tanh(B x). The correct backward is gy * A * B * (1 - tanh(B x)^2); this one drops B.
struct ScaledTanh {
  static constexpr const char* name = "scaled_tanh";
  static constexpr double A = 1.7159, B = 2.0 / 3.0;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = T(A) * xt::tanh(T(B) * c.input(0));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    const auto t = c.output() / T(A);
    c.accumulate_grad(0, c.grad_output() * T(A) * (T(1) - t * t));  // the bug: no "* T(B)"
  }
};
template <class T>
Var<T> scaled_tanh(const Var<T>& x) {
  return apply(ScaledTanh{}, x);
}

Tensor<double> random(const Shape& shape, std::mt19937_64& rng, double scale) {
  std::uniform_real_distribution<double> u(-scale, scale);
  Tensor<double> t = Tensor<double>::from_shape(shape);
  for (double& v : t) v = u(rng);
  return t;
}

}  // namespace

static int run(int, char**) {
  std::mt19937_64 rng(7);
  Parameter<double> w_xh(random({3, 4}, rng, 0.5), "W_xh"), w_hh(random({4, 4}, rng, 0.5), "W_hh"),
      b(random({4}, rng, 0.1), "b_h"), w_hy(random({4, 2}, rng, 0.5), "W_hy");
  std::vector<Tensor<double>> xs;
  for (int t = 0; t < 5; ++t) xs.push_back(random({2, 3}, rng, 1.0));
  const Indices targets = {0, 1};

  // h_t = scaled_tanh(x_t W_xh + h_{t-1} W_hh + b_h), the loss on the last step's output.
  const auto model = [&](Tape<double>& tape) {
    Var<double> h = tape.full({2, 4}, 0.0);
    for (std::size_t t = 1; t <= xs.size(); ++t) {
      const auto at_step = tape.scope("t=", t);
      h = scaled_tanh(matmul(tape.constant(xs[t - 1]), tape.param(w_xh)) +
                      matmul(h, tape.param(w_hh)) + tape.param(b));
    }
    const auto at_loss = tape.scope("loss");
    return softmax_cross_entropy(matmul(h, tape.param(w_hy)), targets);
  };

  std::printf("gradcheck over the whole model:\n");
  const GradcheckResult whole = gradcheck(model, {&w_xh, &w_hh, &b, &w_hy});
  for (const GradcheckInputReport& in : whole.inputs)
    std::printf("  %s %-5s %s: %zu of %zu elements wrong\n", in.ok ? "ok  " : "FAIL",
                in.name.c_str(), shape_str(in.shape).c_str(), in.failures, in.checked);
  // A failed gradcheck has already run check_ops(model): whole.ops.
  std::printf("\nwhich op? check_ops checks each op alone:\n%s", whole.ops.report().c_str());
  return 0;
}

TAPEGRAD_EXAMPLE_MAIN(run)

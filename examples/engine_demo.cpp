// The tutorial's 3-step tanh RNN, straight from engine ops:
//
//   h_t = tanh(W_xh x_t + W_hh h_{t-1} + b_h),   y_t = W_hy h_t + b_y,
//   loss = mean_t (y_t - target_t)^2
//
// Forward records every op on a tape; one backward() walks it in reverse, which *is*
// backpropagation through time. The program prints every value and every gradient, then checks
// the gradients against central differences.
#include <cstdio>
#include <random>

#include <tapegrad/autograd.hpp>
#include "common/main.hpp"

using namespace tapegrad;
using T = double;  // double so that the gradient check at the end is exact to ~1e-9

namespace {

Tensor<T> seeded(std::size_t rows, std::size_t cols, std::mt19937& rng) {
  std::uniform_real_distribution<T> u(-0.8, 0.8);
  Tensor<T> t = Tensor<T>::from_shape({rows, cols});
  for (T& v : t) v = u(rng);
  return t;
}

void print(const char* label, const Tensor<T>& t) {
  std::printf("  %-14s", label);
  for (std::size_t i = 0; i < t.size(); ++i) std::printf(" %+.6f", t.data()[i]);
  std::printf("   %s\n", shape_str(t.shape()).c_str());
}

}  // namespace

static int run(int, char**) {
  const std::vector<T> xs = {1.0, 2.0, 3.0};       // the input sequence
  const std::vector<T> targets = {2.0, 3.0, 4.0};  // predict the next number
  const std::size_t hidden = 2;

  std::mt19937 rng(7);
  Parameter<T> W_xh(seeded(1, hidden, rng), "W_xh");  // row-vector convention: x_t [1,1] . W_xh
  Parameter<T> W_hh(seeded(hidden, hidden, rng), "W_hh");
  Parameter<T> b_h(full<T>({1, hidden}, 0), "b_h");
  Parameter<T> W_hy(seeded(hidden, 1, rng), "W_hy");
  Parameter<T> b_y(full<T>({1, 1}, 0), "b_y");
  const std::vector<Parameter<T>*> params = {&W_xh, &W_hh, &b_h, &W_hy, &b_y};

  auto run = [&](Tape<T>& tape, std::vector<Var<T>>* hs, std::vector<Var<T>>* ys) {
    Var<T> wxh = tape.param(W_xh), whh = tape.param(W_hh), bh = tape.param(b_h);
    Var<T> why = tape.param(W_hy), by = tape.param(b_y);
    Var<T> h = tape.constant(full<T>({1, hidden}, 0));  // h_0 = 0
    Var<T> loss;
    for (std::size_t t = 0; t < xs.size(); ++t) {
      Var<T> x = tape.constant(full<T>({1, 1}, xs[t]));
      h = tanh(matmul(x, wxh) + matmul(h, whh) + bh);
      Var<T> y = matmul(h, why) + by;
      Var<T> err = mse_loss(y, tape.constant(full<T>({1, 1}, targets[t])));
      loss = t == 0 ? err : loss + err;
      if (hs) hs->push_back(h);
      if (ys) ys->push_back(y);
    }
    return loss / T(xs.size());
  };

  std::printf("== weights (seed 7)\n");
  for (Parameter<T>* p : params) print(p->name.c_str(), p->value);

  Tape<T> tape;
  std::vector<Var<T>> hs, ys;
  Var<T> loss = run(tape, &hs, &ys);
  std::printf("\n== forward\n");
  for (std::size_t t = 0; t < xs.size(); ++t) {
    std::printf(" step %zu: x = %.1f, target = %.1f\n", t + 1, xs[t], targets[t]);
    print("h_t", hs[t].value());
    print("y_t", ys[t].value());
  }
  std::printf("\n== loss (mean squared error over the 3 steps): %.6f\n", loss.item());
  std::printf("   the tape holds %zu nodes\n", tape.size());

  tape.backward(loss);
  std::printf("\n== backward (BPTT is the reverse walk over the tape)\n");
  for (std::size_t t = xs.size(); t-- > 0;) {
    std::printf(" step %zu:\n", t + 1);
    print("dL/dy_t", ys[t].grad());
    print("dL/dh_t", hs[t].grad());
  }
  std::printf("\n== weight gradients (summed over all steps)\n");
  for (Parameter<T>* p : params) print(("dL/d" + p->name).c_str(), p->grad);

  tape.clear();
  GradcheckResult check = gradcheck([&](Tape<T>& t) { return run(t, nullptr, nullptr); }, params);
  std::printf("\n== gradcheck against central differences\n%s", check.report().c_str());
  return check.ok ? 0 : 1;
}

TAPEGRAD_EXAMPLE_MAIN(run)

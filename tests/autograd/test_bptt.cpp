// Backpropagation through time is not written anywhere: it falls out of the reverse walk over a
// recurrence unrolled onto the tape. This suite gradient-checks such a recurrence, built
// straight from ops, with respect to every weight and the initial state.
#include "support/gradient_test.hpp"

using namespace tapegrad;
using testsupport::random_tensor;

namespace {

struct Recurrence {
  std::size_t input = 3, hidden = 4, classes = 3, steps = 5;
  Parameter<double> W_xh, W_hh, b_h, W_hy, b_y, h0;
  std::vector<Tensor<double>> xs;
  Indices targets;

  explicit Recurrence(std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    W_xh = Parameter<double>(random_tensor({hidden, input}, rng), "W_xh");
    W_hh = Parameter<double>(random_tensor({hidden, hidden}, rng), "W_hh");
    b_h = Parameter<double>(random_tensor({hidden}, rng, -0.1, 0.1), "b_h");
    W_hy = Parameter<double>(random_tensor({classes, hidden}, rng), "W_hy");
    b_y = Parameter<double>(random_tensor({classes}, rng, -0.1, 0.1), "b_y");
    h0 = Parameter<double>(random_tensor({1, hidden}, rng, -0.5, 0.5), "h0");
    for (std::size_t t = 0; t < steps; ++t) {
      xs.push_back(random_tensor({1, input}, rng));
      targets.push_back(static_cast<std::int64_t>(t % classes));
    }
  }

  // h_t = tanh(W_xh x_t + W_hh h_{t-1} + b), logits_t = W_hy h_t + b_y, loss = mean CE.
  // Row-vector form: x_t is [1, input], so W x becomes x W^T.
  Var<double> loss(Tape<double>& t, std::vector<Var<double>>* hs = nullptr) {
    Var<double> wxh = transpose(t.param(W_xh)), whh = transpose(t.param(W_hh));
    Var<double> why = transpose(t.param(W_hy)), bh = t.param(b_h), by = t.param(b_y);
    Var<double> h = t.param(h0);
    std::vector<Var<double>> logits;
    for (std::size_t k = 0; k < steps; ++k) {
      h = tanh(matmul(t.constant(xs[k]), wxh) + matmul(h, whh) + bh);
      if (hs) hs->push_back(h);
      logits.push_back(matmul(h, why) + by);
    }
    return softmax_cross_entropy(concat(logits, 0), targets);
  }

  std::vector<Parameter<double>*> params() { return {&W_xh, &W_hh, &b_h, &W_hy, &b_y, &h0}; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(bptt)

BOOST_AUTO_TEST_CASE(five_step_recurrence_gradients_match_central_differences) {
  Recurrence r(42);
  const GradcheckResult result = gradcheck([&](Tape<double>& t) { return r.loss(t); }, r.params());
  BOOST_TEST(result.ok, result.report());
  BOOST_TEST(result.inputs.size() == 6u);
  // Every element of every weight was compared, not a sample.
  for (std::size_t k = 0; k < result.inputs.size(); ++k)
    BOOST_TEST(result.inputs[k].checked == r.params()[k]->value.size());
  // The initial state receives a gradient through all five steps.
  double norm = 0;
  for (double g : r.h0.grad) norm += g * g;
  BOOST_TEST(norm > 1e-8);
}

BOOST_AUTO_TEST_CASE(the_gradient_reaching_earlier_steps_comes_from_later_ones) {
  // dL/dh_1 includes the paths through h_2..h_5: with the loss taken only at the last step,
  // every earlier hidden state still gets a non-zero gradient, flowing back through W_hh.
  Recurrence r(7);
  Tape<double> tape;
  std::vector<Var<double>> hs;
  r.loss(tape, &hs);
  tape.clear();
  hs.clear();
  Var<double> whh = transpose(tape.param(r.W_hh));
  Var<double> wxh = transpose(tape.param(r.W_xh));
  Var<double> h = tape.param(r.h0);
  for (std::size_t k = 0; k < r.steps; ++k) {
    h = tanh(matmul(tape.constant(r.xs[k]), wxh) + matmul(h, whh));
    hs.push_back(h);
  }
  tape.backward(sum(hs.back()));
  for (std::size_t k = 0; k + 1 < r.steps; ++k) {
    double norm = 0;
    for (double g : hs[k].grad()) norm += g * g;
    BOOST_TEST(norm > 0.0, "no gradient reached step " << k + 1);
  }
}

BOOST_AUTO_TEST_SUITE_END()

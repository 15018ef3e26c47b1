// check_ops, the localising gradient check: a deliberately wrong op planted at one step of a
// 5-step RNN is the one it names (position, op, scope, input and numbers), gradcheck's failure
// report carries the same culprit, and the library's own layers pass it op by op.
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include <tapegrad/nn/nn.hpp>
#include <xtensor/xmath.hpp>

#include "support/gradient_test.hpp"

using namespace tapegrad;
using testsupport::random_tensor;

namespace {

// tanh forward, but a backward that forgets to square: gy * (1 - y) instead of gy * (1 - y^2).
struct TanhWrongBackward {
  static constexpr const char* name = "tanh_with_wrong_backward_for_check_ops_test";
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = xt::tanh(c.input(0));
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() * (T(1) - c.output()));
  }
};

// a * b with input 0's gradient right and input 1's doubled.
struct MulWrongSecondInput {
  static constexpr const char* name = "mul_with_wrong_second_gradient_for_check_ops_test";
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = c.input(0) * c.input(1);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() * c.input(1));
    c.accumulate_grad(1, T(2) * c.grad_output() * c.input(0));
  }
};

// A 5-step vanilla RNN written out by hand, scoped as the library's layers scope their steps;
// at step `bad_step` (from 1; 0 for none) its tanh is the wrong one. Records where it went.
struct HandRNN {
  Parameter<double> w_xh, w_hh, b;
  std::vector<Tensor<double>> xs;
  std::size_t bad_step = 0;
  std::size_t bad_position = 0;

  explicit HandRNN(std::mt19937_64& rng)
      : w_xh(random_tensor({4, 3}, rng), "w_xh"),
        w_hh(random_tensor({4, 4}, rng, -0.5, 0.5), "w_hh"),
        b(random_tensor({4}, rng), "b") {
    for (int t = 0; t < 5; ++t) xs.push_back(random_tensor({2, 3}, rng));
  }
  Var<double> operator()(Tape<double>& tape) {
    Var<double> h = tape.full({2, 4}, 0.0);
    Var<double> total;
    for (std::size_t t = 1; t <= xs.size(); ++t) {
      const auto at_step = tape.scope("t=", t);
      const auto in_layer = tape.scope("layer", 0);
      Var<double> a = linear(tape.constant(xs[t - 1]), tape.param(w_xh), tape.param(b)) +
                      linear(h, tape.param(w_hh));
      if (t == bad_step) {
        h = apply(TanhWrongBackward{}, a);
        bad_position = h.index();
      } else {
        h = tanh(a);
      }
      total = t == 1 ? sum(h * h) : total + sum(h * h);
    }
    return total;
  }
  std::vector<Parameter<double>*> params() { return {&w_xh, &w_hh, &b}; }
};

// Op nodes that need a gradient: what check_ops checks.
std::size_t differentiable_ops(const std::function<Var<double>(Tape<double>&)>& f) {
  Tape<double> tape;
  f(tape);
  std::size_t n = 0;
  for (std::size_t i = 0; i < tape.size(); ++i)
    n += !tape.inputs_of(i).empty() && tape.at(i).requires_grad();
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(op_check)

// The planted op is a test-defined op: this test is its gradient test, proving it is caught.
TAPEGRAD_GRADIENT_TEST(names_the_wrong_op_planted_in_a_5_step_rnn,
                       "tanh_with_wrong_backward_for_check_ops_test") {
  std::mt19937_64 rng(11);
  HandRNN rnn(rng);
  rnn.bad_step = 4;
  const auto f = [&](Tape<double>& t) { return rnn(t); };

  const OpCheckResult r = check_ops(f);
  BOOST_TEST(!r.ok);
  BOOST_TEST(r.checked == differentiable_ops(f));
  BOOST_REQUIRE(r.failures.size() == 1u);  // only the planted op: every built-in op agrees
  const OpCheckFailure& bad = r.failures[0];
  BOOST_TEST(bad.op == "tanh_with_wrong_backward_for_check_ops_test");
  BOOST_TEST(bad.position == rnn.bad_position);
  BOOST_TEST(bad.scope == "t=4/layer0");
  BOOST_TEST(bad.input == 0u);
  BOOST_TEST(bad.output_shape == (Shape{2, 4}), boost::test_tools::per_element());
  BOOST_REQUIRE(bad.input_shapes.size() == 1u);
  BOOST_TEST(bad.input_shapes[0] == (Shape{2, 4}), boost::test_tools::per_element());
  // The true derivative gy * (1 - y^2) differs from the claimed gy * (1 - y) by gy * y (1 - y)
  // (up to sign): a large error, not a rounding one.
  BOOST_TEST(bad.abs_error > 1e-3);
  BOOST_TEST(bad.rel_error > 1e-2);
  BOOST_TEST(std::fabs(bad.analytic - bad.numeric) == bad.abs_error,
             boost::test_tools::tolerance(1e-12));

  const std::string report = r.report();
  const std::string line =
      "%" + std::to_string(rnn.bad_position) + " = tanh_with_wrong_backward_for_check_ops_test(";
  BOOST_TEST(report.find(line) != std::string::npos, report);
  BOOST_TEST(report.find("in t=4/layer0") != std::string::npos, report);
  BOOST_TEST(report.find("1 disagrees") != std::string::npos, report);

  // gradcheck over the whole function fails, and its report names the same culprit.
  const GradcheckResult g = gradcheck(f, rnn.params());
  BOOST_TEST(!g.ok);
  BOOST_REQUIRE(g.ops.failures.size() == 1u);
  BOOST_TEST(g.ops.failures[0].position == rnn.bad_position);
  BOOST_TEST(g.report().find(line) != std::string::npos, g.report());

  // Planted at another step, it is named there.
  rnn.bad_step = 2;
  const OpCheckResult r2 = check_ops(f);
  BOOST_REQUIRE(r2.failures.size() == 1u);
  BOOST_TEST(r2.failures[0].scope == "t=2/layer0");
  BOOST_TEST(r2.failures[0].position == rnn.bad_position);
}

TAPEGRAD_GRADIENT_TEST(names_the_input_whose_gradient_is_wrong,
                       "mul_with_wrong_second_gradient_for_check_ops_test") {
  std::mt19937_64 rng(12);
  Parameter<double> a(random_tensor({3, 2}, rng), "a"), b(random_tensor({3, 2}, rng), "b");
  const OpCheckResult r = check_ops(
      [&](Tape<double>& t) { return sum(apply(MulWrongSecondInput{}, t.param(a), t.param(b))); });
  BOOST_REQUIRE(r.failures.size() == 1u);
  BOOST_TEST(r.failures[0].input == 1u);
  BOOST_TEST(r.failures[0].scope == "");
  BOOST_TEST(r.report().find("(no scope)") != std::string::npos, r.report());
  // The claimed derivative is twice the true one along every direction.
  BOOST_TEST(r.failures[0].analytic == 2 * r.failures[0].numeric,
             boost::test_tools::tolerance(1e-6));
}

BOOST_AUTO_TEST_CASE(the_same_rnn_without_the_planted_op_passes) {
  std::mt19937_64 rng(13);
  HandRNN rnn(rng);
  const auto f = [&](Tape<double>& t) { return rnn(t); };
  const OpCheckResult r = check_ops(f);
  BOOST_TEST(r.ok, r.report());
  BOOST_TEST(r.checked == differentiable_ops(f));
  BOOST_TEST(r.checked > 20u);
  BOOST_TEST(gradcheck(f, rnn.params()).ok);
}

BOOST_AUTO_TEST_CASE(an_input_read_twice_is_perturbed_once) {
  // x * x reads one value twice: the check must move both reads together (d(x^2) = 2x dx).
  std::mt19937_64 rng(14);
  Parameter<double> x(random_tensor({5}, rng), "x");
  const OpCheckResult r = check_ops([&](Tape<double>& t) {
    Var<double> v = t.param(x);
    return sum(v * v);
  });
  BOOST_TEST(r.ok, r.report());
  BOOST_TEST(r.checked == 2u);
}

BOOST_AUTO_TEST_CASE(the_library_layers_pass_op_by_op) {
  // Every op the recurrent layers, an embedding, a convolution, a linear head and the
  // cross-entropy record (one-hot gathers and scatter-adds included) agrees with its forward.
  nn::Rng init(15);
  std::mt19937_64 rng(16);
  nn::Embedding<double> embedding(7, 3, init);
  nn::LSTM<double> lstm(3, 4, 2, init);
  nn::GRU<double> gru(4, 3, 1, init);
  nn::RNN<double> rnn(7, 3, 1, init);
  nn::Conv1d<double> conv(3, 2, 2, init);
  nn::Linear<double> head(3, 7, init);
  const Indices steps[3] = {{1, 4}, {6, 0}, {2, 2}};
  const Indices targets = {4, 6, 0, 2, 2, 5};
  const auto f = [&](Tape<double>& t) {
    std::vector<Var<double>> xs, one_hot;
    for (const Indices& s : steps) xs.push_back(embedding(t, s));
    for (const Indices& s : steps) one_hot.push_back(t.one_hot(s, 7));
    auto top = gru(lstm(xs).outputs).outputs;
    auto side = rnn(one_hot).outputs;
    std::vector<Var<double>> summed;
    for (std::size_t k = 0; k < top.size(); ++k) summed.push_back(top[k] + side[k]);
    Var<double> seq = stack(summed, 2);  // [2, 3, T]
    Var<double> conv_out = sum(conv(seq) * conv(seq));
    return softmax_cross_entropy(head(concat(summed, 0)), targets) + conv_out * 0.1;
  };
  const OpCheckResult r = check_ops(f);
  BOOST_TEST(r.ok, r.report());
  BOOST_TEST(r.checked == differentiable_ops(f));
  BOOST_TEST(r.checked > 100u);
}

BOOST_AUTO_TEST_CASE(a_bad_eps_is_an_error) {
  GradcheckOptions o;
  o.eps = 0;
  Parameter<double> x(Tensor<double>{1.0});
  BOOST_CHECK_EXCEPTION(
      check_ops([&](Tape<double>& t) { return sum(t.param(x)); }, o), Error,
      [](const Error& e) { return std::strstr(e.what(), "eps must be positive") != nullptr; });
}

BOOST_AUTO_TEST_SUITE_END()

// A user-defined op, written outside autograd/ exactly the way the library writes its own:
// a trivially copyable struct with a name, a forward and a backward, recorded with apply().
#include <cmath>

#include <xtensor/xmath.hpp>

#include "support/gradient_test.hpp"

using namespace tapegrad;

namespace {

// y = log(1 + e^(beta x)) / beta;  dy/dx = sigmoid(beta x)
struct Softplus {
  static constexpr const char* name = "softplus";
  double beta = 1.0;
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = xt::log1p(xt::exp(T(beta) * c.input(0))) / T(beta);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, c.grad_output() / (T(1) + xt::exp(-T(beta) * c.input(0))));
  }
};

template <class T>
Var<T> softplus(const Var<T>& x, double beta = 1.0) {
  return apply(Softplus{beta}, x);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(extension)

BOOST_AUTO_TEST_CASE(a_user_op_computes_its_forward) {
  Tape<double> tape;
  Var<double> y = softplus(tape.leaf(Tensor<double>{0.0, 1.0, -2.0}));
  BOOST_TEST(y.value()(0) == 0.6931471805599453, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(y.value()(1) == 1.3132616875182228, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(y.value()(2) == 0.1269280110429725, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(std::string(y.op_name()) == "softplus");
}

BOOST_AUTO_TEST_CASE(a_user_op_is_registered_like_a_builtin) {
  const auto ops = registered_ops();
  BOOST_TEST((std::find(ops.begin(), ops.end(), "softplus") != ops.end()));
}

TAPEGRAD_GRADIENT_TEST(softplus_gradient, "softplus") {
  std::mt19937_64 rng(11);
  Parameter<double> x(testsupport::random_tensor({3, 4}, rng, -3, 3));
  Parameter<double> w(testsupport::random_tensor({4, 2}, rng));
  // Composed with library ops, and with a non-default attribute carried in the op's state.
  testsupport::check_gradients(
      "softplus",
      [&](Tape<double>& t) { return softplus(matmul(softplus(t.param(x), 2.0), t.param(w))); },
      {&x, &w});
}

BOOST_AUTO_TEST_SUITE_END()

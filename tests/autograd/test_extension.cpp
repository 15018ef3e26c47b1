// A user-defined op, written outside autograd/ exactly the way the library writes its own (and
// as README.md shows it): a trivially copyable struct with a name, its math, a forward and a
// backward, registered, and recorded with apply() by a function that checks its input.
#include <cmath>

#include <xtensor/xmath.hpp>

#include "support/gradient_test.hpp"

using namespace tapegrad;

namespace {

struct Softplus {
  static constexpr const char* name = "softplus";
  static constexpr OpMath math{"y = log(1 + exp(beta * x)) / beta",
                               {{"x", "gy * sigmoid(beta * x)"}}};
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
TAPEGRAD_REGISTER_OP(Softplus);

template <class T>
Var<T> softplus(const Var<T>& x, double beta = 1.0) {
  if (!(beta > 0)) throw Error("softplus: beta must be positive, got " + std::to_string(beta));
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
  const std::vector<OpEntry> catalog = op_catalog();
  const auto it = std::find_if(catalog.begin(), catalog.end(),
                               [](const OpEntry& e) { return e.name == "softplus"; });
  BOOST_TEST_REQUIRE((it != catalog.end()));
  BOOST_TEST(it->math == &Softplus::math);
  BOOST_TEST(std::string(it->math->inputs[0].vjp) == "gy * sigmoid(beta * x)");
}

BOOST_AUTO_TEST_CASE(a_user_op_checks_its_input_before_recording) {
  Tape<double> tape;
  const Var<double> x = tape.leaf(Tensor<double>{1.0});
  BOOST_CHECK_EXCEPTION(softplus(x, 0.0), Error, [](const Error& e) {
    return std::string(e.what()).rfind("softplus: beta must be positive, got 0", 0) == 0;
  });
  BOOST_TEST(tape.size() == 1u);  // nothing was recorded
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

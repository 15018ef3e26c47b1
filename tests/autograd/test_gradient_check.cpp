// gradcheck itself must catch wrong gradients, report the worst element usefully, and not
// divide 0 by 0.
#include <cmath>

#include <xtensor/xmath.hpp>

#include "support/gradient_test.hpp"

using namespace tapegrad;

namespace {

// A deliberately wrong op: forward x^2, backward claims 3x instead of 2x.
struct WrongSquare {
  static constexpr const char* name = "wrong_square_for_gradcheck_test";
  template <class T>
  void forward(ForwardContext<T>& c) const {
    xt::noalias(c.output()) = c.input(0) * c.input(0);
  }
  template <class T>
  void backward(BackwardContext<T>& c) const {
    c.accumulate_grad(0, T(3) * c.grad_output() * c.input(0));
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(gradient_check)

// The wrong op is registered as soon as it is used; its "gradient test" is this one, which
// proves gradcheck rejects it.
TAPEGRAD_GRADIENT_TEST(gradcheck_rejects_a_wrong_backward, "wrong_square_for_gradcheck_test") {
  Parameter<double> x(Tensor<double>{{1.0, -2.0}, {0.5, 3.0}}, "x");
  const GradcheckResult r =
      gradcheck([&](Tape<double>& t) { return sum(apply(WrongSquare{}, t.param(x))); }, {&x});
  BOOST_TEST(!r.ok);
  BOOST_REQUIRE(r.inputs.size() == 1u);
  const GradcheckInputReport& in = r.inputs[0];
  BOOST_TEST(in.failures == 4u);
  // The worst element is the largest |3x - 2x| = |x| = 3 at [1, 1].
  BOOST_TEST(in.worst_index == (std::vector<std::size_t>{1, 1}), boost::test_tools::per_element());
  BOOST_TEST(in.analytic == 9.0, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(in.numeric == 6.0, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(in.abs_error == 3.0, boost::test_tools::tolerance(1e-6));
  BOOST_TEST(in.rel_error == 1.0 / 3.0, boost::test_tools::tolerance(1e-6));
  const std::string report = r.report();
  BOOST_TEST(report.find("FAIL x [2, 2]") != std::string::npos, report);
  BOOST_TEST(report.find("worst at [1, 1]") != std::string::npos, report);
}

BOOST_AUTO_TEST_CASE(zero_gradients_do_not_divide_zero_by_zero) {
  // y does not depend on z at all: analytic and numeric are both exactly 0.
  Parameter<double> x(Tensor<double>{1.0, 2.0}, "x"), z(Tensor<double>{3.0}, "z");
  const GradcheckResult r = gradcheck(
      [&](Tape<double>& t) { return sum(t.param(x) * 2.0) + sum(t.param(z)) * 0.0; }, {&x, &z});
  BOOST_TEST(r.ok, r.report());
  BOOST_TEST(r.inputs[1].rel_error == 0.0);
  BOOST_TEST(!std::isnan(r.inputs[1].rel_error));
}

BOOST_AUTO_TEST_CASE(non_scalar_outputs_are_checked_through_a_random_projection) {
  std::mt19937_64 rng(5);
  Parameter<double> x(testsupport::random_tensor({3, 4}, rng), "x");
  const GradcheckResult r = gradcheck([&](Tape<double>& t) { return tanh(t.param(x)); }, {&x});
  BOOST_TEST(r.ok, r.report());
  BOOST_TEST(r.inputs[0].checked == 12u);
}

BOOST_AUTO_TEST_CASE(direction_mode_checks_large_inputs_and_still_catches_errors) {
  std::mt19937_64 rng(6);
  Parameter<double> w(testsupport::random_tensor({64, 64}, rng), "w");
  Parameter<double> x(testsupport::random_tensor({8, 64}, rng), "x");
  GradcheckOptions o;
  o.directions = 6;
  const GradcheckResult good = gradcheck(
      [&](Tape<double>& t) { return sum(tanh(matmul(t.param(x), t.param(w)))); }, {&x, &w}, o);
  BOOST_TEST(good.ok, good.report());
  BOOST_TEST(good.inputs[1].checked == 6u);
  const GradcheckResult bad =
      gradcheck([&](Tape<double>& t) { return sum(apply(WrongSquare{}, t.param(w))); }, {&w}, o);
  BOOST_TEST(!bad.ok);
  BOOST_TEST(bad.inputs[0].failures == 6u);
}

BOOST_AUTO_TEST_CASE(inputs_are_restored_and_grads_hold_the_analytic_gradient) {
  Parameter<double> x(Tensor<double>{0.3, -0.7}, "x");
  const Tensor<double> before = x.value;
  const GradcheckResult r =
      gradcheck([&](Tape<double>& t) { return sum(square(t.param(x))); }, {&x});
  BOOST_TEST(r.ok);
  BOOST_TEST(x.value == before);
  BOOST_TEST(x.grad(0) == 0.6, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(x.grad(1) == -1.4, boost::test_tools::tolerance(1e-15));
}

BOOST_AUTO_TEST_SUITE_END()

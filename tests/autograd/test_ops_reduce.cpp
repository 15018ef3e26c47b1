// Reductions and the softmax family: forward values against hand-computed literals, analytic
// gradients against hand-derived ones, gradcheck over every axis, stability and axis errors.
#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "support/assertions.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
using namespace testsupport;
using testsupport::check_gradients;
using testsupport::random_tensor;

namespace {

std::function<bool(const Error&)> message_has(const std::string& needle) {
  return [needle](const Error& e) {
    const bool found = std::string(e.what()).find(needle) != std::string::npos;
    if (!found) BOOST_TEST_MESSAGE("message \"" << e.what() << "\" lacks \"" << needle << "\"");
    return found;
  };
}

// 0, 1, ..., n-1 in the given shape: every element distinct, so a reduction that reads the
// wrong stride cannot land on the right answer.
template <class T>
Tensor<T> counting(const Shape& shape) {
  Tensor<T> t = Tensor<T>::from_shape(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(i);
  return t;
}

// Irregular logits, [2, 3, 2]: no two lines along any axis are alike.
const Tensor<double> kLogits = {{{0.5, -1.0}, {2.0, 0.0}, {1.0, 3.0}},
                                {{-0.5, 1.5}, {0.25, -2.0}, {4.0, 1.0}}};

using UnaryFn = std::function<Var<double>(const Var<double>&)>;

// Parameters' grads always accumulate, whereas an intermediate node's grad buffer starts fresh
// and is overwritten; the `* 1.0` routes the input through an intermediate node so both
// branches of each backward are checked.
void check_both_paths(const char* op, const UnaryFn& fn, Parameter<double>& x) {
  check_gradients(op, [&](Tape<double>& t) { return fn(t.param(x)); }, {&x});
  check_gradients(op, [&](Tape<double>& t) { return fn(t.param(x) * 1.0); }, {&x});
}

void check_all_reduction(const char* op, const UnaryFn& fn) {
  std::mt19937_64 rng(42);
  for (const Shape& s : std::vector<Shape>{{3, 4}, {2, 1, 3}, {5}, {1}, {}}) {
    BOOST_TEST_CONTEXT(op << " of " << shape_str(s)) {
      Parameter<double> x(random_tensor(s, rng), "x");
      check_both_paths(op, fn, x);
    }
  }
}

using AxisFn = std::function<Var<double>(const Var<double>&, std::ptrdiff_t)>;

struct AxisCase {
  Shape shape;
  std::ptrdiff_t axis;
};

// First, middle and last axis of a 3-D tensor, counted from either end, plus size-1 axes
// and one-element tensors.
const std::vector<AxisCase>& axis_cases() {
  static const std::vector<AxisCase> cases = {
      {{2, 3, 4}, 0},  {{2, 3, 4}, 1}, {{2, 3, 4}, 2}, {{2, 3, 4}, -1}, {{2, 3, 4}, -2},
      {{2, 3, 4}, -3}, {{3, 1}, 1},    {{3, 1}, 0},    {{1, 4}, 0},     {{2, 1, 3}, 1},
      {{5}, 0},        {{5}, -1},      {{1}, 0},       {{1, 1}, -1},
  };
  return cases;
}

void check_axis_op(const char* op, const AxisFn& fn, double lo, double hi) {
  std::mt19937_64 rng(2024);
  for (const AxisCase& c : axis_cases()) {
    BOOST_TEST_CONTEXT(op << " of " << shape_str(c.shape) << " along axis " << c.axis) {
      Parameter<double> x(random_tensor(c.shape, rng, lo, hi), "x");
      check_both_paths(
          op, [&](const Var<double>& v) { return fn(v, c.axis); }, x);
    }
  }
}

Var<double> sum_keep(const Var<double>& x, std::ptrdiff_t axis) { return sum(x, axis, true); }
Var<double> sum_drop(const Var<double>& x, std::ptrdiff_t axis) { return sum(x, axis, false); }
Var<double> mean_keep(const Var<double>& x, std::ptrdiff_t axis) { return mean(x, axis, true); }
Var<double> mean_drop(const Var<double>& x, std::ptrdiff_t axis) { return mean(x, axis, false); }

}  // namespace

BOOST_AUTO_TEST_SUITE(ops_reduce)

// ---- gradients (gradcheck) ----

TAPEGRAD_GRADIENT_TEST(sum_gradient, "sum") {
  check_all_reduction("sum", [](const Var<double>& x) { return sum(x); });
}

TAPEGRAD_GRADIENT_TEST(mean_gradient, "mean") {
  check_all_reduction("mean", [](const Var<double>& x) { return mean(x); });
}

TAPEGRAD_GRADIENT_TEST(sum_axis_gradient, "sum_axis") {
  check_axis_op("sum_axis", sum_keep, -1, 1);
  check_axis_op("sum_axis", sum_drop, -1, 1);
}

TAPEGRAD_GRADIENT_TEST(mean_axis_gradient, "mean_axis") {
  check_axis_op("mean_axis", mean_keep, -1, 1);
  check_axis_op("mean_axis", mean_drop, -1, 1);
}

TAPEGRAD_GRADIENT_TEST(softmax_gradient, "softmax") {
  check_axis_op(
      "softmax", [](const Var<double>& x, std::ptrdiff_t a) { return softmax(x, a); }, -3, 3);
}

TAPEGRAD_GRADIENT_TEST(log_softmax_gradient, "log_softmax") {
  check_axis_op(
      "log_softmax", [](const Var<double>& x, std::ptrdiff_t a) { return log_softmax(x, a); }, -3,
      3);
}

TAPEGRAD_GRADIENT_TEST(reductions_sharing_an_input_accumulate, "sum_axis") {
  // One intermediate feeds several reductions: the second backward into it must add to, not
  // overwrite, what the first wrote.
  std::mt19937_64 rng(5);
  Parameter<double> x(random_tensor({3, 4}, rng), "x");
  check_gradients("sum_axis",
                  [&](Tape<double>& t) {
                    Var<double> z = tanh(t.param(x));
                    return sum(z, 0, true) * mean(z, 1, true) + sum(z) * mean(z);
                  },
                  {&x});
  check_gradients("softmax",
                  [&](Tape<double>& t) {
                    Var<double> z = tanh(t.param(x));
                    return softmax(z, 0) * log_softmax(z, 1) + softmax(z, -1) - log_softmax(z, 0);
                  },
                  {&x});
}

// ---- forward values ----

BOOST_AUTO_TEST_CASE(sum_and_mean_of_everything) {
  Tape<double> tape;
  Var<double> x = tape.constant(Tensor<double>{{1., 2.}, {3., 4.}});
  Var<double> s = sum(x), m = mean(x);
  BOOST_TEST(std::string(s.op_name()) == "sum");
  BOOST_TEST(std::string(m.op_name()) == "mean");
  expect_values(s.value(), {}, {10.0}, 0);
  expect_values(m.value(), {}, {2.5}, 0);
  BOOST_TEST(s.item() == 10.0);

  Var<double> one = tape.constant(full<double>({1}, -7.5));
  expect_values(sum(one).value(), {}, {-7.5}, 0);
  expect_values(mean(one).value(), {}, {-7.5}, 0);

  Var<double> big = tape.constant(counting<double>({2, 3, 4}));
  expect_values(sum(big).value(), {}, {276.0}, 0);
  expect_values(mean(big).value(), {}, {11.5}, 0);
}

BOOST_AUTO_TEST_CASE(float_sums_accumulate_in_double) {
  // A float running sum of a million 0.1f drifts to about 100958; the documented double
  // accumulator gives 100000.0015, which rounds to 100000 in float.
  Tape<float> tape;
  Var<float> x = tape.constant(full<float>({1000, 1000}, 0.1f));
  BOOST_TEST(std::fabs(sum(x).item() - 100000.0f) <= 0.01f);
  BOOST_TEST(std::fabs(mean(x).item() - 0.1f) <= 1e-8f);
  expect_values(sum(x, 1).value(), {1000}, std::vector<double>(1000, 100.0), 1e-6);
}

BOOST_AUTO_TEST_CASE(sum_and_mean_along_each_axis) {
  Tape<double> tape;
  Var<double> x = tape.constant(counting<double>({2, 3, 4}));
  const std::vector<double> sum0 = {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34};
  const std::vector<double> sum1 = {12, 15, 18, 21, 48, 51, 54, 57};
  const std::vector<double> sum2 = {6, 22, 38, 54, 70, 86};

  Var<double> s0 = sum(x, 0);
  BOOST_TEST(std::string(s0.op_name()) == "sum_axis");
  expect_values(s0.value(), {3, 4}, sum0, 0);
  expect_values(sum(x, -3).value(), {3, 4}, sum0, 0);
  expect_values(sum(x, 0, true).value(), {1, 3, 4}, sum0, 0);
  expect_values(sum(x, 1).value(), {2, 4}, sum1, 0);
  expect_values(sum(x, -2, true).value(), {2, 1, 4}, sum1, 0);
  expect_values(sum(x, 2).value(), {2, 3}, sum2, 0);
  expect_values(sum(x, -1, true).value(), {2, 3, 1}, sum2, 0);

  Var<double> m0 = mean(x, 0);
  BOOST_TEST(std::string(m0.op_name()) == "mean_axis");
  expect_values(m0.value(), {3, 4}, {6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}, 1e-15);
  expect_values(mean(x, 1, true).value(), {2, 1, 4}, {4, 5, 6, 7, 16, 17, 18, 19}, 1e-15);
  expect_values(mean(x, -1).value(), {2, 3}, {1.5, 5.5, 9.5, 13.5, 17.5, 21.5}, 1e-15);

  // A size-1 axis: summing it only drops (or keeps) the axis.
  Var<double> col = tape.constant(column({1., 2., 3.}));
  expect_values(sum(col, 1).value(), {3}, {1, 2, 3}, 0);
  expect_values(mean(col, -1, true).value(), {3, 1}, {1, 2, 3}, 0);
  expect_values(sum(col, 0).value(), {1}, {6}, 0);
}

BOOST_AUTO_TEST_CASE(float_axis_reductions) {
  Tape<float> tape;
  Var<float> x = tape.constant(counting<float>({2, 3, 4}));
  expect_values(sum(x, 1).value(), {2, 4}, {12, 15, 18, 21, 48, 51, 54, 57}, 1e-7);
  expect_values(mean(x, -1, true).value(), {2, 3, 1}, {1.5, 5.5, 9.5, 13.5, 17.5, 21.5}, 1e-7);
}

BOOST_AUTO_TEST_CASE(softmax_values_1d) {
  Tape<double> tape;
  Var<double> x = tape.constant(Tensor<double>{1., 2., 3.});
  expect_values(softmax(x).value(), {3},
                {0.09003057317038046, 0.24472847105479764, 0.6652409557748218}, 1e-15);
  expect_values(log_softmax(x).value(), {3},
                {-2.4076059644443806, -1.4076059644443804, -0.4076059644443804}, 1e-15);
  expect_values(softmax(x, 0).value(), {3},
                {0.09003057317038046, 0.24472847105479764, 0.6652409557748218}, 1e-15);
  BOOST_TEST(std::string(softmax(x).op_name()) == "softmax");
  BOOST_TEST(std::string(log_softmax(x).op_name()) == "log_softmax");

  Tape<float> ftape;
  Var<float> xf = ftape.constant(Tensor<float>{1.f, 2.f, 3.f});
  expect_values(softmax(xf).value(), {3},
                {0.09003057317038046, 0.24472847105479764, 0.6652409557748218}, 1e-6);
  expect_values(log_softmax(xf).value(), {3},
                {-2.4076059644443806, -1.4076059644443804, -0.4076059644443804}, 1e-6);
}

BOOST_AUTO_TEST_CASE(softmax_values_along_each_axis_of_3d) {
  Tape<double> tape;
  Var<double> x = tape.constant(kLogits);
  const std::vector<double> sm0 = {0.7310585786300049,  0.07585818002124356, 0.8519528019683106,
                                   0.8807970779778823,  0.04742587317756679, 0.8807970779778823,
                                   0.2689414213699951,  0.9241418199787566,  0.1480471980316895,
                                   0.11920292202211755, 0.9525741268224334,  0.11920292202211755};
  const std::vector<double> sm1 = {0.14024438316608848,  0.01714782554552039, 0.6285317192117624,
                                   0.0466126225779739,   0.23122389762214907, 0.9362395518765058,
                                   0.010737202203506498, 0.6109750512275837,  0.0227306572431969,
                                   0.01844984788339003,  0.9665321405532966,  0.3705751008890263};
  const std::vector<double> sm2 = {0.8175744761936437,  0.18242552380635632, 0.8807970779778823,
                                   0.11920292202211755, 0.11920292202211755, 0.8807970779778823,
                                   0.11920292202211755, 0.8807970779778823,  0.9046505351008906,
                                   0.0953494648991095,  0.9525741268224334,  0.04742587317756679};
  const std::vector<double> ls0 = {-0.31326168751822286, -2.5788897342925496,  -0.16022415043808716,
                                   -0.1269280110429726,  -3.048587351573742,   -0.1269280110429726,
                                   -1.3132616875182228,  -0.07888973429254956, -1.9102241504380872,
                                   -2.1269280110429727,  -0.04858735157374196, -2.1269280110429727};
  const std::vector<double> ls1 = {-1.964368784107945,  -4.065883903757429,  -0.4643687841079449,
                                   -3.0658839037574293, -1.464368784107945,  -0.06588390375742911,
                                   -4.5340407263048865, -0.4926991533322978, -3.7840407263048865,
                                   -3.992699153332298,  -0.0340407263048864, -0.9926991533322977};
  const std::vector<double> ls2 = {-0.20141327798275246, -1.7014132779827524,  -0.1269280110429726,
                                   -2.1269280110429727,  -2.1269280110429727,  -0.1269280110429726,
                                   -2.1269280110429727,  -0.1269280110429726,  -0.10020655891674712,
                                   -2.350206558916747,   -0.04858735157374196, -3.048587351573742};
  expect_values(softmax(x, 0).value(), {2, 3, 2}, sm0, 1e-14);
  expect_values(softmax(x, -3).value(), {2, 3, 2}, sm0, 1e-14);
  expect_values(softmax(x, 1).value(), {2, 3, 2}, sm1, 1e-14);
  expect_values(softmax(x, -2).value(), {2, 3, 2}, sm1, 1e-14);
  expect_values(softmax(x, 2).value(), {2, 3, 2}, sm2, 1e-14);
  expect_values(softmax(x).value(), {2, 3, 2}, sm2, 1e-14);
  expect_values(log_softmax(x, 0).value(), {2, 3, 2}, ls0, 1e-14);
  expect_values(log_softmax(x, 1).value(), {2, 3, 2}, ls1, 1e-14);
  expect_values(log_softmax(x, -2).value(), {2, 3, 2}, ls1, 1e-14);
  expect_values(log_softmax(x, 2).value(), {2, 3, 2}, ls2, 1e-14);
  expect_values(log_softmax(x).value(), {2, 3, 2}, ls2, 1e-14);

  // Along a size-1 axis every line is a single element: probability 1, log-probability 0.
  Var<double> col = tape.constant(column({-3., 0., 42.}));
  expect_values(softmax(col, 1).value(), {3, 1}, {1, 1, 1}, 0);
  expect_values(log_softmax(col, -1).value(), {3, 1}, {0, 0, 0}, 0);
}

// ---- analytic gradients against hand-derived ones ----

BOOST_AUTO_TEST_CASE(sum_and_mean_gradients) {
  {
    Tape<double> tape;
    Var<double> x = tape.leaf(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
    tape.backward(sum(x));
    expect_values(x.grad(), {2, 3}, std::vector<double>(6, 1.0), 0);
  }
  {
    Tape<double> tape;
    Var<double> x = tape.leaf(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
    tape.backward(mean(x) * 3.0);
    expect_values(x.grad(), {2, 3}, std::vector<double>(6, 0.5), 1e-15);
  }
  {
    // Two reductions of the same leaf: gradients add up.
    Tape<double> tape;
    Var<double> x = tape.leaf(Tensor<double>{1., 2., 3., 4.});
    tape.backward(sum(x) + mean(x));
    expect_values(x.grad(), {4}, std::vector<double>(4, 1.25), 1e-15);
  }
}

BOOST_AUTO_TEST_CASE(axis_reduction_gradients_spread_the_seed) {
  {
    Tape<double> tape;
    Var<double> x = tape.leaf(counting<double>({2, 3}));
    tape.backward(sum(x, 0), Tensor<double>{1., 2., 3.});
    expect_values(x.grad(), {2, 3}, {1, 2, 3, 1, 2, 3}, 0);
  }
  {
    Tape<double> tape;
    Var<double> x = tape.leaf(counting<double>({2, 3}));
    tape.backward(sum(x, 1, true), column({1., 2.}));
    expect_values(x.grad(), {2, 3}, {1, 1, 1, 2, 2, 2}, 0);
  }
  {
    Tape<double> tape;
    Var<double> x = tape.leaf(counting<double>({2, 4}));
    tape.backward(mean(x, -1), Tensor<double>{4., 8.});
    expect_values(x.grad(), {2, 4}, {1, 1, 1, 1, 2, 2, 2, 2}, 0);
  }
  {
    // Middle axis of a 3-D tensor: dx[o, j, i] = gy[o, i] for every j.
    Tape<double> tape;
    Var<double> x = tape.leaf(counting<double>({2, 3, 2}));
    tape.backward(sum(x, 1), Tensor<double>{{1., 2.}, {3., 4.}});
    expect_values(x.grad(), {2, 3, 2}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}, 0);
  }
  {
    Tape<double> tape;
    Var<double> x = tape.leaf(counting<double>({2, 3, 2}));
    tape.backward(mean(x, 1, true), Tensor<double>{{{3., 6.}}, {{9., 12.}}});
    expect_values(x.grad(), {2, 3, 2}, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}, 1e-15);
  }
}

BOOST_AUTO_TEST_CASE(softmax_gradients) {
  {
    // dy_0/dx_i = y_0 (delta_0i - y_i)
    Tape<double> tape;
    Var<double> x = tape.leaf(Tensor<double>{1., 2., 3.});
    tape.backward(softmax(x), Tensor<double>{1., 0., 0.});
    expect_values(x.grad(), {3},
                  {0.08192506906499324, -0.022033044520174298, -0.059892024544818935}, 1e-14);
  }
  {
    // Probabilities sum to one along the axis, so a uniform seed has zero gradient.
    Tape<double> tape;
    Var<double> x = tape.leaf(kLogits);
    tape.backward(sum(softmax(x, 1)));
    for (double g : x.grad()) BOOST_TEST(std::fabs(g) <= 1e-15);
  }
  {
    // d/dx_i sum_j log_softmax(x)_j = 1 - n softmax(x)_i
    Tape<double> tape;
    Var<double> x = tape.leaf(Tensor<double>{1., 2., 3.});
    tape.backward(sum(log_softmax(x)));
    expect_values(x.grad(), {3}, {0.7299082804888586, 0.2658145868356071, -0.9957228673244654},
                  1e-14);
  }
  {
    Tape<float> tape;
    Var<float> x = tape.leaf(Tensor<float>{1.f, 2.f, 3.f});
    tape.backward(sum(log_softmax(x)));
    expect_values(x.grad(), {3}, {0.7299082804888586, 0.2658145868356071, -0.9957228673244654},
                  1e-6);
  }
}

// ---- numeric stability ----

BOOST_AUTO_TEST_CASE(softmax_of_huge_logits_is_finite) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1e4, 0., -1e4});
  Var<double> p = softmax(x);
  Var<double> lp = log_softmax(x);
  expect_values(p.value(), {3}, {1.0, 0.0, 0.0}, 0);
  expect_values(lp.value(), {3}, {0.0, -1e4, -2e4}, 0);
  // 1 - 3 softmax(x) for the log_softmax term; the softmax term with seed (1, 1, 1) is 0.
  tape.backward(sum(lp) + sum(p));
  expect_values(x.grad(), {3}, {-2.0, 1.0, 1.0}, 1e-15);

  // The same along the first axis of a matrix, and with equal huge logits (whose log-probability
  // -log 3 comes out of 1000 - (1000 + log 3), hence the looser tolerance).
  Tape<double> tape2;
  Var<double> m = tape2.leaf(Tensor<double>{{1e4, 1000.}, {0., 1000.}, {-1e4, 1000.}});
  Var<double> pm = softmax(m, 0);
  expect_values(pm.value(), {3, 2}, {1, 1.0 / 3, 0, 1.0 / 3, 0, 1.0 / 3}, 1e-15);
  expect_values(log_softmax(m, 0).value(), {3, 2},
                {0, -1.0986122886681098, -1e4, -1.0986122886681098, -2e4, -1.0986122886681098},
                1e-12);
  tape2.backward(sum(pm * pm));
  for (double g : m.grad()) BOOST_TEST(std::isfinite(g));

  Tape<float> ftape;
  Var<float> xf = ftape.leaf(Tensor<float>{1e4f, 0.f, -1e4f});
  Var<float> lpf = log_softmax(xf);
  expect_values(softmax(xf).value(), {3}, {1.0, 0.0, 0.0}, 0);
  expect_values(lpf.value(), {3}, {0.0, -1e4, -2e4}, 0);
  ftape.backward(sum(lpf));
  expect_values(xf.grad(), {3}, {-2.0, 1.0, 1.0}, 1e-6);
}

// ---- errors ----

BOOST_AUTO_TEST_CASE(axis_out_of_range_names_op_and_axis) {
  Tape<double> tape;
  Var<double> x = tape.leaf(full<double>({2, 3}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(sum(x, 2), Error,
                        message_has("sum: axis 2 is out of range for a 2-D input"));
  BOOST_CHECK_EXCEPTION(sum(x, -3, true), Error,
                        message_has("sum: axis -3 is out of range for a 2-D input"));
  BOOST_CHECK_EXCEPTION(mean(x, 5), Error,
                        message_has("mean: axis 5 is out of range for a 2-D input"));
  BOOST_CHECK_EXCEPTION(softmax(x, 2), Error,
                        message_has("softmax: axis 2 is out of range for a 2-D input"));
  BOOST_CHECK_EXCEPTION(log_softmax(x, -3), Error,
                        message_has("log_softmax: axis -3 is out of range for a 2-D input"));
  Var<double> scalar = sum(x);
  BOOST_CHECK_EXCEPTION(softmax(scalar), Error,
                        message_has("softmax: axis -1 is out of range for a 0-D input"));
  BOOST_CHECK_EXCEPTION(sum(scalar, 0), Error,
                        message_has("sum: axis 0 is out of range for a 0-D input"));
  BOOST_TEST(tape.size() == before + 1);

  // Nothing was left behind: later ops record and differentiate normally.
  Var<double> y = softmax(x, 1);
  BOOST_TEST(tape.size() == before + 2);
  // Each row of y is uniform (1/3): d y_0 / dx = (2/9, -1/9, -1/9), plus 1/6 from the mean.
  tape.backward(sum(y * tape.constant(Tensor<double>{1., 0., 0.})) + mean(x));
  expect_values(x.grad(), {2, 3}, {7. / 18, 1. / 18, 1. / 18, 7. / 18, 1. / 18, 1. / 18}, 1e-15);

  Tape<float> ftape;
  Var<float> xf = ftape.leaf(full<float>({4}, 1.0f));
  BOOST_CHECK_EXCEPTION(softmax(xf, 1), Error,
                        message_has("softmax: axis 1 is out of range for a 1-D input"));
  BOOST_TEST(ftape.size() == 1u);
}

BOOST_AUTO_TEST_CASE(mean_of_nothing_is_an_error_that_leaves_the_tape_usable) {
  Tape<double> tape;
  Var<double> empty = tape.leaf(Tensor<double>::from_shape({0}));
  Var<double> flat = tape.leaf(Tensor<double>::from_shape({2, 0}));
  Var<double> x = tape.leaf(Tensor<double>{1., 2., 3.});
  BOOST_CHECK_EXCEPTION(mean(empty), Error, message_has("mean: the input [0] is empty"));
  BOOST_CHECK_EXCEPTION(mean(flat, 1), Error, message_has("mean: axis 1 of [2, 0] is empty"));
  BOOST_TEST(tape.size() == 3u);

  // The forward threw after its node was pushed; the slot must be reused cleanly.
  Var<double> y = mean(x);
  BOOST_TEST(tape.size() == 4u);
  BOOST_TEST(std::string(y.op_name()) == "mean");
  BOOST_TEST(y.item() == 2.0);
  tape.backward(y);
  expect_values(x.grad(), {3}, {1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-15);

  // Summing nothing is fine: the empty sum is 0.
  Tape<double> tape2;
  Var<double> e = tape2.constant(Tensor<double>::from_shape({0}));
  BOOST_TEST(sum(e).item() == 0.0);
}

BOOST_AUTO_TEST_SUITE_END()

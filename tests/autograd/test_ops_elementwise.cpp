// Element-wise ops: forward values against hand-computed literals, analytic gradients against
// hand-derived ones, gradcheck over broadcasting shapes, numeric stability and error messages.
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

// relu's derivative jumps at 0; central differences straddling it would disagree with any
// one-sided analytic answer, so keep inputs at least 0.1 away.
Tensor<double> away_from_zero(const Shape& shape, std::mt19937_64& rng) {
  Tensor<double> t = random_tensor(shape, rng, 0.1, 1.0);
  std::bernoulli_distribution flip(0.5);
  for (double& v : t)
    if (flip(rng)) v = -v;
  return t;
}

struct ShapePair {
  Shape a, b;
};

// Same shapes, a bias row, the reverse, an outer product, rank mismatch with broadcasting on
// both sides, a one-element operand, two one-element operands and a 0-d operand.
const std::vector<ShapePair>& broadcast_pairs() {
  static const std::vector<ShapePair> pairs = {
      {{3, 4}, {3, 4}},    {{3, 4}, {4}}, {{4}, {3, 4}}, {{3, 1}, {1, 4}},
      {{2, 1, 4}, {3, 1}}, {{3, 4}, {1}}, {{1}, {1}},    {{2, 3}, {}},
  };
  return pairs;
}

using BinaryFn = std::function<Var<double>(const Var<double>&, const Var<double>&)>;

// Parameters' grads always accumulate, whereas an intermediate node's grad buffer starts fresh
// and is overwritten; the `* 1.0` routes the inputs through intermediate nodes so both code
// paths of accumulate_grad (and of the broadcast reduction) are checked.
void check_binary(const char* op, const BinaryFn& fn, double b_lo, double b_hi) {
  std::mt19937_64 rng(1234);
  for (const ShapePair& p : broadcast_pairs()) {
    BOOST_TEST_CONTEXT(op << " of " << shape_str(p.a) << " and " << shape_str(p.b)) {
      Parameter<double> a(random_tensor(p.a, rng), "a");
      Parameter<double> b(random_tensor(p.b, rng, b_lo, b_hi), "b");
      check_gradients(op, [&](Tape<double>& t) { return fn(t.param(a), t.param(b)); }, {&a, &b});
      check_gradients(op, [&](Tape<double>& t) { return fn(t.param(a) * 1.0, t.param(b) * 1.0); },
                      {&a, &b});
    }
  }
  // One Var on both sides: both input slots add into the same gradient buffer.
  Parameter<double> x(random_tensor({2, 3}, rng, b_lo, b_hi), "x");
  check_gradients(op, [&](Tape<double>& t) { return fn(t.param(x), t.param(x)); }, {&x});
  check_gradients(op,
                  [&](Tape<double>& t) {
                    Var<double> v = t.param(x) * 1.0;
                    return fn(v, v);
                  },
                  {&x});
}

using UnaryFn = std::function<Var<double>(const Var<double>&)>;
using Generator = std::function<Tensor<double>(const Shape&, std::mt19937_64&)>;

Generator uniform(double lo, double hi) {
  return [lo, hi](const Shape& s, std::mt19937_64& rng) { return random_tensor(s, rng, lo, hi); };
}

void check_unary(const char* op, const UnaryFn& fn, const Generator& gen) {
  std::mt19937_64 rng(99);
  const std::vector<Shape> shapes = {{3, 4}, {2, 1, 3}, {5}, {1}, {}};
  for (const Shape& s : shapes) {
    BOOST_TEST_CONTEXT(op << " of " << shape_str(s)) {
      Parameter<double> x(gen(s, rng), "x");
      check_gradients(op, [&](Tape<double>& t) { return fn(t.param(x)); }, {&x});
      check_gradients(op, [&](Tape<double>& t) { return fn(t.param(x) * 1.0); }, {&x});
    }
  }
}

// Seeds backward with ones, so the input's grad is the element-wise derivative.
Tensor<double> derivative(const UnaryFn& fn, const Tensor<double>& at) {
  Tape<double> tape;
  Var<double> x = tape.leaf(at);
  Var<double> y = fn(x);
  tape.backward(y, full<double>(y.shape(), 1.0));
  return x.grad();
}

const Tensor<double> kMixed = {-1.5, -0.2, 0.5, 2.0};
const Tensor<double> kPositive = {0.25, 0.5, 2.0, 3.0};

}  // namespace

BOOST_AUTO_TEST_SUITE(ops_elementwise)

// ---- gradients (gradcheck) ----

TAPEGRAD_GRADIENT_TEST(add_gradient, "add") {
  check_binary(
      "add", [](const Var<double>& a, const Var<double>& b) { return add(a, b); }, -1, 1);
}

TAPEGRAD_GRADIENT_TEST(sub_gradient, "sub") {
  check_binary(
      "sub", [](const Var<double>& a, const Var<double>& b) { return sub(a, b); }, -1, 1);
}

TAPEGRAD_GRADIENT_TEST(mul_gradient, "mul") {
  check_binary(
      "mul", [](const Var<double>& a, const Var<double>& b) { return mul(a, b); }, -1, 1);
}

TAPEGRAD_GRADIENT_TEST(div_gradient, "div") {
  // Denominators kept in [0.5, 2] so a/b and its derivatives stay well-conditioned.
  check_binary(
      "div", [](const Var<double>& a, const Var<double>& b) { return div(a, b); }, 0.5, 2.0);
  check_binary(
      "div", [](const Var<double>& a, const Var<double>& b) { return div(a, b); }, -2.0, -0.5);
}

TAPEGRAD_GRADIENT_TEST(neg_gradient, "neg") {
  check_unary(
      "neg", [](const Var<double>& x) { return neg(x); }, uniform(-1, 1));
}

TAPEGRAD_GRADIENT_TEST(add_scalar_gradient, "add_scalar") {
  check_unary(
      "add_scalar", [](const Var<double>& x) { return add_scalar(x, 2.5); }, uniform(-1, 1));
}

TAPEGRAD_GRADIENT_TEST(mul_scalar_gradient, "mul_scalar") {
  check_unary(
      "mul_scalar", [](const Var<double>& x) { return mul_scalar(x, -1.75); }, uniform(-1, 1));
}

TAPEGRAD_GRADIENT_TEST(rsub_scalar_gradient, "rsub_scalar") {
  check_unary(
      "rsub_scalar", [](const Var<double>& x) { return rsub_scalar(x, 3.0); }, uniform(-1, 1));
}

TAPEGRAD_GRADIENT_TEST(rdiv_scalar_gradient, "rdiv_scalar") {
  check_unary(
      "rdiv_scalar", [](const Var<double>& x) { return rdiv_scalar(x, 1.5); }, uniform(0.5, 2.0));
  check_unary(
      "rdiv_scalar", [](const Var<double>& x) { return rdiv_scalar(x, -0.75); },
      uniform(-2.0, -0.5));
}

TAPEGRAD_GRADIENT_TEST(exp_gradient, "exp") {
  check_unary(
      "exp", [](const Var<double>& x) { return exp(x); }, uniform(-2, 2));
}

TAPEGRAD_GRADIENT_TEST(log_gradient, "log") {
  check_unary(
      "log", [](const Var<double>& x) { return log(x); }, uniform(0.5, 2.0));
}

TAPEGRAD_GRADIENT_TEST(tanh_gradient, "tanh") {
  check_unary(
      "tanh", [](const Var<double>& x) { return tanh(x); }, uniform(-2, 2));
}

TAPEGRAD_GRADIENT_TEST(sigmoid_gradient, "sigmoid") {
  check_unary(
      "sigmoid", [](const Var<double>& x) { return sigmoid(x); }, uniform(-4, 4));
}

TAPEGRAD_GRADIENT_TEST(relu_gradient, "relu") {
  check_unary(
      "relu", [](const Var<double>& x) { return relu(x); }, away_from_zero);
}

TAPEGRAD_GRADIENT_TEST(square_gradient, "square") {
  check_unary(
      "square", [](const Var<double>& x) { return square(x); }, uniform(-2, 2));
}

TAPEGRAD_GRADIENT_TEST(pow_gradient, "pow") {
  // Whole exponents are defined for negative bases; fractional ones only for positive bases,
  // kept away from 0 where x^(p-1) blows up.
  for (double p : {2.0, 3.0, 1.0}) {
    BOOST_TEST_CONTEXT("exponent " << p) {
      check_unary(
          "pow", [p](const Var<double>& x) { return pow(x, p); }, uniform(-2, 2));
    }
  }
  for (double p : {0.5, 1.5, -1.3, 2.7}) {
    BOOST_TEST_CONTEXT("exponent " << p) {
      check_unary(
          "pow", [p](const Var<double>& x) { return pow(x, p); }, uniform(0.5, 2.0));
    }
  }
}

TAPEGRAD_GRADIENT_TEST(dropout_gradient, "dropout") {
  // A fixed seed fixes the mask: the op is then linear in x and central differences see the
  // same function the backward pass differentiates.
  for (double p : {0.2, 0.5, 0.9}) {
    BOOST_TEST_CONTEXT("p " << p) {
      check_unary(
          "dropout", [p](const Var<double>& x) { return dropout(x, p, 977); }, uniform(-2, 2));
    }
  }
}

TAPEGRAD_GRADIENT_TEST(sqrt_gradient, "sqrt") {
  check_unary(
      "sqrt", [](const Var<double>& x) { return sqrt(x); }, uniform(0.5, 2.0));
}

TAPEGRAD_GRADIENT_TEST(operator_expression_gradient, "rdiv_scalar") {
  // A chain of every operator form, so a wrong mapping shows up as a wrong gradient too.
  std::mt19937_64 rng(7);
  Parameter<double> x(random_tensor({3, 4}, rng, 0.5, 2.0), "x");
  Parameter<double> y(random_tensor({4}, rng, 0.5, 2.0), "y");
  check_gradients("rdiv_scalar",
                  [&](Tape<double>& t) {
                    Var<double> a = t.param(x), b = t.param(y);
                    return (2.0 - a) * (b / 4.0) + 3.0 / (a + b) - (-a) * 0.5 + (1.0 + b) -
                           (a - 2.0) / b;
                  },
                  {&x, &y});
}

// ---- forward values ----

BOOST_AUTO_TEST_CASE(arithmetic_values_double) {
  Tape<double> tape;
  Var<double> a = tape.constant(Tensor<double>{{1., 2.}, {3., 4.}});
  Var<double> b = tape.constant(Tensor<double>{{0.5, -1.}, {2., 8.}});
  expect_values(add(a, b).value(), {2, 2}, {1.5, 1.0, 5.0, 12.0}, 1e-15);
  expect_values(sub(a, b).value(), {2, 2}, {0.5, 3.0, 1.0, -4.0}, 1e-15);
  expect_values(mul(a, b).value(), {2, 2}, {0.5, -2.0, 6.0, 32.0}, 1e-15);
  expect_values(div(a, b).value(), {2, 2}, {2.0, -2.0, 1.5, 0.5}, 1e-15);
  expect_values(neg(b).value(), {2, 2}, {-0.5, 1.0, -2.0, -8.0}, 1e-15);
  expect_values(add_scalar(a, 0.25).value(), {2, 2}, {1.25, 2.25, 3.25, 4.25}, 1e-15);
  expect_values(mul_scalar(a, -3.0).value(), {2, 2}, {-3.0, -6.0, -9.0, -12.0}, 1e-15);
  expect_values(rsub_scalar(a, 10.0).value(), {2, 2}, {9.0, 8.0, 7.0, 6.0}, 1e-15);
  expect_values(rdiv_scalar(a, 6.0).value(), {2, 2}, {6.0, 3.0, 2.0, 1.5}, 1e-15);
}

BOOST_AUTO_TEST_CASE(broadcast_values) {
  Tape<double> tape;
  Var<double> m = tape.constant(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  Var<double> row = tape.constant(Tensor<double>{10., 20., 30.});
  expect_values(add(m, row).value(), {2, 3}, {11, 22, 33, 14, 25, 36}, 1e-15);
  expect_values(sub(row, m).value(), {2, 3}, {9, 18, 27, 6, 15, 24}, 1e-15);

  Var<double> col = tape.constant(column({1., 2., 3.}));                     // [3, 1]
  Var<double> wide = tape.constant(Tensor<double>{{1., 10., 100., 1000.}});  // [1, 4]
  expect_values(mul(col, wide).value(), {3, 4},
                {1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000}, 1e-15);
  expect_values(div(wide, col).value(), {3, 4},
                {1, 10, 100, 1000, 0.5, 5, 50, 500, 1.0 / 3, 10.0 / 3, 100.0 / 3, 1000.0 / 3},
                1e-15);

  // [2, 1, 2] with [3, 1] -> [2, 3, 2]
  Var<double> c = tape.constant(Tensor<double>{{{1., 2.}}, {{3., 4.}}});
  Var<double> d = tape.constant(column({10., 20., 30.}));
  expect_values(add(c, d).value(), {2, 3, 2}, {11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34},
                1e-15);

  Var<double> s = tape.constant(full<double>({}, 2.0));  // 0-d
  expect_values(mul(m, s).value(), {2, 3}, {2, 4, 6, 8, 10, 12}, 1e-15);
  Var<double> one = tape.constant(full<double>({1}, -1.0));
  expect_values(sub(m, one).value(), {2, 3}, {2, 3, 4, 5, 6, 7}, 1e-15);
}

BOOST_AUTO_TEST_CASE(function_values_double) {
  Tape<double> tape;
  Var<double> x = tape.constant(kMixed);
  Var<double> p = tape.constant(kPositive);
  expect_values(exp(x).value(), {4},
                {0.22313016014842982, 0.8187307530779818, 1.6487212707001282, 7.38905609893065},
                1e-14);
  expect_values(tanh(x).value(), {4},
                {-0.9051482536448664, -0.197375320224904, 0.46211715726000974, 0.9640275800758169},
                1e-14);
  expect_values(sigmoid(x).value(), {4},
                {0.18242552380635635, 0.45016600268752216, 0.6224593312018546, 0.8807970779778823},
                1e-14);
  expect_values(relu(x).value(), {4}, {0.0, 0.0, 0.5, 2.0}, 0);
  expect_values(square(x).value(), {4}, {2.25, 0.04, 0.25, 4.0}, 1e-15);
  expect_values(log(p).value(), {4},
                {-1.3862943611198906, -0.6931471805599453, 0.6931471805599453, 1.0986122886681098},
                1e-14);
  expect_values(sqrt(p).value(), {4},
                {0.5, 0.7071067811865476, 1.4142135623730951, 1.7320508075688772}, 1e-15);
  expect_values(pow(p, 1.5).value(), {4},
                {0.125, 0.3535533905932738, 2.8284271247461903, 5.196152422706632}, 1e-14);
  expect_values(pow(p, -0.5).value(), {4},
                {2.0, 1.4142135623730951, 0.7071067811865476, 0.5773502691896257}, 1e-14);
  expect_values(pow(x, 3.0).value(), {4}, {-3.375, -0.008, 0.125, 8.0}, 1e-14);
}

BOOST_AUTO_TEST_CASE(function_values_float) {
  Tape<float> tape;
  Var<float> x = tape.constant(Tensor<float>{-1.5f, -0.2f, 0.5f, 2.0f});
  Var<float> p = tape.constant(Tensor<float>{0.25f, 0.5f, 2.0f, 3.0f});
  Var<float> q = tape.constant(Tensor<float>{2.0f, -4.0f, 0.5f, 8.0f});
  expect_values(exp(x).value(), {4},
                {0.22313016014842982, 0.8187307530779818, 1.6487212707001282, 7.38905609893065},
                1e-6);
  expect_values(tanh(x).value(), {4},
                {-0.9051482536448664, -0.197375320224904, 0.46211715726000974, 0.9640275800758169},
                1e-6);
  expect_values(sigmoid(x).value(), {4},
                {0.18242552380635635, 0.45016600268752216, 0.6224593312018546, 0.8807970779778823},
                1e-6);
  expect_values(relu(x).value(), {4}, {0.0, 0.0, 0.5, 2.0}, 0);
  expect_values(log(p).value(), {4},
                {-1.3862943611198906, -0.6931471805599453, 0.6931471805599453, 1.0986122886681098},
                1e-6);
  expect_values(sqrt(p).value(), {4},
                {0.5, 0.7071067811865476, 1.4142135623730951, 1.7320508075688772}, 1e-6);
  expect_values(pow(p, 1.5f).value(), {4},
                {0.125, 0.3535533905932738, 2.8284271247461903, 5.196152422706632}, 1e-6);
  expect_values(square(x).value(), {4}, {2.25, 0.04, 0.25, 4.0}, 1e-6);
  expect_values(div(x, q).value(), {4}, {-0.75, 0.05, 1.0, 0.25}, 1e-6);
  expect_values(rdiv_scalar(q, 2.0f).value(), {4}, {1.0, -0.5, 4.0, 0.25}, 1e-6);
  expect_values(add(x, q).value(), {4}, {0.5, -4.2, 1.0, 10.0}, 1e-6);
}

// ---- analytic gradients against hand-derived ones ----

BOOST_AUTO_TEST_CASE(sum_of_squares_gradient_is_twice_x) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{{1., -2.}, {0.5, 3.}});
  tape.backward(sum(x * x));
  expect_values(x.grad(), {2, 2}, {2.0, -4.0, 1.0, 6.0}, 1e-15);
}

BOOST_AUTO_TEST_CASE(broadcast_add_bias_gradient_counts_rows) {
  Tape<double> tape;
  Var<double> xs = tape.leaf(full<double>({3, 4}, 0.5));
  Var<double> bias = tape.leaf(Tensor<double>{1., 2., 3., 4.});
  tape.backward(sum(add(xs, bias)));
  expect_values(bias.grad(), {4}, {3, 3, 3, 3}, 0);
  expect_values(xs.grad(), {3, 4}, std::vector<double>(12, 1.0), 0);
}

BOOST_AUTO_TEST_CASE(outer_product_gradient) {
  // d/da_i sum_ij a_i b_j = sum_j b_j; d/db_j = sum_i a_i
  Tape<double> tape;
  Var<double> a = tape.leaf(column({1., 2., 3.}));
  Var<double> b = tape.leaf(Tensor<double>{{1., 10., 100., 1000.}});
  tape.backward(sum(mul(a, b)));
  expect_values(a.grad(), {3, 1}, {1111, 1111, 1111}, 0);
  expect_values(b.grad(), {1, 4}, {6, 6, 6, 6}, 0);
}

BOOST_AUTO_TEST_CASE(sub_and_div_gradients) {
  Tape<double> tape;
  Var<double> a = tape.leaf(Tensor<double>{1., 2.});
  Var<double> b = tape.leaf(Tensor<double>{4., 0.5});
  Var<double> c = tape.leaf(full<double>({}, 3.0));
  // d/da (a/b - c) = 1/b, d/db = -a/b^2, d/dc = -(number of elements)
  tape.backward(sum(sub(div(a, b), c)));
  expect_values(a.grad(), {2}, {0.25, 2.0}, 1e-15);
  expect_values(b.grad(), {2}, {-0.0625, -8.0}, 1e-15);
  expect_values(c.grad(), {}, {-2.0}, 1e-15);
}

BOOST_AUTO_TEST_CASE(repeated_input_gradient_accumulates) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1., -3.});
  // x + x + x*x: 2 + 2x
  tape.backward(sum(add(add(x, x), mul(x, x))));
  expect_values(x.grad(), {2}, {4.0, -4.0}, 1e-15);
}

BOOST_AUTO_TEST_CASE(unary_derivatives) {
  using V = const Var<double>&;
  expect_values(derivative([](V x) { return exp(x); }, kMixed), {4},
                {0.22313016014842982, 0.8187307530779818, 1.6487212707001282, 7.38905609893065},
                1e-14);
  expect_values(derivative([](V x) { return sigmoid(x); }, kMixed), {4},
                {0.14914645207033286, 0.24751657271185995, 0.2350037122015945, 0.10499358540350662},
                1e-14);
  expect_values(derivative([](V x) { return tanh(x); }, full<double>({1}, 0.5)), {1},
                {0.7864477329659274}, 1e-14);
  expect_values(derivative([](V x) { return relu(x); }, kMixed), {4}, {0, 0, 1, 1}, 0);
  // At the kink relu takes the derivative from the left, as PyTorch does.
  expect_values(derivative([](V x) { return relu(x); }, Tensor<double>{-1., 0., 1.}), {3},
                {0, 0, 1}, 0);
  expect_values(derivative([](V x) { return square(x); }, kMixed), {4}, {-3.0, -0.4, 1.0, 4.0},
                1e-15);
  expect_values(derivative([](V x) { return neg(x); }, kMixed), {4}, {-1, -1, -1, -1}, 0);
  expect_values(derivative([](V x) { return log(x); }, kPositive), {4}, {4.0, 2.0, 0.5, 1.0 / 3},
                1e-15);
  expect_values(derivative([](V x) { return sqrt(x); }, kPositive), {4},
                {1.0, 0.7071067811865476, 0.3535533905932738, 0.2886751345948129}, 1e-14);
  expect_values(derivative([](V x) { return pow(x, 1.5); }, kPositive), {4},
                {0.75, 1.0606601717798214, 2.121320343559643, 2.598076211353316}, 1e-14);
  expect_values(derivative([](V x) { return pow(x, 3.0); }, kMixed), {4}, {6.75, 0.12, 0.75, 12.0},
                1e-14);
  expect_values(derivative([](V x) { return rdiv_scalar(x, 6.0); }, Tensor<double>{1., 2., 3., 4.}),
                {4}, {-6.0, -1.5, -0.6666666666666666, -0.375}, 1e-15);
  expect_values(derivative([](V x) { return rsub_scalar(x, 6.0); }, kMixed), {4}, {-1, -1, -1, -1},
                0);
  expect_values(derivative([](V x) { return mul_scalar(x, 2.5); }, kMixed), {4},
                {2.5, 2.5, 2.5, 2.5}, 0);
  expect_values(derivative([](V x) { return add_scalar(x, 2.5); }, kMixed), {4}, {1, 1, 1, 1}, 0);
}

BOOST_AUTO_TEST_CASE(pow_zero_exponent_has_zero_gradient_everywhere) {
  // x^0 is the constant 1 (pow(0, 0) = 1 too), so its derivative is 0 even at x = 0; the
  // formula p x^(p-1) there is 0 * inf.
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{0., 1.5, -2.});
  Var<double> y = pow(x, 0.0);
  expect_values(y.value(), {3}, {1, 1, 1}, 0);
  tape.backward(sum(y));
  expect_values(x.grad(), {3}, {0, 0, 0}, 0);
}

BOOST_AUTO_TEST_CASE(broadcasting_over_an_empty_axis) {
  // No rows: the output is empty and the broadcast bias receives a zero gradient, not garbage.
  Tape<double> tape;
  Var<double> rows = tape.leaf(Tensor<double>::from_shape({0, 4}));
  Var<double> bias = tape.leaf(Tensor<double>{1., 2., 3., 4.});
  Var<double> y = add(rows * 1.0, bias * 1.0);
  BOOST_TEST(shape_str(y.shape()) == "[0, 4]");
  tape.backward(y, Tensor<double>::from_shape({0, 4}));
  expect_values(bias.grad(), {4}, {0, 0, 0, 0}, 0);
  BOOST_TEST(rows.grad().size() == 0u);
}

BOOST_AUTO_TEST_CASE(float_gradients) {
  Tape<float> tape;
  Var<float> x = tape.leaf(Tensor<float>{0.5f, 2.0f});
  Var<float> b = tape.leaf(column({1.0f, 3.0f}));  // [2, 1] -> y is [2, 2]
  // y_ij = tanh(x_j) * b_i: dy/dx_j = (1 - tanh^2 x_j) * sum_i b_i, dy/db_i = sum_j tanh x_j
  tape.backward(sum(tanh(x) * b));
  expect_values(x.grad(), {2}, {4 * 0.7864477329659274, 4 * 0.07065082485316443}, 1e-6);
  expect_values(
      b.grad(), {2, 1},
      {0.46211715726000974 + 0.9640275800758169, 0.46211715726000974 + 0.9640275800758169}, 1e-6);
}

// ---- operators ----

BOOST_AUTO_TEST_CASE(operators_map_to_ops) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1., 2., 4.});
  Var<double> y = tape.leaf(Tensor<double>{2., 8., 0.5});
  struct Case {
    Var<double> v;
    const char* op;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {x + y, "add", {3, 10, 4.5}},
      {x - y, "sub", {-1, -6, 3.5}},
      {x * y, "mul", {2, 16, 2}},
      {x / y, "div", {0.5, 0.25, 8}},
      {-x, "neg", {-1, -2, -4}},
      {x + 2.0, "add_scalar", {3, 4, 6}},
      {2.0 + x, "add_scalar", {3, 4, 6}},
      {x - 2.0, "add_scalar", {-1, 0, 2}},
      {2.0 - x, "rsub_scalar", {1, 0, -2}},
      {x * 3.0, "mul_scalar", {3, 6, 12}},
      {3.0 * x, "mul_scalar", {3, 6, 12}},
      {x / 4.0, "mul_scalar", {0.25, 0.5, 1}},
      {4.0 / x, "rdiv_scalar", {4, 2, 1}},
  };
  for (const Case& c : cases) {
    BOOST_TEST_CONTEXT("expected op " << c.op) {
      BOOST_TEST(std::string(c.v.op_name()) == c.op);
      expect_values(c.v.value(), {3}, c.expected, 1e-15);
    }
  }
}

BOOST_AUTO_TEST_CASE(operators_on_float_take_double_literals) {
  Tape<float> tape;
  Var<float> x = tape.leaf(Tensor<float>{1.f, 2.f, 4.f});
  Var<float> y = (2.0 - x) * 3.0 + x / 4.0 - 1.0 / x;
  // (2 - x) * 3 + x / 4 - 1 / x
  expect_values(y.value(), {3}, {2.25, 0.0, -5.25}, 1e-6);
  tape.backward(sum(y));
  // d/dx = -3 + 1/4 + 1/x^2
  expect_values(x.grad(), {3}, {-1.75, -2.5, -2.6875}, 1e-6);
}

// ---- numeric stability ----

BOOST_AUTO_TEST_CASE(sigmoid_saturates_without_nan) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{-1000., -30., 30., 1000.});
  Var<double> y = sigmoid(x);
  expect_values(y.value(), {4}, {0.0, 9.357622968839299e-14, 0.9999999999999065, 1.0}, 1e-14);
  BOOST_TEST(y.value()(0) == 0.0);
  BOOST_TEST(std::fabs(y.value()(1) - 9.357622968839299e-14) <= 1e-26);
  tape.backward(sum(y));
  for (double g : x.grad()) BOOST_TEST(std::isfinite(g));
  BOOST_TEST(x.grad()(0) == 0.0);
  BOOST_TEST(x.grad()(3) == 0.0);

  Tape<float> ftape;
  Var<float> xf = ftape.leaf(Tensor<float>{-200.f, 200.f});
  Var<float> yf = sigmoid(xf);
  BOOST_TEST(yf.value()(0) == 0.0f);
  BOOST_TEST(yf.value()(1) == 1.0f);
  ftape.backward(sum(yf));
  for (float g : xf.grad()) BOOST_TEST(std::isfinite(g));
}

// ---- errors ----

BOOST_AUTO_TEST_CASE(non_broadcastable_shapes_name_the_op) {
  Tape<double> tape;
  Var<double> a = tape.leaf(full<double>({3, 4}, 1.0));
  Var<double> b = tape.leaf(full<double>({3}, 2.0));
  Var<double> c = tape.leaf(full<double>({4, 3}, 3.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(
      add(a, b), Error,
      message_has("add: shapes [3, 4] and [3] do not broadcast (axis 1: 4 vs 3)"));
  BOOST_CHECK_EXCEPTION(sub(a, b), Error,
                        message_has("sub: shapes [3, 4] and [3] do not broadcast"));
  BOOST_CHECK_EXCEPTION(mul(b, a), Error,
                        message_has("mul: shapes [3] and [3, 4] do not broadcast"));
  BOOST_CHECK_EXCEPTION(div(a, c), Error,
                        message_has("div: shapes [3, 4] and [4, 3] do not broadcast"));
  BOOST_CHECK_EXCEPTION(a + b, Error, message_has("add: shapes [3, 4] and [3]"));
  BOOST_CHECK_EXCEPTION(a / c, Error, message_has("div: shapes [3, 4] and [4, 3]"));
  BOOST_TEST(tape.size() == before);

  // The failed ops left nothing behind: a later computation records and differentiates normally.
  Var<double> d = mul(a, tape.leaf(full<double>({4}, 2.0)));
  BOOST_TEST(tape.size() == before + 2);
  BOOST_TEST(std::string(d.op_name()) == "mul");
  tape.backward(sum(add(d, sum(c))));
  expect_values(a.grad(), {3, 4}, std::vector<double>(12, 2.0), 0);
  expect_values(c.grad(), {4, 3}, std::vector<double>(12, 12.0), 0);
}

BOOST_AUTO_TEST_CASE(float_broadcast_error) {
  Tape<float> tape;
  Var<float> a = tape.constant(full<float>({2, 3}, 1.0f));
  Var<float> b = tape.constant(full<float>({2}, 1.0f));
  BOOST_CHECK_EXCEPTION(mul(a, b), Error,
                        message_has("mul: shapes [2, 3] and [2] do not broadcast"));
  BOOST_TEST(tape.size() == 2u);
}

BOOST_AUTO_TEST_CASE(ops_across_tapes_are_rejected) {
  Tape<double> t1, t2;
  Var<double> a = t1.leaf(full<double>({2}, 1.0));
  Var<double> b = t2.leaf(full<double>({2}, 1.0));
  BOOST_CHECK_EXCEPTION(add(a, b), Error, message_has("add: input 1 lives on a different tape"));
  BOOST_TEST(t1.size() == 1u);
  BOOST_TEST(t2.size() == 1u);
}

// tanh, sigmoid and exp run whole SIMD batches and finish a short tail through a padded batch:
// every length from 1 to 40 (tails of every size, on both sides of a batch) must agree with the
// scalar functions, forward and backward.
template <class T>
void check_vectorised_functions(double tol) {
  for (std::size_t n = 1; n <= 40; ++n) {
    Tensor<T> x = Tensor<T>::from_shape({n});
    for (std::size_t i = 0; i < n; ++i) x(i) = T(-6.0 + 12.0 * double(i) / double(n));
    Tape<T> tape;
    Var<T> v = tape.leaf(x);
    Var<T> th = tanh(v), sg = sigmoid(v), ex = exp(v);
    tape.backward(sum(th) + sum(sg) + sum(ex));
    for (std::size_t i = 0; i < n; ++i) {
      const double xi = double(x(i)), t = std::tanh(xi), s = 1 / (1 + std::exp(-xi)),
                   e = std::exp(xi);
      BOOST_TEST(std::fabs(double(th.value()(i)) - t) <= tol, "tanh n=" << n << " i=" << i);
      BOOST_TEST(std::fabs(double(sg.value()(i)) - s) <= tol, "sigmoid n=" << n << " i=" << i);
      BOOST_TEST(std::fabs(double(ex.value()(i)) - e) <= tol * e, "exp n=" << n << " i=" << i);
      const double g = (1 - t * t) + s * (1 - s) + e;
      // 1 - t^2 cancels near |x| = 6: an absolute bound there, relative elsewhere.
      BOOST_TEST(std::fabs(double(v.grad()(i)) - g) <= 4 * tol * (1 + g),
                 "grad n=" << n << " i=" << i);
    }
  }
}

BOOST_AUTO_TEST_CASE(vectorised_functions_agree_with_scalar_ones_at_every_length) {
  check_vectorised_functions<double>(1e-15);
  check_vectorised_functions<float>(1e-6);
}

BOOST_AUTO_TEST_CASE(relu_passes_nan_through) {
  // A NaN pre-activation must stay visible (anomaly mode, loss curves), not become 0.
  Tape<double> tape;
  Var<double> y = relu(tape.leaf(Tensor<double>{std::nan(""), -1.0, 2.0}));
  BOOST_TEST(std::isnan(y.value()(0)));
  BOOST_TEST(y.value()(1) == 0.0);
  BOOST_TEST(y.value()(2) == 2.0);
}

// ---- dropout ----

BOOST_AUTO_TEST_CASE(dropout_keeps_each_element_with_probability_one_minus_p_scaled_up) {
  // Every kept element is x * (1 / (1 - p)), every other one 0, and about 1 - p are kept.
  const double p = 0.3;
  const std::size_t n = 20000;
  std::mt19937_64 rng(5);
  const Tensor<double> x = random_tensor({n}, rng, 0.5, 2.0);
  Tape<double> tape;
  Var<double> y = dropout(tape.leaf(x), p, 123);
  std::size_t kept = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double v = y.value()(k);
    if (v != 0) {
      ++kept;
      BOOST_TEST(v == x(k) * (1 / (1 - p)), "element " << k);
    }
  }
  // Binomial(20000, 0.7): standard deviation 65 elements; 6 of them is 0.0195.
  BOOST_TEST(std::fabs(double(kept) / n - (1 - p)) < 0.02, kept << " of " << n << " kept");
}

BOOST_AUTO_TEST_CASE(dropout_output_has_the_input_as_its_expected_value) {
  // E[y_k] = x_k: averaged over 2000 seeds, every element is its input to within sampling
  // error (y_k / x_k is 0 or 1 / (1 - p): standard deviation sqrt(p / (1 - p)) = 0.655 for
  // p = 0.3, so 0.015 after 2000 draws; the bound is 5 of those), and so is the grand mean.
  const double p = 0.3;
  const Tensor<double> x = {-2.0, -0.5, 0.25, 1.0, 3.0, 7.5};
  std::vector<double> total(x.size(), 0.0);
  const int draws = 2000;
  for (int seed = 0; seed < draws; ++seed) {
    Tape<double> tape;
    Var<double> y = dropout(tape.leaf(x), p, std::uint64_t(seed));
    for (std::size_t k = 0; k < x.size(); ++k) total[k] += y.value()(k);
  }
  double grand = 0;
  for (std::size_t k = 0; k < x.size(); ++k) {
    const double ratio = total[k] / draws / x(k);
    BOOST_TEST(std::fabs(ratio - 1) < 5 * 0.015, "element " << k << ": E[y] / x = " << ratio);
    grand += ratio / double(x.size());
  }
  BOOST_TEST(std::fabs(grand - 1) < 5 * 0.015 / std::sqrt(6.0), "mean E[y] / x = " << grand);
}

BOOST_AUTO_TEST_CASE(dropout_masks_differ_between_seeds_and_are_uncorrelated_within_one) {
  // Successive seeds (a generator's successive draws) must not give related masks, nor must
  // neighbouring elements of one mask be related: both would make dropout drop in patterns.
  const std::size_t n = 20000;
  Tape<double> tape;
  Var<double> x = tape.leaf(full<double>({n}, 1.0));
  const Tensor<double> a = dropout(x, 0.5, 1000).value(), b = dropout(x, 0.5, 1001).value();
  std::size_t same = 0, same_neighbour = 0;
  for (std::size_t k = 0; k < n; ++k) {
    same += (a(k) != 0) == (b(k) != 0);
    if (k + 1 < n) same_neighbour += (a(k) != 0) == (a(k + 1) != 0);
  }
  // Independent fair coins agree half the time: 0.5 +- 0.0035 (1 sigma) over 20000.
  BOOST_TEST(std::fabs(double(same) / n - 0.5) < 0.025, same << " agreements between seeds");
  BOOST_TEST(std::fabs(double(same_neighbour) / n - 0.5) < 0.025,
             same_neighbour << " agreements between neighbours");
}

BOOST_AUTO_TEST_CASE(dropout_gradient_is_the_mask_scaled) {
  // d sum(y) / dx_k = m_k / (1 - p): 1 / (1 - p) where the output kept x_k, 0 where it dropped
  // it. With a zero input the output cannot show the mask, yet the gradient must.
  const double p = 0.25;
  Tape<double> tape;
  const Tensor<double> values = {1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 4.0, -0.5, 1.5, 2.5};
  Var<double> x = tape.leaf(values);
  Var<double> y = dropout(x, p, 42);
  tape.backward(sum(y));
  Tape<double> zeros_tape;
  Var<double> z = zeros_tape.leaf(full<double>({values.size()}, 0.0));
  zeros_tape.backward(sum(dropout(z, p, 42)));
  for (std::size_t k = 0; k < values.size(); ++k) {
    const double expected = y.value()(k) != 0 ? 1 / (1 - p) : 0.0;
    BOOST_TEST(x.grad()(k) == expected, "element " << k);
    BOOST_TEST(z.grad()(k) == expected, "zero input, element " << k);
  }
}

BOOST_AUTO_TEST_CASE(dropout_is_the_identity_for_p_zero_and_without_gradients) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1.0, 2.0, 3.0});
  const std::size_t before = tape.size();
  BOOST_TEST(dropout(x, 0.0, 7).index() == x.index());
  {
    NoGradGuard no_grad;
    BOOST_TEST(dropout(x, 0.9, 7).index() == x.index());
  }
  BOOST_TEST(tape.size() == before, "nothing recorded");
  BOOST_TEST(dropout(x, 0.9, 7).index() != x.index(), "with gradients on it drops");
}

BOOST_AUTO_TEST_CASE(dropout_refuses_a_probability_outside_zero_to_one) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1.0});
  for (double p : {1.0, -0.1, 1.5, std::nan("")})
    BOOST_CHECK_EXCEPTION(dropout(x, p, 1), Error, message_has("expected a probability in [0, 1)"));
}

BOOST_AUTO_TEST_SUITE_END()

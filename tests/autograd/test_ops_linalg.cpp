// matmul (2-D, batched, a batch against one shared weight) and transpose: forward values against
// hand-computed products, gradients against gradcheck and against dA = dY B^T, dB = A^T dY, and
// the errors for operands that do not fit together.
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/assertions.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
using namespace testsupport;
using testsupport::check_gradients;
using testsupport::random_tensor;

BOOST_AUTO_TEST_SUITE(ops_linalg)

// ---- matmul: forward ----

BOOST_AUTO_TEST_CASE(matmul_2d_forward_double) {
  Tape<double> tape;
  Var<double> a = tape.constant(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  Var<double> b = tape.constant(Tensor<double>{{7., 8.}, {9., 10.}, {11., 12.}});
  Var<double> y = matmul(a, b);
  BOOST_TEST(std::string(y.op_name()) == "matmul");
  check_tensor(y.value(), Tensor<double>{{58., 64.}, {139., 154.}});
}

BOOST_AUTO_TEST_CASE(matmul_batched_forward_float) {
  // Each batch entry must use its own b: the second batch's result differs from A1 x B0.
  Tape<float> tape;
  Var<float> a = tape.constant(Tensor<float>{{{1.f, 2.f}, {3.f, 4.f}}, {{-1.f, .5f}, {2.f, 1.f}}});
  Var<float> b = tape.constant(Tensor<float>{{{5.f, 6.f}, {7.f, 8.f}}, {{2.f, 1.f}, {0.f, -1.f}}});
  Var<float> y = matmul(a, b);
  check_tensor(y.value(), Tensor<float>{{{19.f, 22.f}, {43.f, 50.f}}, {{-2.f, -1.5f}, {4.f, 1.f}}},
               1e-6);
}

BOOST_AUTO_TEST_CASE(matmul_batch_against_shared_weight_forward) {
  Tape<double> tape;
  Var<double> a = tape.constant(Tensor<double>{{{1., 2.}}, {{3., 4.}}});  // [2, 1, 2]
  Var<double> w = tape.constant(Tensor<double>{{1., -1., 0.}, {2., 0., 1.}});
  Var<double> y = matmul(a, w);
  check_tensor(y.value(), Tensor<double>{{{5., -1., 2.}}, {{11., -3., 4.}}});
}

BOOST_AUTO_TEST_CASE(matmul_with_size_one_axes_forward) {
  Tape<float> tape;
  // [3,1] x [1,4] is an outer product.
  Var<float> col = tape.constant(column<float>({1.f, 2.f, 3.f}));
  Var<float> row = tape.constant(Tensor<float>{{2.f, -1.f, .5f, 4.f}});
  check_tensor(matmul(col, row).value(),
               Tensor<float>{{2.f, -1.f, .5f, 4.f}, {4.f, -2.f, 1.f, 8.f}, {6.f, -3.f, 1.5f, 12.f}},
               1e-6);
  // [1,1] x [1,1] is a scalar product that keeps its two axes.
  Var<float> y =
      matmul(tape.constant(full<float>({1, 1}, 3.f)), tape.constant(full<float>({1, 1}, -4.f)));
  check_tensor(y.value(), full<float>({1, 1}, -12.f), 1e-6);
  // [1,3] x [3,3]: one row through a matrix.
  Var<float> r = tape.constant(Tensor<float>{{1.f, 0.f, -1.f}});
  Var<float> m = tape.constant(Tensor<float>{{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}, {7.f, 8.f, 9.f}});
  check_tensor(matmul(r, m).value(), Tensor<float>{{-6.f, -6.f, -6.f}}, 1e-6);
}

BOOST_AUTO_TEST_CASE(matmul_on_a_reused_tape_with_new_shapes) {
  // After clear() the node's output buffer is reused; a different shape must not leak the old
  // contents (the GEMM writes with beta = 0 into a resized buffer).
  Tape<double> tape;
  matmul(tape.constant(full<double>({4, 4}, 7.0)), tape.constant(full<double>({4, 4}, 7.0)));
  tape.clear();
  Var<double> y =
      matmul(tape.constant(Tensor<double>{{1., 2.}}), tape.constant(column<double>({3., 4.})));
  check_tensor(y.value(), full<double>({1, 1}, 11.0));
}

// ---- matmul: gradients ----

BOOST_AUTO_TEST_CASE(matmul_gradient_by_hand) {
  // L = sum(A B): dA[i,k] = sum_m B[k,m] (the row sums of B), dB[k,m] = sum_i A[i,k].
  Tape<double> tape;
  Var<double> a = tape.leaf(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  Var<double> b = tape.leaf(Tensor<double>{{7., 8.}, {9., 10.}, {11., 12.}});
  tape.backward(sum(matmul(a, b)));
  check_tensor(a.grad(), Tensor<double>{{15., 19., 23.}, {15., 19., 23.}});
  check_tensor(b.grad(), Tensor<double>{{5., 5.}, {7., 7.}, {9., 9.}});
}

BOOST_AUTO_TEST_CASE(matmul_gradient_by_hand_float_with_seed) {
  // dA = dY B^T and dB = A^T dY with a non-uniform seed dY = [[1, -1]].
  Tape<float> tape;
  Var<float> a = tape.leaf(Tensor<float>{{2.f, 3.f}});
  Var<float> b = tape.constant(Tensor<float>{{1.f, 4.f}, {-2.f, 5.f}});
  Var<float> y = matmul(a, b);
  tape.backward(y, Tensor<float>{{1.f, -1.f}});
  check_tensor(a.grad(), Tensor<float>{{-3.f, -7.f}}, 1e-6);
}

BOOST_AUTO_TEST_CASE(matmul_batched_gradient_by_hand) {
  // With a shared weight, dW sums A^T dY over the whole batch.
  Tape<double> tape;
  Var<double> a = tape.constant(Tensor<double>{{{1., 2.}}, {{3., 4.}}});  // [2, 1, 2]
  Var<double> w = tape.leaf(Tensor<double>{{1., -1., 0.}, {2., 0., 1.}});
  tape.backward(sum(matmul(a, w)));
  check_tensor(w.grad(), Tensor<double>{{4., 4., 4.}, {6., 6., 6.}});
}

TAPEGRAD_GRADIENT_TEST(matmul_2d_gradient, "matmul") {
  std::mt19937_64 rng(101);
  Parameter<double> a(random_tensor({3, 4}, rng)), b(random_tensor({4, 5}, rng));
  check_gradients("matmul", [&](Tape<double>& t) { return matmul(t.param(a), t.param(b)); },
                  {&a, &b});
}

TAPEGRAD_GRADIENT_TEST(matmul_batched_gradient, "matmul") {
  std::mt19937_64 rng(102);
  Parameter<double> a(random_tensor({2, 3, 4}, rng)), b(random_tensor({2, 4, 2}, rng));
  check_gradients("matmul", [&](Tape<double>& t) { return matmul(t.param(a), t.param(b)); },
                  {&a, &b});
}

TAPEGRAD_GRADIENT_TEST(matmul_shared_weight_gradient, "matmul") {
  std::mt19937_64 rng(103);
  Parameter<double> a(random_tensor({3, 2, 4}, rng)), w(random_tensor({4, 3}, rng));
  check_gradients("matmul", [&](Tape<double>& t) { return matmul(t.param(a), t.param(w)); },
                  {&a, &w});
}

TAPEGRAD_GRADIENT_TEST(matmul_size_one_axes_gradient, "matmul") {
  std::mt19937_64 rng(104);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{1, 5}, {5, 5}},       {{3, 1}, {1, 4}},       {{1, 1}, {1, 1}},   {{4, 3}, {3, 1}},
      {{1, 2, 3}, {1, 3, 2}}, {{2, 1, 1}, {2, 1, 3}}, {{1, 1, 2}, {2, 1}}};
  for (const auto& [sa, sb] : cases) {
    BOOST_TEST_CONTEXT("a is " << shape_str(sa) << ", b is " << shape_str(sb)) {
      Parameter<double> a(random_tensor(sa, rng)), b(random_tensor(sb, rng));
      check_gradients("matmul", [&](Tape<double>& t) { return matmul(t.param(a), t.param(b)); },
                      {&a, &b});
    }
  }
}

TAPEGRAD_GRADIENT_TEST(matmul_of_a_value_with_itself_gradient, "matmul") {
  // Both operands' gradients land in one buffer: the second GEMM must add, not overwrite.
  std::mt19937_64 rng(105);
  Parameter<double> x(random_tensor({3, 3}, rng));
  check_gradients("matmul",
                  [&](Tape<double>& t) {
                    Var<double> v = t.param(x);
                    return matmul(v, v);
                  },
                  {&x});
}

TAPEGRAD_GRADIENT_TEST(matmul_with_one_constant_operand_gradient, "matmul") {
  std::mt19937_64 rng(106);
  Parameter<double> a(random_tensor({2, 3}, rng));
  const Tensor<double> b = random_tensor({3, 4}, rng);
  check_gradients("matmul", [&](Tape<double>& t) { return matmul(t.param(a), t.constant(b)); },
                  {&a});
}

// ---- matmul: errors ----

BOOST_AUTO_TEST_CASE(matmul_inner_dimension_mismatch_is_reported) {
  Tape<double> tape;
  Var<double> a = tape.constant(full<double>({2, 3}, 1.0));
  Var<double> b = tape.constant(full<double>({4, 5}, 1.0));
  BOOST_CHECK_EXCEPTION(matmul(a, b), Error,
                        mentions({"matmul: inner dimensions differ: a is [2, 3], b is [4, 5]"}));
  // The same for a batch against a shared weight and for two batches.
  Var<double> a3 = tape.constant(full<double>({2, 3, 4}, 1.0));
  BOOST_CHECK_EXCEPTION(matmul(a3, tape.constant(full<double>({3, 5}, 1.0))), Error,
                        mentions({"matmul: inner dimensions differ", "[2, 3, 4]", "[3, 5]"}));
  BOOST_CHECK_EXCEPTION(matmul(a3, tape.constant(full<double>({2, 3, 5}, 1.0))), Error,
                        mentions({"matmul: inner dimensions differ", "[2, 3, 4]", "[2, 3, 5]"}));
}

BOOST_AUTO_TEST_CASE(matmul_batch_mismatch_is_reported) {
  Tape<float> tape;
  Var<float> a = tape.constant(full<float>({2, 3, 4}, 1.f));
  Var<float> b = tape.constant(full<float>({3, 4, 5}, 1.f));
  BOOST_CHECK_EXCEPTION(matmul(a, b), Error,
                        mentions({"matmul: batch sizes differ: a is [2, 3, 4], b is [3, 4, 5]"}));
}

BOOST_AUTO_TEST_CASE(matmul_of_unsupported_ranks_is_reported) {
  Tape<double> tape;
  Var<double> v = tape.constant(full<double>({3}, 1.0));
  Var<double> m = tape.constant(full<double>({3, 2}, 1.0));
  Var<double> t4 = tape.constant(full<double>({1, 2, 3, 4}, 1.0));
  Var<double> w = tape.constant(full<double>({4, 5}, 1.0));
  BOOST_CHECK_EXCEPTION(matmul(v, m), Error, mentions({"matmul", "a is [3], b is [3, 2]"}));
  BOOST_CHECK_EXCEPTION(matmul(m, tape.constant(full<double>({2}, 1.0))), Error,
                        mentions({"matmul", "a is [3, 2], b is [2]"}));
  BOOST_CHECK_EXCEPTION(matmul(t4, w), Error,
                        mentions({"matmul", "a is [1, 2, 3, 4], b is [4, 5]"}));
  // A 2-D left operand against a batch is not one of the supported forms either.
  BOOST_CHECK_EXCEPTION(matmul(m, tape.constant(full<double>({1, 2, 2}, 1.0))), Error,
                        mentions({"matmul", "a is [3, 2], b is [1, 2, 2]"}));
}

BOOST_AUTO_TEST_CASE(tape_is_usable_after_a_failed_matmul) {
  Tape<double> tape;
  Var<double> a = tape.leaf(full<double>({2, 3}, 1.0));
  Var<double> bad = tape.constant(full<double>({4, 5}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_THROW(matmul(a, bad), Error);
  BOOST_TEST(tape.size() == before);
  Var<double> y = matmul(a, tape.constant(full<double>({3, 2}, 2.0)));
  BOOST_TEST(y.index() == before + 1);
  check_tensor(y.value(), full<double>({2, 2}, 6.0));
  tape.backward(sum(y));
  check_tensor(a.grad(), full<double>({2, 3}, 4.0));
}

// ---- transpose ----

BOOST_AUTO_TEST_CASE(transpose_default_reverses_axes) {
  Tape<double> tape;
  Var<double> m = tape.constant(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  check_tensor(transpose(m).value(), Tensor<double>{{1., 4.}, {2., 5.}, {3., 6.}});
  // On three axes the default is the full reversal: y[i,j,k] = x[k,j,i].
  Tensor<double> x = Tensor<double>::from_shape({2, 3, 4});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<double>(i);
  Var<double> y = transpose(tape.constant(x));
  BOOST_TEST(shape_str(y.shape()) == "[4, 3, 2]");
  BOOST_TEST(y.value()(3, 2, 1) == 23.0);  // x[1,2,3] = 12 + 8 + 3
  BOOST_TEST(y.value()(1, 0, 1) == 13.0);  // x[1,0,1]
  BOOST_TEST(y.value()(2, 1, 0) == 6.0);   // x[0,1,2]
}

BOOST_AUTO_TEST_CASE(transpose_with_explicit_permutation_float) {
  // perm {2, 0, 1}: y[i,j,k] = x[j,k,i], shape [4, 2, 3]; x holds its own flat index.
  Tensor<float> x = Tensor<float>::from_shape({2, 3, 4});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = static_cast<float>(i);
  Tape<float> tape;
  Var<float> y = transpose(tape.constant(x), {2, 0, 1});
  BOOST_TEST(shape_str(y.shape()) == "[4, 2, 3]");
  BOOST_TEST(y.value()(1, 0, 2) == 9.f);   // x[0,2,1]
  BOOST_TEST(y.value()(3, 1, 0) == 15.f);  // x[1,0,3]
  BOOST_TEST(y.value()(2, 1, 1) == 18.f);  // x[1,1,2]
  BOOST_TEST(y.value()(0, 0, 0) == 0.f);
}

BOOST_AUTO_TEST_CASE(transpose_gradient_by_hand) {
  // The seed is routed back through the inverse permutation: dx[j,k,i] = seed[i,j,k].
  Tape<double> tape;
  Var<double> x = tape.leaf(full<double>({1, 2, 3}, 0.0));
  Var<double> y = transpose(x, {2, 0, 1});  // [3, 1, 2]
  Tensor<double> seed = Tensor<double>{{{1., 2.}}, {{3., 4.}}, {{5., 6.}}};
  tape.backward(y, seed);
  check_tensor(x.grad(), Tensor<double>{{{1., 3., 5.}, {2., 4., 6.}}});
}

TAPEGRAD_GRADIENT_TEST(transpose_2d_gradient, "transpose") {
  std::mt19937_64 rng(201);
  Parameter<double> x(random_tensor({3, 5}, rng));
  check_gradients("transpose", [&](Tape<double>& t) { return transpose(t.param(x)); }, {&x});
}

TAPEGRAD_GRADIENT_TEST(transpose_3d_permutation_gradient, "transpose") {
  std::mt19937_64 rng(202);
  Parameter<double> x(random_tensor({2, 3, 4}, rng));
  for (const std::vector<std::size_t>& perm :
       {std::vector<std::size_t>{2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {}}) {
    BOOST_TEST_CONTEXT("permutation " << shape_str(perm)) {
      check_gradients("transpose", [&](Tape<double>& t) { return transpose(t.param(x), perm); },
                      {&x});
    }
  }
}

TAPEGRAD_GRADIENT_TEST(transpose_size_one_axes_gradient, "transpose") {
  std::mt19937_64 rng(203);
  Parameter<double> one(random_tensor({1, 1, 1}, rng));
  check_gradients("transpose",
                  [&](Tape<double>& t) {
                    return transpose(t.param(one), {1, 2, 0});
                  },
                  {&one});
  Parameter<double> row(random_tensor({1, 4}, rng));
  check_gradients("transpose", [&](Tape<double>& t) { return transpose(t.param(row)); }, {&row});
  Parameter<double> mid(random_tensor({3, 1, 2}, rng));
  check_gradients("transpose",
                  [&](Tape<double>& t) {
                    return transpose(t.param(mid), {1, 0, 2});
                  },
                  {&mid});
}

BOOST_AUTO_TEST_CASE(transpose_with_an_invalid_permutation_is_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({2, 3, 4}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(transpose(x, {0, 0, 1}), Error,
                        mentions({"transpose", "[0, 0, 1]", "[2, 3, 4]"}));
  BOOST_CHECK_EXCEPTION(transpose(x, {0, 1}), Error,
                        mentions({"transpose", "[0, 1]", "[2, 3, 4]"}));
  BOOST_CHECK_EXCEPTION(transpose(x, {0, 1, 3}), Error,
                        mentions({"transpose", "[0, 1, 3]", "[2, 3, 4]"}));
  BOOST_TEST(tape.size() == before);
  BOOST_TEST(shape_str(transpose(x, {1, 0, 2}).shape()) == "[3, 2, 4]");
}

// linear(x, W, b) = x W^T + b with W [out, in]: x = [[1, 2]], W = [[1, 0], [2, -1], [0.5, 3]],
// b = [0.1, 0.2, 0.3] -> [[1.1, 0.2, 6.8]].
BOOST_AUTO_TEST_CASE(linear_forward_matches_hand_computed_values) {
  Tape<float> tape;
  Var<float> x = tape.constant(Tensor<float>{{1.f, 2.f}});
  Var<float> w = tape.constant(Tensor<float>{{1.f, 0.f}, {2.f, -1.f}, {0.5f, 3.f}});
  Var<float> b = tape.constant(Tensor<float>{0.1f, 0.2f, 0.3f});
  check_tensor(linear(x, w, b).value(), Tensor<float>{{1.1f, 0.2f, 6.8f}}, 1e-6);
  check_tensor(linear(x, w).value(), Tensor<float>{{1.f, 0.f, 6.5f}}, 1e-6);
  // A [batch, n, in] input keeps its leading axes.
  Var<float> x3 = tape.constant(full<float>({2, 4, 2}, 1.f));
  BOOST_TEST(shape_str(linear(x3, w, b).shape()) == "[2, 4, 3]");
}

BOOST_AUTO_TEST_CASE(linear_gradients_match_hand_derivatives) {
  // L = sum(x W^T + b): dx = column sums of W, dW[j, :] = sum of x's rows, db = row count.
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{{1., 2.}, {3., 4.}});
  Var<double> w = tape.leaf(Tensor<double>{{1., 0.}, {2., -1.}, {0.5, 3.}});
  Var<double> b = tape.leaf(Tensor<double>{0.1, 0.2, 0.3});
  tape.backward(sum(linear(x, w, b)));
  check_tensor(x.grad(), Tensor<double>{{3.5, 2.}, {3.5, 2.}});
  check_tensor(w.grad(), Tensor<double>{{4., 6.}, {4., 6.}, {4., 6.}});
  check_tensor(b.grad(), Tensor<double>{2., 2., 2.});
}

TAPEGRAD_GRADIENT_TEST(linear_gradient, "linear") {
  std::mt19937_64 rng(31);
  Parameter<double> x(random_tensor({3, 4}, rng)), w(random_tensor({5, 4}, rng)),
      b(random_tensor({5}, rng));
  check_gradients("linear",
                  [&](Tape<double>& t) { return linear(t.param(x), t.param(w), t.param(b)); },
                  {&x, &w, &b});
  check_gradients("linear", [&](Tape<double>& t) { return linear(t.param(x), t.param(w)); },
                  {&x, &w});
  // 3-D input, and a single-element case.
  Parameter<double> x3(random_tensor({2, 3, 4}, rng));
  check_gradients("linear",
                  [&](Tape<double>& t) { return linear(t.param(x3), t.param(w), t.param(b)); },
                  {&x3, &w, &b});
  Parameter<double> one(random_tensor({1, 1}, rng)), w1(random_tensor({1, 1}, rng)),
      b1(random_tensor({1}, rng));
  check_gradients("linear",
                  [&](Tape<double>& t) { return linear(t.param(one), t.param(w1), t.param(b1)); },
                  {&one, &w1, &b1});
  // Large enough to go through BLAS rather than the small-product loop.
  Parameter<double> xb(random_tensor({16, 64}, rng)), wb(random_tensor({32, 64}, rng)),
      bb(random_tensor({32}, rng));
  GradcheckOptions o;
  o.directions = 4;
  check_gradients(
      "linear", [&](Tape<double>& t) { return linear(t.param(xb), t.param(wb), t.param(bb)); },
      {&xb, &wb, &bb}, o);
}

BOOST_AUTO_TEST_CASE(linear_with_mismatched_shapes_is_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({2, 3}, 1.0));
  Var<double> w = tape.constant(full<double>({4, 5}, 1.0));
  Var<double> b = tape.constant(full<double>({4}, 1.0));
  BOOST_CHECK_EXCEPTION(linear(x, w, b), Error, mentions({"linear", "[2, 3]", "[4, 5]", "[4]"}));
  Var<double> w2 = tape.constant(full<double>({4, 3}, 1.0));
  Var<double> b2 = tape.constant(full<double>({5}, 1.0));
  BOOST_CHECK_EXCEPTION(linear(x, w2, b2), Error, mentions({"linear", "bias [5]"}));
}

// ---- thin products: one row, one column or an inner dimension of one (gemv / ger) ----

// Plain triple loop in double, the reference for the BLAS level-2 paths.
Tensor<double> naive_product(const Tensor<double>& a, const Tensor<double>& b) {
  const std::size_t n = a.shape()[0], k = a.shape()[1], m = b.shape()[1];
  Tensor<double> y = Tensor<double>::from_shape({n, m});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < m; ++j) {
      double s = 0;
      for (std::size_t p = 0; p < k; ++p) s += a(i, p) * b(p, j);
      y(i, j) = s;
    }
  return y;
}

BOOST_AUTO_TEST_CASE(thin_products_match_a_naive_product_even_over_stale_nan_buffers) {
  // Each shape is past the small-product loop, so it reaches gemv or ger. The tape first runs
  // a computation that leaves NaN in the very buffers the product then reuses (output and
  // gradients): a fresh result must overwrite them, never scale them by zero.
  std::mt19937_64 rng(43);
  const std::vector<std::array<std::size_t, 3>> shapes = {
      {1, 100, 100}, {100, 1, 100}, {100, 100, 1}, {1, 1, 5000}, {1, 70, 1}};
  for (const auto& [n, k, m] : shapes) {
    const Tensor<double> a0 = random_tensor({n, k}, rng), b0 = random_tensor({k, m}, rng),
                         w0 = random_tensor({n, m}, rng);
    Tape<double> tape;
    {
      const double nan = std::numeric_limits<double>::quiet_NaN();
      Var<double> a = tape.leaf(full<double>({n, k}, nan)),
                  b = tape.leaf(full<double>({k, m}, nan));
      tape.backward(sum(matmul(a, b) * tape.constant(full<double>({n, m}, nan))));
    }
    tape.clear();
    Var<double> a = tape.leaf(a0), b = tape.leaf(b0);
    Var<double> y = matmul(a, b);
    tape.backward(sum(y * tape.constant(w0)));
    check_tensor(y.value(), naive_product(a0, b0), 1e-12);
    // dA = w B^T, dB = A^T w
    check_tensor(a.grad(), naive_product(w0, Tensor<double>(xt::transpose(b0))), 1e-12);
    check_tensor(b.grad(), naive_product(Tensor<double>(xt::transpose(a0)), w0), 1e-12);
  }
}

TAPEGRAD_GRADIENT_TEST(thin_linear_gradient, "linear") {
  // One row through a layer (a batch of one sequence): forward gemv, dx gemv, dW ger.
  std::mt19937_64 rng(47);
  Parameter<double> x(random_tensor({1, 80}, rng)), w(random_tensor({90, 80}, rng)),
      b(random_tensor({90}, rng)), a(random_tensor({1, 90}, rng));
  GradcheckOptions o;
  o.directions = 4;
  check_gradients(
      "linear",
      [&](Tape<double>& t) { return linear(t.param(x), t.param(w), t.param(b), t.param(a)); },
      {&x, &w, &b, &a}, o);
}

// ---- linear with an addend (addmm) ----

// addend + x W^T + b with the values of the hand-computed case above and addend [[1, -1, 2]]:
// [[1.1, 0.2, 6.8]] + [[1, -1, 2]] = [[2.1, -0.8, 8.8]].
BOOST_AUTO_TEST_CASE(linear_with_addend_adds_it_to_the_product) {
  Tape<float> tape;
  Var<float> x = tape.constant(Tensor<float>{{1.f, 2.f}});
  Var<float> w = tape.constant(Tensor<float>{{1.f, 0.f}, {2.f, -1.f}, {0.5f, 3.f}});
  Var<float> b = tape.constant(Tensor<float>{0.1f, 0.2f, 0.3f});
  Var<float> a = tape.constant(Tensor<float>{{1.f, -1.f, 2.f}});
  Var<float> y = linear(x, w, b, a);
  BOOST_TEST(std::string(y.op_name()) == "linear");
  check_tensor(y.value(), Tensor<float>{{2.1f, -0.8f, 8.8f}}, 1e-6);
}

BOOST_AUTO_TEST_CASE(linear_with_addend_passes_the_gradient_to_the_addend) {
  // L = sum(y * [[1, 2, 3], [4, 5, 6]]): the addend's gradient is that weighting itself, and the
  // other gradients are those of linear without the addend.
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{{1., 2.}, {3., 4.}});
  Var<double> w = tape.leaf(Tensor<double>{{1., 0.}, {2., -1.}, {0.5, 3.}});
  Var<double> b = tape.leaf(Tensor<double>{0.1, 0.2, 0.3});
  Var<double> a = tape.leaf(Tensor<double>{{7., 8., 9.}, {-1., -2., -3.}});
  Var<double> k = tape.constant(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  tape.backward(sum(linear(x, w, b, a) * k));
  check_tensor(a.grad(), Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  check_tensor(b.grad(), Tensor<double>{5., 7., 9.});
  // dx = k W: row 0 = 1*[1,0] + 2*[2,-1] + 3*[0.5,3] = [6.5, 7]; row 1 = [17, 13]
  check_tensor(x.grad(), Tensor<double>{{6.5, 7.}, {17., 13.}});
  // dW = k^T x: [1*[1,2] + 4*[3,4], 2*[1,2] + 5*[3,4], 3*[1,2] + 6*[3,4]]
  check_tensor(w.grad(), Tensor<double>{{13., 18.}, {17., 24.}, {21., 30.}});
}

TAPEGRAD_GRADIENT_TEST(linear_with_addend_gradient, "linear") {
  std::mt19937_64 rng(37);
  Parameter<double> x(random_tensor({3, 4}, rng)), w(random_tensor({5, 4}, rng)),
      b(random_tensor({5}, rng)), a(random_tensor({3, 5}, rng));
  check_gradients(
      "linear",
      [&](Tape<double>& t) { return linear(t.param(x), t.param(w), t.param(b), t.param(a)); },
      {&x, &w, &b, &a});
  // Through BLAS (beta = 1 onto the copied addend) rather than the small-product loop.
  Parameter<double> xb(random_tensor({16, 64}, rng)), wb(random_tensor({32, 64}, rng)),
      bb(random_tensor({32}, rng)), ab(random_tensor({16, 32}, rng));
  GradcheckOptions o;
  o.directions = 4;
  check_gradients(
      "linear",
      [&](Tape<double>& t) { return linear(t.param(xb), t.param(wb), t.param(bb), t.param(ab)); },
      {&xb, &wb, &bb, &ab}, o);
}

BOOST_AUTO_TEST_CASE(linear_with_an_addend_of_the_wrong_shape_is_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({2, 3}, 1.0));
  Var<double> w = tape.constant(full<double>({4, 3}, 1.0));
  Var<double> b = tape.constant(full<double>({4}, 1.0));
  const std::size_t before = tape.size();
  Var<double> a = tape.constant(full<double>({4}, 1.0));  // would broadcast, but must not
  BOOST_CHECK_EXCEPTION(linear(x, w, b, a), Error,
                        mentions({"linear", "addend", "[2, 4]", "got [4]"}));
  BOOST_TEST(tape.size() == before + 1);
}

// ---- one-hot inputs (Tape::one_hot): gathers instead of GEMMs, same values and gradients ----

BOOST_AUTO_TEST_CASE(tape_one_hot_is_the_one_hot_matrix_and_a_constant) {
  Tape<float> tape;
  Var<float> x = tape.one_hot(Indices{2, 0, 2}, 4);
  check_tensor(x.value(),
               Tensor<float>{{0.f, 0.f, 1.f, 0.f}, {1.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 1.f, 0.f}});
  BOOST_TEST(!x.requires_grad());
  BOOST_TEST(std::string(x.op_name()) == "constant");
  // Ops that know nothing of one-hot read it as the dense constant it is.
  check_tensor(sum(x, 0).value(), Tensor<float>{1.f, 0.f, 2.f, 0.f});
}

BOOST_AUTO_TEST_CASE(tape_one_hot_rejects_indices_out_of_range) {
  Tape<double> tape;
  BOOST_CHECK_EXCEPTION(tape.one_hot(Indices{1, 4}, 4), Error,
                        mentions({"Tape::one_hot", "index 4 at position 1", "4 classes"}));
  BOOST_CHECK_EXCEPTION(tape.one_hot(Indices{-1}, 4), Error,
                        mentions({"Tape::one_hot", "index -1 at position 0"}));
  BOOST_TEST(tape.size() == 0u);
}

// linear / matmul with a one-hot input give exactly what they give for the same matrix held as
// an ordinary constant, forward and backward, with and without bias and addend, on a tape that
// is reused (the one-hot node's buffers are recycled) and with repeated indices (whose
// gradients must accumulate into the same weight column).
template <class T>
void check_one_hot_matches_dense(std::size_t rows, std::size_t classes, std::size_t out,
                                 double tol) {
  std::mt19937_64 rng(rows * 131 + classes);
  Indices idx(rows);
  for (std::size_t r = 0; r < rows; ++r) idx[r] = std::int64_t((r * 7 + 3) % classes);
  idx[rows - 1] = idx[0];  // a repeated class
  const Tensor<T> w0(random_tensor({out, classes}, rng)), b0(random_tensor({out}, rng)),
      a0(random_tensor({rows, out}, rng)), m0(random_tensor({classes, out}, rng)),
      k(random_tensor({rows, out}, rng));
  struct Result {
    Tensor<T> y1, y2, y3, y4, gw, gb, ga, gm;
  };
  Tape<T> tape;
  auto run = [&](bool sparse) {
    Parameter<T> w(w0), b(b0), a(a0), m(m0);
    Result r;
    for (int repeat = 0; repeat < 2; ++repeat) {  // the second pass reuses every buffer
      tape.clear();
      w.zero_grad(), b.zero_grad(), a.zero_grad(), m.zero_grad();
      Var<T> x =
          sparse ? tape.one_hot(idx, classes) : tape.constant(tapegrad::one_hot<T>(idx, classes));
      Var<T> kk = tape.constant(k);
      Var<T> y1 = linear(x, tape.param(w));
      Var<T> y2 = linear(x, tape.param(w), tape.param(b));
      Var<T> y3 = linear(x, tape.param(w), tape.param(b), tape.param(a));
      Var<T> y4 = matmul(x, tape.param(m));
      tape.backward(sum((y1 + y2 + y3 + y4) * kk));
      r = {y1.value(), y2.value(), y3.value(), y4.value(), w.grad, b.grad, a.grad, m.grad};
    }
    return r;
  };
  const Result dense = run(false), sparse = run(true);
  check_tensor(sparse.y1, dense.y1, tol);
  check_tensor(sparse.y2, dense.y2, tol);
  check_tensor(sparse.y3, dense.y3, tol);
  check_tensor(sparse.y4, dense.y4, tol);
  check_tensor(sparse.gw, dense.gw, tol);
  check_tensor(sparse.gb, dense.gb, tol);
  check_tensor(sparse.ga, dense.ga, tol);
  check_tensor(sparse.gm, dense.gm, tol);
}

BOOST_AUTO_TEST_CASE(one_hot_linear_and_matmul_match_the_dense_product) {
  check_one_hot_matches_dense<double>(5, 4, 3, 1e-14);     // the small-product loop's sizes
  check_one_hot_matches_dense<double>(32, 65, 40, 1e-13);  // BLAS sizes for the dense twin
  check_one_hot_matches_dense<float>(32, 65, 40, 1e-5);
  check_one_hot_matches_dense<float>(1, 5, 5, 1e-6);
  // Rows at least twice the classes: linear gathers from (and scatters into) a transposed copy
  // of the weight instead of reading its columns.
  check_one_hot_matches_dense<double>(40, 5, 7, 1e-14);
  check_one_hot_matches_dense<double>(2048, 65, 33, 1e-12);
  check_one_hot_matches_dense<float>(300, 65, 40, 1e-5);
}

TAPEGRAD_GRADIENT_TEST(linear_of_a_one_hot_input_gradient, "linear") {
  std::mt19937_64 rng(41);
  Parameter<double> w(random_tensor({6, 5}, rng)), b(random_tensor({6}, rng)),
      a(random_tensor({4, 6}, rng)), m(random_tensor({5, 3}, rng));
  const Indices idx{4, 0, 4, 2};
  check_gradients("linear",
                  [&](Tape<double>& t) {
                    return linear(t.one_hot(idx, 5), t.param(w), t.param(b), t.param(a));
                  },
                  {&w, &b, &a});
  check_gradients("matmul", [&](Tape<double>& t) { return matmul(t.one_hot(idx, 5), t.param(m)); },
                  {&m});
  // Twelve rows of five classes: the transposed gather and scatter.
  const Indices many{4, 0, 4, 2, 1, 1, 3, 0, 2, 4, 4, 1};
  Parameter<double> a12(random_tensor({12, 6}, rng));
  check_gradients("linear",
                  [&](Tape<double>& t) {
                    return linear(t.one_hot(many, 5), t.param(w), t.param(b), t.param(a12));
                  },
                  {&w, &b, &a12});
}

// ---- linear_pair: a recurrent cell's pre-activation x W_x^T + h W_h^T + b_x + b_h in one op ----

// x = [[1, 2]], W_x as in the linear case above: x W_x^T = [[1, 0, 6.5]];
// h = [[1, 0, -1]], W_h = [[1, 2, 3], [0, 1, 0], [-1, 0, 2]]: h W_h^T = [[-2, 0, -3]];
// b_x = [0.1, 0.2, 0.3], b_h = [1, 1, 1]: y = [[0.1, 1.2, 4.8]], and [[-1, 0, 3.5]] without.
BOOST_AUTO_TEST_CASE(linear_pair_forward_matches_hand_computed_values) {
  Tape<float> tape;
  Var<float> x = tape.constant(Tensor<float>{{1.f, 2.f}});
  Var<float> wx = tape.constant(Tensor<float>{{1.f, 0.f}, {2.f, -1.f}, {0.5f, 3.f}});
  Var<float> h = tape.constant(Tensor<float>{{1.f, 0.f, -1.f}});
  Var<float> wh = tape.constant(Tensor<float>{{1.f, 2.f, 3.f}, {0.f, 1.f, 0.f}, {-1.f, 0.f, 2.f}});
  Var<float> bx = tape.constant(Tensor<float>{0.1f, 0.2f, 0.3f});
  Var<float> bh = tape.constant(Tensor<float>{1.f, 1.f, 1.f});
  Var<float> y = linear_pair(x, wx, h, wh, bx, bh);
  BOOST_TEST(std::string(y.op_name()) == "linear_pair");
  check_tensor(y.value(), Tensor<float>{{0.1f, 1.2f, 4.8f}}, 1e-6);
  check_tensor(linear_pair(x, wx, h, wh).value(), Tensor<float>{{-1.f, 0.f, 3.5f}}, 1e-6);
}

TAPEGRAD_GRADIENT_TEST(linear_pair_gradient, "linear_pair") {
  std::mt19937_64 rng(53);
  Parameter<double> x(random_tensor({3, 4}, rng)), wx(random_tensor({5, 4}, rng)),
      h(random_tensor({3, 2}, rng)), wh(random_tensor({5, 2}, rng)), bx(random_tensor({5}, rng)),
      bh(random_tensor({5}, rng));
  check_gradients("linear_pair",
                  [&](Tape<double>& t) {
                    return linear_pair(t.param(x), t.param(wx), t.param(h), t.param(wh),
                                       t.param(bx), t.param(bh));
                  },
                  {&x, &wx, &h, &wh, &bx, &bh});
  check_gradients("linear_pair",
                  [&](Tape<double>& t) {
                    return linear_pair(t.param(x), t.param(wx), t.param(h), t.param(wh));
                  },
                  {&x, &wx, &h, &wh});
  // Through BLAS rather than the small-product loop, as an RNN step of batch 16 runs.
  Parameter<double> xb(random_tensor({16, 64}, rng)), wxb(random_tensor({32, 64}, rng)),
      hb(random_tensor({16, 32}, rng)), whb(random_tensor({32, 32}, rng)),
      bxb(random_tensor({32}, rng)), bhb(random_tensor({32}, rng));
  GradcheckOptions o;
  o.directions = 4;
  check_gradients(
      "linear_pair",
      [&](Tape<double>& t) {
        return linear_pair(t.param(xb), t.param(wxb), t.param(hb), t.param(whb), t.param(bxb),
                           t.param(bhb));
      },
      {&xb, &wxb, &hb, &whb, &bxb, &bhb}, o);
  // A one-hot x (a column gather of W_x; its scatter-add gradient) and a one-hot h.
  const Indices idx{1, 3, 1};
  check_gradients("linear_pair",
                  [&](Tape<double>& t) {
                    return linear_pair(t.one_hot(idx, 4), t.param(wx), t.param(h), t.param(wh),
                                       t.param(bx), t.param(bh));
                  },
                  {&wx, &h, &wh, &bx, &bh});
  check_gradients(
      "linear_pair",
      [&](Tape<double>& t) {
        return linear_pair(t.param(x), t.param(wx), t.one_hot(Indices{0, 1, 1}, 2), t.param(wh));
      },
      {&x, &wx, &wh});
}

// linear_pair against the two-op form it replaces, linear(h, W_h, b_h, linear(x, W_x, b_x)):
// values and every gradient, for dense and one-hot x (repeated classes), at BLAS sizes, twice
// on one tape (the second pass runs on recycled buffers, which hold the first pass's values).
template <class T>
void check_linear_pair_matches_two_linears(bool one_hot_x, double tol) {
  const std::size_t rows = 32, classes = 65, hidden = 48, out = 96;
  std::mt19937_64 rng(one_hot_x ? 59 : 61);
  Indices idx(rows);
  for (std::size_t r = 0; r < rows; ++r) idx[r] = std::int64_t((r * 11 + 5) % classes);
  idx[rows - 1] = idx[0];
  const Tensor<T> x0(random_tensor({rows, classes}, rng)), wx0(random_tensor({out, classes}, rng)),
      h0(random_tensor({rows, hidden}, rng)), wh0(random_tensor({out, hidden}, rng)),
      bx0(random_tensor({out}, rng)), bh0(random_tensor({out}, rng)),
      k(random_tensor({rows, out}, rng));
  struct Result {
    Tensor<T> y, gx, gwx, gh, gwh, gbx, gbh;
  };
  Tape<T> tape;
  auto run = [&](bool fused) {
    Parameter<T> x(x0), wx(wx0), h(h0), wh(wh0), bx(bx0), bh(bh0);
    Result r;
    for (int repeat = 0; repeat < 2; ++repeat) {
      tape.clear();
      for (Parameter<T>* p : {&x, &wx, &h, &wh, &bx, &bh}) p->zero_grad();
      Var<T> xv = one_hot_x ? tape.one_hot(idx, classes) : tape.param(x);
      Var<T> y = fused ? linear_pair(xv, tape.param(wx), tape.param(h), tape.param(wh),
                                     tape.param(bx), tape.param(bh))
                       : linear(tape.param(h), tape.param(wh), tape.param(bh),
                                linear(xv, tape.param(wx), tape.param(bx)));
      tape.backward(sum(y * tape.constant(k)));
      r = {y.value(), x.grad, wx.grad, h.grad, wh.grad, bx.grad, bh.grad};
    }
    return r;
  };
  const Result two = run(false), pair = run(true);
  check_tensor(pair.y, two.y, tol);
  check_tensor(pair.gx, two.gx, tol);
  check_tensor(pair.gwx, two.gwx, tol);
  check_tensor(pair.gh, two.gh, tol);
  check_tensor(pair.gwh, two.gwh, tol);
  check_tensor(pair.gbx, two.gbx, tol);
  check_tensor(pair.gbh, two.gbh, tol);
  // Both biases receive the same gradient: the column sums of dL/dy = k.
  check_tensor(pair.gbx, Tensor<T>(xt::sum(k, {0})), tol);
}

BOOST_AUTO_TEST_CASE(linear_pair_matches_the_two_linears_it_replaces) {
  check_linear_pair_matches_two_linears<double>(false, 1e-12);
  check_linear_pair_matches_two_linears<double>(true, 1e-12);
  check_linear_pair_matches_two_linears<float>(false, 2e-5);
  check_linear_pair_matches_two_linears<float>(true, 2e-5);
}

BOOST_AUTO_TEST_CASE(linear_pair_with_mismatched_shapes_is_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({2, 3}, 1.0));
  Var<double> wx = tape.constant(full<double>({4, 3}, 1.0));
  Var<double> h = tape.constant(full<double>({2, 5}, 1.0));
  Var<double> wh = tape.constant(full<double>({4, 5}, 1.0));
  Var<double> b = tape.constant(full<double>({4}, 1.0));
  Var<double> h3 = tape.constant(full<double>({3, 5}, 1.0));   // a different batch
  Var<double> wh6 = tape.constant(full<double>({6, 5}, 1.0));  // a different width
  Var<double> b5 = tape.constant(full<double>({5}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(linear_pair(x, wx, h3, wh), Error,
                        mentions({"linear_pair", "h [n, in_h]", "x [2, 3]", "h [3, 5]"}));
  BOOST_CHECK_EXCEPTION(linear_pair(x, wx, h, wh6), Error,
                        mentions({"linear_pair", "weight_x [4, 3]", "weight_h [6, 5]"}));
  BOOST_CHECK_EXCEPTION(linear_pair(x, wx, h, wh, b, b5), Error,
                        mentions({"linear_pair", "biases [out]", "biases [4] and [5]"}));
  BOOST_CHECK_EXCEPTION(linear_pair(wx, x, h, wh), Error, mentions({"linear_pair", "x [4, 3]"}));
  BOOST_TEST(tape.size() == before);  // failed ops leave nothing on the tape
}

BOOST_AUTO_TEST_SUITE_END()

// reshape, slice, concat, stack, select/unstack, squeeze and unsqueeze: they only move elements, so
// forward values are checked against hand-written layouts, and backward must route each output
// element's gradient to the input element it came from (adding where one input element feeds
// several outputs).
#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "support/allocation_count.hpp"
#include "support/assertions.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
using namespace testsupport;
using testsupport::check_gradients;
using testsupport::random_tensor;

namespace {

// 0, 1, 2, ... in row-major order: every element's value names its own position.
template <class T>
Tensor<T> iota(const Shape& shape) {
  Tensor<T> t = Tensor<T>::from_shape(shape);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(i);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops_shape)

// ---- reshape ----

BOOST_AUTO_TEST_CASE(reshape_keeps_row_major_order) {
  Tape<double> tape;
  Var<double> x = tape.constant(Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  check_tensor(reshape(x, {3, 2}).value(), Tensor<double>{{1., 2.}, {3., 4.}, {5., 6.}});
  check_tensor(reshape(x, {-1}).value(), Tensor<double>{1., 2., 3., 4., 5., 6.});
  Var<double> y = reshape(x, {1, -1, 2});
  BOOST_TEST(shape_str(y.shape()) == "[1, 3, 2]");
  BOOST_TEST(y.value()(0, 2, 0) == 5.0);
}

BOOST_AUTO_TEST_CASE(reshape_infers_minus_one_float) {
  Tape<float> tape;
  Var<float> x = tape.constant(iota<float>({2, 3, 4}));
  Var<float> y = reshape(x, {4, -1});
  BOOST_TEST(shape_str(y.shape()) == "[4, 6]");
  BOOST_TEST(y.value()(2, 5) == 17.f);
  BOOST_TEST(shape_str(reshape(x, {-1, 2, 2}).shape()) == "[6, 2, 2]");
  BOOST_TEST(shape_str(reshape(x, {24, -1}).shape()) == "[24, 1]");
}

BOOST_AUTO_TEST_CASE(reshape_gradient_by_hand) {
  // The seed comes back in the input's shape, element for element.
  Tape<double> tape;
  Var<double> x = tape.leaf(full<double>({2, 3}, 0.0));
  Var<double> y = reshape(x, {3, -1});
  tape.backward(y, Tensor<double>{{1., 2.}, {3., 4.}, {5., 6.}});
  check_tensor(x.grad(), Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
}

TAPEGRAD_GRADIENT_TEST(reshape_gradient, "reshape") {
  std::mt19937_64 rng(301);
  Parameter<double> x(random_tensor({2, 3, 4}, rng));
  for (const std::vector<std::ptrdiff_t>& shape :
       {std::vector<std::ptrdiff_t>{4, -1}, {24}, {-1, 2, 1, 3}, {2, 12}}) {
    BOOST_TEST_CONTEXT("target shape " << shape_str(shape)) {
      check_gradients("reshape", [&](Tape<double>& t) { return reshape(t.param(x), shape); }, {&x});
    }
  }
}

TAPEGRAD_GRADIENT_TEST(reshape_single_element_gradient, "reshape") {
  std::mt19937_64 rng(302);
  Parameter<double> one(random_tensor({1}, rng));
  check_gradients("reshape",
                  [&](Tape<double>& t) {
                    return reshape(t.param(one), {1, 1, -1});
                  },
                  {&one});
  check_gradients("reshape", [&](Tape<double>& t) { return reshape(t.param(one), {}); }, {&one});
}

BOOST_AUTO_TEST_CASE(reshape_to_a_wrong_element_count_is_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({2, 3}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(reshape(x, {4, 2}), Error,
                        mentions({"reshape: cannot reshape [2, 3] (6 elements) into [4, 2]"}));
  BOOST_CHECK_EXCEPTION(reshape(x, {-1, 4}), Error,
                        mentions({"reshape", "[2, 3]", "6 elements", "[-1, 4]"}));
  BOOST_CHECK_EXCEPTION(reshape(x, {-1, -1}), Error, mentions({"reshape", "[-1, -1]"}));
  BOOST_CHECK_EXCEPTION(reshape(x, {-2, -3}), Error, mentions({"reshape", "[-2, -3]"}));
  BOOST_TEST(tape.size() == before);
  BOOST_TEST(shape_str(reshape(x, {6}).shape()) == "[6]");
}

// ---- slice ----

BOOST_AUTO_TEST_CASE(slice_forward_values) {
  Tape<double> tape;
  Var<double> x = tape.constant(iota<double>({3, 4}));
  check_tensor(slice(x, 1, 1, 3).value(), Tensor<double>{{1., 2.}, {5., 6.}, {9., 10.}});
  check_tensor(slice(x, 0, 1, 3).value(), Tensor<double>{{4., 5., 6., 7.}, {8., 9., 10., 11.}});
  // A negative axis counts from the end; a stop past the end is clamped.
  check_tensor(slice(x, -1, 0, 100, 2).value(), Tensor<double>{{0., 2.}, {4., 6.}, {8., 10.}});
  // Step 3 from 1 on a length-4 axis takes only index 1 (the next, 4, is past the end).
  check_tensor(slice(x, -1, 1, 4, 3).value(), column<double>({1., 5., 9.}));
}

BOOST_AUTO_TEST_CASE(slice_forward_values_float_3d) {
  Tape<float> tape;
  Var<float> x = tape.constant(iota<float>({2, 5, 2}));
  Var<float> y = slice(x, -2, 1, 5, 2);  // rows 1 and 3 of the middle axis
  BOOST_TEST(shape_str(y.shape()) == "[2, 2, 2]");
  check_tensor(y.value(), Tensor<float>{{{2.f, 3.f}, {6.f, 7.f}}, {{12.f, 13.f}, {16.f, 17.f}}});
}

BOOST_AUTO_TEST_CASE(slice_gradient_by_hand) {
  // Elements the slice skipped get zero; taken ones get their seed.
  Tape<double> tape;
  Var<double> x = tape.leaf(full<double>({2, 5}, 1.0));
  Var<double> y = slice(x, 1, 0, 99, 2);
  tape.backward(y, Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  check_tensor(x.grad(), Tensor<double>{{1., 0., 2., 0., 3.}, {4., 0., 5., 0., 6.}});
}

BOOST_AUTO_TEST_CASE(overlapping_slices_of_one_input_add_their_gradients) {
  // The second slice's backward finds the buffer already written and must add to it.
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1., 2., 3., 4.});
  Var<double> loss = sum(slice(x, 0, 0, 3)) + sum(slice(x, 0, 1, 4)) * 10.0;
  tape.backward(loss);
  check_tensor(x.grad(), Tensor<double>{1., 11., 11., 10.});
}

TAPEGRAD_GRADIENT_TEST(slice_gradient, "slice") {
  std::mt19937_64 rng(401);
  Parameter<double> x(random_tensor({2, 5, 3}, rng));
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(x), 1, 1, 5, 2); }, {&x});
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(x), -1, 0, 100, 2); }, {&x});
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(x), 0, 1, 2); }, {&x});
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(x), -3, 0, 2, 1); }, {&x});
}

TAPEGRAD_GRADIENT_TEST(slice_size_one_gradient, "slice") {
  std::mt19937_64 rng(402);
  Parameter<double> one(random_tensor({1}, rng));
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(one), 0, 0, 5); }, {&one});
  Parameter<double> row(random_tensor({1, 4}, rng));
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(row), 0, 0, 1); }, {&row});
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(row), 1, 2, 3); }, {&row});
  Parameter<double> v(random_tensor({6}, rng));  // a step longer than the axis: one element
  check_gradients("slice", [&](Tape<double>& t) { return slice(t.param(v), 0, 1, 6, 10); }, {&v});
}

TAPEGRAD_GRADIENT_TEST(overlapping_slices_gradient, "slice") {
  std::mt19937_64 rng(403);
  Parameter<double> x(random_tensor({3, 4}, rng));
  check_gradients(
      "slice",
      [&](Tape<double>& t) {
        Var<double> v = t.param(x);
        return concat(std::vector<Var<double>>{slice(v, 1, 0, 3), slice(v, 1, 1, 4, 2)}, 1);
      },
      {&x});
}

BOOST_AUTO_TEST_CASE(slice_errors_are_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({3, 4}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(slice(x, 1, 3, 3), Error,
                        mentions({"slice: empty range [3, 3) on axis 1 (length 4) of [3, 4]"}));
  // A start past the end is an empty range against the clamped stop.
  BOOST_CHECK_EXCEPTION(slice(x, -1, 6, 10), Error,
                        mentions({"slice: empty range [6, 4)", "length 4", "[3, 4]"}));
  BOOST_CHECK_EXCEPTION(slice(x, 0, 2, 1), Error, mentions({"slice: empty range [2, 1)"}));
  BOOST_CHECK_EXCEPTION(slice(x, 1, 0, 4, 0), Error, mentions({"slice", "step"}));
  BOOST_CHECK_EXCEPTION(slice(x, 2, 0, 1), Error, mentions({"slice", "axis 2", "2-D"}));
  BOOST_CHECK_EXCEPTION(slice(x, -3, 0, 1), Error, mentions({"slice", "axis -3", "2-D"}));
  BOOST_TEST(tape.size() == before);
  BOOST_TEST(shape_str(slice(x, 1, 0, 1).shape()) == "[3, 1]");
}

// ---- concat ----

BOOST_AUTO_TEST_CASE(concat_forward_values) {
  Tape<double> tape;
  Var<double> a = tape.constant(Tensor<double>{{1., 2.}});
  Var<double> b = tape.constant(Tensor<double>{{3., 4.}, {5., 6.}});
  check_tensor(concat(std::vector<Var<double>>{a, b}, 0).value(),
               Tensor<double>{{1., 2.}, {3., 4.}, {5., 6.}});
  Var<double> c = tape.constant(column<double>({7., 8.}));
  check_tensor(concat(std::vector<Var<double>>{c, b}, -1).value(),
               Tensor<double>{{7., 3., 4.}, {8., 5., 6.}});
  // Three inputs of different lengths.
  Var<double> p = tape.constant(Tensor<double>{1.});
  Var<double> q = tape.constant(Tensor<double>{2., 3.});
  Var<double> r = tape.constant(Tensor<double>{4., 5., 6.});
  check_tensor(concat(std::vector<Var<double>>{p, q, r}, 0).value(),
               Tensor<double>{1., 2., 3., 4., 5., 6.});
}

BOOST_AUTO_TEST_CASE(concat_along_middle_axis_float) {
  Tape<float> tape;
  Var<float> a = tape.constant(Tensor<float>{{{1.f, 2.f}}, {{3.f, 4.f}}});  // [2, 1, 2]
  Var<float> b =
      tape.constant(Tensor<float>{{{5.f, 6.f}, {7.f, 8.f}}, {{9.f, 10.f}, {11.f, 12.f}}});
  Var<float> y = concat(std::vector<Var<float>>{a, b}, 1);
  check_tensor(y.value(), Tensor<float>{{{1.f, 2.f}, {5.f, 6.f}, {7.f, 8.f}},
                                        {{3.f, 4.f}, {9.f, 10.f}, {11.f, 12.f}}});
}

BOOST_AUTO_TEST_CASE(concat_gradient_by_hand) {
  // Each input gets back its own block of the seed.
  Tape<double> tape;
  Var<double> a = tape.leaf(full<double>({2, 1}, 0.0));
  Var<double> b = tape.leaf(full<double>({2, 2}, 0.0));
  Var<double> y = concat(std::vector<Var<double>>{a, b}, 1);
  tape.backward(y, Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  check_tensor(a.grad(), column<double>({1., 4.}));
  check_tensor(b.grad(), Tensor<double>{{2., 3.}, {5., 6.}});
}

TAPEGRAD_GRADIENT_TEST(concat_first_axis_gradient, "concat") {
  std::mt19937_64 rng(501);
  Parameter<double> a(random_tensor({1, 3}, rng)), b(random_tensor({2, 3}, rng)),
      c(random_tensor({4, 3}, rng));
  check_gradients("concat",
                  [&](Tape<double>& t) {
                    return concat(std::vector<Var<double>>{t.param(a), t.param(b), t.param(c)}, 0);
                  },
                  {&a, &b, &c});
}

TAPEGRAD_GRADIENT_TEST(concat_middle_axis_gradient, "concat") {
  std::mt19937_64 rng(502);
  Parameter<double> a(random_tensor({2, 1, 3}, rng)), b(random_tensor({2, 3, 3}, rng)),
      c(random_tensor({2, 2, 3}, rng));
  check_gradients("concat",
                  [&](Tape<double>& t) {
                    return concat(std::vector<Var<double>>{t.param(a), t.param(b), t.param(c)}, 1);
                  },
                  {&a, &b, &c});
}

TAPEGRAD_GRADIENT_TEST(concat_last_axis_gradient, "concat") {
  std::mt19937_64 rng(503);
  Parameter<double> a(random_tensor({2, 2, 1}, rng)), b(random_tensor({2, 2, 4}, rng)),
      c(random_tensor({2, 2, 2}, rng));
  check_gradients("concat",
                  [&](Tape<double>& t) {
                    return concat(std::vector<Var<double>>{t.param(a), t.param(b), t.param(c)}, -1);
                  },
                  {&a, &b, &c});
}

TAPEGRAD_GRADIENT_TEST(concat_single_elements_and_repeats_gradient, "concat") {
  std::mt19937_64 rng(504);
  Parameter<double> a(random_tensor({1}, rng)), b(random_tensor({1}, rng));
  check_gradients("concat",
                  [&](Tape<double>& t) {
                    return concat(std::vector<Var<double>>{t.param(a), t.param(b)}, 0);
                  },
                  {&a, &b});
  // One value used twice: both blocks' gradients must reach it.
  Parameter<double> x(random_tensor({2, 3}, rng));
  check_gradients("concat",
                  [&](Tape<double>& t) {
                    Var<double> v = t.param(x);
                    return concat(std::vector<Var<double>>{v, v}, 1);
                  },
                  {&x});
}

BOOST_AUTO_TEST_CASE(concat_errors_are_reported) {
  Tape<double> tape;
  Var<double> a = tape.leaf(full<double>({2, 3}, 1.0));
  Var<double> b = tape.constant(full<double>({3, 3}, 1.0));
  Var<double> v = tape.constant(full<double>({6}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(
      concat(std::vector<Var<double>>{a, b}, 1), Error,
      mentions({"concat: input 1 has shape [3, 3]", "input 0's [2, 3]", "axis 1"}));
  BOOST_CHECK_EXCEPTION(concat(std::vector<Var<double>>{a, a, v}, 0), Error,
                        mentions({"concat", "input 2", "[6]", "[2, 3]"}));
  BOOST_CHECK_EXCEPTION(concat(std::vector<Var<double>>{a, b}, 2), Error,
                        mentions({"concat", "axis 2", "2-D"}));
  BOOST_CHECK_EXCEPTION(concat(std::vector<Var<double>>{}, 0), Error, mentions({"concat"}));
  // The failed ops left nothing behind: the next concat records and differentiates normally.
  BOOST_TEST(tape.size() == before);
  Var<double> y = concat(std::vector<Var<double>>{a, b}, 0);
  BOOST_TEST(y.index() == before);
  BOOST_TEST(shape_str(y.shape()) == "[5, 3]");
  tape.backward(sum(y));
  check_tensor(a.grad(), full<double>({2, 3}, 1.0));
}

// ---- stack ----

BOOST_AUTO_TEST_CASE(stack_forward_values) {
  Tape<double> tape;
  Var<double> a = tape.constant(Tensor<double>{1., 2., 3.});
  Var<double> b = tape.constant(Tensor<double>{4., 5., 6.});
  check_tensor(stack(std::vector<Var<double>>{a, b}).value(),
               Tensor<double>{{1., 2., 3.}, {4., 5., 6.}});
  check_tensor(stack(std::vector<Var<double>>{a, b}, 1).value(),
               Tensor<double>{{1., 4.}, {2., 5.}, {3., 6.}});
  check_tensor(stack(std::vector<Var<double>>{a, b}, -1).value(),
               Tensor<double>{{1., 4.}, {2., 5.}, {3., 6.}});
}

BOOST_AUTO_TEST_CASE(stack_forward_values_float_2d) {
  Tape<float> tape;
  Var<float> p = tape.constant(Tensor<float>{{1.f, 2.f}, {3.f, 4.f}});
  Var<float> q = tape.constant(Tensor<float>{{5.f, 6.f}, {7.f, 8.f}});
  // Middle axis: y[i, k, j] = x_k[i, j].
  check_tensor(stack(std::vector<Var<float>>{p, q}, 1).value(),
               Tensor<float>{{{1.f, 2.f}, {5.f, 6.f}}, {{3.f, 4.f}, {7.f, 8.f}}});
  // Last axis: y[i, j, k] = x_k[i, j].
  check_tensor(stack(std::vector<Var<float>>{p, q}, 2).value(),
               Tensor<float>{{{1.f, 5.f}, {2.f, 6.f}}, {{3.f, 7.f}, {4.f, 8.f}}});
}

BOOST_AUTO_TEST_CASE(stack_gradient_by_hand) {
  Tape<double> tape;
  Var<double> a = tape.leaf(full<double>({2}, 0.0));
  Var<double> b = tape.leaf(full<double>({2}, 0.0));
  Var<double> y = stack(std::vector<Var<double>>{a, b}, 1);  // [2, 2]
  tape.backward(y, Tensor<double>{{1., 2.}, {3., 4.}});
  check_tensor(a.grad(), Tensor<double>{1., 3.});
  check_tensor(b.grad(), Tensor<double>{2., 4.});
}

TAPEGRAD_GRADIENT_TEST(stack_gradient, "stack") {
  std::mt19937_64 rng(601);
  Parameter<double> a(random_tensor({2, 3}, rng)), b(random_tensor({2, 3}, rng)),
      c(random_tensor({2, 3}, rng));
  for (std::ptrdiff_t axis : {0, 1, 2, -1}) {
    BOOST_TEST_CONTEXT("axis " << axis) {
      check_gradients(
          "stack",
          [&](Tape<double>& t) {
            return stack(std::vector<Var<double>>{t.param(a), t.param(b), t.param(c)}, axis);
          },
          {&a, &b, &c});
    }
  }
}

TAPEGRAD_GRADIENT_TEST(stack_size_one_gradient, "stack") {
  std::mt19937_64 rng(602);
  Parameter<double> a(random_tensor({1}, rng)), b(random_tensor({1}, rng));
  check_gradients("stack",
                  [&](Tape<double>& t) {
                    return stack(std::vector<Var<double>>{t.param(a), t.param(b)}, 1);
                  },
                  {&a, &b});
  // Zero-dimensional inputs stack into a vector.
  Parameter<double> s(random_tensor({}, rng)), u(random_tensor({}, rng));
  check_gradients("stack",
                  [&](Tape<double>& t) {
                    return stack(std::vector<Var<double>>{t.param(s), t.param(u)});
                  },
                  {&s, &u});
  Parameter<double> m(random_tensor({1, 3}, rng));
  check_gradients("stack",
                  [&](Tape<double>& t) {
                    Var<double> v = t.param(m);
                    return stack(std::vector<Var<double>>{v, v, v}, 1);
                  },
                  {&m});
}

BOOST_AUTO_TEST_CASE(stack_errors_are_reported) {
  Tape<float> tape;
  Var<float> a = tape.leaf(full<float>({3}, 1.f));
  Var<float> b = tape.constant(full<float>({2}, 1.f));
  Var<float> c = tape.constant(full<float>({3, 1}, 1.f));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(stack(std::vector<Var<float>>{a, b}), Error,
                        mentions({"stack: input 1 has shape [2], input 0 has [3]"}));
  BOOST_CHECK_EXCEPTION(stack(std::vector<Var<float>>{a, a, c}, 1), Error,
                        mentions({"stack", "input 2", "[3, 1]", "[3]"}));
  BOOST_CHECK_EXCEPTION(stack(std::vector<Var<float>>{}), Error, mentions({"stack"}));
  BOOST_TEST(tape.size() == before);
  Var<float> y = stack(std::vector<Var<float>>{a, a});
  BOOST_TEST(y.index() == before);
  tape.backward(sum(y));
  check_tensor(a.grad(), full<float>({3}, 2.f));
}

BOOST_AUTO_TEST_CASE(stack_axis_out_of_range_names_the_inputs_rank) {
  // Stacking 1-D inputs allows axes -2..1. The message must describe what the caller passed
  // (1-D inputs, shape [3]), not call them 2-D after the rank of the result.
  Tape<double> tape;
  Var<double> a = tape.constant(full<double>({3}, 1.0));
  BOOST_CHECK_EXCEPTION(stack(std::vector<Var<double>>{a, a}, 2), Error,
                        mentions({"stack", "axis 2"}, {"1-D", "[3]"}));
  BOOST_CHECK_EXCEPTION(stack(std::vector<Var<double>>{a, a}, -3), Error,
                        mentions({"stack", "axis -3"}, {"1-D", "[3]"}));
}

// ---- select and unstack ----

BOOST_AUTO_TEST_CASE(select_forward_values) {
  Tape<double> tape;
  Var<double> x = tape.constant(iota<double>({3, 2, 4}));  // x[t, b, h] = 8 t + 4 b + h
  Var<double> step = select(x, 0, 1);
  BOOST_TEST(shape_str(step.shape()) == "[2, 4]");
  check_tensor(step.value(), Tensor<double>{{8., 9., 10., 11.}, {12., 13., 14., 15.}});
  check_tensor(select(x, 1, 1).value(),
               Tensor<double>{{4., 5., 6., 7.}, {12., 13., 14., 15.}, {20., 21., 22., 23.}});
  // Negative axis and index count from the end: the last element of every [t, b] row.
  check_tensor(select(x, -1, -1).value(), Tensor<double>{{3., 7.}, {11., 15.}, {19., 23.}});
  check_tensor(select(x, 2, 0).value(), select(x, -1, -4).value());
  // A 1-D input gives a 0-D result.
  Var<double> v = tape.constant(Tensor<double>{5., 6., 7.});
  BOOST_TEST(select(v, 0, 2).dim() == 0u);
  BOOST_TEST(select(v, 0, 2).item() == 7.0);
}

BOOST_AUTO_TEST_CASE(select_gradient_by_hand_float) {
  // The seed lands at the selected index; every other element gets zero, and two selects of
  // the same index add.
  Tape<float> tape;
  Var<float> x = tape.leaf(full<float>({3, 3}, 1.f));
  Var<float> y = select(x, 1, 1) + select(x, 1, 1) * 10.f + select(x, 0, 0);  // column 1, row 0
  tape.backward(y, Tensor<float>{1.f, 2.f, 3.f});
  check_tensor(x.grad(), Tensor<float>{{1.f, 11.f + 2.f, 3.f}, {0.f, 22.f, 0.f}, {0.f, 33.f, 0.f}},
               1e-6);
}

TAPEGRAD_GRADIENT_TEST(select_gradient, "select") {
  std::mt19937_64 rng(651);
  Parameter<double> x(random_tensor({3, 2, 4}, rng));
  for (const auto& [axis, index] : std::vector<std::pair<std::ptrdiff_t, std::ptrdiff_t>>{
           {0, 0}, {0, 2}, {1, 1}, {2, 3}, {-1, -2}, {-3, -1}}) {
    BOOST_TEST_CONTEXT("axis " << axis << ", index " << index) {
      check_gradients("select", [&](Tape<double>& t) { return select(t.param(x), axis, index); },
                      {&x});
    }
  }
  Parameter<double> one(random_tensor({1}, rng));
  check_gradients("select", [&](Tape<double>& t) { return select(t.param(one), 0, 0); }, {&one});
}

TAPEGRAD_GRADIENT_TEST(unstack_then_stack_gradient, "select") {
  // Every step used, some twice and in another order: all of their gradients must add up.
  std::mt19937_64 rng(652);
  Parameter<double> x(random_tensor({4, 2, 3}, rng));
  check_gradients("select",
                  [&](Tape<double>& t) {
                    const std::vector<Var<double>> steps = unstack(t.param(x), 0);
                    return stack(std::vector<Var<double>>{steps[3], steps[0] * steps[1], steps[2],
                                                          steps[3] + steps[0]},
                                 1);
                  },
                  {&x});
}

BOOST_AUTO_TEST_CASE(unstack_is_the_inverse_of_stack) {
  Tape<double> tape;
  const Tensor<double> value = iota<double>({3, 2, 4});
  Var<double> x = tape.constant(value);
  for (std::ptrdiff_t axis : {0, 1, 2, -1}) {
    BOOST_TEST_CONTEXT("axis " << axis) {
      const std::vector<Var<double>> parts = unstack(x, axis);
      const std::size_t ax = static_cast<std::size_t>(axis < 0 ? axis + 3 : axis);
      BOOST_TEST_REQUIRE(parts.size() == value.shape()[ax]);
      for (std::size_t i = 0; i < parts.size(); ++i) {
        BOOST_TEST(std::string(parts[i].op_name()) == "select");
        check_tensor(parts[i].value(), select(x, axis, static_cast<std::ptrdiff_t>(i)).value());
      }
      check_tensor(stack(parts, axis).value(), value);
    }
  }
  // The default axis is 0: a [T, B, H] sequence into T steps of [B, H].
  const std::vector<Var<double>> steps = unstack(x);
  BOOST_TEST_REQUIRE(steps.size() == 3u);
  BOOST_TEST(shape_str(steps[2].shape()) == "[2, 4]");
  BOOST_TEST(steps[2].value()(1, 3) == 23.0);
}

BOOST_AUTO_TEST_CASE(select_and_unstack_errors_are_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({3, 2}, 1.0));
  Var<double> scalar = tape.constant(full<double>({}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(
      select(x, 1, 2), Error,
      mentions({"select: index 2 is out of range for axis 1 of [3, 2] (expected -2 to 1)"}));
  BOOST_CHECK_EXCEPTION(select(x, 0, -4), Error,
                        mentions({"select", "index -4", "axis 0", "[3, 2]", "-3 to 2"}));
  BOOST_CHECK_EXCEPTION(select(x, 2, 0), Error, mentions({"select", "axis 2", "2-D"}));
  BOOST_CHECK_EXCEPTION(select(scalar, 0, 0), Error, mentions({"select", "at least one axis"}));
  BOOST_CHECK_EXCEPTION(unstack(x, -3), Error, mentions({"unstack", "axis -3", "2-D"}));
  BOOST_CHECK_EXCEPTION(unstack(scalar), Error, mentions({"unstack", "at least one axis"}));
  Var<double> empty = tape.constant(Tensor<double>::from_shape({0, 2}));
  BOOST_CHECK_EXCEPTION(select(empty, 0, 0), Error, mentions({"select", "empty"}));
  BOOST_TEST(tape.size() == before + 1);  // the empty constant, no op node
  BOOST_TEST(unstack(empty).empty());
}

BOOST_AUTO_TEST_CASE(select_squeeze_unsqueeze_on_a_reused_tape_do_not_allocate) {
  // Their outputs and gradients go into the nodes' kept buffers, step after step.
  if (!testsupport::allocations_counted()) {
    BOOST_TEST_MESSAGE("allocations are not counted under a sanitizer: not measured");
    return;
  }
  Parameter<double> x(iota<double>({3, 3, 2}));  // x[t, b, h] = 6 t + 2 b + h
  Tape<double> tape;
  const Tensor<double> seed = full<double>({3, 2}, 1.0);
  std::size_t made = 0;
  for (int round = 0; round < 3; ++round) {
    const std::size_t before = testsupport::allocations_so_far();
    Var<double> v = tape.param(x);
    Var<double> y = squeeze(unsqueeze(select(v, 0, 2), 1), -2) * select(v, 1, -1);
    tape.backward(y, seed);
    tape.clear();
    made = testsupport::allocations_so_far() - before;
    if (round == 0) BOOST_TEST(made > 0u);  // the count sees them
  }
  BOOST_TEST(made == 0u, made << " allocations on the third step");
  // y[b, h] = x[2, b, h] x[b, 2, h], so each step adds x[b, 2, h] = 6 b + 4 + h into
  // dx[2, b, h] and x[2, b, h] = 12 + 2 b + h into dx[b, 2, h]; x[2, 2, h] gets both.
  BOOST_TEST(x.grad(2, 0, 0) == 3 * 4.0);
  BOOST_TEST(x.grad(0, 2, 1) == 3 * 13.0);
  BOOST_TEST(x.grad(2, 2, 1) == 3 * 2 * 17.0);
  BOOST_TEST(x.grad(1, 1, 0) == 0.0);
}

// ---- squeeze and unsqueeze ----

BOOST_AUTO_TEST_CASE(squeeze_and_unsqueeze_forward_shapes_and_values) {
  Tape<double> tape;
  Var<double> x = tape.constant(iota<double>({2, 1, 3}));
  Var<double> s = squeeze(x, 1);
  BOOST_TEST(shape_str(s.shape()) == "[2, 3]");
  check_tensor(s.value(), Tensor<double>{{0., 1., 2.}, {3., 4., 5.}});
  BOOST_TEST(shape_str(squeeze(x, -2).shape()) == "[2, 3]");
  BOOST_TEST(shape_str(unsqueeze(s, 0).shape()) == "[1, 2, 3]");
  BOOST_TEST(shape_str(unsqueeze(s, 1).shape()) == "[2, 1, 3]");
  BOOST_TEST(shape_str(unsqueeze(s, 2).shape()) == "[2, 3, 1]");
  BOOST_TEST(shape_str(unsqueeze(s, -1).shape()) == "[2, 3, 1]");
  BOOST_TEST(shape_str(unsqueeze(s, -3).shape()) == "[1, 2, 3]");
  check_tensor(unsqueeze(s, 1).value(), x.value());
  BOOST_TEST(unsqueeze(s, 2).value()(1, 2, 0) == 5.0);
  // To and from 0-D.
  Tape<float> ftape;
  Var<float> f = ftape.constant(full<float>({1}, 4.f));
  BOOST_TEST(squeeze(f, 0).dim() == 0u);
  BOOST_TEST(squeeze(f, 0).item() == 4.f);
  BOOST_TEST(shape_str(unsqueeze(squeeze(f, 0), 0).shape()) == "[1]");
}

TAPEGRAD_GRADIENT_TEST(squeeze_gradient, "squeeze") {
  std::mt19937_64 rng(661);
  Parameter<double> x(random_tensor({2, 1, 3}, rng));
  check_gradients("squeeze", [&](Tape<double>& t) { return squeeze(t.param(x), 1); }, {&x});
  check_gradients("squeeze", [&](Tape<double>& t) { return squeeze(t.param(x), -2); }, {&x});
  Parameter<double> one(random_tensor({1}, rng));
  check_gradients("squeeze", [&](Tape<double>& t) { return squeeze(t.param(one), 0); }, {&one});
}

TAPEGRAD_GRADIENT_TEST(unsqueeze_gradient, "unsqueeze") {
  std::mt19937_64 rng(662);
  Parameter<double> x(random_tensor({2, 3}, rng));
  for (std::ptrdiff_t axis : {0, 1, 2, -1, -3}) {
    BOOST_TEST_CONTEXT("axis " << axis) {
      check_gradients("unsqueeze", [&](Tape<double>& t) { return unsqueeze(t.param(x), axis); },
                      {&x});
    }
  }
  Parameter<double> scalar(random_tensor({}, rng));
  check_gradients("unsqueeze", [&](Tape<double>& t) { return unsqueeze(t.param(scalar), 0); },
                  {&scalar});
}

BOOST_AUTO_TEST_CASE(squeeze_and_unsqueeze_errors_are_reported) {
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({2, 1, 3}, 1.0));
  Var<double> scalar = tape.constant(full<double>({}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(squeeze(x, 2), Error,
                        mentions({"squeeze: axis 2 of [2, 1, 3] has size 3; expected size 1"}));
  BOOST_CHECK_EXCEPTION(squeeze(x, 3), Error, mentions({"squeeze", "axis 3", "3-D"}));
  BOOST_CHECK_EXCEPTION(squeeze(scalar, 0), Error, mentions({"squeeze", "at least one axis"}));
  BOOST_CHECK_EXCEPTION(
      unsqueeze(x, 4), Error,
      mentions({"unsqueeze: axis 4 is out of range for a 3-D input of shape [2, 1, 3] (expected "
                "-4 to 3)"}));
  BOOST_CHECK_EXCEPTION(unsqueeze(x, -5), Error, mentions({"unsqueeze", "axis -5", "-4 to 3"}));
  BOOST_CHECK_EXCEPTION(unsqueeze(scalar, 1), Error, mentions({"unsqueeze", "axis 1", "0-D"}));
  BOOST_TEST(tape.size() == before);
}

BOOST_AUTO_TEST_SUITE_END()

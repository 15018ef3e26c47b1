// rnn_tanh_sequence, the tanh RNN over a whole sequence as one op: its forward against plain
// loops, its values and gradients against the same recurrence unrolled step by step from other
// ops (with and without lengths), central differences, the errors for inputs that do not fit,
// and no allocation on a reused tape. Also Tape::one_hot over a sequence of steps.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "support/allocation_count.hpp"
#include "support/assertions.hpp"
#include "support/error_of.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
using namespace testsupport;

namespace {

constexpr std::size_t kSteps = 5, kBatch = 3, kHidden = 4;

struct Inputs {
  Parameter<double> x, h0, w, b;
  explicit Inputs(std::uint64_t seed, std::size_t steps = kSteps)
      : x(random_tensor({steps, kBatch, kHidden}, gen(seed), -1.5, 1.5)),
        h0(random_tensor({kBatch, kHidden}, gen(seed + 1), -0.5, 0.5)),
        w(random_tensor({kHidden, kHidden}, gen(seed + 2), -0.8, 0.8)),
        b(random_tensor({kHidden}, gen(seed + 3), -0.3, 0.3)) {}
  std::vector<Parameter<double>*> all() { return {&x, &h0, &w, &b}; }
  static std::mt19937_64& gen(std::uint64_t seed) {
    static std::mt19937_64 g;
    g.seed(seed);
    return g;
  }
};

// The recurrence in plain loops: y_t = tanh(x_t + y_{t-1} W^T + b), rows held past their length.
Tensor<double> by_loops(const Inputs& in, const std::vector<std::size_t>& lengths) {
  const std::size_t T = in.x.value.shape()[0];
  Tensor<double> y = Tensor<double>::from_shape({T, kBatch, kHidden});
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t r = 0; r < kBatch; ++r)
      for (std::size_t j = 0; j < kHidden; ++j) {
        const auto prev = [&](std::size_t i) {
          return t == 0 ? in.h0.value(r, i) : y(t - 1, r, i);
        };
        if (!lengths.empty() && t >= lengths[r]) {
          y(t, r, j) = prev(j);
          continue;
        }
        double pre = in.x.value(t, r, j) + in.b.value(j);
        for (std::size_t i = 0; i < kHidden; ++i) pre += prev(i) * in.w.value(j, i);
        y(t, r, j) = std::tanh(pre);
      }
  return y;
}

// The same recurrence from the step ops, the way a cell runs it: tanh(x_t + linear(h, W, b)),
// and with lengths keep * step + drop * held.
Var<double> unrolled(Tape<double>& tape, Inputs& in, const std::vector<std::size_t>& lengths) {
  const std::size_t T = in.x.value.shape()[0];
  Var<double> x = tape.param(in.x), w = tape.param(in.w), b = tape.param(in.b);
  Var<double> h = tape.param(in.h0);
  std::vector<Var<double>> ys;
  for (std::size_t t = 0; t < T; ++t) {
    Var<double> next = tanh(linear(h, w, b, select(x, 0, std::ptrdiff_t(t))));
    if (!lengths.empty()) {
      Tensor<double> keep = Tensor<double>::from_shape({kBatch, 1});
      for (std::size_t r = 0; r < kBatch; ++r) keep(r, 0) = t < lengths[r] ? 1.0 : 0.0;
      next = tape.constant(keep) * next + (1.0 - tape.constant(keep)) * h;
    }
    ys.push_back(next);
    h = next;
  }
  return stack(ys, 0);
}

// sum(y * r) for a fixed random r: every output element reaches the loss with its own weight.
Var<double> projected(const Var<double>& y, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  return sum(y * y.tape().constant(random_tensor(y.shape(), g)));
}

void check_against_unrolled(const std::vector<std::size_t>& lengths, std::size_t steps,
                            std::uint64_t seed) {
  Inputs in(seed, steps);
  Tape<double> a;
  Var<double> y =
      rnn_tanh_sequence(a.param(in.x), a.param(in.h0), a.param(in.w), a.param(in.b), lengths);
  BOOST_TEST(std::string(y.op_name()) == "rnn_tanh_sequence");
  check_tensor(y.value(), by_loops(in, lengths), 1e-14);
  a.backward(projected(y, seed + 9));
  std::vector<Tensor<double>> grads;
  for (Parameter<double>* p : in.all()) {
    grads.push_back(p->grad);
    p->zero_grad();
  }
  Tape<double> b;
  Var<double> u = unrolled(b, in, lengths);
  check_tensor(y.value(), u.value(), 1e-14);
  b.backward(projected(u, seed + 9));
  const char* names[] = {"x", "h0", "W", "b"};
  for (std::size_t k = 0; k < grads.size(); ++k) BOOST_TEST_CONTEXT("d/d" << names[k]) {
      check_tensor(grads[k], in.all()[k]->grad, 1e-13);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops_recurrent)

BOOST_AUTO_TEST_CASE(rnn_sequence_is_the_unrolled_recurrence) {
  check_against_unrolled({}, kSteps, 1);
  check_against_unrolled({}, 1, 2);  // one step: dW is d_0^T h0 alone
}

BOOST_AUTO_TEST_CASE(rnn_sequence_with_lengths_holds_ended_rows) {
  check_against_unrolled({5, 2, 4}, kSteps, 3);
  check_against_unrolled({1, 3, 2}, kSteps, 4);  // every row ends before T: two steps all held
  // Held rows repeat their last state exactly, through the last step.
  Inputs in(5);
  Tape<double> tape;
  const std::vector<std::size_t> lengths{5, 2, 4};
  Var<double> y = rnn_tanh_sequence(tape.constant(in.x.value), tape.constant(in.h0.value),
                                    tape.constant(in.w.value), tape.constant(in.b.value), lengths);
  for (std::size_t t = 2; t < kSteps; ++t)
    for (std::size_t j = 0; j < kHidden; ++j) BOOST_TEST(y.value()(t, 1, j) == y.value()(1, 1, j));
  BOOST_TEST(y.value()(4, 2, 0) == y.value()(3, 2, 0));
  BOOST_TEST(y.value()(3, 2, 0) != y.value()(2, 2, 0));
}

BOOST_AUTO_TEST_CASE(rnn_sequence_without_bias) {
  Inputs in(6);
  in.b.value.fill(0.0);
  Tape<double> a, b;
  Var<double> with = rnn_tanh_sequence(a.param(in.x), a.param(in.h0), a.param(in.w), a.param(in.b));
  Var<double> without = rnn_tanh_sequence(b.param(in.x), b.param(in.h0), b.param(in.w));
  check_tensor(without.value(), with.value(), 0.0);
}

TAPEGRAD_GRADIENT_TEST(rnn_tanh_sequence_gradient, "rnn_tanh_sequence") {
  Inputs in(7);
  check_gradients(
      "rnn_tanh_sequence",
      [&](Tape<double>& t) {
        return projected(
            rnn_tanh_sequence(t.param(in.x), t.param(in.h0), t.param(in.w), t.param(in.b)), 70);
      },
      in.all());
  const std::vector<std::size_t> lengths{3, 5, 1};
  check_gradients("rnn_tanh_sequence",
                  [&](Tape<double>& t) {
                    return projected(
                        rnn_tanh_sequence(t.param(in.x), t.param(in.h0), t.param(in.w), lengths),
                        71);
                  },
                  {&in.x, &in.h0, &in.w});
}

BOOST_AUTO_TEST_CASE(rnn_sequence_adds_into_gradients_other_ops_gave) {
  // x and W also feed other ops, so their gradient buffers are not fresh when the sequence's
  // backward runs: it must add, not overwrite (x's d then lives in a workspace).
  Inputs in(8);
  Tape<double> tape;
  Var<double> x = tape.param(in.x), w = tape.param(in.w);
  Var<double> y = rnn_tanh_sequence(x, tape.param(in.h0), w, tape.param(in.b));
  tape.backward(projected(y, 80) + sum(x) * 2.0 + sum(w) * 3.0);
  const Tensor<double> gx = in.x.grad, gw = in.w.grad;
  for (Parameter<double>* p : in.all()) p->zero_grad();
  Tape<double> alone;
  alone.backward(projected(rnn_tanh_sequence(alone.param(in.x), alone.param(in.h0),
                                             alone.param(in.w), alone.param(in.b)),
                           80));
  check_tensor(gx, Tensor<double>(in.x.grad + 2.0), 1e-14);
  check_tensor(gw, Tensor<double>(in.w.grad + 3.0), 1e-14);
}

BOOST_AUTO_TEST_CASE(rnn_sequence_errors_name_what_was_expected) {
  Tape<double> tape;
  Var<double> x = tape.constant(Tensor<double>::from_shape({2, 3, 4}));
  Var<double> h0 = tape.constant(Tensor<double>::from_shape({3, 4}));
  Var<double> w = tape.constant(Tensor<double>::from_shape({4, 4}));
  Var<double> b = tape.constant(Tensor<double>::from_shape({4}));
  Var<double> h0_of_two = tape.constant(Tensor<double>::from_shape({2, 4}));
  BOOST_TEST(error_of([&] { rnn_tanh_sequence(x, h0_of_two, w, b); }) ==
             "rnn_tanh_sequence: expected x [steps, batch, hidden] (none of them 0), h0 "
             "[batch, hidden], W [hidden, hidden] and b [hidden]; got x [2, 3, 4], h0 [2, 4], "
             "W [4, 4], b [4]");
  BOOST_TEST(error_of([&] { rnn_tanh_sequence(h0, h0, w); }) ==
             "rnn_tanh_sequence: expected x [steps, batch, hidden] (none of them 0), h0 "
             "[batch, hidden], W [hidden, hidden]; got x [3, 4], h0 [3, 4], W [4, 4]");
  BOOST_TEST(error_of([&] {
               rnn_tanh_sequence(x, h0, w, b, {1, 2});
             }) == "rnn_tanh_sequence: 2 lengths given for a batch of 3 (x is [2, 3, 4])");
  BOOST_TEST(error_of([&] {
               rnn_tanh_sequence(x, h0, w, b, {1, 3, 2});
             }) ==
             "rnn_tanh_sequence: lengths[1] is 3; expected a length in [1, 2] (x is [2, 3, 4])");
  BOOST_TEST(error_of([&] {
               rnn_tanh_sequence(x, h0, w, b, {1, 0, 2});
             }) ==
             "rnn_tanh_sequence: lengths[1] is 0; expected a length in [1, 2] (x is [2, 3, 4])");
  BOOST_TEST(tape.size() == 5u);  // a failed op leaves no node behind
}

BOOST_AUTO_TEST_CASE(rnn_sequence_on_a_reused_tape_allocates_nothing) {
  if (!allocations_counted()) {
    BOOST_TEST_MESSAGE("allocations are not counted in this build (sanitizer)");
    return;
  }
  Parameter<float> x(Tensor<float>::from_shape({6, 4, 8})), h0(Tensor<float>::from_shape({4, 8}));
  Parameter<float> w(Tensor<float>::from_shape({8, 8})), b(Tensor<float>::from_shape({8}));
  for (Parameter<float>* p : {&x, &h0, &w, &b})
    for (std::size_t k = 0; k < p->value.size(); ++k) p->value.data()[k] = 0.01f * float(k % 17);
  const std::vector<std::size_t> lengths{6, 3, 5, 1};
  Tape<float> tape;
  std::size_t made = 0;
  for (int round = 0; round < 3; ++round) {
    const std::size_t before = allocations_so_far();
    Var<float> y =
        rnn_tanh_sequence(tape.param(x), tape.param(h0), tape.param(w), tape.param(b), lengths);
    tape.backward(sum(y));
    tape.clear();
    made = allocations_so_far() - before;
  }
  BOOST_TEST(made == 0u, made << " allocations on the third step");
}

BOOST_AUTO_TEST_CASE(one_hot_of_a_sequence_of_steps) {
  Tape<double> tape;
  const std::vector<Indices> steps{{0, 2}, {1, 1}, {2, 0}};
  Var<double> x = tape.one_hot(steps, 3);
  BOOST_TEST(shape_str(x.shape()) == "[3, 2, 3]");
  for (std::size_t t = 0; t < 3; ++t)
    for (std::size_t r = 0; r < 2; ++r)
      for (std::size_t c = 0; c < 3; ++c)
        BOOST_TEST(x.value()(t, r, c) == (std::int64_t(c) == steps[t][r] ? 1.0 : 0.0));
  const Indices* idx = tape.one_hot_indices(x.index());
  BOOST_TEST_REQUIRE(idx != nullptr);
  BOOST_TEST(*idx == (Indices{0, 2, 1, 1, 2, 0}), boost::test_tools::per_element());
  // linear over it gathers columns of W: the same as over the dense value, and so is dW.
  std::mt19937_64 g(9);
  Parameter<double> w(random_tensor({4, 3}, g)), w2(w.value);
  Tape<double> dense;
  Var<double> a = linear(x, tape.param(w));
  Var<double> d = linear(dense.constant(x.value()), dense.param(w2));
  check_tensor(a.value(), d.value(), 0.0);
  tape.backward(projected(a, 90));
  dense.backward(projected(d, 90));
  check_tensor(w.grad, w2.grad, 1e-15);
  BOOST_TEST(error_of([&] {
               tape.one_hot(std::vector<Indices>{{0, 1}, {2}}, 3);
             }) ==
             "Tape::one_hot: step 1 has 1 indices, step 0 has 2; every step needs one per "
             "sequence");
  BOOST_TEST(error_of([&] {
               tape.one_hot(std::vector<Indices>{{0, 1}, {2, 3}}, 3);
             }) == "Tape::one_hot: index 3 at position 1 of step 1 is out of range for 3 classes");
  BOOST_TEST(error_of([&] { tape.one_hot(std::vector<Indices>{}, 3); }) ==
             "Tape::one_hot: expected at least one step, got none");
}

BOOST_AUTO_TEST_CASE(op_check_rerecords_a_sequence_one_hot) {
  // check_ops records each op again on a tape of its own; a [T, B, V] one-hot input must come
  // back as one (else linear would read it as a dense matrix and the check still pass, but it
  // would not be checking the gather).
  std::mt19937_64 g(10);
  Parameter<double> w(random_tensor({4, 3}, g)), wh(random_tensor({4, 4}, g)),
      h0(random_tensor({2, 4}, g));
  const std::vector<Indices> steps{{0, 2}, {1, 1}, {2, 0}};
  const auto result = check_ops([&](Tape<double>& t) {
    Var<double> y =
        rnn_tanh_sequence(linear(t.one_hot(steps, 3), t.param(w)), t.param(h0), t.param(wh));
    return projected(y, 100);
  });
  BOOST_TEST(result.ok);
  BOOST_TEST(result.checked >= 2u);
}

BOOST_AUTO_TEST_SUITE_END()

// rnn_tanh_sequence and lstm_sequence, the tanh RNN and the LSTM over a whole sequence as one
// op each: their forward against plain loops, their values and gradients against the same
// recurrence unrolled step by step from other ops (with and without lengths), central
// differences, the errors for inputs that do not fit, and no allocation on a reused tape. Also
// Tape::one_hot over a sequence of steps.
#include <algorithm>
#include <cmath>
#include <functional>
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
// and with lengths keep * step + drop * held. `states` gets every step's state.
Var<double> unrolled(Tape<double>& tape, Inputs& in, const std::vector<std::size_t>& lengths,
                     std::vector<Var<double>>& states) {
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
  states = ys;
  return stack(ys, 0);
}

// sum(y * r) for a fixed random r: every output element reaches the loss with its own weight.
Var<double> projected(const Var<double>& y, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  return sum(y * y.tape().constant(random_tensor(y.shape(), g)));
}

using SequenceOp = std::function<Var<double>(Tape<double>&, std::vector<double>* norms)>;
using Unrolled = std::function<Var<double>(Tape<double>&, std::vector<Var<double>>& states)>;

// `op` (a sequence op) and `unrolled` (the same recurrence from step ops) on the same inputs:
// the op's name and value against the plain loops, the two values against each other, then
// every input's gradient of sum(y * r) against the unrolled one's, and the state gradient norms
// the op reports against those of hooks on the unrolled states (their whole gradients).
void check_op_against_unrolled(const char* op_name, std::vector<Parameter<double>*> inputs,
                               const std::vector<const char*>& names, const SequenceOp& op,
                               const Unrolled& unrolled, const Tensor<double>& loops,
                               std::uint64_t seed) {
  Tape<double> a;
  std::vector<double> norms{-1.0};  // stale: backward must replace it
  Var<double> y = op(a, &norms);
  BOOST_TEST(std::string(y.op_name()) == op_name);
  check_tensor(y.value(), loops, 1e-14);
  a.backward(projected(y, seed + 9));
  std::vector<Tensor<double>> grads;
  for (Parameter<double>* p : inputs) {
    grads.push_back(p->grad);
    p->zero_grad();
  }
  Tape<double> b;
  std::vector<Var<double>> states;
  Var<double> u = unrolled(b, states);
  check_tensor(y.value(), u.value(), 1e-14);
  std::vector<double> hooked(states.size(), -1.0);
  for (std::size_t t = 0; t < states.size(); ++t)
    states[t].on_grad([&hooked, t](Tensor<double>& g) {
      double sq = 0;
      for (double v : g) sq += v * v;
      hooked[t] = std::sqrt(sq);
    });
  b.backward(projected(u, seed + 9));
  for (std::size_t k = 0; k < grads.size(); ++k) BOOST_TEST_CONTEXT("d/d" << names[k]) {
      check_tensor(grads[k], inputs[k]->grad, 1e-13);
    }
  BOOST_TEST_REQUIRE(norms.size() == states.size());
  for (std::size_t t = 0; t < norms.size(); ++t) BOOST_TEST_CONTEXT("||dL/dy_" << t << "||") {
      BOOST_TEST(hooked[t] > 0);
      BOOST_TEST(norms[t] == hooked[t], boost::test_tools::tolerance(1e-13));
    }
}

void check_against_unrolled(const std::vector<std::size_t>& lengths, std::size_t steps,
                            std::uint64_t seed) {
  Inputs in(seed, steps);
  check_op_against_unrolled(
      "rnn_tanh_sequence", in.all(), {"x", "h0", "W", "b"},
      [&](Tape<double>& t, std::vector<double>* norms) {
        return rnn_tanh_sequence(t.param(in.x), t.param(in.h0), t.param(in.w), t.param(in.b),
                                 lengths, norms);
      },
      [&](Tape<double>& t, std::vector<Var<double>>& states) {
        return unrolled(t, in, lengths, states);
      },
      by_loops(in, lengths), seed);
}

// ---- lstm_sequence ----

constexpr std::size_t kGates = 4 * kHidden;

struct LstmInputs {
  Parameter<double> x, h0, c0, w, b;
  explicit LstmInputs(std::uint64_t seed, std::size_t steps = kSteps)
      : x(random_tensor({steps, kBatch, kGates}, Inputs::gen(seed), -1.5, 1.5)),
        h0(random_tensor({kBatch, kHidden}, Inputs::gen(seed + 1), -0.5, 0.5)),
        c0(random_tensor({kBatch, kHidden}, Inputs::gen(seed + 2), -0.8, 0.8)),
        w(random_tensor({kGates, kHidden}, Inputs::gen(seed + 3), -0.8, 0.8)),
        b(random_tensor({kGates}, Inputs::gen(seed + 4), -0.3, 0.3)) {}
  std::vector<Parameter<double>*> all() { return {&x, &h0, &c0, &w, &b}; }
};

double logistic(double v) { return 1 / (1 + std::exp(-v)); }

// The LSTM in plain loops, as [T + 1, B, H]: h after every step, then the last c; rows held past
// their length.
Tensor<double> lstm_by_loops(const LstmInputs& in, const std::vector<std::size_t>& lengths) {
  const std::size_t T = in.x.value.shape()[0];
  Tensor<double> h = in.h0.value, c = in.c0.value;
  Tensor<double> y = Tensor<double>::from_shape({T + 1, kBatch, kHidden});
  for (std::size_t t = 0; t < T; ++t) {
    for (std::size_t r = 0; r < kBatch; ++r) {
      if (lengths.empty() || t < lengths[r]) {
        double a[kGates];
        for (std::size_t k = 0; k < kGates; ++k) {
          a[k] = in.x.value(t, r, k) + in.b.value(k);
          for (std::size_t i = 0; i < kHidden; ++i) a[k] += h(r, i) * in.w.value(k, i);
        }
        for (std::size_t j = 0; j < kHidden; ++j) {
          const double i = logistic(a[j]), f = logistic(a[kHidden + j]);
          const double g = std::tanh(a[2 * kHidden + j]), o = logistic(a[3 * kHidden + j]);
          c(r, j) = f * c(r, j) + i * g;
          y(t, r, j) = o * std::tanh(c(r, j));
        }
      } else {
        for (std::size_t j = 0; j < kHidden; ++j) y(t, r, j) = h(r, j);
      }
    }
    for (std::size_t r = 0; r < kBatch; ++r)
      for (std::size_t j = 0; j < kHidden; ++j) h(r, j) = y(t, r, j);
  }
  for (std::size_t r = 0; r < kBatch; ++r)
    for (std::size_t j = 0; j < kHidden; ++j) y(T, r, j) = c(r, j);
  return y;
}

// The same from the step ops, the way LSTMCell runs a step: the gates from linear(h, W, b, x_t),
// sliced and activated one by one, and with lengths keep * step + drop * held for h and c.
// `states` gets every step's h.
Var<double> lstm_unrolled(Tape<double>& tape, LstmInputs& in,
                          const std::vector<std::size_t>& lengths,
                          std::vector<Var<double>>& states) {
  const std::size_t T = in.x.value.shape()[0], H = kHidden;
  Var<double> x = tape.param(in.x), w = tape.param(in.w), b = tape.param(in.b);
  Var<double> h = tape.param(in.h0), c = tape.param(in.c0);
  std::vector<Var<double>> ys;
  for (std::size_t t = 0; t < T; ++t) {
    Var<double> gates = linear(h, w, b, select(x, 0, std::ptrdiff_t(t)));
    Var<double> i = sigmoid(slice(gates, 1, 0, H)), f = sigmoid(slice(gates, 1, H, 2 * H));
    Var<double> g = tanh(slice(gates, 1, 2 * H, 3 * H)), o = sigmoid(slice(gates, 1, 3 * H, 4 * H));
    Var<double> c_next = f * c + i * g;
    Var<double> h_next = o * tanh(c_next);
    if (!lengths.empty()) {
      Tensor<double> keep = Tensor<double>::from_shape({kBatch, 1});
      for (std::size_t r = 0; r < kBatch; ++r) keep(r, 0) = t < lengths[r] ? 1.0 : 0.0;
      Var<double> k = tape.constant(keep), drop = 1.0 - tape.constant(keep);
      h_next = k * h_next + drop * h;
      c_next = k * c_next + drop * c;
    }
    ys.push_back(h_next);
    h = h_next;
    c = c_next;
  }
  states = ys;
  ys.push_back(c);
  return stack(ys, 0);
}

void check_lstm_against_unrolled(const std::vector<std::size_t>& lengths, std::size_t steps,
                                 std::uint64_t seed) {
  LstmInputs in(seed, steps);
  check_op_against_unrolled(
      "lstm_sequence", in.all(), {"x", "h0", "c0", "W", "b"},
      [&](Tape<double>& t, std::vector<double>* norms) {
        Var<double> y = lstm_sequence(t.param(in.x), t.param(in.h0), t.param(in.c0), t.param(in.w),
                                      t.param(in.b), lengths, norms);
        BOOST_TEST(shape_str(y.shape()) == shape_str(Shape{steps + 1, kBatch, kHidden}));
        return y;
      },
      [&](Tape<double>& t, std::vector<Var<double>>& states) {
        return lstm_unrolled(t, in, lengths, states);
      },
      lstm_by_loops(in, lengths), seed);
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
  // check_ops records each op again on a tape of its own, one-hot inputs as one-hot. It read a
  // one-hot's classes from axis 1, which for [T, B, V] is B: class 2 of a batch of 2 was then
  // "out of range" and the check threw. (Whether the re-recorded input is one-hot, and so the
  // gather checked rather than a dense product, this test cannot see: both pass.)
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

BOOST_AUTO_TEST_CASE(lstm_sequence_is_the_unrolled_recurrence) {
  check_lstm_against_unrolled({}, kSteps, 201);
  check_lstm_against_unrolled({}, 1, 202);  // one step: dW is d_0^T h0 alone
}

BOOST_AUTO_TEST_CASE(lstm_sequence_with_lengths_holds_ended_rows) {
  check_lstm_against_unrolled({5, 2, 4}, kSteps, 203);
  check_lstm_against_unrolled({1, 3, 2}, kSteps, 204);  // every row ends before T
  check_lstm_against_unrolled({1, 1, 1}, kSteps, 205);  // one step runs, four are held
  // Held rows repeat their last h exactly through step T-1, and row T is each row's c after its
  // own last step. Recorded on constants: forward then keeps its buffers in the tape's scratch,
  // not on the node, and must give the same values.
  LstmInputs in(206);
  const std::vector<std::size_t> lengths{5, 2, 4};
  Tape<double> tape, with_grad;
  Var<double> y = lstm_sequence(tape.constant(in.x.value), tape.constant(in.h0.value),
                                tape.constant(in.c0.value), tape.constant(in.w.value),
                                tape.constant(in.b.value), lengths);
  Var<double> y_grad =
      lstm_sequence(with_grad.param(in.x), with_grad.param(in.h0), with_grad.param(in.c0),
                    with_grad.param(in.w), with_grad.param(in.b), lengths);
  check_tensor(y.value(), y_grad.value(), 0.0);
  for (std::size_t t = 2; t < kSteps; ++t)
    for (std::size_t j = 0; j < kHidden; ++j) BOOST_TEST(y.value()(t, 1, j) == y.value()(1, 1, j));
  BOOST_TEST(y.value()(4, 2, 0) == y.value()(3, 2, 0));
  BOOST_TEST(y.value()(3, 2, 0) != y.value()(2, 2, 0));
  // Row 1's c after step 1: the same sequence cut to two steps, without lengths.
  LstmInputs two(206, 2);
  Tape<double> short_tape;
  Var<double> s = lstm_sequence(short_tape.constant(two.x.value), short_tape.constant(in.h0.value),
                                short_tape.constant(in.c0.value), short_tape.constant(in.w.value),
                                short_tape.constant(in.b.value));
  BOOST_TEST_REQUIRE(two.x.value(1, 1, 0) == in.x.value(1, 1, 0));  // the same first two steps
  for (std::size_t j = 0; j < kHidden; ++j) {
    BOOST_TEST(y.value()(kSteps, 1, j) == s.value()(2, 1, j));
    BOOST_TEST(y.value()(kSteps - 1, 1, j) == s.value()(1, 1, j));
  }
}

BOOST_AUTO_TEST_CASE(lstm_sequence_without_bias) {
  LstmInputs in(207);
  in.b.value.fill(0.0);
  Tape<double> a, b;
  Var<double> with =
      lstm_sequence(a.param(in.x), a.param(in.h0), a.param(in.c0), a.param(in.w), a.param(in.b));
  Var<double> without = lstm_sequence(b.param(in.x), b.param(in.h0), b.param(in.c0), b.param(in.w));
  check_tensor(without.value(), with.value(), 0.0);
}

TAPEGRAD_GRADIENT_TEST(lstm_sequence_gradient, "lstm_sequence") {
  LstmInputs in(208);
  const std::vector<std::size_t> lengths{3, 4, 1};  // step 4 is held in every row
  for (const bool bias : {true, false})
    for (const bool padded : {false, true})
      BOOST_TEST_CONTEXT("bias " << bias << ", lengths " << padded) {
        const std::vector<std::size_t> lens = padded ? lengths : std::vector<std::size_t>{};
        std::vector<Parameter<double>*> params{&in.x, &in.h0, &in.c0, &in.w};
        if (bias) params.push_back(&in.b);
        check_gradients(
            "lstm_sequence",
            [&](Tape<double>& t) {
              Var<double> x = t.param(in.x), h0 = t.param(in.h0), c0 = t.param(in.c0),
                          w = t.param(in.w);
              return projected(bias ? lstm_sequence(x, h0, c0, w, t.param(in.b), lens)
                                    : lstm_sequence(x, h0, c0, w, lens),
                               210);
            },
            params);
      }
}

BOOST_AUTO_TEST_CASE(lstm_sequence_writes_fresh_gradient_buffers) {
  // A Parameter's gradient accumulates, so the tests above only ever add into it; a leaf's
  // buffer is fresh (garbage) when the op's backward reaches it, and must be overwritten.
  LstmInputs in(211);
  const std::vector<std::size_t> lengths{4, 5, 2};
  Tape<double> tape;
  std::vector<Var<double>> leaves;
  for (Parameter<double>* p : in.all()) leaves.push_back(tape.leaf(p->value));
  tape.backward(projected(
      lstm_sequence(leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], lengths), 110));
  Tape<double> params;
  params.backward(
      projected(lstm_sequence(params.param(in.x), params.param(in.h0), params.param(in.c0),
                              params.param(in.w), params.param(in.b), lengths),
                110));
  const char* names[] = {"x", "h0", "c0", "W", "b"};
  for (std::size_t k = 0; k < leaves.size(); ++k) BOOST_TEST_CONTEXT("d/d" << names[k]) {
      check_tensor(leaves[k].grad(), in.all()[k]->grad, 0.0);
    }
}

BOOST_AUTO_TEST_CASE(lstm_sequence_adds_into_gradients_other_ops_gave) {
  // x, c0 and W also feed other ops, so their gradient buffers are not fresh when the
  // sequence's backward runs: it must add, not overwrite.
  LstmInputs in(209);
  Tape<double> tape;
  Var<double> x = tape.param(in.x), c0 = tape.param(in.c0), w = tape.param(in.w);
  Var<double> y = lstm_sequence(x, tape.param(in.h0), c0, w, tape.param(in.b));
  tape.backward(projected(y, 90) + sum(x) * 2.0 + sum(c0) * 4.0 + sum(w) * 3.0);
  const Tensor<double> gx = in.x.grad, gc0 = in.c0.grad, gw = in.w.grad;
  for (Parameter<double>* p : in.all()) p->zero_grad();
  Tape<double> alone;
  alone.backward(projected(lstm_sequence(alone.param(in.x), alone.param(in.h0), alone.param(in.c0),
                                         alone.param(in.w), alone.param(in.b)),
                           90));
  check_tensor(gx, Tensor<double>(in.x.grad + 2.0), 1e-14);
  check_tensor(gc0, Tensor<double>(in.c0.grad + 4.0), 1e-14);
  check_tensor(gw, Tensor<double>(in.w.grad + 3.0), 1e-14);
}

BOOST_AUTO_TEST_CASE(lstm_sequence_errors_name_what_was_expected) {
  Tape<double> tape;
  Var<double> x = tape.constant(Tensor<double>::from_shape({2, 3, 8}));
  Var<double> h0 = tape.constant(Tensor<double>::from_shape({3, 2}));
  Var<double> w = tape.constant(Tensor<double>::from_shape({8, 2}));
  Var<double> b = tape.constant(Tensor<double>::from_shape({8}));
  Var<double> c0_wide = tape.constant(Tensor<double>::from_shape({3, 4}));
  Var<double> x_of_six = tape.constant(Tensor<double>::from_shape({2, 3, 6}));
  BOOST_TEST(error_of([&] { lstm_sequence(x, h0, c0_wide, w, b); }) ==
             "lstm_sequence: expected x [steps, batch, 4 hidden] (none of them 0), h0 and c0 "
             "[batch, hidden], W [4 hidden, hidden] and b [4 hidden]; got x [2, 3, 8], h0 [3, 2], "
             "c0 [3, 4], W [8, 2], b [8]");
  BOOST_TEST(error_of([&] { lstm_sequence(x_of_six, h0, h0, w); }) ==
             "lstm_sequence: expected x [steps, batch, 4 hidden] (none of them 0), h0 and c0 "
             "[batch, hidden], W [4 hidden, hidden]; got x [2, 3, 6], h0 [3, 2], c0 [3, 2], "
             "W [8, 2]");
  BOOST_TEST(error_of([&] { lstm_sequence(x, h0, h0, b, b); }) ==
             "lstm_sequence: expected x [steps, batch, 4 hidden] (none of them 0), h0 and c0 "
             "[batch, hidden], W [4 hidden, hidden] and b [4 hidden]; got x [2, 3, 8], h0 [3, 2], "
             "c0 [3, 2], W [8], b [8]");
  BOOST_TEST(error_of([&] {
               lstm_sequence(x, h0, h0, w, b, {1, 2});
             }) == "lstm_sequence: 2 lengths given for a batch of 3 (x is [2, 3, 8])");
  BOOST_TEST(error_of([&] {
               lstm_sequence(x, h0, h0, w, {1, 3, 2});
             }) == "lstm_sequence: lengths[1] is 3; expected a length in [1, 2] (x is [2, 3, 8])");
  BOOST_TEST(error_of([&] {
               lstm_sequence(x, h0, h0, w, b, {2, 1, 0});
             }) == "lstm_sequence: lengths[2] is 0; expected a length in [1, 2] (x is [2, 3, 8])");
  BOOST_TEST(tape.size() == 6u);  // a failed op leaves no node behind
}

BOOST_AUTO_TEST_CASE(lstm_sequence_on_a_reused_tape_allocates_nothing) {
  if (!allocations_counted()) {
    BOOST_TEST_MESSAGE("allocations are not counted in this build (sanitizer)");
    return;
  }
  Parameter<float> x(Tensor<float>::from_shape({6, 4, 32})), h0(Tensor<float>::from_shape({4, 8}));
  Parameter<float> c0(Tensor<float>::from_shape({4, 8})), w(Tensor<float>::from_shape({32, 8}));
  Parameter<float> b(Tensor<float>::from_shape({32}));
  for (Parameter<float>* p : {&x, &h0, &c0, &w, &b})
    for (std::size_t k = 0; k < p->value.size(); ++k) p->value.data()[k] = 0.01f * float(k % 17);
  const std::vector<std::size_t> lengths{6, 3, 5, 1};
  Tape<float> tape;
  std::size_t made = 0;
  for (int round = 0; round < 3; ++round) {
    const std::size_t before = allocations_so_far();
    Var<float> y = lstm_sequence(tape.param(x), tape.param(h0), tape.param(c0), tape.param(w),
                                 tape.param(b), lengths);
    tape.backward(sum(y));
    tape.clear();
    made = allocations_so_far() - before;
  }
  BOOST_TEST(made == 0u, made << " allocations on the third step");
}

BOOST_AUTO_TEST_SUITE_END()

// The losses (fused softmax-cross-entropy, mean squared error), the embedding row gather and
// one_hot: values and gradients against hand-computed ones, stability at extreme logits, and
// the errors for targets and indices that do not fit.
#include <algorithm>
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

namespace {

template <class T>
bool all_finite(const Tensor<T>& t) {
  for (const T& v : t)
    if (!std::isfinite(v)) return false;
  return true;
}

// Logits [[1, 2, 3], [1, 1, 1]] with targets {2, 0}: the per-row losses are
// log(e + e^2 + e^3) - 3 = 0.40760596444438013 and log 3 = 1.0986122886681098.
constexpr double kTwoRowLoss = 0.7531091265562451;

}  // namespace

BOOST_AUTO_TEST_SUITE(ops_loss)

// ---- softmax_cross_entropy: values ----

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_forward_double) {
  Tape<double> tape;
  Var<double> logits = tape.constant(Tensor<double>{{1., 2., 3.}, {1., 1., 1.}});
  Var<double> loss = softmax_cross_entropy(logits, Indices{2, 0});
  BOOST_TEST(std::string(loss.op_name()) == "softmax_cross_entropy");
  BOOST_TEST(loss.dim() == 0u);
  BOOST_TEST(loss.item() == kTwoRowLoss, boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_forward_float) {
  Tape<float> tape;
  Var<float> logits = tape.constant(Tensor<float>{{1.f, 2.f, 3.f}, {1.f, 1.f, 1.f}});
  Var<float> loss = softmax_cross_entropy(logits, Indices{2, 0});
  BOOST_TEST(loss.item() == static_cast<float>(kTwoRowLoss), boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_of_one_row_of_logits) {
  // [C] logits are a single row: loss = logsumexp(0.5, -1, 2) - 0.5.
  Tape<double> tape;
  Var<double> logits = tape.leaf(Tensor<double>{.5, -1., 2.});
  Var<double> loss = softmax_cross_entropy(logits, Indices{0});
  BOOST_TEST(loss.item() == 1.7413112966571571, boost::test_tools::tolerance(1e-14));
  tape.backward(loss);
  check_tensor(logits.grad(),
               Tensor<double>{-0.8247096078599633, 0.03911257327068745, 0.7855970345892759});
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_with_tensor_targets_matches_indices) {
  Tape<double> tape;
  Var<double> logits = tape.constant(Tensor<double>{{1., 2., 3.}, {1., 1., 1.}});
  BOOST_TEST(softmax_cross_entropy(logits, Tensor<double>{2., 0.}).item() == kTwoRowLoss,
             boost::test_tools::tolerance(1e-14));
  Tape<float> ftape;
  Var<float> flogits = ftape.constant(Tensor<float>{{1.f, 2.f, 3.f}, {1.f, 1.f, 1.f}});
  BOOST_TEST(softmax_cross_entropy(flogits, Tensor<float>{2.f, 0.f}).item() ==
                 static_cast<float>(kTwoRowLoss),
             boost::test_tools::tolerance(1e-6f));
  // One row of logits with a one-element target tensor.
  Var<double> row = tape.constant(Tensor<double>{.5, -1., 2.});
  BOOST_TEST(softmax_cross_entropy(row, full<double>({1}, 0.0)).item() == 1.7413112966571571,
             boost::test_tools::tolerance(1e-14));
}

// ---- softmax_cross_entropy: gradients ----

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_gradient_by_hand) {
  // (softmax - one_hot) / N with N = 2.
  Tape<double> tape;
  Var<double> logits = tape.leaf(Tensor<double>{{1., 2., 3.}, {1., 1., 1.}});
  tape.backward(softmax_cross_entropy(logits, Indices{2, 0}));
  check_tensor(logits.grad(),
               Tensor<double>{{0.04501528658519022, 0.12236423552739883, -0.1673795221125891},
                              {-1. / 3., 1. / 6., 1. / 6.}});
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_gradient_scales_with_upstream_float) {
  // An upstream factor 3 multiplies every entry of (softmax - one_hot) / N.
  Tape<float> tape;
  Var<float> logits = tape.leaf(Tensor<float>{{1.f, 2.f, 3.f}, {1.f, 1.f, 1.f}});
  tape.backward(softmax_cross_entropy(logits, Tensor<float>{2.f, 0.f}) * 3.f);
  check_tensor(
      logits.grad(),
      Tensor<float>{{3 * 0.04501528658519022f, 3 * 0.12236423552739883f, 3 * -0.1673795221125891f},
                    {-1.f, .5f, .5f}},
      1e-6);
}

TAPEGRAD_GRADIENT_TEST(softmax_cross_entropy_gradient, "softmax_cross_entropy") {
  std::mt19937_64 rng(701);
  Parameter<double> logits(random_tensor({4, 5}, rng, -3.0, 3.0));
  const Indices targets{0, 4, 2, 2};
  check_gradients("softmax_cross_entropy",
                  [&](Tape<double>& t) { return softmax_cross_entropy(t.param(logits), targets); },
                  {&logits});
  const Tensor<double> as_tensor{0., 4., 2., 2.};
  check_gradients(
      "softmax_cross_entropy",
      [&](Tape<double>& t) { return softmax_cross_entropy(t.param(logits), as_tensor); },
      {&logits});
}

TAPEGRAD_GRADIENT_TEST(softmax_cross_entropy_one_row_gradient, "softmax_cross_entropy") {
  std::mt19937_64 rng(702);
  Parameter<double> row(random_tensor({6}, rng, -2.0, 2.0));
  check_gradients("softmax_cross_entropy",
                  [&](Tape<double>& t) { return softmax_cross_entropy(t.param(row), Indices{5}); },
                  {&row});
  Parameter<double> one_row(random_tensor({1, 4}, rng, -2.0, 2.0));
  check_gradients(
      "softmax_cross_entropy",
      [&](Tape<double>& t) { return softmax_cross_entropy(t.param(one_row), Indices{1}); },
      {&one_row});
}

TAPEGRAD_GRADIENT_TEST(softmax_cross_entropy_single_class_gradient, "softmax_cross_entropy") {
  // With one class the loss is identically 0 and so is its gradient.
  std::mt19937_64 rng(703);
  Parameter<double> one(random_tensor({1, 1}, rng));
  check_gradients("softmax_cross_entropy",
                  [&](Tape<double>& t) { return softmax_cross_entropy(t.param(one), Indices{0}); },
                  {&one});
  Parameter<double> scalar_row(random_tensor({1}, rng));
  check_gradients(
      "softmax_cross_entropy",
      [&](Tape<double>& t) { return softmax_cross_entropy(t.param(scalar_row), Indices{0}); },
      {&scalar_row});
  Parameter<double> column(random_tensor({3, 1}, rng));
  check_gradients("softmax_cross_entropy",
                  [&](Tape<double>& t) {
                    return softmax_cross_entropy(t.param(column), Indices{0, 0, 0});
                  },
                  {&column});
}

// ---- softmax_cross_entropy: numerical stability ----

template <class T>
void check_extreme_logits() {
  Tape<T> tape;
  tape.set_anomaly_detection(true);  // any Inf/NaN in forward or backward throws
  // exp(1e4) overflows both types: only a max-shifted log-sum-exp gives 1e4 - 0.
  Var<T> logits = tape.leaf(Tensor<T>{{T(1e4), T(0), T(-1e4)}});
  Var<T> loss = softmax_cross_entropy(logits, Indices{1});
  BOOST_TEST(std::isfinite(loss.item()));
  BOOST_TEST(static_cast<double>(loss.item()) == 1e4, boost::test_tools::tolerance(1e-6));
  tape.backward(loss);
  BOOST_TEST(all_finite(logits.grad()));
  check_tensor(logits.grad(), Tensor<T>{{T(1), T(-1), T(0)}}, 1e-6);

  tape.clear();
  Var<T> two_rows = tape.leaf(Tensor<T>{{T(1e4), T(0), T(-1e4)}, {T(-1e4), T(-1e4), T(1e4)}});
  Var<T> loss2 = softmax_cross_entropy(two_rows, Indices{0, 2});  // both rows are confident
  BOOST_TEST(std::fabs(static_cast<double>(loss2.item())) <= 1e-6);
  tape.backward(loss2);
  check_tensor(two_rows.grad(), Tensor<T>{{T(0), T(0), T(0)}, {T(0), T(0), T(0)}}, 1e-6);

  tape.clear();
  Var<T> row = tape.leaf(Tensor<T>{T(1e4), T(-1e4)});
  Var<T> loss3 = softmax_cross_entropy(row, Indices{1});
  BOOST_TEST(static_cast<double>(loss3.item()) == 2e4, boost::test_tools::tolerance(1e-6));
  tape.backward(loss3);
  check_tensor(row.grad(), Tensor<T>{T(1), T(-1)}, 1e-6);
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_is_stable_for_huge_logits_float) {
  check_extreme_logits<float>();
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_is_stable_for_huge_logits_double) {
  check_extreme_logits<double>();
}

// ---- softmax_cross_entropy: errors ----

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_target_out_of_range_is_reported) {
  Tape<double> tape;
  Var<double> logits = tape.leaf(full<double>({2, 5}, 0.0));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(logits, Indices{1, 5}), Error,
      mentions({"softmax_cross_entropy: target 5 at row 1 is out of range for 5 classes"}));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(logits, Indices{-1, 0}), Error,
                        mentions({"softmax_cross_entropy", "target -1 at row 0", "5 classes"}));
  // The same through a tensor of targets.
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(logits, Tensor<double>{0., 5.}), Error,
                        mentions({"softmax_cross_entropy", "target 5 at row 1", "5 classes"}));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(logits, Tensor<double>{-1., 0.}), Error,
                        mentions({"softmax_cross_entropy", "-1", "5 classes"}));
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_wrong_number_of_targets_is_reported) {
  Tape<float> tape;
  Var<float> logits = tape.leaf(full<float>({2, 5}, 0.f));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(logits, Indices{0, 1, 2}), Error,
      mentions({"softmax_cross_entropy: logits [2, 5] have 2 rows but 3 targets were given"}));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(logits, Indices{}), Error,
                        mentions({"softmax_cross_entropy", "[2, 5]", "0 targets"}));
  Var<float> row = tape.leaf(full<float>({5}, 0.f));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(row, Indices{0, 1}), Error,
                        mentions({"softmax_cross_entropy", "[5]", "2 targets"}));
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_non_integer_targets_are_reported) {
  Tape<double> tape;
  Var<double> logits = tape.leaf(full<double>({2, 3}, 0.0));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(logits, Tensor<double>{1.5, 0.}), Error,
                        mentions({"softmax_cross_entropy", "whole-number", "1.5", "row 0"}));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(logits, Tensor<double>{0., std::numeric_limits<double>::quiet_NaN()}),
      Error, mentions({"softmax_cross_entropy", "nan", "row 1"}));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(logits, column<double>({0., 1.})), Error,
                        mentions({"softmax_cross_entropy", "[2, 1]"}));
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_huge_whole_number_target_is_reported_as_given) {
  // 1e30 is a whole number but no int64: it must be rejected as out of range naming 1e30, not
  // converted (undefined behaviour) into some unrelated index first.
  Tape<double> tape;
  Var<double> logits = tape.leaf(full<double>({1, 3}, 0.0));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(logits, Tensor<double>{1e30}), Error,
                        mentions({"softmax_cross_entropy"}, {"1e+30", "1000000000000000"}));
}

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_of_n_d_logits_is_checked_against_its_rows) {
  // [2, 3, 4] logits have 6 rows: 2 targets, 0-D logits and an ignore index that does not make
  // an out-of-range target acceptable are reported.
  Tape<double> tape;
  Var<double> logits = tape.leaf(full<double>({2, 3, 4}, 0.0));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(logits, Indices{0, 1}), Error,
      mentions({"softmax_cross_entropy: logits [2, 3, 4] have 6 rows but 2 targets were given"}));
  BOOST_CHECK_EXCEPTION(softmax_cross_entropy(tape.leaf(full<double>({}, 0.0)), Indices{0}), Error,
                        mentions({"softmax_cross_entropy", "[..., C]", "0-D"}));
  // No classes: an error, also when every target is ignored (the op would divide by zero).
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(tape.leaf(Tensor<double>::from_shape({2, 0})), Indices{-100, -100}),
      Error, mentions({"softmax_cross_entropy: logits [2, 0] have no classes"}));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(logits, Indices{0, 1, 2, 3, 4, -100}), Error,
      mentions({"softmax_cross_entropy: target 4 at row 4 is out of range for 4 classes (and is "
                "not the ignore index -100)"}));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(logits, Indices{0, 1, 2, 3, -100, -100}, -1), Error,
      mentions({"softmax_cross_entropy", "target -100 at row 4", "not the ignore index -1"}));
  BOOST_CHECK_EXCEPTION(
      softmax_cross_entropy(logits, Tensor<double>{0., 1., 2., 3., 4., -100.}), Error,
      mentions({"softmax_cross_entropy", "target 4 at row 4", "not the ignore index -100"}));
}

// ---- softmax_cross_entropy: N-D logits and the ignore index ----

BOOST_AUTO_TEST_CASE(softmax_cross_entropy_of_3d_logits_equals_its_2d_rows) {
  // [T, B, C] logits are T * B rows in row-major order: the same loss and gradient as the
  // [T * B, C] reshape, to the last bit (the same loop over the same memory).
  std::mt19937_64 rng(711);
  const Tensor<double> value = random_tensor({3, 2, 5}, rng, -3.0, 3.0);
  const Indices targets{4, 0, 1, 1, 3, 2};
  Tape<double> tape;
  Var<double> x3 = tape.leaf(value);
  Var<double> loss3 = softmax_cross_entropy(x3, targets);
  tape.backward(loss3);
  Tape<double> flat;
  Var<double> x2 = flat.leaf(value);
  Var<double> loss2 = softmax_cross_entropy(reshape(x2, {6, 5}), targets);
  flat.backward(loss2);
  BOOST_TEST(loss3.item() == loss2.item());
  BOOST_TEST(shape_str(x3.grad().shape()) == "[3, 2, 5]");
  check_tensor(x3.grad(), x2.grad(), 0.0);
}

BOOST_AUTO_TEST_CASE(ignored_rows_add_nothing_to_the_loss_or_the_gradient) {
  // The rows of kTwoRowLoss with an ignored row between them: the mean is over the two rows
  // left, and the ignored row's gradient is exactly zero whatever its logits.
  for (const std::int64_t ignore : {std::int64_t(-100), std::int64_t(1)}) {
    BOOST_TEST_CONTEXT("ignore index " << ignore) {
      Tape<double> tape;
      Var<double> logits = tape.leaf(Tensor<double>{{1., 2., 3.}, {4., -1., 0.}, {1., 1., 1.}});
      Var<double> loss = ignore == -100
                             ? softmax_cross_entropy(logits, Indices{2, -100, 0})
                             : softmax_cross_entropy(logits, Indices{2, ignore, 0}, ignore);
      BOOST_TEST(loss.item() == kTwoRowLoss, boost::test_tools::tolerance(1e-14));
      tape.backward(loss);
      check_tensor(logits.grad(),
                   Tensor<double>{{0.04501528658519022, 0.12236423552739883, -0.1673795221125891},
                                  {0., 0., 0.},
                                  {-1. / 3., 1. / 6., 1. / 6.}});
    }
  }
  // Through a tensor of targets, in float; a class equal to the ignore index is ignored.
  Tape<float> ftape;
  Var<float> f = ftape.leaf(Tensor<float>{{1.f, 2.f, 3.f}, {1.f, 1.f, 1.f}, {4.f, -1.f, 0.f}});
  Var<float> floss = softmax_cross_entropy(f, Tensor<float>{2.f, 0.f, 1.f}, 1);
  BOOST_TEST(floss.item() == static_cast<float>(kTwoRowLoss), boost::test_tools::tolerance(1e-6f));
  ftape.backward(floss);
  BOOST_TEST(f.grad()(2, 0) == 0.f);
  BOOST_TEST(f.grad()(2, 1) == 0.f);
  BOOST_TEST(f.grad()(1, 0) == -1.f / 3.f, boost::test_tools::tolerance(1e-6f));
}

BOOST_AUTO_TEST_CASE(ignored_rows_add_nothing_to_a_gradient_already_there) {
  // The second use of the logits adds into a written buffer: its ignored row adds zero.
  Tape<double> tape;
  Var<double> logits = tape.leaf(Tensor<double>{{1., 2., 3.}, {1., 1., 1.}});
  tape.backward(softmax_cross_entropy(logits, Indices{2, 0}) +
                softmax_cross_entropy(logits, Indices{-100, 0}) * 2.0);
  check_tensor(
      logits.grad(),
      Tensor<double>{{0.04501528658519022, 0.12236423552739883, -0.1673795221125891},
                     {-1. / 3. - 2 * 2. / 3., 1. / 6. + 2 * 1. / 3., 1. / 6. + 2 * 1. / 3.}});
}

BOOST_AUTO_TEST_CASE(every_row_ignored_gives_zero_not_nan) {
  // PyTorch's mean over no rows is 0/0 = NaN; here it is 0 with a zero gradient, so a batch of
  // padding alone leaves the parameters as they were (and trips no anomaly check).
  Tape<double> tape;
  tape.set_anomaly_detection(true);
  Var<double> logits = tape.leaf(Tensor<double>{{{1., 2.}, {3., 4.}}});  // [1, 2, 2]
  Var<double> loss = softmax_cross_entropy(logits, Indices{-100, -100});
  BOOST_TEST(loss.item() == 0.0);
  tape.backward(loss * 5.0);
  check_tensor(logits.grad(), Tensor<double>{{{0., 0.}, {0., 0.}}}, 0.0);
}

TAPEGRAD_GRADIENT_TEST(softmax_cross_entropy_3d_with_ignored_rows_gradient,
                       "softmax_cross_entropy") {
  std::mt19937_64 rng(712);
  Parameter<double> logits(random_tensor({3, 2, 4}, rng, -3.0, 3.0));
  // Time-major [T, B, C] targets with the second sequence padded after its first step.
  const Indices targets{1, 3, 0, -100, 2, -100};
  check_gradients("softmax_cross_entropy",
                  [&](Tape<double>& t) { return softmax_cross_entropy(t.param(logits), targets); },
                  {&logits});
  check_gradients("softmax_cross_entropy",
                  [&](Tape<double>& t) {
                    return softmax_cross_entropy(t.param(logits), Indices{1, 3, 0, 3, 2, 3}, 3);
                  },
                  {&logits});
  check_gradients(
      "softmax_cross_entropy",
      [&](Tape<double>& t) { return softmax_cross_entropy(t.param(logits), Indices(6, -100)); },
      {&logits});
}

BOOST_AUTO_TEST_CASE(tape_is_usable_after_a_failed_softmax_cross_entropy) {
  Tape<double> tape;
  Var<double> logits = tape.leaf(Tensor<double>{{1., 2., 3.}, {1., 1., 1.}});
  const std::size_t before = tape.size();
  BOOST_CHECK_THROW(softmax_cross_entropy(logits, Indices{2, 3}), Error);
  BOOST_CHECK_THROW(softmax_cross_entropy(logits, Tensor<double>{2., .5}), Error);
  BOOST_TEST(tape.size() == before);
  Var<double> loss = softmax_cross_entropy(logits, Indices{2, 0});
  BOOST_TEST(loss.index() == before);
  BOOST_TEST(loss.item() == kTwoRowLoss, boost::test_tools::tolerance(1e-14));
  tape.backward(loss);
  BOOST_TEST(logits.grad()(1, 0) == -1. / 3., boost::test_tools::tolerance(1e-14));
}

// ---- mse_loss ----

BOOST_AUTO_TEST_CASE(mse_loss_forward_and_gradient_by_hand) {
  // p - t = [1, -2, 0]: loss = 5/3, dp = 2 (p - t) / 3, dt = -dp.
  Tape<double> tape;
  Var<double> p = tape.leaf(Tensor<double>{1., 2., 3.});
  Var<double> t = tape.leaf(Tensor<double>{0., 4., 3.});
  Var<double> loss = mse_loss(p, t);
  BOOST_TEST(loss.dim() == 0u);
  BOOST_TEST(loss.item() == 5. / 3., boost::test_tools::tolerance(1e-14));
  tape.backward(loss);
  check_tensor(p.grad(), Tensor<double>{2. / 3., -4. / 3., 0.});
  check_tensor(t.grad(), Tensor<double>{-2. / 3., 4. / 3., 0.});
}

BOOST_AUTO_TEST_CASE(mse_loss_forward_float_2d) {
  // Differences [[0.5, -1], [2, 0]]: (0.25 + 1 + 4 + 0) / 4.
  Tape<float> tape;
  Var<float> p = tape.leaf(Tensor<float>{{1.5f, 0.f}, {2.f, -3.f}});
  Var<float> t = tape.constant(Tensor<float>{{1.f, 1.f}, {0.f, -3.f}});
  Var<float> loss = mse_loss(p, t);
  BOOST_TEST(loss.item() == 1.3125f, boost::test_tools::tolerance(1e-6f));
  tape.backward(loss);
  check_tensor(p.grad(), Tensor<float>{{.25f, -.5f}, {1.f, 0.f}}, 1e-6);
}

TAPEGRAD_GRADIENT_TEST(mse_loss_gradient, "mse_loss") {
  std::mt19937_64 rng(801);
  Parameter<double> p(random_tensor({3, 4}, rng)), t(random_tensor({3, 4}, rng));
  check_gradients("mse_loss", [&](Tape<double>& tp) { return mse_loss(tp.param(p), tp.param(t)); },
                  {&p, &t});
}

TAPEGRAD_GRADIENT_TEST(mse_loss_size_one_gradient, "mse_loss") {
  std::mt19937_64 rng(802);
  Parameter<double> p(random_tensor({1}, rng)), t(random_tensor({1}, rng));
  check_gradients("mse_loss", [&](Tape<double>& tp) { return mse_loss(tp.param(p), tp.param(t)); },
                  {&p, &t});
  Parameter<double> row(random_tensor({1, 3}, rng));
  const Tensor<double> target = random_tensor({1, 3}, rng);
  check_gradients("mse_loss",
                  [&](Tape<double>& tp) { return mse_loss(tp.param(row), tp.constant(target)); },
                  {&row});
}

BOOST_AUTO_TEST_CASE(mse_loss_shape_mismatch_is_reported) {
  Tape<double> tape;
  Var<double> p = tape.leaf(full<double>({3}, 1.0));
  Var<double> t = tape.constant(full<double>({1, 3}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(
      mse_loss(p, t), Error,
      mentions({"mse_loss: prediction [3] and target [1, 3] must have the same shape"}));
  // Shapes that would broadcast, or that hold as many elements, are still a mismatch.
  BOOST_CHECK_EXCEPTION(
      mse_loss(tape.leaf(full<double>({2, 3}, 1.0)), tape.constant(full<double>({3, 2}, 1.0))),
      Error, mentions({"mse_loss", "[2, 3]", "[3, 2]"}));
  BOOST_TEST(tape.size() == before + 2);  // the two new leaves, no op node
  Var<double> loss = mse_loss(p, tape.constant(full<double>({3}, 0.0)));
  BOOST_TEST(loss.item() == 1.0);
}

// ---- gather_rows ----

BOOST_AUTO_TEST_CASE(gather_rows_forward_values) {
  Tape<double> tape;
  Var<double> table = tape.constant(Tensor<double>{{1., 2.}, {3., 4.}, {5., 6.}});
  check_tensor(gather_rows(table, Indices{2, 0, 2}).value(),
               Tensor<double>{{5., 6.}, {1., 2.}, {5., 6.}});
  Tape<float> ftape;
  Var<float> ftable = ftape.constant(Tensor<float>{{1.f, 2.f}, {3.f, 4.f}, {5.f, 6.f}});
  check_tensor(gather_rows(ftable, Indices{1}).value(), Tensor<float>{{3.f, 4.f}});
}

BOOST_AUTO_TEST_CASE(gather_rows_repeated_indices_accumulate) {
  // Indices {1, 1, 0}: table row 1 gets the sum of output rows 0 and 1, row 0 gets output row
  // 2, and row 2, never gathered, gets nothing.
  Tape<double> tape;
  Var<double> table = tape.leaf(Tensor<double>{{1., 2.}, {3., 4.}, {5., 6.}});
  Var<double> y = gather_rows(table, Indices{1, 1, 0});
  tape.backward(y, Tensor<double>{{1., 2.}, {3., 4.}, {5., 6.}});
  check_tensor(table.grad(), Tensor<double>{{5., 6.}, {4., 6.}, {0., 0.}});
}

BOOST_AUTO_TEST_CASE(gather_rows_into_a_parameter_accumulates_across_steps_float) {
  Parameter<float> emb(Tensor<float>{{1.f, 2.f}, {3.f, 4.f}});
  Tape<float> tape;
  for (int step = 0; step < 2; ++step) {
    tape.backward(sum(gather_rows(tape.param(emb), Indices{0, 0, 0})));
    tape.clear();
  }
  check_tensor(emb.grad, Tensor<float>{{6.f, 6.f}, {0.f, 0.f}}, 1e-6);
}

TAPEGRAD_GRADIENT_TEST(gather_rows_gradient, "gather_rows") {
  std::mt19937_64 rng(901);
  Parameter<double> table(random_tensor({4, 3}, rng));
  const Indices idx{1, 3, 1, 1, 0};
  check_gradients("gather_rows", [&](Tape<double>& t) { return gather_rows(t.param(table), idx); },
                  {&table});
}

TAPEGRAD_GRADIENT_TEST(gather_rows_size_one_gradient, "gather_rows") {
  std::mt19937_64 rng(902);
  Parameter<double> one(random_tensor({1, 1}, rng));
  check_gradients("gather_rows",
                  [&](Tape<double>& t) {
                    return gather_rows(t.param(one), Indices{0, 0, 0});
                  },
                  {&one});
  Parameter<double> column(random_tensor({5, 1}, rng));
  check_gradients("gather_rows",
                  [&](Tape<double>& t) {
                    return gather_rows(t.param(column), Indices{4, 0});
                  },
                  {&column});
  Parameter<double> row(random_tensor({1, 4}, rng));
  check_gradients("gather_rows",
                  [&](Tape<double>& t) { return gather_rows(t.param(row), Indices{0}); }, {&row});
}

BOOST_AUTO_TEST_CASE(gather_rows_errors_are_reported) {
  Tape<double> tape;
  Var<double> table = tape.leaf(full<double>({3, 2}, 1.0));
  Var<double> flat = tape.leaf(full<double>({5}, 1.0));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(
      gather_rows(table, Indices{0, 3}), Error,
      mentions({"gather_rows: index 3 at position 1 is out of range for a table of 3 rows"}));
  BOOST_CHECK_EXCEPTION(gather_rows(table, Indices{-1}), Error,
                        mentions({"gather_rows", "index -1 at position 0", "3 rows"}));
  BOOST_CHECK_EXCEPTION(gather_rows(flat, Indices{0}), Error,
                        mentions({"gather_rows", "2-D", "[5]"}));
  BOOST_TEST(tape.size() == before);
  Var<double> y = gather_rows(table, Indices{2});
  BOOST_TEST(y.index() == before);
  tape.backward(sum(y));
  check_tensor(table.grad(), Tensor<double>{{0., 0.}, {0., 0.}, {1., 1.}});
}

// ---- one_hot ----

BOOST_AUTO_TEST_CASE(one_hot_values) {
  check_tensor(one_hot<double>(Indices{2, 0, 1, 2}, 3),
               Tensor<double>{{0., 0., 1.}, {1., 0., 0.}, {0., 1., 0.}, {0., 0., 1.}});
  check_tensor(one_hot<float>(Indices{0}, 1), full<float>({1, 1}, 1.f));
  check_tensor(one_hot<float>(Indices{3}, 5), Tensor<float>{{0.f, 0.f, 0.f, 1.f, 0.f}});
  BOOST_TEST(shape_str(one_hot<double>(Indices{}, 4).shape()) == "[0, 4]");
}

BOOST_AUTO_TEST_CASE(one_hot_matches_the_softmax_cross_entropy_gradient) {
  // The fused loss's gradient is (softmax - one_hot) / N: rebuilding it from one_hot ties the
  // two together.
  Tape<double> tape;
  Var<double> logits = tape.leaf(Tensor<double>{{1., 2., 3.}, {1., 1., 1.}});
  const Indices targets{2, 0};
  tape.backward(softmax_cross_entropy(logits, targets));
  Tape<double> other;
  const Tensor<double> probs = softmax(other.constant(logits.value())).value();
  const Tensor<double> expected = (probs - one_hot<double>(targets, 3)) / 2.0;
  check_tensor(logits.grad(), expected);
}

BOOST_AUTO_TEST_CASE(one_hot_index_out_of_range_is_reported) {
  BOOST_CHECK_EXCEPTION(one_hot<double>(Indices{0, 3}, 3), Error,
                        mentions({"one_hot: index 3 at position 1 is out of range for 3 classes"}));
  BOOST_CHECK_EXCEPTION(one_hot<float>(Indices{-1}, 3), Error,
                        mentions({"one_hot", "index -1 at position 0", "3 classes"}));
  BOOST_CHECK_EXCEPTION(one_hot<float>(Indices{0}, 0), Error,
                        mentions({"one_hot", "index 0", "0 classes"}));
}

BOOST_AUTO_TEST_SUITE_END()

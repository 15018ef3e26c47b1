// Gradient hooks (Var::on_grad): a hook sees exactly the gradient that reached its value, what it
// leaves is what flows on (checked against the gradient computed by hand), hooks on one value run
// in order, a value no gradient reaches runs none, a parameter's hook sees its accumulated
// gradient, and clear() forgets them.
#include <cmath>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/autograd.hpp>

#include "support/error_of.hpp"

using namespace tapegrad;
using testsupport::error_of;

BOOST_AUTO_TEST_SUITE(hooks)

BOOST_AUTO_TEST_CASE(a_hook_reads_the_gradient_that_reached_its_value) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{0.3, -0.7, 1.1});
  Var<double> y = tanh(x);
  Tensor<double> seen;
  int calls = 0;
  y.on_grad([&](Tensor<double>& g) {
    seen = g;
    ++calls;
  });
  tape.backward(sum(y * y));  // dL/dy = 2y
  BOOST_TEST(calls == 1);
  BOOST_TEST_REQUIRE(seen.size() == 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST(seen(i) == 2 * std::tanh(x.value()(i)), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(seen(i) == y.grad()(i));
  }
}

BOOST_AUTO_TEST_CASE(what_a_hook_leaves_is_what_flows_on) {
  // z = 2a + 3a with a = x * x: dz/dx = 10x. Zeroing the gradient of the 2a branch leaves the
  // 3a branch alone: 6x. Doubling the gradient reaching a gives 20x.
  const Tensor<double> values{0.5, -2.0};
  const auto grad_of_x = [&](int which) {
    Tape<double> tape;
    Var<double> x = tape.leaf(values);
    Var<double> a = x * x;
    Var<double> two_a = a * 2.0;
    Var<double> three_a = a * 3.0;
    if (which == 1) two_a.on_grad([](Tensor<double>& g) { g.fill(0.0); });
    if (which == 2) a.on_grad([](Tensor<double>& g) { g *= 2.0; });
    tape.backward(sum(two_a + three_a));
    return Tensor<double>(x.grad());
  };
  for (std::size_t i = 0; i < 2; ++i) {
    BOOST_TEST(grad_of_x(0)(i) == 10 * values(i), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(grad_of_x(1)(i) == 6 * values(i), boost::test_tools::tolerance(1e-12));
    BOOST_TEST(grad_of_x(2)(i) == 20 * values(i), boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(hooks_run_in_order_only_where_a_gradient_arrives) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1.0, 2.0});
  Var<double> used = x * 3.0;
  Var<double> unused = x * 5.0;  // not on the way to the loss
  std::vector<int> order;
  used.on_grad([&](Tensor<double>& g) {
    order.push_back(1);
    g += 1.0;  // the next hook sees this
  });
  used.on_grad([&](Tensor<double>& g) {
    order.push_back(2);
    BOOST_TEST(g(0) == 2.0);  // 1 from sum, plus the first hook's 1
  });
  unused.on_grad([&](Tensor<double>&) { order.push_back(3); });
  x.on_grad([&](Tensor<double>& g) {
    order.push_back(4);
    BOOST_TEST(g(1) == 6.0);  // 3 * (1 + 1)
  });
  tape.backward(sum(used));
  BOOST_TEST(order == std::vector<int>({1, 2, 4}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_parameter_hook_sees_the_accumulated_gradient) {
  Parameter<double> w(Tensor<double>{2.0, -1.0}, "w");
  w.grad = Tensor<double>{100.0, 100.0};  // from an earlier pass, not zeroed
  Tape<double> tape;
  Var<double> pw = tape.param(w);
  Tensor<double> seen;
  pw.on_grad([&](Tensor<double>& g) { seen = g; });
  Var<double> x = tape.constant(Tensor<double>{3.0, 4.0});
  tape.backward(sum(x * pw) + sum(x * pw));  // the parameter used twice: 2x
  BOOST_TEST(seen == Tensor<double>({106.0, 108.0}), boost::test_tools::per_element());
  BOOST_TEST(w.grad == seen, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(clear_forgets_hooks_and_constants_refuse_them) {
  Tape<double> tape;
  int calls = 0;
  Var<double> x = tape.leaf(Tensor<double>{1.0});
  x.on_grad([&](Tensor<double>&) { ++calls; });
  tape.backward(sum(x * 2.0));
  BOOST_TEST(calls == 1);
  tape.clear();
  Var<double> again = tape.leaf(Tensor<double>{1.0});
  tape.backward(sum(again * 2.0));
  BOOST_TEST(calls == 1);  // the hook belonged to the first recording
  tape.clear();
  const Var<double> c = tape.constant(Tensor<double>{1.0});
  BOOST_TEST(error_of([&] { c.on_grad([](Tensor<double>&) {}); }) ==
             "on_grad: the value at tape position 0 (constant) requires no gradient (a constant, "
             "or recorded under NoGradGuard): no gradient will reach it");
  const Var<double> l = tape.leaf(Tensor<double>{1.0});
  BOOST_TEST(error_of([&] { l.on_grad({}); }) == "on_grad: the hook is empty");
}

BOOST_AUTO_TEST_CASE(a_hook_on_an_unrolled_rnn_sees_each_step_s_gradient) {
  // h_t = tanh(w * h_{t-1} + x_t): the gradient reaching h_t is dL/dh_t, which a hook records
  // per step; it equals what Var::grad() reads after the pass, and shrinks going back in time
  // with a small w (vanishing gradients).
  Parameter<double> w(Tensor<double>{0.3}, "w");
  Tape<double> tape;
  Var<double> h = tape.constant(Tensor<double>{0.0});
  std::vector<Var<double>> hs;
  std::vector<double> norms(6, -1.0);
  for (std::size_t t = 0; t < 6; ++t) {
    h = tanh(tape.param(w) * h + tape.constant(Tensor<double>{0.5}));
    hs.push_back(h);
    h.on_grad([&norms, t](Tensor<double>& g) { norms[t] = std::abs(g(0)); });
  }
  tape.backward(sum(h));
  for (std::size_t t = 0; t < 6; ++t) BOOST_TEST(norms[t] == std::abs(hs[t].grad()(0)));
  for (std::size_t t = 0; t + 1 < 6; ++t) BOOST_TEST(norms[t] < norms[t + 1]);
}

BOOST_AUTO_TEST_SUITE_END()

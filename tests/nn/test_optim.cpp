// Optimiser updates against steps computed by hand (PyTorch's update rules), and clipping.
#include <cmath>

#include <tapegrad/nn/optim.hpp>

#include "support/gradient_test.hpp"

using namespace tapegrad;
using namespace tapegrad::nn;
namespace tt = boost::test_tools;

namespace {

// One scalar parameter p = 1 whose gradient the test sets before each step.
struct Scalar {
  Parameter<double> p{full<double>({1}, 1.0)};
  std::vector<Parameter<double>*> params() { return {&p}; }
  void set_grad(double g) { p.grad(0) = g; }
  double value() const { return p.value(0); }
};

bool message_has(const Error& e, const std::string& part) {
  return std::string(e.what()).find(part) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optim)

BOOST_AUTO_TEST_CASE(sgd_step_is_p_minus_lr_g) {
  Scalar s;
  SGD<double> opt(s.params(), 0.1);
  s.set_grad(0.5);
  opt.step();
  BOOST_TEST(s.value() == 0.95, tt::tolerance(1e-15));
  BOOST_TEST(opt.steps() == 1u);
  // The grad is left alone (zero_grad is a separate call).
  BOOST_TEST(s.p.grad(0) == 0.5);
  opt.zero_grad();
  BOOST_TEST(s.p.grad(0) == 0.0);
}

BOOST_AUTO_TEST_CASE(sgd_momentum_accumulates_a_velocity) {
  // buf1 = g = 0.5 -> p = 0.95; buf2 = 0.9 * 0.5 + 0.5 = 0.95 -> p = 0.95 - 0.095 = 0.855
  Scalar s;
  SGD<double> opt(s.params(), 0.1, 0.9);
  s.set_grad(0.5);
  opt.step();
  BOOST_TEST(s.value() == 0.95, tt::tolerance(1e-15));
  opt.step();
  BOOST_TEST(s.value() == 0.855, tt::tolerance(1e-14));
  BOOST_TEST(opt.state().size() == 1u);
  BOOST_TEST(opt.state()[0].first == "momentum.0");
  BOOST_TEST((*opt.state()[0].second)(0) == 0.95, tt::tolerance(1e-15));
}

BOOST_AUTO_TEST_CASE(adagrad_divides_by_the_root_of_summed_squares) {
  // s = 0.25: p = 1 - 0.1 * 0.5 / (0.5 + 1e-10); s = 0.5: p -= 0.1 * 0.5 / sqrt(0.5)
  Scalar s;
  Adagrad<double> opt(s.params(), 0.1);
  s.set_grad(0.5);
  opt.step();
  BOOST_TEST(s.value() == 0.90000000002, tt::tolerance(1e-14));
  opt.step();
  BOOST_TEST(s.value() == 0.8292893219113453, tt::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(adam_matches_two_hand_computed_steps) {
  // Step 1 (g = 0.5): m = 0.05, v = 2.5e-4, m^ = 0.5, v^ = 0.25 -> p = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
  // Step 2 (g = -0.25): m = 0.02, v = 3.1225e-4, m^ = 0.02 / 0.19, v^ = 3.1225e-4 / 0.001999
  Scalar s;
  Adam<double> opt(s.params(), 0.1);
  s.set_grad(0.5);
  opt.step();
  BOOST_TEST(s.value() == 0.900000002, tt::tolerance(1e-14));
  s.set_grad(-0.25);
  opt.step();
  BOOST_TEST(s.value() == 0.8733662987078463, tt::tolerance(1e-13));
  BOOST_TEST(opt.steps() == 2u);
  BOOST_TEST(opt.state().size() == 2u);  // m.0 and v.0
  BOOST_TEST(opt.state()[1].first == "v.0");
}

BOOST_AUTO_TEST_CASE(adam_in_float_moves_every_element_of_every_parameter) {
  Parameter<float> a(full<float>({2, 3}, 1.f)), b(full<float>({4}, -1.f));
  Adam<float> opt({&a, &b}, 0.01);
  a.grad.fill(1.f);
  b.grad.fill(-1.f);
  opt.step();
  // Adam's first step moves each element by lr (times sign(g)), whatever |g| is.
  for (float v : a.value) BOOST_TEST(v == 0.99f, tt::tolerance(1e-5f));
  for (float v : b.value) BOOST_TEST(v == -0.99f, tt::tolerance(1e-5f));
}

BOOST_AUTO_TEST_CASE(optimisers_reject_nonsensical_settings) {
  Scalar s;
  BOOST_CHECK_EXCEPTION(SGD<double>(s.params(), -0.1), Error, [](const Error& e) {
    return message_has(e, "learning rate") && message_has(e, "-0.1");
  });
  BOOST_CHECK_EXCEPTION(SGD<double>(s.params(), 0.1, 1.5), Error,
                        [](const Error& e) { return message_has(e, "momentum"); });
  BOOST_CHECK_EXCEPTION(Adam<double>(s.params(), 0.1, 1.0), Error,
                        [](const Error& e) { return message_has(e, "betas"); });
  BOOST_CHECK_EXCEPTION(Adagrad<double>(s.params(), std::nan("")), Error,
                        [](const Error& e) { return message_has(e, "learning rate"); });
}

BOOST_AUTO_TEST_CASE(clip_grad_norm_scales_all_gradients_together) {
  // Joint norm of [3] and [4] is 5; clipped to 1 both shrink by 1 / (5 + 1e-6).
  Parameter<double> a(full<double>({1}, 0.0)), b(full<double>({1}, 0.0));
  a.grad(0) = 3.0;
  b.grad(0) = 4.0;
  const double norm = clip_grad_norm<double>({&a, &b}, 1.0);
  BOOST_TEST(norm == 5.0, tt::tolerance(1e-15));
  BOOST_TEST(a.grad(0) == 3.0 / (5.0 + 1e-6), tt::tolerance(1e-15));
  BOOST_TEST(b.grad(0) == 4.0 / (5.0 + 1e-6), tt::tolerance(1e-15));
  // Below the limit nothing changes.
  BOOST_TEST(clip_grad_norm<double>({&a, &b}, 10.0) == 1.0, tt::tolerance(1e-6));
  BOOST_TEST(a.grad(0) == 3.0 / (5.0 + 1e-6), tt::tolerance(1e-15));
  BOOST_CHECK_THROW(clip_grad_norm<double>({&a}, 0.0), Error);
}

BOOST_AUTO_TEST_CASE(clip_grad_value_clamps_each_element) {
  Parameter<float> a(Tensor<float>{0.f, 0.f, 0.f});
  a.grad = Tensor<float>{-1.f, 0.2f, 3.f};
  clip_grad_value<float>({&a}, 0.5);
  BOOST_TEST(a.grad(0) == -0.5f);
  BOOST_TEST(a.grad(1) == 0.2f);
  BOOST_TEST(a.grad(2) == 0.5f);
  BOOST_CHECK_THROW(clip_grad_value<float>({&a}, -1.0), Error);
}

BOOST_AUTO_TEST_SUITE_END()

// The tape itself: backward's walk, parameter accumulation, reuse across steps without growth,
// deep graphs, stale handles, no_grad and anomaly mode.
#include <malloc.h>

#include <cmath>
#include <fstream>
#include <string>

#include "support/assertions.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
using testsupport::random_tensor;

namespace {

bool message_has(const Error& e, const std::string& part) {
  const bool found = std::string(e.what()).find(part) != std::string::npos;
  if (!found) BOOST_TEST_MESSAGE("message was: " << e.what());
  return found;
}

long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * 4;  // 4 KiB pages
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tape)

BOOST_AUTO_TEST_CASE(backward_of_a_small_expression_matches_hand_derivatives) {
  // L = sum(w * x + w^2) with w = [1, 2], x = [3, 4]: dL/dw = x + 2w = [5, 8], dL/dx = w.
  Tape<double> tape;
  Parameter<double> w(Tensor<double>{1., 2.});
  Var<double> x = tape.leaf(Tensor<double>{3., 4.});
  Var<double> wv = tape.param(w);
  Var<double> loss = sum(wv * x + square(wv));
  BOOST_TEST(loss.item() == 1 * 3 + 2 * 4 + 1 + 4);
  tape.backward(loss);
  BOOST_TEST(w.grad(0) == 5.0);
  BOOST_TEST(w.grad(1) == 8.0);
  BOOST_TEST(x.grad()(0) == 1.0);
  BOOST_TEST(x.grad()(1) == 2.0);
}

BOOST_AUTO_TEST_CASE(a_value_used_twice_receives_both_gradients) {
  Tape<double> tape;
  Var<double> x = tape.leaf(full<double>({1}, 3.0));
  Var<double> y = x * x * x;  // dy/dx = 3x^2 = 27
  tape.backward(sum(y));
  BOOST_TEST(x.grad()(0) == 27.0);
}

BOOST_AUTO_TEST_CASE(parameter_gradients_accumulate_until_zeroed) {
  Parameter<float> w(Tensor<float>{1.f, -2.f});
  Tape<float> tape;
  for (int step = 0; step < 3; ++step) {
    tape.backward(sum(tape.param(w) * 2.0f));
    tape.clear();
  }
  BOOST_TEST(w.grad(0) == 6.0f);
  BOOST_TEST(w.grad(1) == 6.0f);
  w.zero_grad();
  BOOST_TEST(w.grad(0) == 0.0f);
}

BOOST_AUTO_TEST_CASE(intermediate_gradients_are_readable_after_backward) {
  // BPTT traces read dL/dh_t from the tape: y = tanh(x), L = sum(3 y).
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{0.5, -1.0});
  Var<double> y = tanh(x);
  tape.backward(sum(y * 3.0));
  BOOST_TEST(y.grad()(0) == 3.0);
  BOOST_TEST(x.grad()(0) == 3.0 * (1 - std::tanh(0.5) * std::tanh(0.5)),
             boost::test_tools::tolerance(1e-14));
  // A value that received no gradient reads as zeros of its shape.
  Var<double> unused = tape.leaf(Tensor<double>{1., 2., 3.});
  BOOST_TEST(unused.grad().size() == 3u);
  BOOST_TEST(unused.grad()(2) == 0.0);
}

BOOST_AUTO_TEST_CASE(backward_with_a_seed_for_non_scalar_outputs) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1., 2.});
  Var<double> y = x * 5.0;
  tape.backward(y, Tensor<double>{1., 10.});
  BOOST_TEST(x.grad()(0) == 5.0);
  BOOST_TEST(x.grad()(1) == 50.0);
}

BOOST_AUTO_TEST_CASE(backward_on_non_scalar_without_seed_is_an_error) {
  Tape<float> tape;
  Var<float> y = tanh(tape.leaf(Tensor<float>{1.f, 2.f, 3.f}));
  BOOST_CHECK_EXCEPTION(tape.backward(y), Error, [](const Error& e) {
    return message_has(e, "backward: the output has shape [3]") && message_has(e, "single-element");
  });
  BOOST_CHECK_EXCEPTION(tape.backward(y, Tensor<float>{1.f, 2.f}), Error, [](const Error& e) {
    return message_has(e, "seed gradient has shape [2]");
  });
}

BOOST_AUTO_TEST_CASE(second_backward_over_a_released_tape_is_an_error) {
  Tape<float> tape;
  Var<float> loss = sum(square(tape.leaf(Tensor<float>{1.f, 2.f})));
  tape.backward(loss);
  BOOST_CHECK_EXCEPTION(tape.backward(loss), Error, [](const Error& e) {
    return message_has(e, "already walked by backward()");
  });
  // After clear() the same computation can be recorded and differentiated again.
  tape.clear();
  tape.backward(sum(square(tape.leaf(Tensor<float>{1.f, 2.f}))));
}

BOOST_AUTO_TEST_CASE(backward_of_a_constant_is_an_error) {
  Tape<double> tape;
  Var<double> c = sum(tape.constant(Tensor<double>{1., 2.}));
  BOOST_CHECK_EXCEPTION(tape.backward(c), Error, [](const Error& e) {
    return message_has(e, "does not require a gradient");
  });
}

BOOST_AUTO_TEST_CASE(a_var_of_a_cleared_tape_is_reported_not_read) {
  Tape<float> tape;
  Var<float> x = tape.leaf(Tensor<float>{1.f, 2.f});
  Var<float> y = tanh(x);
  tape.clear();
  Var<float> z = tape.leaf(Tensor<float>{5.f, 6.f, 7.f});  // reuses x's slot
  BOOST_CHECK_EXCEPTION(x.value(), Error, [](const Error& e) {
    return message_has(e, "stale handle to tape position 0") && message_has(e, "cleared");
  });
  BOOST_CHECK_EXCEPTION(tanh(y), Error, [](const Error& e) { return message_has(e, "stale"); });
  BOOST_CHECK_EXCEPTION(tape.backward(sum(x)), Error,
                        [](const Error& e) { return message_has(e, "stale"); });
  BOOST_TEST(z.value()(2) == 7.f);  // the live handle is unaffected
  Var<float> empty;
  BOOST_CHECK_EXCEPTION(empty.value(), Error,
                        [](const Error& e) { return message_has(e, "default-constructed"); });
}

BOOST_AUTO_TEST_CASE(mixing_two_tapes_is_an_error) {
  Tape<double> a, b;
  Var<double> x = a.leaf(Tensor<double>{1.});
  Var<double> y = b.leaf(Tensor<double>{2.});
  BOOST_CHECK_EXCEPTION(x + y, Error, [](const Error& e) {
    return message_has(e, "add: input 1 lives on a different tape");
  });
  BOOST_CHECK_EXCEPTION(b.backward(sum(x)), Error,
                        [](const Error& e) { return message_has(e, "another tape"); });
}

BOOST_AUTO_TEST_CASE(a_100000_op_chain_runs_backward_without_recursion) {
  // y = x * 1.00001, 100,000 times: dy/dx = 1.00001^100000 (about e). A recursive backward
  // would overflow the stack long before this.
  const std::size_t n = 100000;
  Tape<double> tape;
  Var<double> x = tape.leaf(full<double>({1}, 1.0));
  Var<double> y = x;
  for (std::size_t i = 0; i < n; ++i) y = y * 1.00001;
  BOOST_TEST(tape.size() == n + 1);
  tape.backward(sum(y));
  BOOST_TEST(x.grad()(0) == std::pow(1.00001, double(n)), boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(no_grad_records_values_but_no_gradients) {
  Parameter<double> w(Tensor<double>{2.});
  Tape<double> tape;
  {
    NoGradGuard guard;
    BOOST_TEST(!grad_enabled());
    Var<double> y = tape.param(w) * 3.0;
    BOOST_TEST(y.item() == 6.0);
    BOOST_TEST(!y.requires_grad());
    BOOST_CHECK_THROW(tape.backward(y), Error);
  }
  BOOST_TEST(grad_enabled());
  tape.clear();
  Var<double> y = tape.param(w) * 3.0;
  BOOST_TEST(y.requires_grad());
}

BOOST_AUTO_TEST_CASE(anomaly_mode_names_the_op_whose_forward_made_nan) {
  Tape<double> tape;
  tape.set_anomaly_detection(true);
  Var<double> x = tape.leaf(Tensor<double>{1., -1.});
  Var<double> y = tanh(x);  // position 1, finite
  BOOST_CHECK_EXCEPTION(log(y), Error, [](const Error& e) {
    return message_has(e, "anomaly: the forward of log at tape position 2 produced NaN");
  });
  // Without anomaly mode the NaN flows silently, as in any autograd engine.
  tape.set_anomaly_detection(false);
  BOOST_TEST(std::isnan(log(y).value()(1)));
}

BOOST_AUTO_TEST_CASE(anomaly_mode_names_the_op_whose_backward_made_inf) {
  // sqrt(0) is finite forward, but its derivative 1/(2 sqrt(0)) is infinite.
  Tape<double> tape;
  tape.set_anomaly_detection(true);
  Var<double> x = tape.leaf(Tensor<double>{0., 4.});
  Var<double> s = sqrt(x);  // position 1
  Var<double> loss = sum(s);
  BOOST_CHECK_EXCEPTION(tape.backward(loss), Error, [](const Error& e) {
    return message_has(e, "anomaly: the backward of sqrt at tape position 1") &&
           message_has(e, "gradient of its input 0 (leaf at tape position 0)");
  });
}

BOOST_AUTO_TEST_CASE(op_names_list_the_recorded_computation) {
  Parameter<float> w(full<float>({2, 2}, 0.5f));
  Tape<float> tape;
  Var<float> x = tape.constant(full<float>({1, 2}, 1.f));
  tanh(matmul(x, tape.param(w)));
  BOOST_TEST(tape.size() == 4u);
  BOOST_TEST(std::string(tape.op_name(0)) == "constant");
  BOOST_TEST(std::string(tape.op_name(1)) == "parameter");
  BOOST_TEST(std::string(tape.op_name(2)) == "matmul");
  BOOST_TEST(std::string(tape.op_name(3)) == "tanh");
  BOOST_CHECK_THROW(tape.op_name(4), Error);
}

BOOST_AUTO_TEST_CASE(tape_full_is_a_filled_constant_in_a_kept_buffer) {
  Tape<float> tape;
  Var<float> z = tape.full({2, 3}, 0.f);
  Var<float> s = tape.full({2, 3}, 1.5f);
  testsupport::check_tensor(z.value(), Tensor<float>{{0.f, 0.f, 0.f}, {0.f, 0.f, 0.f}});
  testsupport::check_tensor(s.value(), Tensor<float>{{1.5f, 1.5f, 1.5f}, {1.5f, 1.5f, 1.5f}});
  BOOST_TEST(!z.requires_grad());
  BOOST_TEST(std::string(z.op_name()) == "constant");
  const float* buffer = z.value().data();
  tape.clear();
  Var<float> again = tape.full({2, 3}, 7.f);  // same position, same shape: same memory
  BOOST_TEST(again.value().data() == buffer);
  BOOST_TEST(again.value()(1, 2) == 7.f);
}

BOOST_AUTO_TEST_CASE(a_parameter_bound_twice_is_one_node_until_the_tape_is_cleared) {
  // A weight used at every time step binds to one node; its gradient is the sum of its uses.
  Parameter<double> w(Tensor<double>{2.}, "w");
  Tape<double> tape;
  Var<double> a = tape.param(w);
  Var<double> x = tape.constant(Tensor<double>{3.});
  Var<double> b = tape.param(w);
  BOOST_TEST(a.index() == b.index());
  BOOST_TEST(tape.size() == 2u);
  tape.backward(sum(a * x + b * b));  // d/dw (3w + w^2) = 3 + 2w = 7
  BOOST_TEST(w.grad(0) == 7.0);
  // After clear() the old node is gone: binding records a new one (at position 0 again).
  tape.clear();
  Var<double> x2 = tape.constant(Tensor<double>{1.});
  Var<double> c = tape.param(w);
  BOOST_TEST(c.index() == 1u);
  BOOST_TEST(x2.index() == 0u);
  // A copy of the parameter is a parameter of its own: it must not share w's node or gradient.
  Parameter<double> copy = w;
  Var<double> d = tape.param(copy);
  BOOST_TEST(d.index() != c.index());
  w.zero_grad();
  copy.zero_grad();
  tape.backward(sum(d * 5.0));
  BOOST_TEST(copy.grad(0) == 5.0);
  BOOST_TEST(w.grad(0) == 0.0);
}

BOOST_AUTO_TEST_CASE(a_parameter_bound_under_no_grad_is_bound_again_with_grad) {
  Parameter<double> w(Tensor<double>{2.}, "w");
  Tape<double> tape;
  Var<double> frozen;
  {
    NoGradGuard guard;
    frozen = tape.param(w);
  }
  Var<double> live = tape.param(w);
  BOOST_TEST(!frozen.requires_grad());
  BOOST_TEST(live.requires_grad());
  BOOST_TEST(live.index() != frozen.index());
  tape.backward(sum(live * frozen));  // only the live use is differentiated: dw = frozen = 2
  BOOST_TEST(w.grad(0) == 2.0);
}

// A small recurrent model trained for 10,000 steps: after warm-up, the tape neither grows nor
// reallocates (every node keeps its buffer address), and the process's heap and resident memory
// stay where they were.
BOOST_AUTO_TEST_CASE(a_reused_tape_returns_to_the_same_size_and_memory) {
  std::mt19937_64 rng(3);
  const std::size_t hidden = 8, steps_per_sequence = 5;
  Parameter<float> W_xh(random_tensor({1, hidden}, rng) * 0.5);
  Parameter<float> W_hh(random_tensor({hidden, hidden}, rng) * 0.3);
  Parameter<float> b_h(full<float>({hidden}, 0.f));
  Parameter<float> W_hy(random_tensor({hidden, 1}, rng) * 0.5);
  std::vector<Parameter<float>*> params = {&W_xh, &W_hh, &b_h, &W_hy};

  Tape<float> tape;
  auto step = [&](std::size_t k) {
    Var<float> h = tape.constant(full<float>({1, hidden}, 0.f));
    Var<float> loss;
    for (std::size_t t = 0; t < steps_per_sequence; ++t) {
      const float x = std::sin(0.1f * float(k + t));
      h = tanh(matmul(tape.constant(full<float>({1, 1}, x)), tape.param(W_xh)) +
               matmul(h, tape.param(W_hh)) + tape.param(b_h));
      Var<float> err =
          mse_loss(matmul(h, tape.param(W_hy)),
                   tape.constant(full<float>({1, 1}, std::sin(0.1f * float(k + t + 1)))));
      loss = t == 0 ? err : loss + err;
    }
    tape.backward(loss);
    for (Parameter<float>* p : params) {
      p->value -= 0.01f * p->grad;
      p->zero_grad();
    }
    const float value = loss.item();
    tape.clear();
    return value;
  };

  float first_loss = 0;
  for (std::size_t k = 0; k < 100; ++k) first_loss += step(k);
  const std::size_t capacity = tape.capacity();
  const std::size_t heap = mallinfo2().uordblks;
  [[maybe_unused]] const long rss = resident_kb();  // unused under ASan (see below)
  float last_loss = 0;
  for (std::size_t k = 100; k < 10000; ++k) {
    const float l = step(k);
    if (k >= 9900) last_loss += l;
  }
  BOOST_TEST(tape.size() == 0u);
  BOOST_TEST(tape.capacity() == capacity);
  BOOST_TEST(mallinfo2().uordblks <= heap + 4096,
             "heap grew from " << heap << " to " << mallinfo2().uordblks);
#ifndef __SANITIZE_ADDRESS__  // ASan holds freed blocks in quarantine, so RSS grows there
  BOOST_TEST(resident_kb() <= rss + 256,
             "resident memory grew from " << rss << " KiB to " << resident_kb() << " KiB");
#endif
  BOOST_TEST(last_loss < first_loss,
             "training did not reduce the loss: " << first_loss << " -> " << last_loss);
}

BOOST_AUTO_TEST_CASE(a_reused_tape_keeps_every_buffer_in_place) {
  // Same computation twice: each node's value buffer is the one it had the step before, which
  // is what "no per-op allocation once the tape is reused" means.
  Parameter<float> w(full<float>({4, 4}, 0.1f));
  Tape<float> tape;
  std::vector<const float*> before;
  for (int step = 0; step < 3; ++step) {
    std::vector<Var<float>> vars;
    vars.push_back(tape.constant(full<float>({2, 4}, float(step))));
    vars.push_back(matmul(vars.back(), tape.param(w)));
    vars.push_back(vars.back() + 1.0f);
    vars.push_back(tanh(vars.back()));
    vars.push_back(sum(vars.back()));
    tape.backward(vars.back());
    std::vector<const float*> now;
    for (const Var<float>& v : vars) now.push_back(v.value().data());
    for (const Var<float>& v : vars) now.push_back(v.grad().data());
    if (step > 0) BOOST_TEST(now == before, boost::test_tools::per_element());
    before = now;
    tape.clear();
  }
}

BOOST_AUTO_TEST_CASE(references_to_values_survive_recording_more_ops) {
  // Recording grows the tape; a reference taken earlier must stay valid (nodes never move).
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1., 2., 3.});
  const Tensor<double>& v = x.value();
  const Shape& s = x.shape();
  Var<double> y = x;
  for (int i = 0; i < 10000; ++i) y = y + 1.0;
  BOOST_TEST(&v == &x.value());
  BOOST_TEST(s[0] == 3u);
  BOOST_TEST(v(2) == 3.0);
  BOOST_TEST(y.value()(0) == 10001.0);
}

BOOST_AUTO_TEST_CASE(the_readme_tour_of_constants_leaves_and_parameters) {
  // The README's snippet, line for line, then what its comment says.
  Tape<double> tape;
  Var<double> x = tape.constant(Tensor<double>{1.0, 2.0});
  Var<double> a = tape.leaf(Tensor<double>{0.5, -1.0});
  Parameter<double> w(Tensor<double>{3.0, 4.0}, "w");
  Var<double> y = x * a + tape.param(w);
  tape.backward(y, Tensor<double>{1.0, 10.0});
  BOOST_TEST(a.grad() == Tensor<double>({1.0, 20.0}), boost::test_tools::per_element());
  BOOST_TEST(w.grad == Tensor<double>({1.0, 10.0}), boost::test_tools::per_element());
  BOOST_TEST(!x.requires_grad());
  BOOST_TEST(a.requires_grad());
  // A parameter's gradient accumulates over passes until zero_grad(); a leaf's is this pass's.
  tape.clear();
  Var<double> a2 = tape.leaf(Tensor<double>{0.5, -1.0});
  tape.backward(sum(a2 * tape.param(w)));
  BOOST_TEST(w.grad == Tensor<double>({1.5, 9.0}), boost::test_tools::per_element());
  BOOST_TEST(a2.grad() == Tensor<double>({3.0, 4.0}), boost::test_tools::per_element());
  w.zero_grad();
  BOOST_TEST(w.grad == Tensor<double>({0.0, 0.0}), boost::test_tools::per_element());
  // backward(y) without a seed needs one element.
  tape.clear();
  const Var<double> two = tape.leaf(Tensor<double>{1.0, 2.0}) * tape.param(w);
  BOOST_CHECK_EXCEPTION(tape.backward(two), Error, [](const Error& e) {
    return message_has(e, "backward() without a seed needs a single-element output");
  });
}

BOOST_AUTO_TEST_SUITE_END()

// Recurrent stacks over [T, B, I] sequence tensors, with and without per-sequence lengths.
// The tensor form must be the step form (same values, same gradients); a padded batch must be
// each of its sequences run alone (outputs, final states, and every gradient, to 1e-12), with
// zero output at padded steps; and the padding must add nothing to an ignore-index loss.
// Central differences check the padded forward and backward in double.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <tapegrad/nn/nn.hpp>

#include "support/assertions.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
using namespace testsupport;
namespace nn = tapegrad::nn;

namespace {

constexpr std::size_t kInput = 3, kHidden = 4, kClasses = 5;

void randomise(nn::Module<double>& m, std::mt19937_64& rng) {
  for (Parameter<double>* p : m.parameters()) p->value = random_tensor(p->value.shape(), rng);
}

// x[0:steps, b:b+1, :] of a [T, B, F] tensor: sequence b alone, cut to its own length.
Tensor<double> sequence_of(const Tensor<double>& x, std::size_t b, std::size_t steps) {
  const std::size_t B = x.shape()[1], F = x.shape()[2];
  Tensor<double> out = Tensor<double>::from_shape({steps, 1, F});
  for (std::size_t t = 0; t < steps; ++t)
    std::copy_n(x.data() + (t * B + b) * F, F, out.data() + t * F);
  return out;
}

// Row b of a [B, F] tensor as [1, F].
Tensor<double> row_of(const Tensor<double>& x, std::size_t b) {
  const std::size_t F = x.shape()[1];
  Tensor<double> out = Tensor<double>::from_shape({1, F});
  std::copy_n(x.data() + b * F, F, out.data());
  return out;
}

// |a - e| <= tol * max(1, |e|) everywhere, or a message naming the worst element.
void check_close(const std::string& what, const Tensor<double>& actual,
                 const Tensor<double>& expected, double tol = 1e-12) {
  BOOST_TEST_REQUIRE(shape_str(actual.shape()) == shape_str(expected.shape()), what);
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected.data()[i];
    const double err = std::abs(actual.data()[i] - e) / std::max(1.0, std::abs(e));
    if (!(err <= worst)) {
      worst = std::isnan(err) ? INFINITY : err;
      at = i;
    }
  }
  BOOST_TEST(worst <= tol, what << ": worst at flat " << at << ": " << actual.data()[at] << " vs "
                                << expected.data()[at]);
}

template <class Layer>
constexpr bool is_lstm = std::is_same_v<typename Layer::State, nn::LSTMState<double>>;

// Initial states as Parameters (h and, for an LSTM, c per layer), so gradients reach them.
template <class Layer>
struct Initial {
  std::vector<Parameter<double>> h, c;
  Initial(std::size_t layers, std::size_t batch, std::mt19937_64& rng) {
    for (std::size_t l = 0; l < layers; ++l) {
      h.emplace_back(random_tensor({batch, kHidden}, rng, -0.5, 0.5));
      if constexpr (is_lstm<Layer>) c.emplace_back(random_tensor({batch, kHidden}, rng, -0.5, 0.5));
    }
  }
  // The same states for sequence b alone.
  Initial(const Initial& all, std::size_t b) {
    for (const auto& p : all.h) h.emplace_back(row_of(p.value, b));
    for (const auto& p : all.c) c.emplace_back(row_of(p.value, b));
  }
  std::vector<typename Layer::State> bind(Tape<double>& t) {
    std::vector<typename Layer::State> out;
    for (std::size_t l = 0; l < h.size(); ++l) {
      if constexpr (is_lstm<Layer>)
        out.push_back({t.param(h[l]), t.param(c[l])});
      else
        out.push_back(t.param(h[l]));
    }
    return out;
  }
  std::vector<Parameter<double>*> params() {
    std::vector<Parameter<double>*> out;
    for (auto& p : h) out.push_back(&p);
    for (auto& p : c) out.push_back(&p);
    return out;
  }
};

// sum(output * r) + sum over layers of sum(h_l * rh[l]) (+ sum(c_l * rc[l])): every output and
// every final state reaches the loss.
template <class Layer>
struct Projections {
  Tensor<double> out;
  std::vector<Tensor<double>> h, c;
  Projections(std::size_t steps, std::size_t batch, std::size_t layers, std::mt19937_64& rng)
      : out(random_tensor({steps, batch, kHidden}, rng, -1.5, 1.5)) {
    for (std::size_t l = 0; l < layers; ++l) {
      h.push_back(random_tensor({batch, kHidden}, rng, -1.5, 1.5));
      if constexpr (is_lstm<Layer>) c.push_back(random_tensor({batch, kHidden}, rng, -1.5, 1.5));
    }
  }
  Projections(const Projections& all, std::size_t b, std::size_t steps)
      : out(sequence_of(all.out, b, steps)) {
    for (const auto& t : all.h) h.push_back(row_of(t, b));
    for (const auto& t : all.c) c.push_back(row_of(t, b));
  }
  Var<double> loss(Tape<double>& t, const typename Layer::SequenceOutput& o) const {
    Var<double> l = sum(o.output * t.constant(out));
    for (std::size_t k = 0; k < o.last.size(); ++k) {
      if constexpr (is_lstm<Layer>) {
        l = l + sum(o.last[k].h * t.constant(h[k])) + sum(o.last[k].c * t.constant(c[k]));
      } else {
        l = l + sum(o.last[k] * t.constant(h[k]));
      }
    }
    return l;
  }
};

template <class Layer>
const Var<double>& hidden_of(const typename Layer::State& s) {
  if constexpr (is_lstm<Layer>)
    return s.h;
  else
    return s;
}

// The padded batch against each sequence alone: outputs (zero at padded steps), every layer's
// final state, and the gradients of the weights, the input and the initial states.
template <class Layer>
void check_padded_batch_equals_each_sequence_alone(std::size_t steps,
                                                   const std::vector<std::size_t>& lengths,
                                                   bool given_initial, std::uint64_t seed) {
  const std::size_t layers = 2, batch = lengths.size();
  std::mt19937_64 gen(seed);
  nn::Rng rng(seed);
  Layer layer(kInput, kHidden, layers, rng);
  randomise(layer, gen);
  Parameter<double> x(random_tensor({steps, batch, kInput}, gen));
  Initial<Layer> init(layers, batch, gen);
  const Projections<Layer> proj(steps, batch, layers, gen);

  // The batch.
  Tape<double> tape;
  const auto all =
      layer(tape.param(x), given_initial ? init.bind(tape) : decltype(init.bind(tape)){}, lengths);
  BOOST_TEST_REQUIRE(shape_str(all.output.shape()) == shape_str(Shape{steps, batch, kHidden}));
  BOOST_TEST_REQUIRE(all.last.size() == layers);
  tape.backward(proj.loss(tape, all));
  std::vector<Tensor<double>> weight_grads;
  for (Parameter<double>* p : layer.parameters()) {
    weight_grads.push_back(p->grad);
    p->zero_grad();
  }

  // Each sequence alone: batch 1, its own length. The weights' gradients add up over them.
  for (std::size_t b = 0; b < batch; ++b) {
    BOOST_TEST_CONTEXT("sequence " << b << " of length " << lengths[b]) {
      Parameter<double> xb(sequence_of(x.value, b, lengths[b]));
      Initial<Layer> ib(init, b);
      const Projections<Layer> pb(proj, b, lengths[b]);
      Tape<double> t;
      const auto one = layer(t.param(xb), given_initial ? ib.bind(t) : decltype(ib.bind(t)){});
      t.backward(pb.loss(t, one));

      const Tensor<double> out_b = sequence_of(all.output.value(), b, steps);
      for (std::size_t s = 0; s < steps; ++s)
        for (std::size_t k = 0; k < kHidden; ++k) {
          if (s < lengths[b])
            BOOST_TEST(std::abs(out_b(s, 0, k) - one.output.value()(s, 0, k)) <= 1e-12,
                       "output at step " << s);
          else
            BOOST_TEST(out_b(s, 0, k) == 0.0, "padded step " << s << " has output");
        }
      for (std::size_t l = 0; l < layers; ++l) {
        check_close("h of layer " + std::to_string(l),
                    row_of(hidden_of<Layer>(all.last[l]).value(), b),
                    hidden_of<Layer>(one.last[l]).value());
        if constexpr (is_lstm<Layer>)
          check_close("c of layer " + std::to_string(l), row_of(all.last[l].c.value(), b),
                      one.last[l].c.value());
      }
      // The input's gradient: the sequence's own steps as alone, exactly zero at its padding.
      const Tensor<double> gx = sequence_of(x.grad, b, steps);
      for (std::size_t s = 0; s < steps; ++s)
        for (std::size_t k = 0; k < kInput; ++k) {
          if (s < lengths[b])
            BOOST_TEST(std::abs(gx(s, 0, k) - xb.grad(s, 0, k)) <= 1e-12, "dx at step " << s);
          else
            BOOST_TEST(gx(s, 0, k) == 0.0, "padded step " << s << " has a gradient");
        }
      if (given_initial) {
        for (std::size_t k = 0; k < init.h.size(); ++k)
          check_close("dh0 of layer " + std::to_string(k), row_of(init.h[k].grad, b), ib.h[k].grad);
        for (std::size_t k = 0; k < init.c.size(); ++k)
          check_close("dc0 of layer " + std::to_string(k), row_of(init.c[k].grad, b), ib.c[k].grad);
      }
    }
  }
  const auto params = layer.named_parameters();
  for (std::size_t k = 0; k < params.size(); ++k)
    check_close("d/d" + params[k].first, params[k].second->grad, weight_grads[k]);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sequences)

template <class Layer>
void check_tensor_form_equals_step_form(std::uint64_t seed) {
  const std::size_t steps = 4, batch = 3, layers = 2;
  std::mt19937_64 gen(seed);
  nn::Rng rng(seed);
  Layer layer(kInput, kHidden, layers, rng);
  randomise(layer, gen);
  const Tensor<double> x = random_tensor({steps, batch, kInput}, gen);
  Tape<double> tape;
  Var<double> xv = tape.leaf(x);
  const auto seq = layer(xv);
  const auto by_step = layer(unstack(xv, 0));
  // Projections of the whole sequence at once, [T, B, gates * hidden].
  const auto projected = layer.from_projections(layer.layer(0).input_part(xv));
  BOOST_TEST_REQUIRE(shape_str(seq.output.shape()) == shape_str(Shape{steps, batch, kHidden}));
  // An RNN's or LSTM's tensor form is one op (rnn_tanh_sequence, lstm_sequence) that adds the
  // input part, the bias and the recurrence's product in another order than the step form's
  // linear_pair: the last bit may differ. The GRU runs the same ops either way.
  const double tol = std::is_same_v<Layer, nn::GRU<double>> ? 0.0 : 1e-14;
  check_tensor(seq.output.value(), stack(by_step.outputs, 0).value(), tol);
  check_tensor(projected.output.value(), seq.output.value(), 1e-14);
  for (std::size_t l = 0; l < layers; ++l) {
    check_tensor(hidden_of<Layer>(seq.last[l]).value(), hidden_of<Layer>(by_step.last[l]).value(),
                 tol);
    check_tensor(hidden_of<Layer>(projected.last[l]).value(), hidden_of<Layer>(seq.last[l]).value(),
                 1e-14);
    if constexpr (is_lstm<Layer>) {
      check_tensor(seq.last[l].c.value(), by_step.last[l].c.value(), tol);
      check_tensor(projected.last[l].c.value(), seq.last[l].c.value(), 1e-14);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_tensor_form_is_the_step_form) {
  check_tensor_form_equals_step_form<nn::RNN<double>>(1);
  check_tensor_form_equals_step_form<nn::LSTM<double>>(2);
  check_tensor_form_equals_step_form<nn::GRU<double>>(3);
}

// The norms a stack reports for its top layer's states (state_grad_norms) are those that hooks
// on the step form's top states read: the states' whole gradients, from the output and from the
// next step. The loss also reads the last state, so the last step's gradient has both parts.
template <class Layer>
void check_state_grad_norms_are_the_step_forms(std::uint64_t seed) {
  const std::size_t steps = 5, batch = 3, layers = 2;
  std::mt19937_64 gen(seed);
  nn::Rng rng(seed);
  Layer layer(kInput, kHidden, layers, rng);
  randomise(layer, gen);
  const Tensor<double> x = random_tensor({steps, batch, kInput}, gen);
  const Tensor<double> r = random_tensor({steps, batch, kHidden}, gen);
  const Tensor<double> r_last = random_tensor({batch, kHidden}, gen);
  Tape<double> a;
  std::vector<double> norms;
  const auto seq = layer(a.leaf(x), {}, {}, &norms);
  a.backward(sum(seq.output * a.constant(r)) +
             sum(hidden_of<Layer>(seq.last.back()) * a.constant(r_last)));
  Tape<double> b;
  const auto by_step = layer(unstack(b.leaf(x), 0));
  std::vector<double> hooked(steps, -1.0);
  for (std::size_t t = 0; t < steps; ++t)
    by_step.outputs[t].on_grad(
        [&hooked, t](Tensor<double>& g) { hooked[t] = std::sqrt(double(xt::sum(g * g)())); });
  b.backward(sum(stack(by_step.outputs, 0) * b.constant(r)) +
             sum(hidden_of<Layer>(by_step.last.back()) * b.constant(r_last)));
  BOOST_TEST_REQUIRE(norms.size() == steps);
  for (std::size_t t = 0; t < steps; ++t) {
    BOOST_TEST(hooked[t] > 0);
    BOOST_TEST(norms[t] == hooked[t], boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(state_grad_norms_are_what_hooks_on_the_step_form_read) {
  check_state_grad_norms_are_the_step_forms<nn::RNN<double>>(41);
  check_state_grad_norms_are_the_step_forms<nn::LSTM<double>>(42);
  check_state_grad_norms_are_the_step_forms<nn::GRU<double>>(43);
}

BOOST_AUTO_TEST_CASE(lengths_of_every_step_add_no_op) {
  // Full lengths are no padding: the same tape, node for node, as no lengths.
  std::mt19937_64 gen(4);
  nn::Rng rng(4);
  nn::LSTM<double> lstm(kInput, kHidden, 2, rng);
  const Tensor<double> x = random_tensor({5, 3, kInput}, gen);
  Tape<double> plain, full;
  const auto a = lstm(plain.constant(x));
  const auto b = lstm(full.constant(x), {}, {5, 5, 5});
  BOOST_TEST(full.size() == plain.size());
  check_tensor(b.output.value(), a.output.value(), 0.0);
  // Steps after the longest sequence run no cell: each layer is one lstm_sequence op over all
  // five steps, which holds every row from step 2 on without running a step (no product, no
  // activation), so lengths all 2 of 5 record the two-step sequence's nodes plus only the step
  // mask and its product with the output. The held states are the two-step run's, bit for bit.
  Tensor<double> first_two = Tensor<double>::from_shape({2, 3, kInput});
  std::copy_n(x.data(), first_two.size(), first_two.data());
  Tape<double> two, padded;
  const auto d = lstm(two.constant(first_two));
  const auto c = lstm(padded.constant(x), {}, {2, 2, 2});
  BOOST_TEST(padded.size() == two.size() + 2);
  for (std::size_t k = 2 * 3 * kHidden; k < c.output.value().size(); ++k)
    BOOST_TEST(c.output.value().data()[k] == 0.0);
  for (std::size_t k = 0; k < d.output.value().size(); ++k)
    BOOST_TEST(c.output.value().data()[k] == d.output.value().data()[k]);
  for (std::size_t l = 0; l < 2; ++l) {
    check_tensor(c.last[l].h.value(), d.last[l].h.value(), 0.0);
    check_tensor(c.last[l].c.value(), d.last[l].c.value(), 0.0);
  }
}

BOOST_AUTO_TEST_CASE(padded_lstm_batch_equals_each_sequence_alone) {
  check_padded_batch_equals_each_sequence_alone<nn::LSTM<double>>(5, {3, 5, 1, 4}, true, 10);
  // The longest sequence shorter than T, and zero initial states.
  check_padded_batch_equals_each_sequence_alone<nn::LSTM<double>>(5, {2, 4, 1}, false, 11);
}

BOOST_AUTO_TEST_CASE(padded_gru_batch_equals_each_sequence_alone) {
  check_padded_batch_equals_each_sequence_alone<nn::GRU<double>>(5, {3, 5, 1, 4}, true, 12);
  check_padded_batch_equals_each_sequence_alone<nn::GRU<double>>(6, {6, 2, 2}, false, 13);
}

BOOST_AUTO_TEST_CASE(padded_rnn_batch_equals_each_sequence_alone) {
  check_padded_batch_equals_each_sequence_alone<nn::RNN<double>>(4, {4, 1, 3}, true, 14);
}

// A language-model step over a padded batch: [T, B, H] -> head -> [T, B, V] logits -> the
// ignore-index loss, targets -100 at padded steps; gradients against central differences.
TAPEGRAD_GRADIENT_TEST(padded_lstm_with_ignore_index_loss_gradient, "select") {
  const std::size_t steps = 4, batch = 3, layers = 2;
  const std::vector<std::size_t> lengths{2, 4, 3};
  std::mt19937_64 gen(20);
  nn::Rng rng(20);
  nn::LSTM<double> lstm(kInput, kHidden, layers, rng);
  nn::Linear<double> head(kHidden, kClasses, rng);
  randomise(lstm, gen);
  randomise(head, gen);
  Parameter<double> x(random_tensor({steps, batch, kInput}, gen));
  Initial<nn::LSTM<double>> init(layers, batch, gen);
  Indices targets;
  for (std::size_t t = 0; t < steps; ++t)
    for (std::size_t b = 0; b < batch; ++b)
      targets.push_back(t < lengths[b] ? std::int64_t((t * 3 + b) % kClasses) : -100);
  std::vector<Parameter<double>*> inputs = lstm.parameters();
  for (Parameter<double>* p : head.parameters()) inputs.push_back(p);
  inputs.push_back(&x);
  for (Parameter<double>* p : init.params()) inputs.push_back(p);
  check_gradients(
      "select",
      [&](Tape<double>& t) {
        const auto o = lstm(t.param(x), init.bind(t), lengths);
        // The final cell states enter too: their path runs through the held steps.
        return softmax_cross_entropy(head(o.output), targets) + mean(square(o.last[0].c)) +
               mean(square(o.last[1].h));
      },
      inputs);
}

BOOST_AUTO_TEST_CASE(padding_adds_nothing_to_the_ignore_index_loss) {
  // The padded batch's mean loss over its real steps is the per-sequence losses (each a mean
  // over its own steps) weighted by length: loss = sum_b L_b loss_b / sum_b L_b, and the same
  // holds for every gradient.
  const std::size_t steps = 5, batch = 3;
  const std::vector<std::size_t> lengths{5, 2, 3};
  std::mt19937_64 gen(30);
  nn::Rng rng(30);
  nn::GRU<double> gru(kInput, kHidden, 1, rng);
  nn::Linear<double> head(kHidden, kClasses, rng);
  randomise(gru, gen);
  randomise(head, gen);
  const Tensor<double> x = random_tensor({steps, batch, kInput}, gen);
  Indices targets;
  for (std::size_t t = 0; t < steps; ++t)
    for (std::size_t b = 0; b < batch; ++b)
      targets.push_back(t < lengths[b] ? std::int64_t((t + 2 * b) % kClasses) : -100);
  std::vector<Parameter<double>*> params = gru.parameters();
  for (Parameter<double>* p : head.parameters()) params.push_back(p);

  Tape<double> tape;
  const Var<double> loss =
      softmax_cross_entropy(head(gru(tape.constant(x), {}, lengths).output), targets);
  tape.backward(loss);
  std::vector<Tensor<double>> grads;
  for (Parameter<double>* p : params) {
    grads.push_back(p->grad);
    p->zero_grad();
  }
  const double total = 5 + 2 + 3;
  double expected = 0;
  for (std::size_t b = 0; b < batch; ++b) {
    Indices own;
    for (std::size_t t = 0; t < lengths[b]; ++t) own.push_back(targets[t * batch + b]);
    Tape<double> t;
    const Var<double> lb =
        softmax_cross_entropy(head(gru(t.constant(sequence_of(x, b, lengths[b]))).output), own);
    expected += double(lengths[b]) * lb.item() / total;
    t.backward(lb * (double(lengths[b]) / total));
  }
  BOOST_TEST(loss.item() == expected, boost::test_tools::tolerance(1e-13));
  for (std::size_t k = 0; k < params.size(); ++k)
    check_close(params[k]->name.empty() ? "parameter " + std::to_string(k) : params[k]->name,
                params[k]->grad, grads[k]);
}

BOOST_AUTO_TEST_CASE(the_readme_snippet_of_a_padded_batch) {
  // README.md's snippet, line for line, then what its comments say.
  nn::Rng rng(1);
  nn::LSTM<float> lstm(8, 16, 2, rng);
  nn::Linear<float> head(16, 100, rng);
  const std::vector<std::size_t> lengths{6, 2, 4};
  Tensor<float> batch = nn::uniform<float>({6, 3, 8}, -1, 1, rng);
  Indices targets(6 * 3, -100);
  for (std::size_t b = 0; b < 3; ++b)
    for (std::size_t t = 0; t < lengths[b]; ++t) targets[t * 3 + b] = std::int64_t(t + b);

  Tape<float> tape;
  auto out = lstm(tape.constant(batch), {}, lengths);
  Var<float> loss = softmax_cross_entropy(head(out.output), targets);
  tape.backward(loss);

  BOOST_TEST(shape_str(out.output.shape()) == "[6, 3, 16]");
  BOOST_TEST_REQUIRE(out.last.size() == 2u);
  BOOST_TEST(shape_str(out.last[1].c.shape()) == "[3, 16]");
  // Zero at padded steps (sequence 1 after step 1, sequence 2 after step 3), and not before.
  for (std::size_t k = 0; k < 16; ++k) {
    BOOST_TEST(out.output.value()(2, 1, k) == 0.f);
    BOOST_TEST(out.output.value()(5, 2, k) == 0.f);
  }
  BOOST_TEST(out.output.value()(1, 1, 0) != 0.f);
  // Sequence 1's final h is its output at its own last step (1), not at the last step (5).
  for (std::size_t k = 0; k < 16; ++k)
    BOOST_TEST(out.last[1].h.value()(1, k) == out.output.value()(1, 1, k));
  // The loss is the mean over the 12 real steps of -log softmax(logits)[target], worked here
  // from the logits in plain loops.
  Tape<float> again;
  const Tensor<float> logits = head(lstm(again.constant(batch), {}, lengths).output).value();
  double total = 0;
  std::size_t real = 0;
  for (std::size_t r = 0; r < 18; ++r) {
    if (targets[r] == -100) continue;
    const float* z = logits.data() + r * 100;
    double m = z[0], s = 0;
    for (std::size_t j = 0; j < 100; ++j) m = std::max(m, double(z[j]));
    for (std::size_t j = 0; j < 100; ++j) s += std::exp(double(z[j]) - m);
    total += m + std::log(s) - double(z[targets[r]]);
    ++real;
  }
  BOOST_TEST(real == 12u);
  BOOST_TEST(double(loss.item()) == total / 12, boost::test_tools::tolerance(1e-5));
}

BOOST_AUTO_TEST_CASE(a_braced_list_still_means_the_per_step_form) {
  // rnn({x}) is a sequence of one step, as before the tensor form existed: the tensor overload
  // must not take a braced list (nor {} for an empty sequence, which is an error of that form).
  nn::Rng rng(50);
  nn::RNN<double> rnn(kInput, kHidden, 1, rng);
  Tape<double> tape;
  const Var<double> x = tape.constant(full<double>({2, kInput}, 0.5));
  const auto one = rnn({x});
  static_assert(std::is_same_v<std::decay_t<decltype(one)>, nn::RNN<double>::Output>);
  BOOST_TEST(one.outputs.size() == 1u);
  BOOST_CHECK_EXCEPTION(rnn({}), Error, mentions({"the input sequence is empty"}));
  static_assert(
      std::is_same_v<decltype(rnn(x)), nn::RNN<double>::SequenceOutput>);  // a Var: the tensor
}

BOOST_AUTO_TEST_CASE(bad_sequences_and_lengths_are_reported) {
  nn::Rng rng(40);
  nn::LSTM<double> lstm(kInput, kHidden, 2, rng);
  Tape<double> tape;
  Var<double> x = tape.constant(full<double>({4, 2, kInput}, 0.5));
  const std::size_t before = tape.size();
  BOOST_CHECK_EXCEPTION(
      lstm(x, {}, {3}), Error,
      mentions({"recurrent layer: 1 lengths given for a batch of 2 sequences", "[4, 2, 3]"}));
  BOOST_CHECK_EXCEPTION(
      lstm(x, {}, {4, 5}), Error,
      mentions({"recurrent layer: lengths[1] is 5; expected a length in [1, 4]", "4 steps"}));
  BOOST_CHECK_EXCEPTION(lstm(x, {}, {0, 2}), Error, mentions({"lengths[0] is 0", "[1, 4]"}));
  BOOST_CHECK_EXCEPTION(
      lstm(tape.constant(full<double>({4, 2, 5}, 0.5))), Error,
      mentions({"recurrent layer: expected an input of shape [steps, batch, 3]", "[4, 2, 5]"}));
  BOOST_CHECK_EXCEPTION(lstm(tape.constant(full<double>({2, 3}, 0.5))), Error,
                        mentions({"[steps, batch, 3]", "[2, 3]"}));
  BOOST_CHECK_EXCEPTION(lstm(tape.constant(Tensor<double>::from_shape({0, 2, 3}))), Error,
                        mentions({"at least one step", "[0, 2, 3]"}));
  BOOST_CHECK_EXCEPTION(lstm.from_projections(x), Error,
                        mentions({"input projections of shape [steps, batch, 16]", "[4, 2, 3]"}));
  BOOST_TEST(tape.size() == before + 3);  // the three constants made above, no op node
  // The same layer then runs normally.
  BOOST_TEST(shape_str(lstm(x, {}, {4, 1}).output.shape()) == "[4, 2, 4]");
}

BOOST_AUTO_TEST_SUITE_END()

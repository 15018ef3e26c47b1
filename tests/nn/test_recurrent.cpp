// The recurrent layers unrolled over sequences: gradients with respect to every weight, every
// input step and the given initial states against central differences (BPTT through nn's
// composed cells), the wiring of stacked layers, and the sizes of what they return.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/nn/nn.hpp>

#include "support/gradient_test.hpp"

using namespace tapegrad;
namespace nn = tapegrad::nn;
using testsupport::random_tensor;

namespace {

using Named = std::vector<std::pair<std::string, Parameter<double>*>>;

constexpr std::size_t kInput = 3, kHidden = 4, kBatch = 2, kClasses = 3;

Named named(const std::string& prefix, nn::Module<double>& m) {
  Named out;
  for (auto& [name, p] : m.named_parameters()) out.emplace_back(prefix + name, p);
  return out;
}

Named operator+(Named a, const Named& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// gradcheck over every element of every input; failures name the input by its qualified name,
// since module parameters repeat their local names ("weight_ih") in every layer.
void check_all_gradients(const std::function<Var<double>(Tape<double>&)>& f, const Named& in) {
  std::vector<Parameter<double>*> inputs;
  for (auto& [name, p] : in) inputs.push_back(p);
  const GradcheckResult r = gradcheck(f, inputs);
  BOOST_TEST_REQUIRE(r.inputs.size() == in.size());
  for (std::size_t k = 0; k < in.size(); ++k) {
    const GradcheckInputReport& rep = r.inputs[k];
    BOOST_TEST(rep.ok, in[k].first << ": " << rep.failures << " of " << rep.checked
                                   << " elements failed; worst at " << shape_str(rep.worst_index)
                                   << ": analytic " << rep.analytic << ", numeric " << rep.numeric);
    BOOST_TEST(rep.checked == in[k].second->value.size(), in[k].first);
  }
}

// Random weights and biases: the layers' zero biases would be a special point.
void randomise(nn::Module<double>& m, std::mt19937_64& rng) {
  for (Parameter<double>* p : m.parameters()) p->value = random_tensor(p->value.shape(), rng);
}

double max_abs(const Tensor<double>& t) {
  double m = 0;
  for (double v : t) m = std::max(m, std::abs(v));
  return m;
}

// Input steps (and initial states) as Parameters, so that gradcheck perturbs them too.
struct Sequence {
  std::vector<Parameter<double>> xs;
  Sequence(std::size_t steps, std::mt19937_64& rng) {
    for (std::size_t k = 0; k < steps; ++k)
      xs.emplace_back(random_tensor({kBatch, kInput}, rng), "x" + std::to_string(k));
  }
  std::vector<Var<double>> bind(Tape<double>& t) {
    std::vector<Var<double>> out;
    for (Parameter<double>& x : xs) out.push_back(t.param(x));
    return out;
  }
  Named params() {
    Named out;
    for (Parameter<double>& x : xs) out.emplace_back(x.name, &x);
    return out;
  }
};

// Per-layer initial states: hidden states (and LSTM cell states) of [batch, hidden].
struct States {
  std::vector<Parameter<double>> s;
  States(const std::string& prefix, std::size_t layers, std::mt19937_64& rng) {
    for (std::size_t l = 0; l < layers; ++l)
      s.emplace_back(random_tensor({kBatch, kHidden}, rng, -0.5, 0.5), prefix + std::to_string(l));
  }
  std::vector<Var<double>> bind(Tape<double>& t) {
    std::vector<Var<double>> out;
    for (Parameter<double>& p : s) out.push_back(t.param(p));
    return out;
  }
  Named params() {
    Named out;
    for (Parameter<double>& p : s) out.emplace_back(p.name, &p);
    return out;
  }
};

// One class per (step, batch row), cycling through the classes.
Indices targets_for(std::size_t steps) {
  Indices t;
  for (std::size_t k = 0; k < steps * kBatch; ++k)
    t.push_back(std::int64_t((k * 2 + 1) % kClasses));
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recurrent)

BOOST_AUTO_TEST_CASE(rnn_gradients_over_six_steps_reach_the_given_initial_state) {
  const std::size_t steps = 6;
  std::mt19937_64 gen(100);
  nn::Rng rng(100);
  nn::RNN<double> rnn(kInput, kHidden, 1, rng);
  nn::Linear<double> head(kHidden, kClasses, rng);
  randomise(rnn, gen);
  randomise(head, gen);
  Sequence seq(steps, gen);
  States h0("h0.layer", 1, gen);
  const Indices targets = targets_for(steps);
  const auto forward = [&](Tape<double>& t) { return rnn(seq.bind(t), h0.bind(t)); };
  const auto loss = [&](Tape<double>& t) {
    return softmax_cross_entropy(head(concat(forward(t).outputs, 0)), targets);
  };

  {
    Tape<double> tape;
    const auto out = forward(tape);
    BOOST_TEST(out.outputs.size() == steps);
    BOOST_TEST_REQUIRE(out.last.size() == 1u);
    for (const Var<double>& y : out.outputs) BOOST_TEST((y.shape() == Shape{kBatch, kHidden}));
    // A one-layer RNN's final state is its last output.
    BOOST_TEST((out.last[0].value() == out.outputs.back().value()));
  }
  check_all_gradients(loss, named("rnn.", rnn) + named("head.", head) + h0.params() + seq.params());
  // The initial state mattered: six tanh steps back, its gradient is still there.
  BOOST_TEST(max_abs(h0.s[0].grad) > 1e-6);
}

BOOST_AUTO_TEST_CASE(three_layer_rnn_gradients_with_initial_states_for_every_layer) {
  const std::size_t steps = 5, layers = 3;
  std::mt19937_64 gen(101);
  nn::Rng rng(101);
  nn::RNN<double> rnn(kInput, kHidden, layers, rng);
  randomise(rnn, gen);
  Sequence seq(steps, gen);
  States h0("h0.layer", layers, gen);
  const auto forward = [&](Tape<double>& t) { return rnn(seq.bind(t), h0.bind(t)); };
  {
    Tape<double> tape;
    const auto out = forward(tape);
    BOOST_TEST(out.outputs.size() == steps);
    BOOST_TEST(out.last.size() == layers);
    BOOST_TEST((out.last[layers - 1].value() == out.outputs.back().value()));
  }
  // Sum of squares of every step's output: each layer's weights feed all later steps.
  check_all_gradients([&](Tape<double>& t) { return sum(square(stack(forward(t).outputs))); },
                      named("rnn.", rnn) + h0.params() + seq.params());
  for (const Parameter<double>& h : h0.s) BOOST_TEST(max_abs(h.grad) > 1e-6, h.name);
}

BOOST_AUTO_TEST_CASE(two_layer_lstm_gradients_with_initial_h_and_c) {
  const std::size_t steps = 5, layers = 2;
  std::mt19937_64 gen(102);
  nn::Rng rng(102);
  nn::LSTM<double> lstm(kInput, kHidden, layers, rng);
  nn::Linear<double> head(kHidden, kClasses, rng);
  randomise(lstm, gen);
  randomise(head, gen);
  Sequence seq(steps, gen);
  States h0("h0.layer", layers, gen), c0("c0.layer", layers, gen);
  const Indices targets = targets_for(steps);
  const auto forward = [&](Tape<double>& t) {
    std::vector<nn::LSTMState<double>> initial;
    const auto h = h0.bind(t), c = c0.bind(t);
    for (std::size_t l = 0; l < layers; ++l) initial.push_back({h[l], c[l]});
    return lstm(seq.bind(t), initial);
  };
  {
    Tape<double> tape;
    const auto out = forward(tape);
    BOOST_TEST(out.outputs.size() == steps);
    BOOST_TEST_REQUIRE(out.last.size() == layers);
    BOOST_TEST((out.last[layers - 1].h.value() == out.outputs.back().value()));
    for (const auto& s : out.last) BOOST_TEST((s.c.shape() == Shape{kBatch, kHidden}));
  }
  // The final cell states enter the loss too: c_n is part of what an LSTM returns, and its
  // gradient path (through the forget gates alone) is not the outputs' path.
  check_all_gradients(
      [&](Tape<double>& t) {
        const auto out = forward(t);
        Var<double> ce = softmax_cross_entropy(head(concat(out.outputs, 0)), targets);
        return ce + mean(square(out.last[0].c)) + mean(square(out.last[1].c));
      },
      named("lstm.", lstm) + named("head.", head) + h0.params() + c0.params() + seq.params());
  for (const Parameter<double>& c : c0.s) BOOST_TEST(max_abs(c.grad) > 1e-6, c.name);
}

BOOST_AUTO_TEST_CASE(gru_gradients_with_initial_state) {
  const std::size_t steps = 5;
  std::mt19937_64 gen(103);
  nn::Rng rng(103);
  for (std::size_t layers : {1u, 2u}) {
    BOOST_TEST_CONTEXT(layers << " layer(s)") {
      nn::GRU<double> gru(kInput, kHidden, layers, rng);
      nn::Linear<double> head(kHidden, kClasses, rng);
      randomise(gru, gen);
      randomise(head, gen);
      Sequence seq(steps, gen);
      States h0("h0.layer", layers, gen);
      const Indices targets = targets_for(steps);
      const auto forward = [&](Tape<double>& t) { return gru(seq.bind(t), h0.bind(t)); };
      {
        Tape<double> tape;
        const auto out = forward(tape);
        BOOST_TEST(out.outputs.size() == steps);
        BOOST_TEST(out.last.size() == layers);
      }
      check_all_gradients(
          [&](Tape<double>& t) {
            return softmax_cross_entropy(head(concat(forward(t).outputs, 0)), targets);
          },
          named("gru.", gru) + named("head.", head) + h0.params() + seq.params());
    }
  }
}

BOOST_AUTO_TEST_CASE(layers_without_bias_have_only_weights_and_correct_gradients) {
  std::mt19937_64 gen(104);
  nn::Rng rng(104);
  nn::LSTM<double> lstm(kInput, kHidden, 1, rng, false);
  const std::vector<std::string> expected = {"layer0.weight_ih", "layer0.weight_hh"};
  std::vector<std::string> names;
  for (auto& [name, p] : lstm.named_parameters()) names.push_back(name);
  BOOST_TEST(names == expected, boost::test_tools::per_element());
  randomise(lstm, gen);
  Sequence seq(5, gen);
  check_all_gradients(
      [&](Tape<double>& t) { return sum(square(stack(lstm(seq.bind(t)).outputs))); },
      named("lstm.", lstm) + seq.params());
}

BOOST_AUTO_TEST_CASE(no_initial_state_means_zero_states) {
  std::mt19937_64 gen(105);
  nn::Rng rng(105);
  nn::LSTM<double> lstm(kInput, kHidden, 2, rng);
  nn::GRU<double> gru(kInput, kHidden, 2, rng);
  randomise(lstm, gen);
  randomise(gru, gen);
  Sequence seq(4, gen);
  Tape<double> tape;
  const Var<double> zero = tape.constant(nn::zeros<double>({kBatch, kHidden}));
  const auto xs = seq.bind(tape);
  const auto lstm_default = lstm(xs), lstm_zero = lstm(xs, {{zero, zero}, {zero, zero}});
  const auto gru_default = gru(xs), gru_zero = gru(xs, {zero, zero});
  for (std::size_t k = 0; k < xs.size(); ++k) {
    BOOST_TEST((lstm_default.outputs[k].value() == lstm_zero.outputs[k].value()), "step " << k);
    BOOST_TEST((gru_default.outputs[k].value() == gru_zero.outputs[k].value()), "step " << k);
  }
  // ... and a non-zero initial state does change the first output.
  const Var<double> one = tape.constant(nn::constant<double>({kBatch, kHidden}, 1.0));
  const auto gru_one = gru(xs, {one, one});
  BOOST_TEST(max_abs(gru_one.outputs[0].value() - gru_zero.outputs[0].value()) > 1e-3);
}

BOOST_AUTO_TEST_CASE(rnn_step_matches_its_formula) {
  // h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), written out element by element.
  std::mt19937_64 gen(106);
  nn::Rng rng(106);
  nn::RNN<double> rnn(kInput, kHidden, 1, rng);
  randomise(rnn, gen);
  const nn::RNNCell<double>& cell = rnn.layer(0);
  const Tensor<double> x = random_tensor({kBatch, kInput}, gen);
  const Tensor<double> h = random_tensor({kBatch, kHidden}, gen);
  Tape<double> tape;
  const auto out = rnn({tape.constant(x)}, {tape.constant(h)});
  for (std::size_t b = 0; b < kBatch; ++b)
    for (std::size_t j = 0; j < kHidden; ++j) {
      double a = cell.bias_ih().value(j) + cell.bias_hh().value(j);
      for (std::size_t i = 0; i < kInput; ++i) a += x(b, i) * cell.weight_ih().value(j, i);
      for (std::size_t i = 0; i < kHidden; ++i) a += h(b, i) * cell.weight_hh().value(j, i);
      BOOST_TEST(out.outputs[0].value()(b, j) == std::tanh(a), boost::test_tools::tolerance(1e-13));
    }
}

BOOST_AUTO_TEST_CASE(each_layer_reads_the_hidden_states_of_the_layer_below) {
  // The stack unrolled by hand from its own cells must give the same values, bit for bit:
  // layer 0 reads x_t, layer 1 reads layer 0's h_t, the outputs are layer 1's, and last[l] is
  // layer l's state after the final step.
  std::mt19937_64 gen(107);
  nn::Rng rng(107);
  nn::LSTM<double> lstm(kInput, kHidden, 2, rng);
  randomise(lstm, gen);
  Sequence seq(4, gen);
  States h0("h", 2, gen), c0("c", 2, gen);
  Tape<double> tape;
  const auto xs = seq.bind(tape);
  const auto h = h0.bind(tape), c = c0.bind(tape);
  const auto out = lstm(xs, {{h[0], c[0]}, {h[1], c[1]}});
  nn::LSTMState<double> s0{h[0], c[0]}, s1{h[1], c[1]};
  for (std::size_t k = 0; k < xs.size(); ++k) {
    s0 = lstm.layer(0)(xs[k], s0);
    s1 = lstm.layer(1)(s0.h, s1);
    BOOST_TEST((out.outputs[k].value() == s1.h.value()), "step " << k);
  }
  BOOST_TEST((out.last[0].h.value() == s0.h.value()));
  BOOST_TEST((out.last[0].c.value() == s0.c.value()));
  BOOST_TEST((out.last[1].c.value() == s1.c.value()));
}

BOOST_AUTO_TEST_CASE(a_loss_at_the_last_step_reaches_the_first_input) {
  // Backpropagation through time through the composed cells: only the final output is in the
  // loss, yet the first input step and the initial state receive gradients.
  std::mt19937_64 gen(108);
  nn::Rng rng(108);
  nn::GRU<double> gru(kInput, kHidden, 2, rng);
  randomise(gru, gen);
  Sequence seq(6, gen);
  States h0("h", 2, gen);
  Tape<double> tape;
  const auto out = gru(seq.bind(tape), h0.bind(tape));
  tape.backward(sum(out.outputs.back()));
  BOOST_TEST(max_abs(seq.xs.front().grad) > 1e-8);
  BOOST_TEST(max_abs(h0.s[0].grad) > 1e-8);
  BOOST_TEST(max_abs(h0.s[1].grad) > 1e-8);
}

BOOST_AUTO_TEST_CASE(a_cleared_tape_replays_the_sequence_and_grads_accumulate) {
  std::mt19937_64 gen(109);
  nn::Rng rng(109);
  nn::RNN<double> rnn(kInput, kHidden, 2, rng);
  randomise(rnn, gen);
  Sequence seq(5, gen);
  Tape<double> tape;
  const auto run = [&] {
    tape.clear();
    const auto out = rnn(seq.bind(tape));
    const Tensor<double> last = out.outputs.back().value();
    tape.backward(sum(square(stack(out.outputs))));
    return last;
  };
  const Tensor<double> first = run();
  const Tensor<double> g1 = rnn.layer(0).weight_hh().grad;
  const Tensor<double> second = run();
  BOOST_TEST((first == second));
  // Parameters accumulate across backward passes until zero_grad().
  BOOST_TEST(xt::allclose(rnn.layer(0).weight_hh().grad, 2.0 * g1, 1e-14, 1e-14));
  rnn.zero_grad();
  run();
  BOOST_TEST(xt::allclose(rnn.layer(0).weight_hh().grad, g1, 1e-14, 1e-14));
}

// A stack run from its first layer's input projections, computed for the whole sequence in one
// op and sliced per step, gives the outputs and gradients of the stack run from the inputs.
template <template <class> class Stack>
void check_from_projections_matches_inputs(std::uint64_t seed) {
  const std::size_t steps = 4, layers = 2;
  std::mt19937_64 gen(seed);
  nn::Rng rng(seed);
  Stack<double> stack(kInput, kHidden, layers, rng);
  randomise(stack, gen);
  Sequence seq(steps, gen);
  Tensor<double> k = random_tensor({kBatch * steps, kHidden}, gen);
  auto loss = [&](Tape<double>& t, bool projected) {
    std::vector<Var<double>> xs = seq.bind(t);
    if (projected) {
      const Var<double> all = stack.layer(0).input_part(concat(xs, 0));  // [T * B, G * H]
      for (std::size_t s = 0; s < steps; ++s) xs[s] = slice(all, 0, s * kBatch, (s + 1) * kBatch);
    }
    const auto out = projected ? stack.from_projections(xs) : stack(xs);
    return sum(concat(out.outputs, 0) * t.constant(k));
  };
  std::vector<Tensor<double>> grads[2];
  double values[2];
  for (int projected = 0; projected < 2; ++projected) {
    stack.zero_grad();
    for (Parameter<double>& x : seq.xs) x.zero_grad();
    Tape<double> tape;
    Var<double> l = loss(tape, projected == 1);
    tape.backward(l);
    values[projected] = l.item();
    for (Parameter<double>* p : stack.parameters()) grads[projected].push_back(p->grad);
    for (Parameter<double>& x : seq.xs) grads[projected].push_back(x.grad);
  }
  BOOST_TEST(values[1] == values[0], boost::test_tools::tolerance(1e-12));
  BOOST_TEST_REQUIRE(grads[1].size() == grads[0].size());
  for (std::size_t i = 0; i < grads[0].size(); ++i)
    BOOST_TEST(max_abs(grads[1][i] - grads[0][i]) <= 1e-12 * (1 + max_abs(grads[0][i])),
               "gradient " << i);
  check_all_gradients([&](Tape<double>& t) { return loss(t, true); },
                      named("stack.", stack) + seq.params());
}

BOOST_AUTO_TEST_CASE(stacks_run_from_input_projections_match_stacks_run_from_inputs) {
  check_from_projections_matches_inputs<nn::RNN>(301);
  check_from_projections_matches_inputs<nn::LSTM>(302);
  check_from_projections_matches_inputs<nn::GRU>(303);
}

BOOST_AUTO_TEST_CASE(an_input_projection_of_the_wrong_width_is_reported) {
  nn::Rng rng(7);
  nn::LSTM<double> lstm(kInput, kHidden, 1, rng);
  nn::GRU<double> gru(kInput, kHidden, 1, rng);
  Tape<double> tape;
  // [batch, hidden] where [batch, 4 hidden] (LSTM) and [batch, 3 hidden] (GRU) are expected.
  Var<double> narrow = tape.constant(Tensor<double>::from_shape({kBatch, kHidden}));
  BOOST_CHECK_EXCEPTION(lstm.from_projections({narrow}), Error, [](const Error& e) {
    return std::string(e.what()).find(
               "expected an input projection of shape [2, 16], got [2, 4]") != std::string::npos;
  });
  BOOST_CHECK_EXCEPTION(gru.from_projections({narrow}), Error, [](const Error& e) {
    return std::string(e.what()).find("[2, 12], got [2, 4]") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(float_layers_agree_with_double) {
  // Same weights, same inputs: the float instantiation computes the same function.
  std::mt19937_64 gen(110);
  nn::Rng rd(110), rf(110);
  nn::LSTM<double> ld(kInput, kHidden, 2, rd);
  nn::LSTM<float> lf(kInput, kHidden, 2, rf);
  randomise(ld, gen);
  const auto pd = ld.parameters();
  const auto pf = lf.parameters();
  BOOST_TEST_REQUIRE(pd.size() == pf.size());
  for (std::size_t k = 0; k < pd.size(); ++k) pf[k]->value = xt::cast<float>(pd[k]->value);
  Tape<double> td;
  Tape<float> tf;
  std::vector<Var<double>> xd;
  std::vector<Var<float>> xf;
  for (int k = 0; k < 5; ++k) {
    const Tensor<double> x = random_tensor({kBatch, kInput}, gen);
    xd.push_back(td.constant(x));
    xf.push_back(tf.constant(xt::cast<float>(x)));
  }
  const auto od = ld(xd);
  const auto of = lf(xf);
  td.backward(sum(od.outputs.back()));
  tf.backward(sum(of.outputs.back()));
  for (std::size_t k = 0; k < xd.size(); ++k)
    BOOST_TEST(
        xt::allclose(xt::cast<double>(of.outputs[k].value()), od.outputs[k].value(), 1e-5, 1e-5),
        "step " << k);
  for (std::size_t k = 0; k < pd.size(); ++k)
    BOOST_TEST(xt::allclose(xt::cast<double>(pf[k]->grad), pd[k]->grad, 1e-4, 1e-5),
               "parameter " << k);
}

// ---- dropout between layers, init, forget-gate bias ----

BOOST_AUTO_TEST_CASE(dropout_between_layers_is_gradient_checked_with_its_masks_held_fixed) {
  // Each evaluation restores the generator, so every one draws the same masks: the function
  // central differences see is the one the backward pass differentiates.
  const std::size_t steps = 4, layers = 3;
  std::mt19937_64 gen(103);
  nn::Rng rng(103);
  nn::RecurrentOptions o;
  o.dropout = 0.4;
  nn::GRU<double> gru(kInput, kHidden, layers, rng, o);
  nn::Linear<double> head(kHidden, kClasses, rng);
  randomise(gru, gen);
  randomise(head, gen);
  Sequence seq(steps, gen);
  const Indices targets = targets_for(steps);
  const auto generators = gru.named_generators();
  BOOST_TEST_REQUIRE(generators.size() == 1u);
  BOOST_TEST(generators[0].first == "dropout.rng");
  const std::string start = generators[0].second->state();
  const auto loss = [&](Tape<double>& t) {
    generators[0].second->set_state(start);
    return softmax_cross_entropy(head(concat(gru(seq.bind(t)).outputs, 0)), targets);
  };
  check_all_gradients(loss, named("gru.", gru) + named("head.", head) + seq.params());

  // The masks do drop: the same weights without dropout give another loss, and so does the
  // next draw; in eval() mode, or without gradients, the stack is the one without dropout.
  nn::Rng plain_rng(103);
  nn::GRU<double> plain(kInput, kHidden, layers, plain_rng);
  for (std::size_t k = 0; k < gru.parameters().size(); ++k)
    plain.parameters()[k]->value = gru.parameters()[k]->value;
  Tape<double> a, b, c, d;
  const double with = loss(a).item();
  const double without =
      softmax_cross_entropy(head(concat(plain(seq.bind(b)).outputs, 0)), targets).item();
  BOOST_TEST(with != without);
  BOOST_TEST(
      softmax_cross_entropy(head(concat(gru(seq.bind(c)).outputs, 0)), targets).item() != with,
      "a fresh mask on the next call");
  gru.eval();
  BOOST_TEST(softmax_cross_entropy(head(concat(gru(seq.bind(d)).outputs, 0)), targets).item() ==
             without);
  gru.train();
  const std::string before = generators[0].second->state();
  {
    NoGradGuard no_grad;
    Tape<double> e;
    BOOST_TEST(softmax_cross_entropy(head(concat(gru(seq.bind(e)).outputs, 0)), targets).item() ==
               without);
  }
  BOOST_TEST(generators[0].second->state() == before, "evaluating draws nothing");
}

BOOST_AUTO_TEST_CASE(dropout_leaves_a_one_layer_stack_and_the_initial_weights_alone) {
  // PyTorch's rule: dropout acts between layers, so one layer has none (and no generator); and
  // the generator's seed is drawn after every weight, so dropout never changes the init.
  nn::Rng a(5), b(5), c(5), d(5);
  nn::RecurrentOptions o;
  o.dropout = 0.3;
  nn::LSTM<double> one(kInput, kHidden, 1, a, o), three(kInput, kHidden, 3, b, o);
  nn::LSTM<double> one_plain(kInput, kHidden, 1, c), three_plain(kInput, kHidden, 3, d);
  BOOST_TEST(one.named_generators().empty());
  BOOST_TEST(three.named_generators().size() == 1u);
  for (std::size_t k = 0; k < three.parameters().size(); ++k)
    BOOST_TEST((three.parameters()[k]->value == three_plain.parameters()[k]->value), k);
  nn::Rng r(1);
  o.dropout = 1.0;
  BOOST_CHECK_THROW(nn::LSTM<double>(kInput, kHidden, 2, r, o), Error);
}

BOOST_AUTO_TEST_CASE(each_random_stream_draws_masks_of_its_own_from_the_same_generator_state) {
  // The processes of a data-parallel run: the same generator states, other masks (stream k),
  // and stream 0 the masks one process always drew.
  const std::size_t steps = 3;
  std::mt19937_64 gen(7);
  nn::RecurrentOptions o;
  o.dropout = 0.5;
  nn::Rng r0(9), r1(9), r2(9);
  nn::GRU<double> alone(kInput, kHidden, 3, r0, o), first(kInput, kHidden, 3, r1, o),
      second(kInput, kHidden, 3, r2, o);
  first.set_random_stream(0);
  second.set_random_stream(1);
  BOOST_TEST(second.random_stream() == 1u);
  Sequence seq(steps, gen);
  Tape<double> a, b, c;
  const Tensor<double> y_alone = concat(alone(seq.bind(a)).outputs, 0).value();
  const Tensor<double> y_first = concat(first(seq.bind(b)).outputs, 0).value();
  const Tensor<double> y_second = concat(second(seq.bind(c)).outputs, 0).value();
  BOOST_TEST((y_first == y_alone));
  BOOST_TEST(!(y_second == y_alone));
  BOOST_TEST(alone.named_generators()[0].second->state() ==
             second.named_generators()[0].second->state());
  BOOST_TEST(nn::Dropout<double>::stream_seed(42, 0) == 42u);
  BOOST_TEST(nn::Dropout<double>::stream_seed(42, 1) != nn::Dropout<double>::stream_seed(42, 2));
}

BOOST_AUTO_TEST_CASE(pytorch_init_draws_weights_and_biases_within_one_over_sqrt_hidden) {
  const std::size_t hidden = 64;
  nn::Rng rng(11);
  nn::RecurrentOptions o;
  o.init = nn::RecurrentInit::pytorch;
  nn::LSTM<double> lstm(32, hidden, 2, rng, o);
  const double bound = 1 / std::sqrt(double(hidden));
  for (auto& [name, p] : lstm.named_parameters()) {
    double largest = 0, sum_sq = 0;
    for (double v : p->value) {
      largest = std::max(largest, std::abs(v));
      sum_sq += v * v;
    }
    BOOST_TEST(largest <= bound, name);
    BOOST_TEST(largest > 0.95 * bound, name << " fills its range");
    // U(-a, a) has variance a^2 / 3; 256 or more draws put the sample within 20%.
    BOOST_TEST(std::abs(sum_sq / double(p->value.size()) / (bound * bound / 3) - 1) < 0.2, name);
  }
}

BOOST_AUTO_TEST_CASE(forget_bias_starts_the_forget_gate_open_and_is_for_lstms_only) {
  const std::size_t hidden = 5;
  nn::Rng rng(12);
  nn::RecurrentOptions o;
  o.init = nn::RecurrentInit::pytorch;  // non-zero biases, so that the 0 of bias_hh shows
  o.forget_bias = 1.0;
  nn::LSTM<double> lstm(3, hidden, 2, rng, o);
  for (std::size_t l = 0; l < 2; ++l) {
    const auto& cell = lstm.layer(l);
    for (std::size_t k = 0; k < 4 * hidden; ++k) {
      const bool forget = k >= hidden && k < 2 * hidden;
      if (forget) {
        BOOST_TEST(cell.bias_ih().value(k) == 1.0);
        BOOST_TEST(cell.bias_hh().value(k) == 0.0);
      } else {
        BOOST_TEST(cell.bias_ih().value(k) != 1.0);
      }
    }
  }
  nn::Rng r(1);
  BOOST_CHECK_THROW(nn::GRU<double>(3, hidden, 1, r, o), Error);
}

BOOST_AUTO_TEST_SUITE_END()

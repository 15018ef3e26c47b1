// The nn building blocks: Module bookkeeping (names, order, grads, modes), the initialisers'
// distributions, and Linear, Embedding and Conv1d -- their values against loops written out
// here, their gradients against central differences, and their error messages.
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <tapegrad/nn/nn.hpp>

#include "support/error_of.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
namespace nn = tapegrad::nn;
using testsupport::random_tensor;

namespace {

// The message of the tapegrad::Error that f throws, or a marker that fails every find().
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no tapegrad::Error thrown>";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Module parameters carry their local names ("weight"), which repeat across layers; gradcheck's
// own report would not say which layer failed, so failures are reported by qualified name.
void check_module_gradients(const std::function<Var<double>(Tape<double>&)>& f,
                            nn::Module<double>& module,
                            const std::vector<std::pair<std::string, Parameter<double>*>>& extra) {
  std::vector<std::pair<std::string, Parameter<double>*>> named = module.named_parameters();
  named.insert(named.end(), extra.begin(), extra.end());
  std::vector<Parameter<double>*> inputs;
  for (auto& [name, p] : named) inputs.push_back(p);
  const GradcheckResult r = gradcheck(f, inputs);
  BOOST_TEST_REQUIRE(r.inputs.size() == named.size());
  for (std::size_t k = 0; k < named.size(); ++k) {
    const GradcheckInputReport& rep = r.inputs[k];
    BOOST_TEST(rep.ok, named[k].first << ": " << rep.failures << " of " << rep.checked
                                      << " elements failed; worst at " << shape_str(rep.worst_index)
                                      << ": analytic " << rep.analytic << ", numeric "
                                      << rep.numeric);
    // Every element, not a sample of directions.
    BOOST_TEST(rep.checked == named[k].second->value.size(), named[k].first);
  }
}

// Replaces every parameter with random values: Xavier weights with zero biases would leave the
// bias-dependent terms of a gradient unexercised at a special point.
void randomise(nn::Module<double>& m, std::mt19937_64& rng) {
  for (Parameter<double>* p : m.parameters()) p->value = random_tensor(p->value.shape(), rng);
}

double sample_mean(const Tensor<double>& t) {
  double s = 0;
  for (double v : t) s += v;
  return s / double(t.size());
}

double sample_variance(const Tensor<double>& t) {
  const double m = sample_mean(t);
  double s = 0;
  for (double v : t) s += (v - m) * (v - m);
  return s / double(t.size() - 1);
}

double max_abs(const Tensor<double>& t) {
  double m = 0;
  for (double v : t) m = std::max(m, std::abs(v));
  return m;
}

// A model with its own parameter and two sub-modules, one of which has sub-modules itself.
struct Net : nn::Module<double> {
  Parameter<double>& scale;
  nn::Linear<double> head;
  nn::RNN<double> rnn;
  explicit Net(nn::Rng& rng)
      : scale(register_parameter("scale", nn::constant<double>({1}, 2.0))),
        head(4, 2, rng),
        rnn(3, 4, 2, rng) {
    register_module("head", head);
    register_module("rnn", rnn);
  }
};

std::vector<std::string> names_of(nn::Module<double>& m) {
  std::vector<std::string> out;
  for (auto& [name, p] : m.named_parameters()) out.push_back(name);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(layers)

// ---- Module ----

BOOST_AUTO_TEST_CASE(stacked_lstm_parameters_are_named_by_layer_in_registration_order) {
  nn::Rng rng(1);
  nn::LSTM<double> lstm(3, 4, 2, rng);
  const std::vector<std::string> expected = {
      "layer0.weight_ih", "layer0.weight_hh", "layer0.bias_ih", "layer0.bias_hh",
      "layer1.weight_ih", "layer1.weight_hh", "layer1.bias_ih", "layer1.bias_hh"};
  BOOST_TEST(names_of(lstm) == expected, boost::test_tools::per_element());
  // Four gates stacked: [4H, I] for the first layer, [4H, H] above it.
  const std::vector<Shape> shapes = {{16, 3}, {16, 4}, {16}, {16}, {16, 4}, {16, 4}, {16}, {16}};
  const auto named = lstm.named_parameters();
  for (std::size_t k = 0; k < named.size(); ++k)
    BOOST_TEST((named[k].second->value.shape() == shapes[k]),
               named[k].first << " is " << shape_str(named[k].second->value.shape()));
  // The named entries point at the cells' own parameters.
  BOOST_TEST(named[0].second == &lstm.layer(0).weight_ih());
  BOOST_TEST(named[7].second == &lstm.layer(1).bias_hh());
}

BOOST_AUTO_TEST_CASE(own_parameters_come_before_sub_modules_which_nest_their_names) {
  nn::Rng rng(2);
  Net net(rng);
  const std::vector<std::string> expected = {"scale",
                                             "head.weight",
                                             "head.bias",
                                             "rnn.layer0.weight_ih",
                                             "rnn.layer0.weight_hh",
                                             "rnn.layer0.bias_ih",
                                             "rnn.layer0.bias_hh",
                                             "rnn.layer1.weight_ih",
                                             "rnn.layer1.weight_hh",
                                             "rnn.layer1.bias_ih",
                                             "rnn.layer1.bias_hh"};
  BOOST_TEST(names_of(net) == expected, boost::test_tools::per_element());

  // parameters() is the same list without names, in the same order.
  const auto named = net.named_parameters();
  const std::vector<Parameter<double>*> params = net.parameters();
  BOOST_TEST_REQUIRE(params.size() == named.size());
  for (std::size_t k = 0; k < params.size(); ++k) BOOST_TEST(params[k] == named[k].second);
  // The order is stable: asking again gives the same pointers (optimisers rely on it).
  BOOST_TEST((net.parameters() == params));
}

BOOST_AUTO_TEST_CASE(parameter_count_sums_every_element) {
  nn::Rng rng(3);
  nn::Linear<double> linear(3, 4, rng);
  BOOST_TEST(linear.parameter_count() == 16u);  // 4*3 + 4
  nn::Linear<double> no_bias(3, 4, rng, false);
  BOOST_TEST(no_bias.parameter_count() == 12u);
  nn::RNN<double> rnn(3, 4, 1, rng);
  BOOST_TEST(rnn.parameter_count() == 36u);  // 4*3 + 4*4 + 4 + 4
  nn::GRU<double> gru(3, 4, 1, rng);
  BOOST_TEST(gru.parameter_count() == 108u);  // 12*3 + 12*4 + 12 + 12
  nn::LSTM<double> lstm(3, 4, 2, rng);
  BOOST_TEST(lstm.parameter_count() == 304u);  // 16*(3+4+2) + 16*(4+4+2)
  nn::RNN<double> rnn_no_bias(3, 4, 1, rng, false);
  BOOST_TEST(rnn_no_bias.parameter_count() == 28u);
  nn::Embedding<double> embedding(10, 5, rng);
  BOOST_TEST(embedding.parameter_count() == 50u);
  nn::Conv1d<double> conv(2, 3, 3, rng);
  BOOST_TEST(conv.parameter_count() == 21u);  // 3*2*3 + 3
  Net net(rng);
  BOOST_TEST(net.parameter_count() == 1u + 10u + 36u + 40u);
}

BOOST_AUTO_TEST_CASE(zero_grad_clears_every_sub_module) {
  nn::Rng rng(4);
  Net net(rng);
  Tape<double> tape;
  std::vector<Var<double>> xs;
  for (int k = 0; k < 3; ++k) xs.push_back(tape.constant(nn::uniform<double>({2, 3}, -1, 1, rng)));
  Var<double> y = net.head(net.rnn(xs).outputs.back()) * tape.param(net.scale);
  tape.backward(sum(square(y)));
  for (auto& [name, p] : net.named_parameters()) BOOST_TEST(max_abs(p->grad) > 0.0, name);
  net.zero_grad();
  for (auto& [name, p] : net.named_parameters()) {
    BOOST_TEST(max_abs(p->grad) == 0.0, name);
    BOOST_TEST(p->grad.shape() == p->value.shape(), name);
  }
}

BOOST_AUTO_TEST_CASE(train_and_eval_reach_every_sub_module) {
  nn::Rng rng(5);
  Net net(rng);
  const auto all_modes = [&] {
    return std::vector<bool>{net.training(), net.head.training(), net.rnn.training(),
                             net.rnn.layer(0).training(), net.rnn.layer(1).training()};
  };
  BOOST_TEST(all_modes() == std::vector<bool>(5, true), boost::test_tools::per_element());
  net.eval();
  BOOST_TEST(all_modes() == std::vector<bool>(5, false), boost::test_tools::per_element());
  net.train();
  BOOST_TEST(all_modes() == std::vector<bool>(5, true), boost::test_tools::per_element());
  net.train(false);
  BOOST_TEST(all_modes() == std::vector<bool>(5, false), boost::test_tools::per_element());
  // Switching a sub-module does not touch its parent.
  net.rnn.train(true);
  BOOST_TEST(!net.training());
  BOOST_TEST(net.rnn.layer(1).training());
  BOOST_TEST(!net.head.training());
}

// ---- initialisers ----

BOOST_AUTO_TEST_CASE(rng_is_reproducible_from_its_seed) {
  nn::Rng a(123), b(123), c(124);
  std::vector<double> sa, sb, sc;
  for (int k = 0; k < 50; ++k) {
    sa.push_back(a.uniform(-1, 1));
    sb.push_back(b.uniform(-1, 1));
    sc.push_back(c.uniform(-1, 1));
  }
  BOOST_TEST(sa == sb, boost::test_tools::per_element());
  BOOST_TEST((sa != sc));
  // Whole layers built from the same seed are identical, weight for weight.
  nn::Rng r1(9), r2(9);
  nn::LSTM<double> l1(3, 4, 2, r1), l2(3, 4, 2, r2);
  const auto p1 = l1.parameters(), p2 = l2.parameters();
  for (std::size_t k = 0; k < p1.size(); ++k) BOOST_TEST((p1[k]->value == p2[k]->value));
  // normal() interleaves both Box-Muller numbers; the sequence still repeats exactly.
  nn::Rng n1(77), n2(77);
  for (int k = 0; k < 7; ++k) BOOST_TEST(n1.normal() == n2.normal());
}

BOOST_AUTO_TEST_CASE(rng_uniform_stays_in_its_half_open_interval) {
  nn::Rng rng(31);
  double lo = 10, hi = -10, sum = 0;
  const int n = 100000;
  for (int k = 0; k < n; ++k) {
    const double v = rng.uniform(2.0, 5.0);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  BOOST_TEST(lo >= 2.0);
  BOOST_TEST(hi < 5.0);
  BOOST_TEST(lo < 2.001);  // the whole interval is covered
  BOOST_TEST(hi > 4.999);
  BOOST_TEST(std::abs(sum / n - 3.5) < 0.02);  // sd of the mean is 0.0027
}

BOOST_AUTO_TEST_CASE(xavier_uniform_respects_its_bound_and_has_variance_a_squared_over_3) {
  nn::Rng rng(11);
  const Tensor<double> w = nn::xavier_uniform<double>({200, 300}, rng);
  const double a = std::sqrt(6.0 / (300 + 200));
  BOOST_TEST(max_abs(w) <= a);
  BOOST_TEST(max_abs(w) > 0.999 * a);  // 60000 draws reach the bound
  // Sample variance of U(-a, a) is a^2/3; its relative standard error here is 0.4%.
  BOOST_TEST(sample_variance(w) == a * a / 3, boost::test_tools::tolerance(0.02));
  BOOST_TEST(std::abs(sample_mean(w)) < 0.01 * a);
  // The gain scales the bound.
  const Tensor<double> g = nn::xavier_uniform<double>({200, 300}, rng, 2.0);
  BOOST_TEST(max_abs(g) <= 2 * a);
  BOOST_TEST(max_abs(g) > 1.99 * a);
}

BOOST_AUTO_TEST_CASE(xavier_uniform_counts_the_kernel_in_both_fans) {
  // [out, in, k]: fan_in = in*k = 20, fan_out = out*k = 40, a = sqrt(6/60).
  nn::Rng rng(12);
  const auto [in, out] = nn::fans({8, 4, 5});
  BOOST_TEST(in == 20.0);
  BOOST_TEST(out == 40.0);
  const Tensor<double> w = nn::xavier_uniform<double>({8, 4, 5}, rng);
  BOOST_TEST(max_abs(w) <= std::sqrt(0.1));
  BOOST_TEST(max_abs(w) > 0.8 * std::sqrt(0.1));
}

BOOST_AUTO_TEST_CASE(xavier_normal_has_the_glorot_standard_deviation) {
  nn::Rng rng(13);
  const Tensor<double> w = nn::xavier_normal<double>({200, 300}, rng);
  const double sd = std::sqrt(2.0 / 500);
  BOOST_TEST(std::sqrt(sample_variance(w)) == sd, boost::test_tools::tolerance(0.02));
  BOOST_TEST(std::abs(sample_mean(w)) < 0.02 * sd);
  // Normal, not uniform: about 68.3% of the draws lie within one standard deviation.
  const auto within = std::count_if(w.begin(), w.end(), [&](double v) { return std::abs(v) < sd; });
  BOOST_TEST(double(within) / double(w.size()) == 0.6827, boost::test_tools::tolerance(0.02));
  // ... and some lie beyond three, which U(-a, a) with the same variance never reaches.
  BOOST_TEST(max_abs(w) > 3 * sd);
  const Tensor<double> g = nn::xavier_normal<double>({200, 300}, rng, 0.5);
  BOOST_TEST(std::sqrt(sample_variance(g)) == 0.5 * sd, boost::test_tools::tolerance(0.02));
}

BOOST_AUTO_TEST_CASE(zeros_and_constant_fill_the_shape) {
  const Tensor<double> z = nn::zeros<double>({2, 3});
  BOOST_TEST((z.shape() == Shape{2, 3}));
  BOOST_TEST(max_abs(z) == 0.0);
  const Tensor<float> c = nn::constant<float>({4}, 2.5f);
  BOOST_TEST((c.shape() == Shape{4}));
  for (float v : c) BOOST_TEST(v == 2.5f);
}

BOOST_AUTO_TEST_CASE(layers_initialise_weights_within_xavier_bounds_and_biases_at_zero) {
  nn::Rng rng(14);
  nn::Linear<double> linear(30, 20, rng);
  BOOST_TEST(max_abs(linear.weight().value) <= std::sqrt(6.0 / 50));
  BOOST_TEST(max_abs(linear.weight().value) > 0.9 * std::sqrt(6.0 / 50));
  BOOST_TEST(max_abs(linear.bias().value) == 0.0);
  // Recurrent weights get the bound of one [hidden, in] gate block, not of the stacked matrix.
  nn::LSTM<double> lstm(3, 20, 1, rng);
  BOOST_TEST(max_abs(lstm.layer(0).weight_ih().value) <= std::sqrt(6.0 / 23));
  BOOST_TEST(max_abs(lstm.layer(0).weight_ih().value) > 0.9 * std::sqrt(6.0 / 23));
  BOOST_TEST(max_abs(lstm.layer(0).weight_hh().value) <= std::sqrt(6.0 / 40));
  BOOST_TEST(max_abs(lstm.layer(0).bias_ih().value) == 0.0);
  BOOST_TEST(max_abs(lstm.layer(0).bias_hh().value) == 0.0);
  nn::Conv1d<double> conv(4, 8, 5, rng);
  BOOST_TEST(max_abs(conv.weight().value) <= std::sqrt(0.1));
  BOOST_TEST(max_abs(conv.bias().value) == 0.0);
}

// ---- Linear ----

BOOST_AUTO_TEST_CASE(linear_computes_x_w_transposed_plus_b) {
  nn::Rng rng(20);
  nn::Linear<double> layer(3, 2, rng);
  layer.weight().value = Tensor<double>{{1, 2, 3}, {-1, 0.5, 0}};
  layer.bias().value = Tensor<double>{10, -10};
  Tape<double> tape;
  const Var<double> y = layer(tape.constant(Tensor<double>{{1, 1, 1}, {2, 0, -1}}));
  const Tensor<double> expected = {{16, -10.5}, {9, -12}};
  BOOST_TEST((y.value() == expected));

  // A leading batch axis: [b, n, in] -> [b, n, out], each slice as above.
  Tensor<double> x3 = Tensor<double>::from_shape({2, 2, 3});
  for (std::size_t k = 0; k < x3.size(); ++k) x3.data()[k] = double(k);
  const Var<double> y3 = layer(tape.constant(x3));
  BOOST_TEST((y3.shape() == Shape{2, 2, 2}));
  // Row [6, 7, 8]: 6 + 14 + 24 + 10 = 54, -6 + 3.5 - 10 = -12.5.
  BOOST_TEST(y3.value()(1, 0, 0) == 54.0);
  BOOST_TEST(y3.value()(1, 0, 1) == -12.5);

  nn::Linear<double> no_bias(3, 2, rng, false);
  BOOST_TEST(!no_bias.has_bias());
  BOOST_TEST(names_of(no_bias) == std::vector<std::string>{"weight"},
             boost::test_tools::per_element());
  no_bias.weight().value = layer.weight().value;
  const Var<double> y0 = no_bias(tape.constant(Tensor<double>{{1, 1, 1}, {2, 0, -1}}));
  BOOST_TEST((y0.value() == Tensor<double>{{6, -0.5}, {-1, -2}}));
}

BOOST_AUTO_TEST_CASE(linear_gradients_match_central_differences) {
  std::mt19937_64 gen(21);
  nn::Rng rng(21);
  nn::Linear<double> layer(4, 3, rng);
  randomise(layer, gen);
  Parameter<double> x(random_tensor({5, 4}, gen), "x");
  check_module_gradients([&](Tape<double>& t) { return tanh(layer(t.param(x))); }, layer,
                         {{"x", &x}});
  nn::Linear<double> no_bias(4, 3, rng, false);
  randomise(no_bias, gen);
  Parameter<double> x3(random_tensor({2, 5, 4}, gen), "x3");
  check_module_gradients([&](Tape<double>& t) { return no_bias(t.param(x3)); }, no_bias,
                         {{"x3", &x3}});
}

// ---- Embedding ----

BOOST_AUTO_TEST_CASE(embedding_returns_table_rows_and_accumulates_repeated_indices) {
  nn::Rng rng(30);
  nn::Embedding<double> emb(5, 3, rng);
  BOOST_TEST((emb.weight().value.shape() == Shape{5, 3}));
  const Indices idx = {1, 3, 1, 0, 1};
  Tape<double> tape;
  const Var<double> y = emb(tape, idx);
  BOOST_TEST_REQUIRE((y.shape() == Shape{5, 3}));
  for (std::size_t n = 0; n < idx.size(); ++n)
    for (std::size_t d = 0; d < 3; ++d)
      BOOST_TEST(y.value()(n, d) == emb.weight().value(std::size_t(idx[n]), d));

  Tensor<double> r = Tensor<double>::from_shape({5, 3});
  for (std::size_t k = 0; k < r.size(); ++k) r.data()[k] = double(k + 1);
  tape.backward(y, r);
  const Tensor<double>& g = emb.weight().grad;
  for (std::size_t d = 0; d < 3; ++d) {
    BOOST_TEST(g(1, d) == r(0, d) + r(2, d) + r(4, d));  // three lookups of row 1
    BOOST_TEST(g(3, d) == r(1, d));
    BOOST_TEST(g(0, d) == r(3, d));
    BOOST_TEST(g(2, d) == 0.0);  // never looked up
    BOOST_TEST(g(4, d) == 0.0);
  }
}

BOOST_AUTO_TEST_CASE(embedding_gradients_match_central_differences) {
  std::mt19937_64 gen(31);
  nn::Rng rng(31);
  nn::Embedding<double> emb(6, 4, rng);
  nn::Linear<double> head(4, 3, rng);
  randomise(head, gen);
  const Indices idx = {2, 5, 2, 2, 0};
  // The table is checked through a non-linear head so that the repeated rows' contributions
  // are not simply proportional to the projection.
  check_module_gradients(
      [&](Tape<double>& t) {
        return softmax_cross_entropy(head(emb(t, idx)), Indices{0, 1, 2, 0, 1});
      },
      emb, {{"head.weight", &head.weight()}, {"head.bias", &head.bias()}});
}

BOOST_AUTO_TEST_CASE(embedding_of_a_sequence_of_steps_is_every_steps_rows) {
  // steps[t][b] -> y(t, b, :): the [T, B, dim] sequence tensor, its rows those of the flat
  // lookup, its gradient the flat lookup's (repeated indices add up), an index out of range an
  // error that names it.
  nn::Rng rng(32);
  nn::Embedding<double> emb(5, 3, rng);
  const std::vector<Indices> steps = {{1, 3}, {1, 0}, {4, 1}};
  const Indices flat = {1, 3, 1, 0, 4, 1};
  Tensor<double> r = Tensor<double>::from_shape({6, 3});
  for (std::size_t k = 0; k < r.size(); ++k) r.data()[k] = 0.5 * double(k) - 2.0;
  Tape<double> a;
  const Var<double> y = emb(a, steps);
  BOOST_TEST_REQUIRE((y.shape() == Shape{3, 2, 3}));
  for (std::size_t t = 0; t < 3; ++t)
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t d = 0; d < 3; ++d)
        BOOST_TEST(y.value()(t, b, d) == emb.weight().value(std::size_t(steps[t][b]), d));
  Tensor<double> r3 = r;
  r3.reshape({3, 2, 3});
  a.backward(y, r3);
  const Tensor<double> by_steps = emb.weight().grad;
  emb.zero_grad();
  Tape<double> b;
  b.backward(emb(b, flat), r);
  BOOST_TEST(by_steps == emb.weight().grad);
  BOOST_TEST(by_steps(1, 0) == r(0, 0) + r(2, 0) + r(5, 0));  // three lookups of row 1
  Tape<double> c;
  BOOST_TEST(testsupport::error_of([&] {
               emb(c, std::vector<Indices>{{1, 2}, {0, 5}});
             }) ==
             "gather_rows: index 5 at position 1 of step 1 is out of range for a table of 5 rows");
  BOOST_TEST(testsupport::error_of([&] {
               emb(c, std::vector<Indices>{{1, 2}, {0}});
             }) ==
             "gather_rows: step 1 has 1 indices, step 0 has 2; every step needs one per sequence");
}

// ---- Conv1d ----

// out[b, o, j] = bias[o] + sum_{c, k} w[o, c, k] x[b, c, j*stride + k]
Tensor<double> reference_conv1d(const Tensor<double>& x, const Tensor<double>& w,
                                const Tensor<double>* bias, std::size_t stride) {
  const std::size_t B = x.shape()[0], C = x.shape()[1], L = x.shape()[2];
  const std::size_t O = w.shape()[0], K = w.shape()[2], n = (L - K) / stride + 1;
  Tensor<double> out = Tensor<double>::from_shape({B, O, n});
  for (std::size_t b = 0; b < B; ++b)
    for (std::size_t o = 0; o < O; ++o)
      for (std::size_t j = 0; j < n; ++j) {
        double s = bias ? (*bias)(o) : 0.0;
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t k = 0; k < K; ++k) s += w(o, c, k) * x(b, c, j * stride + k);
        out(b, o, j) = s;
      }
  return out;
}

BOOST_AUTO_TEST_CASE(conv1d_output_length_is_that_of_a_valid_convolution) {
  nn::Rng rng(40);
  nn::Conv1d<double> s1(2, 3, 3, rng), s2(2, 3, 3, rng, 2);
  BOOST_TEST(s1.output_length(7) == 5u);
  BOOST_TEST(s1.output_length(3) == 1u);
  BOOST_TEST(s1.output_length(2) == 0u);
  BOOST_TEST(s2.output_length(7) == 3u);
  BOOST_TEST(s2.output_length(8) == 3u);  // the last position starts no window
  BOOST_TEST(s2.output_length(9) == 4u);
}

BOOST_AUTO_TEST_CASE(conv1d_matches_a_direct_loop_for_each_stride) {
  std::mt19937_64 gen(41);
  nn::Rng rng(41);
  for (std::size_t stride : {1u, 2u, 3u}) {
    nn::Conv1d<double> conv(2, 3, 3, rng, stride);
    randomise(conv, gen);
    const Tensor<double> x = random_tensor({2, 2, 9}, gen);
    Tape<double> tape;
    const Var<double> y = conv(tape.constant(x));
    const Tensor<double> expected =
        reference_conv1d(x, conv.weight().value, &conv.bias().value, stride);
    BOOST_TEST_REQUIRE((y.shape() == expected.shape()), "stride " << stride);
    BOOST_TEST(xt::allclose(y.value(), expected, 1e-14, 1e-14), "stride " << stride);
  }
  nn::Conv1d<double> no_bias(3, 2, 2, rng, 1, false);
  BOOST_TEST(!no_bias.has_bias());
  BOOST_TEST(names_of(no_bias) == std::vector<std::string>{"weight"},
             boost::test_tools::per_element());
  const Tensor<double> x = random_tensor({1, 3, 4}, gen);
  Tape<double> tape;
  BOOST_TEST(xt::allclose(no_bias(tape.constant(x)).value(),
                          reference_conv1d(x, no_bias.weight().value, nullptr, 1), 1e-14, 1e-14));
}

BOOST_AUTO_TEST_CASE(conv1d_gradients_match_central_differences) {
  struct Config {
    std::size_t in, out, kernel, stride, length;
    bool bias;
  };
  // Stride 2 with a length whose last position lies in no window; stride 1; a 1-wide kernel (a
  // per-position linear map); a kernel as long as the input (one output position); no bias.
  const Config configs[] = {{2, 3, 3, 2, 8, true},
                            {2, 3, 3, 1, 6, true},
                            {3, 2, 1, 1, 4, true},
                            {2, 2, 5, 1, 5, true},
                            {2, 3, 2, 3, 7, false}};
  std::mt19937_64 gen(42);
  nn::Rng rng(42);
  for (const Config& c : configs) {
    BOOST_TEST_CONTEXT("in " << c.in << ", out " << c.out << ", kernel " << c.kernel << ", stride "
                             << c.stride << ", length " << c.length) {
      nn::Conv1d<double> conv(c.in, c.out, c.kernel, rng, c.stride, c.bias);
      randomise(conv, gen);
      Parameter<double> x(random_tensor({2, c.in, c.length}, gen), "x");
      Tape<double> probe;
      BOOST_TEST(conv(probe.leaf(x.value)).shape()[2] == conv.output_length(c.length));
      check_module_gradients([&](Tape<double>& t) { return tanh(conv(t.param(x))); }, conv,
                             {{"x", &x}});
    }
  }
}

BOOST_AUTO_TEST_CASE(conv1d_input_positions_outside_every_window_get_zero_gradient) {
  nn::Rng rng(43);
  nn::Conv1d<double> conv(2, 3, 3, rng, 2);
  Tape<double> tape;
  const Var<double> x = tape.leaf(nn::uniform<double>({2, 2, 8}, -1, 1, rng));
  tape.backward(sum(conv(x)));
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t c = 0; c < 2; ++c) {
      BOOST_TEST(x.grad()(b, c, 7) == 0.0);  // windows cover positions 0..6
      BOOST_TEST(x.grad()(b, c, 6) != 0.0);
    }
}

// ---- errors ----

BOOST_AUTO_TEST_CASE(conv1d_rejects_inputs_it_cannot_convolve) {
  nn::Rng rng(50);
  nn::Conv1d<double> conv(2, 3, 3, rng);
  Tape<double> tape;
  const std::string short_msg = error_message([&] {
    conv(tape.constant(nn::zeros<double>({4, 2, 2})));
  });
  BOOST_TEST(contains(short_msg, "Conv1d"), short_msg);
  BOOST_TEST(contains(short_msg, "[batch, 2, length >= 3]"), short_msg);
  BOOST_TEST(contains(short_msg, "got [4, 2, 2]"), short_msg);

  const std::string channels_msg = error_message([&] {
    conv(tape.constant(nn::zeros<double>({4, 3, 5})));
  });
  BOOST_TEST(contains(channels_msg, "[batch, 2, length >= 3]"), channels_msg);
  BOOST_TEST(contains(channels_msg, "got [4, 3, 5]"), channels_msg);

  const std::string rank_msg = error_message([&] {
    conv(tape.constant(nn::zeros<double>({2, 5})));
  });
  BOOST_TEST(contains(rank_msg, "Conv1d"), rank_msg);
  BOOST_TEST(contains(rank_msg, "got [2, 5]"), rank_msg);

  const std::string ctor_msg = error_message([&] { nn::Conv1d<double>(2, 3, 3, rng, 0); });
  BOOST_TEST(contains(ctor_msg, "Conv1d"), ctor_msg);
  BOOST_TEST(contains(ctor_msg, "stride"), ctor_msg);
  // A kernel as long as the input is still valid.
  BOOST_TEST((conv(tape.constant(nn::zeros<double>({1, 2, 3}))).shape() == Shape{1, 3, 1}));
}

BOOST_AUTO_TEST_CASE(recurrent_cells_reject_inputs_of_the_wrong_width) {
  nn::Rng rng(51);
  Tape<double> tape;
  const Var<double> x = tape.constant(nn::zeros<double>({2, 5}));
  const Var<double> h = tape.constant(nn::zeros<double>({2, 4}));
  nn::RNNCell<double> rnn(3, 4, rng);
  nn::LSTMCell<double> lstm(3, 4, rng);
  nn::GRUCell<double> gru(3, 4, rng);
  const std::string rnn_msg = error_message([&] { rnn(x, h); });
  BOOST_TEST(contains(rnn_msg, "RNNCell: expected an input of shape [batch, 3], got [2, 5]"),
             rnn_msg);
  const std::string lstm_msg = error_message([&] { lstm(x, {h, h}); });
  BOOST_TEST(contains(lstm_msg, "LSTMCell: expected an input of shape [batch, 3], got [2, 5]"),
             lstm_msg);
  const std::string gru_msg = error_message([&] { gru(x, h); });
  BOOST_TEST(contains(gru_msg, "GRUCell: expected an input of shape [batch, 3], got [2, 5]"),
             gru_msg);
  // A missing batch axis is rejected too, and so is a wrong width at any step of a sequence.
  const std::string rank_msg =
      error_message([&] { rnn(tape.constant(nn::zeros<double>({3})), h); });
  BOOST_TEST(contains(rank_msg, "got [3]"), rank_msg);
  nn::GRU<double> seq(3, 4, 2, rng);
  const Var<double> ok = tape.constant(nn::zeros<double>({2, 3}));
  const std::string seq_msg = error_message([&] { seq({ok, ok, x}); });
  BOOST_TEST(contains(seq_msg, "GRUCell: expected an input of shape [batch, 3], got [2, 5]"),
             seq_msg);
}

BOOST_AUTO_TEST_CASE(recurrent_layers_reject_bad_sizes_and_state_counts) {
  nn::Rng rng(52);
  const std::string hidden_msg = error_message([&] { nn::RNN<double>(3, 0, 1, rng); });
  BOOST_TEST(contains(hidden_msg, "hidden size"), hidden_msg);
  BOOST_TEST(contains(hidden_msg, "got 3, 0, 1"), hidden_msg);
  const std::string layers_msg = error_message([&] { nn::LSTM<double>(3, 4, 0, rng); });
  BOOST_TEST(contains(layers_msg, "got 3, 4, 0"), layers_msg);

  nn::RNN<double> rnn(3, 4, 2, rng);
  Tape<double> tape;
  const Var<double> x = tape.constant(nn::zeros<double>({2, 3}));
  const Var<double> h = tape.constant(nn::zeros<double>({2, 4}));
  const std::string one_msg = error_message([&] { rnn({x, x}, {h}); });
  BOOST_TEST(contains(one_msg, "1 initial states given for 2 layers"), one_msg);
  const std::string three_msg = error_message([&] { rnn({x}, {h, h, h}); });
  BOOST_TEST(contains(three_msg, "3 initial states given for 2 layers"), three_msg);
  const std::string empty_msg = error_message([&] { rnn({}); });
  BOOST_TEST(contains(empty_msg, "the input sequence is empty"), empty_msg);
}

// Weights and biases are reached the same way in every layer; a missing bias is an Error that
// names the layer, never a null pointer.
BOOST_AUTO_TEST_CASE(every_layer_reaches_its_weights_and_biases_through_accessors) {
  nn::Rng rng(5);
  nn::Linear<double> fc(3, 2, rng);
  BOOST_TEST(fc.has_bias());
  BOOST_TEST(&fc.weight() == fc.named_parameters()[0].second);
  BOOST_TEST(&fc.bias() == fc.named_parameters()[1].second);
  const nn::Linear<double>& const_fc = fc;
  BOOST_TEST(&const_fc.bias() == &fc.bias());

  nn::Linear<double> no_bias(3, 2, rng, false);
  BOOST_TEST(testsupport::error_of([&] { no_bias.bias(); }) ==
             "Linear(3 -> 2) has no bias (it was built with bias = false); check has_bias() first");
  nn::Conv1d<double> conv(2, 4, 3, rng, 1, false);
  BOOST_TEST(testsupport::error_of([&] { conv.bias(); }) ==
             "Conv1d(2 -> 4, kernel 3) has no bias (it was built with bias = false); check "
             "has_bias() first");
  nn::GRUCell<double> cell(2, 3, rng, false);
  BOOST_TEST(!cell.has_bias());
  BOOST_TEST((cell.weight_ih().value.shape() == Shape{9, 2}));
  BOOST_TEST((cell.weight_hh().value.shape() == Shape{9, 3}));
  BOOST_TEST(testsupport::error_of([&] { cell.bias_hh(); }) ==
             "recurrent cell (input 2, hidden 3) has no bias (it was built with bias = false); "
             "check has_bias() first");
  nn::LSTM<double> lstm(2, 3, 2, rng);
  BOOST_TEST(&lstm.layer(1).bias_hh() == lstm.named_parameters()[7].second);
  nn::Embedding<double> emb(4, 2, rng);
  BOOST_TEST(&emb.weight() == emb.parameters()[0]);
}

// Without a generator, layers draw from the thread's default one: manual_seed(s) makes them
// what the same layers built from nn::Rng(s) are.
BOOST_AUTO_TEST_CASE(layers_built_without_a_generator_draw_from_the_default_one) {
  nn::manual_seed(11);
  nn::Linear<double> a(4, 3);
  nn::LSTM<double> lstm_a(3, 2, 2);
  nn::Conv1d<double> conv_a(2, 2, 3);
  nn::Embedding<double> emb_a(5, 2);
  nn::RNNCell<double> cell_a(2, 2);
  nn::Rng rng(11);
  nn::Linear<double> b(4, 3, rng);
  nn::LSTM<double> lstm_b(3, 2, 2, rng);
  nn::Conv1d<double> conv_b(2, 2, 3, rng);
  nn::Embedding<double> emb_b(5, 2, rng);
  nn::RNNCell<double> cell_b(2, 2, rng);
  BOOST_TEST((a.state_dict() == b.state_dict()));
  BOOST_TEST((lstm_a.state_dict() == lstm_b.state_dict()));
  BOOST_TEST((conv_a.state_dict() == conv_b.state_dict()));
  BOOST_TEST((emb_a.state_dict() == emb_b.state_dict()));
  BOOST_TEST((cell_a.state_dict() == cell_b.state_dict()));
  // The next layer continues the sequence: not the same weights again.
  nn::Linear<double> c(4, 3);
  BOOST_TEST(!(c.state_dict() == a.state_dict()));
  nn::manual_seed(11);
  nn::Linear<double> again(4, 3);
  BOOST_TEST((again.state_dict() == a.state_dict()));

  // Another thread starts from kDefaultSeed, whatever this thread seeded.
  nn::StateDict<double> from_thread;
  std::thread([&] {
    nn::Linear<double> t(4, 3);
    from_thread = t.state_dict();
  }).join();
  nn::Rng default_seeded(nn::kDefaultSeed);
  nn::Linear<double> expected(4, 3, default_seeded);
  BOOST_TEST((from_thread == expected.state_dict()));
}

BOOST_AUTO_TEST_SUITE_END()

// tapegrad's layers against torch.nn: PyTorch's weights, inputs and initial states, recorded in
// tests/fixtures/layer_fixtures.json by make_layer_fixtures.py, are loaded into nn::LSTM / GRU /
// RNN / Conv1d (the recurrent ones fed per-step Vars and, again, one [T, B, I] tensor; padded
// batches with their lengths, as PyTorch's packed sequences) and the outputs (every step and the
// final states) and the gradients of
//   L = sum(output * r_output) + sum(h_n * r_h_n) [+ sum(c_n * r_c_n)]
// with respect to every weight, the input and the initial states are compared, in double
// (tolerance 1e-10, scaled by max(1, |expected|)) and in float (1e-4). gradcheck cannot see a
// layer that computes the wrong function consistently (a permuted gate, a bias in the wrong
// place); PyTorch can. The analytic gate tests at the end pin down the two conventions that
// such a mismatch would most likely come from, in a form that says which one is wrong.
//
// Name mapping: PyTorch's weight_ih_l0 / bias_hh_l1 are tapegrad's layer0.weight_ih /
// layer1.bias_hh; Conv1d's weight [out, in, k] and bias [out] map as they are.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/nn/nn.hpp>

#include "support/fixtures.hpp"
#include "support/gradient_test.hpp"

using namespace tapegrad;
namespace nn = tapegrad::nn;
using nlohmann::json;

namespace {

constexpr double kDoubleTol = 1e-10;
constexpr double kFloatTol = 1e-4;

const json& fixtures() { return testsupport::fixture_file("layer_fixtures"); }

const json& fixture_case(const std::string& name) {
  for (const json& c : fixtures().at("cases"))
    if (c.at("name").get<std::string>() == name) return c;
  throw std::runtime_error("layer_fixtures.json has no case '" + name +
                           "'; rerun tests/fixtures/make_layer_fixtures.py");
}

template <class T>
Tensor<T> to_tensor(const json& j) {
  return testsupport::fixture_tensor<T>(j);
}

// Row k of a [n, ...] tensor, as a tensor of its own.
template <class T>
Tensor<T> row(const Tensor<T>& t, std::size_t k) {
  Shape shape(t.shape().begin() + 1, t.shape().end());
  Tensor<T> out = Tensor<T>::from_shape(shape);
  std::copy_n(t.data() + k * out.size(), out.size(), out.data());
  return out;
}

// The inverse of row(): equally shaped tensors joined along a new leading axis.
template <class T>
Tensor<T> rows(const std::vector<Tensor<T>>& parts) {
  Shape shape{parts.size()};
  shape.insert(shape.end(), parts.at(0).shape().begin(), parts.at(0).shape().end());
  Tensor<T> out = Tensor<T>::from_shape(shape);
  const std::size_t n = parts[0].size();
  for (std::size_t k = 0; k < parts.size(); ++k) {
    if (parts[k].size() != n) throw std::runtime_error("rows: parts differ in size");
    std::copy_n(parts[k].data(), n, out.data() + k * n);
  }
  return out;
}

// Empty when `actual` matches `expected` within tol * max(1, |expected|) everywhere; otherwise
// the worst element, where it is, and both values.
template <class T>
std::string mismatch(const Tensor<T>& actual, const json& expected_json, double tol) {
  const Tensor<double> expected = to_tensor<double>(expected_json);
  if (!std::equal(actual.shape().begin(), actual.shape().end(), expected.shape().begin(),
                  expected.shape().end()))
    return "shape " + shape_str(actual.shape()) + ", PyTorch's is " + shape_str(expected.shape());
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected.data()[i];
    const double err = std::abs(double(actual.data()[i]) - e) / std::max(1.0, std::abs(e));
    if (!(err <= worst)) {  // NaN compares false with everything: it becomes the worst
      worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      at = i;
    }
  }
  if (worst <= tol) return {};
  std::ostringstream os;
  os.precision(17);
  os << "worst at flat index " << at << " of " << shape_str(expected.shape()) << ": tapegrad "
     << double(actual.data()[at]) << ", PyTorch " << expected.data()[at] << ", scaled error "
     << worst << " > " << tol;
  return os.str();
}

template <class T>
std::string type_label() {
  return std::is_same_v<T, float> ? " [float]" : " [double]";
}

// "layer1.bias_hh" -> "bias_hh_l1"
std::string torch_recurrent_name(const std::string& ours) {
  const std::size_t dot = ours.find('.');
  if (ours.rfind("layer", 0) != 0 || dot == std::string::npos)
    throw std::runtime_error("unexpected recurrent parameter name '" + ours + "'");
  return ours.substr(dot + 1) + "_l" + ours.substr(5, dot - 5);
}

// Copies every fixture weight into the module, checking that the two name sets are the same
// and that the shapes agree (a transposed layout would fail here, not as a wrong number).
template <class T>
void load_weights(nn::Module<T>& m, const json& weights, bool recurrent, const std::string& label) {
  std::set<std::string> unused;
  for (const auto& item : weights.items()) unused.insert(item.key());
  // The module's own PyTorch names (Module::set_pytorch_name) agree with the mapping above.
  const auto torch_named = m.named_parameters(nn::ParameterNames::pytorch);
  std::size_t index = 0;
  for (auto& [name, p] : m.named_parameters()) {
    const std::string key = recurrent ? torch_recurrent_name(name) : name;
    BOOST_TEST(torch_named.at(index++).first == key, label << ": " << name);
    BOOST_TEST_REQUIRE(weights.contains(key),
                       label << ": PyTorch has no " << key << " for " << name);
    const Tensor<T> w = to_tensor<T>(weights.at(key));
    BOOST_TEST_REQUIRE((w.shape() == p->value.shape()),
                       label << ": " << name << " is " << shape_str(p->value.shape())
                             << ", PyTorch's " << key << " is " << shape_str(w.shape()));
    p->value = w;
    p->zero_grad();
    unused.erase(key);
  }
  BOOST_TEST(unused.empty(), label << ": PyTorch weights without a tapegrad parameter, e.g. "
                                   << (unused.empty() ? "" : *unused.begin()));
}

void expect_match(const std::string& what, const std::string& diff) {
  BOOST_TEST(diff.empty(), what << ": " << diff);
}

// How the case's input reaches the layer: one [batch, input] Var per step, or the whole
// [T, batch, input] tensor (the form that takes the case's lengths, if it has them).
enum class Form { steps, tensor };

template <class T, template <class> class Cell>
void run_recurrent(const json& c, double tol, Form form) {
  using Layer = nn::Stacked<T, Cell>;
  constexpr bool is_lstm = std::is_same_v<typename Layer::State, nn::LSTMState<T>>;
  const std::string label = c.at("name").get<std::string>() + type_label<T>() +
                            (form == Form::tensor ? " [T, B, I] tensor" : " per-step Vars");
  const std::size_t layers = c.at("num_layers").get<std::size_t>();
  nn::Rng rng(0);  // the initial weights are all overwritten
  Layer layer(c.at("input_size").get<std::size_t>(), c.at("hidden_size").get<std::size_t>(), layers,
              rng);
  load_weights<T>(layer, c.at("weights"), true, label);

  // PyTorch's [seq, batch, feature] input is one [batch, feature] Var per step here (or one
  // tensor), and its [layers, batch, hidden] initial state one [batch, hidden] Var per layer.
  Tape<T> tape;
  const Tensor<T> x = to_tensor<T>(c.at("input"));
  std::vector<Var<T>> xs;
  if (form == Form::steps)
    for (std::size_t t = 0; t < x.shape()[0]; ++t) xs.push_back(tape.leaf(row(x, t)));
  else
    xs.push_back(tape.leaf(x));
  const Tensor<T> h0 = to_tensor<T>(c.at("initial").at("h0"));
  std::vector<Var<T>> hs, cs;
  std::vector<typename Layer::State> initial;
  for (std::size_t l = 0; l < layers; ++l) {
    hs.push_back(tape.leaf(row(h0, l)));
    if constexpr (is_lstm) {
      cs.push_back(tape.leaf(row(to_tensor<T>(c.at("initial").at("c0")), l)));
      initial.push_back({hs[l], cs[l]});
    } else {
      initial.push_back(hs[l]);
    }
  }

  Var<T> output;
  std::vector<typename Layer::State> last;
  if (form == Form::steps) {
    BOOST_TEST_REQUIRE(!c.contains("lengths"), label << ": the per-step form takes no lengths");
    auto out = layer(xs, initial);
    BOOST_TEST_REQUIRE(out.outputs.size() == xs.size(), label);
    output = stack(out.outputs, 0);
    last = std::move(out.last);
  } else {
    auto out = layer(xs[0], initial, c.value("lengths", std::vector<std::size_t>{}));
    output = out.output;
    last = std::move(out.last);
  }
  BOOST_TEST_REQUIRE(last.size() == layers, label);
  std::vector<Var<T>> h_last, c_last;
  for (const auto& s : last) {
    if constexpr (is_lstm) {
      h_last.push_back(s.h);
      c_last.push_back(s.c);
    } else {
      h_last.push_back(s);
    }
  }
  const Var<T> h_n = stack(h_last, 0);
  const json& expected = c.at("outputs");
  const json& r = c.at("r");
  expect_match(label + " output", mismatch(output.value(), expected.at("output"), tol));
  expect_match(label + " h_n", mismatch(h_n.value(), expected.at("h_n"), tol));
  Var<T> loss = sum(output * tape.constant(to_tensor<T>(r.at("output")))) +
                sum(h_n * tape.constant(to_tensor<T>(r.at("h_n"))));
  if constexpr (is_lstm) {
    const Var<T> c_n = stack(c_last, 0);
    expect_match(label + " c_n", mismatch(c_n.value(), expected.at("c_n"), tol));
    loss = loss + sum(c_n * tape.constant(to_tensor<T>(r.at("c_n"))));
  }
  tape.backward(loss);

  const json& grads = c.at("grads");
  for (auto& [name, p] : layer.named_parameters()) {
    const std::string key = torch_recurrent_name(name);
    expect_match(label + " d/d" + name + " (" + key + ")", mismatch(p->grad, grads.at(key), tol));
  }
  const auto grads_of = [](const std::vector<Var<T>>& vs) {
    std::vector<Tensor<T>> g;
    for (const Var<T>& v : vs) g.push_back(v.grad());
    return rows(g);
  };
  expect_match(label + " d/dinput",
               mismatch(form == Form::steps ? grads_of(xs) : xs[0].grad(), grads.at("input"), tol));
  expect_match(label + " d/dh0", mismatch(grads_of(hs), grads.at("h0"), tol));
  if constexpr (is_lstm)
    expect_match(label + " d/dc0", mismatch(grads_of(cs), grads.at("c0"), tol));
}

template <class T>
void run_conv1d(const json& c, double tol) {
  const std::string label = c.at("name").get<std::string>() + type_label<T>();
  nn::Rng rng(0);
  nn::Conv1d<T> conv(
      c.at("in_channels").get<std::size_t>(), c.at("out_channels").get<std::size_t>(),
      c.at("kernel_size").get<std::size_t>(), rng, c.at("stride").get<std::size_t>());
  load_weights<T>(conv, c.at("weights"), false, label);
  Tape<T> tape;
  const Var<T> x = tape.leaf(to_tensor<T>(c.at("input")));
  const Var<T> y = conv(x);
  expect_match(label + " output", mismatch(y.value(), c.at("outputs").at("output"), tol));
  tape.backward(sum(y * tape.constant(to_tensor<T>(c.at("r").at("output")))));
  const json& grads = c.at("grads");
  expect_match(label + " d/dweight", mismatch(conv.weight().grad, grads.at("weight"), tol));
  expect_match(label + " d/dbias", mismatch(conv.bias().grad, grads.at("bias"), tol));
  expect_match(label + " d/dinput", mismatch(x.grad(), grads.at("input"), tol));
}

// Every case in both forms, except a padded batch (lengths), which only the tensor form takes.
template <template <class> class Cell>
void run_recurrent_case(const std::string& name) {
  const json& c = fixture_case(name);
  for (Form form : {Form::steps, Form::tensor}) {
    if (form == Form::steps && c.contains("lengths")) continue;
    run_recurrent<double, Cell>(c, kDoubleTol, form);
    run_recurrent<float, Cell>(c, kFloatTol, form);
  }
}

void run_conv1d_case(const std::string& name) {
  const json& c = fixture_case(name);
  run_conv1d<double>(c, kDoubleTol);
  run_conv1d<float>(c, kFloatTol);
}

const std::set<std::string> kCasesRunHere = {"lstm_2layer",
                                             "gru_1layer",
                                             "gru_2layer",
                                             "rnn_2layer",
                                             "conv1d_stride1_length7",
                                             "conv1d_stride2_length8",
                                             "lstm_2layer_packed",
                                             "gru_2layer_packed"};

double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

// gates[k] = x W_ih[k, :] + b_ih[k] + h W_hh[k, :] + b_hh[k] for one batch row, from PyTorch's
// definition, in plain loops.
std::vector<double> gate_sum(const Tensor<double>& x, const Tensor<double>& h,
                             const Tensor<double>& w_ih, const Tensor<double>& w_hh,
                             const Tensor<double>& b_ih, const Tensor<double>& b_hh) {
  std::vector<double> a(w_ih.shape()[0]);
  for (std::size_t k = 0; k < a.size(); ++k) {
    a[k] = b_ih(k) + b_hh(k);
    for (std::size_t i = 0; i < x.shape()[1]; ++i) a[k] += x(0, i) * w_ih(k, i);
    for (std::size_t i = 0; i < h.shape()[1]; ++i) a[k] += h(0, i) * w_hh(k, i);
  }
  return a;
}

// Distinct, deterministic values (no RNG: the expected numbers are worked from the same
// tensors, and a permuted block must change the result).
Tensor<double> ramp(const Shape& shape, double start, double step) {
  Tensor<double> t = Tensor<double>::from_shape(shape);
  for (std::size_t k = 0; k < t.size(); ++k)
    t.data()[k] = start + step * double(k) * (k % 2 ? -1 : 1);
  return t;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(torch_layers)

BOOST_AUTO_TEST_CASE(lstm_two_layers_matches_pytorch) {
  run_recurrent_case<nn::LSTMCell>("lstm_2layer");
}
BOOST_AUTO_TEST_CASE(gru_one_layer_matches_pytorch) {
  run_recurrent_case<nn::GRUCell>("gru_1layer");
}
BOOST_AUTO_TEST_CASE(gru_two_layers_matches_pytorch) {
  run_recurrent_case<nn::GRUCell>("gru_2layer");
}
BOOST_AUTO_TEST_CASE(tanh_rnn_two_layers_matches_pytorch) {
  run_recurrent_case<nn::RNNCell>("rnn_2layer");
}
BOOST_AUTO_TEST_CASE(packed_lstm_two_layers_matches_pytorch) {
  // Lengths {3, 5, 1, 4}: PyTorch's pack_padded_sequence (unsorted) against the lengths argument.
  run_recurrent_case<nn::LSTMCell>("lstm_2layer_packed");
}
BOOST_AUTO_TEST_CASE(packed_gru_two_layers_matches_pytorch) {
  // Lengths {2, 4, 1} of 5 steps: the last step is padding in every sequence.
  run_recurrent_case<nn::GRUCell>("gru_2layer_packed");
}
BOOST_AUTO_TEST_CASE(conv1d_stride_1_matches_pytorch) { run_conv1d_case("conv1d_stride1_length7"); }
BOOST_AUTO_TEST_CASE(conv1d_stride_2_matches_pytorch) { run_conv1d_case("conv1d_stride2_length8"); }

BOOST_AUTO_TEST_CASE(every_fixture_case_is_run) {
  const json& cases = fixtures().at("cases");
  std::set<std::string> in_file;
  for (const json& c : cases) in_file.insert(c.at("name").get<std::string>());
  BOOST_TEST(in_file.size() == cases.size(), "duplicate case names in layer_fixtures.json");
  for (const std::string& name : in_file)
    BOOST_TEST(kCasesRunHere.count(name) == 1u, "fixture case " << name << " is run by no test");
  for (const std::string& name : kCasesRunHere)
    BOOST_TEST(in_file.count(name) == 1u, "fixture case " << name << " is missing from the file");
  // The fixtures keep their promised sizes: short sequences, several layers where it matters.
  const json& lstm = fixture_case("lstm_2layer");
  BOOST_TEST((lstm.at("input").at("shape") == json::parse("[5, 2, 3]")));
  BOOST_TEST((lstm.at("initial").at("c0").at("shape") == json::parse("[2, 2, 4]")));
  const json& packed = fixture_case("lstm_2layer_packed");
  BOOST_TEST((packed.at("lengths") == json::parse("[3, 5, 1, 4]")));
  BOOST_TEST((packed.at("input").at("shape") == json::parse("[5, 4, 3]")));
}

BOOST_AUTO_TEST_CASE(lstm_gate_blocks_are_i_f_g_o) {
  // Two hidden units, so that blocks [i0 i1 | f0 f1 | g0 g1 | o0 o1] differ from an interleaved
  // [i0 f0 g0 o0 | i1 ...] layout as well as from any other block order.
  const std::size_t H = 2;
  nn::Rng rng(0);
  nn::LSTMCell<double> cell(1, H, rng);
  cell.weight_ih().value = ramp({4 * H, 1}, 0.3, 0.17);
  cell.weight_hh().value = ramp({4 * H, H}, -0.2, 0.09);
  cell.bias_ih().value = ramp({4 * H}, 0.5, -0.13);
  cell.bias_hh().value = ramp({4 * H}, -0.1, 0.07);
  const Tensor<double> x = full<double>({1, 1}, 0.8), h = {{0.4, -0.6}}, c = {{0.7, -0.3}};
  Tape<double> tape;
  const nn::LSTMState<double> s = cell(tape.constant(x), {tape.constant(h), tape.constant(c)});
  const std::vector<double> a = gate_sum(x, h, cell.weight_ih().value, cell.weight_hh().value,
                                         cell.bias_ih().value, cell.bias_hh().value);
  for (std::size_t j = 0; j < H; ++j) {
    const double i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = std::tanh(a[2 * H + j]);
    const double o = sigmoid(a[3 * H + j]);
    const double c1 = f * c(0, j) + i * g;
    BOOST_TEST(s.c.value()(0, j) == c1, boost::test_tools::tolerance(1e-14));
    BOOST_TEST(s.h.value()(0, j) == o * std::tanh(c1), boost::test_tools::tolerance(1e-14));
    // The check discriminates: swapping the input and forget gates (a common slip) gives a
    // different cell state.
    BOOST_TEST(std::abs(c1 - (i * c(0, j) + f * g)) > 1e-3);
  }
}

BOOST_AUTO_TEST_CASE(gru_reset_gate_multiplies_the_whole_hidden_candidate_including_b_hn) {
  // PyTorch: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), blocks [r | z | n], and
  // h' = (1 - z) n + z h. Applying r to W_hn h alone, with b_hn added outside the product,
  // gives a different n for these weights; the test checks that too, so it can tell them apart.
  const std::size_t H = 2;
  nn::Rng rng(0);
  nn::GRUCell<double> cell(1, H, rng);
  cell.weight_ih().value = ramp({3 * H, 1}, 0.4, 0.21);
  cell.weight_hh().value = ramp({3 * H, H}, 0.3, -0.11);
  cell.bias_ih().value = ramp({3 * H}, -0.2, 0.15);
  cell.bias_hh().value = ramp({3 * H}, 0.6, -0.19);  // b_hn far from 0: r * b_hn != b_hn
  const Tensor<double> x = full<double>({1, 1}, -0.5), h = {{0.9, -0.4}};
  Tape<double> tape;
  const Var<double> h1 = cell(tape.constant(x), tape.constant(h));
  const Tensor<double>& b_ih = cell.bias_ih().value;
  const Tensor<double>& b_hh = cell.bias_hh().value;
  const Tensor<double> zero_bias = nn::zeros<double>({3 * H});
  // The input and hidden contributions apart, without biases, so each can be placed.
  const std::vector<double> wi = gate_sum(x, nn::zeros<double>({1, H}), cell.weight_ih().value,
                                          cell.weight_hh().value, zero_bias, zero_bias);
  const std::vector<double> wh = gate_sum(nn::zeros<double>({1, 1}), h, cell.weight_ih().value,
                                          cell.weight_hh().value, zero_bias, zero_bias);
  for (std::size_t j = 0; j < H; ++j) {
    const double r = sigmoid(wi[j] + b_ih(j) + wh[j] + b_hh(j));
    const double z = sigmoid(wi[H + j] + b_ih(H + j) + wh[H + j] + b_hh(H + j));
    const std::size_t k = 2 * H + j;
    const double n = std::tanh(wi[k] + b_ih(k) + r * (wh[k] + b_hh(k)));
    BOOST_TEST(h1.value()(0, j) == (1 - z) * n + z * h(0, j), boost::test_tools::tolerance(1e-14));
    const double n_bias_outside = std::tanh(wi[k] + b_ih(k) + r * wh[k] + b_hh(k));
    BOOST_TEST(std::abs(n - n_bias_outside) > 1e-3);
  }
}

BOOST_AUTO_TEST_SUITE_END()

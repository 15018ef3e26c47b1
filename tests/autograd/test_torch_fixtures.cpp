// Every built-in op against an independent implementation: PyTorch's forward values and
// gradients, recorded once in tests/fixtures/op_fixtures.json by make_op_fixtures.py (see
// tests/fixtures/README.md). gradcheck only proves that an op's backward matches its own
// forward; these fixtures also catch a forward that computes the wrong function (e.g. softmax
// over the wrong axis, a mean that divides by the wrong count).
//
// Each case is replayed in double (tolerance 1e-10, scaled by max(1, |expected|)) and in float
// (1e-4), forward and backward; the gradient compared is that of sum(output * r), seeded by
// tape.backward(output, r).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"
#include "support/gradient_test.hpp"

namespace {

using nlohmann::json;
using tapegrad::Indices;
using tapegrad::Shape;
using tapegrad::Tape;
using tapegrad::Tensor;
using tapegrad::Var;

constexpr double kDoubleTol = 1e-10;
constexpr double kFloatTol = 1e-4;

const json& fixtures() { return testsupport::fixture_file("op_fixtures"); }

template <class T>
Tensor<T> to_tensor(const json& j) {
  return testsupport::fixture_tensor<T>(j);
}

std::string case_label(std::size_t index, const json& c) {
  std::string s = "case " + std::to_string(index) + " (" + c.at("op").get<std::string>();
  const std::string note = c.value("note", "");
  if (!note.empty()) s += ", " + note;
  if (!c.at("attrs").empty()) s += ", attrs " + c.at("attrs").dump();
  return s + ")";
}

// Records the case's op on the inputs' tape. The fixture's op name is the registered name; the
// caller checks that the op recorded really carries that name.
template <class T>
Var<T> build(const json& c, const std::vector<Var<T>>& in) {
  const std::string op = c.at("op").get<std::string>();
  const json& a = c.at("attrs");
  const auto axis = [&] { return a.at("axis").get<std::ptrdiff_t>(); };
  if (op == "add") return tapegrad::add(in.at(0), in.at(1));
  if (op == "sub") return tapegrad::sub(in.at(0), in.at(1));
  if (op == "mul") return tapegrad::mul(in.at(0), in.at(1));
  if (op == "div") return tapegrad::div(in.at(0), in.at(1));
  if (op == "neg") return tapegrad::neg(in.at(0));
  if (op == "add_scalar") return tapegrad::add_scalar(in.at(0), a.at("scalar").get<T>());
  if (op == "mul_scalar") return tapegrad::mul_scalar(in.at(0), a.at("scalar").get<T>());
  if (op == "rsub_scalar") return tapegrad::rsub_scalar(in.at(0), a.at("scalar").get<T>());
  if (op == "rdiv_scalar") return tapegrad::rdiv_scalar(in.at(0), a.at("scalar").get<T>());
  if (op == "exp") return tapegrad::exp(in.at(0));
  if (op == "log") return tapegrad::log(in.at(0));
  if (op == "tanh") return tapegrad::tanh(in.at(0));
  if (op == "sigmoid") return tapegrad::sigmoid(in.at(0));
  if (op == "relu") return tapegrad::relu(in.at(0));
  if (op == "square") return tapegrad::square(in.at(0));
  if (op == "pow") return tapegrad::pow(in.at(0), a.at("exponent").get<T>());
  if (op == "sqrt") return tapegrad::sqrt(in.at(0));
  if (op == "dropout")
    return tapegrad::dropout(in.at(0), a.at("p").get<double>(), a.at("seed").get<std::uint64_t>());
  if (op == "matmul") return tapegrad::matmul(in.at(0), in.at(1));
  if (op == "linear")
    return in.size() == 2 ? tapegrad::linear(in.at(0), in.at(1))
                          : tapegrad::linear(in.at(0), in.at(1), in.at(2));
  if (op == "linear_pair")
    return in.size() == 4
               ? tapegrad::linear_pair(in.at(0), in.at(1), in.at(2), in.at(3))
               : tapegrad::linear_pair(in.at(0), in.at(1), in.at(2), in.at(3), in.at(4), in.at(5));
  if (op == "transpose")
    return tapegrad::transpose(in.at(0), a.value("perm", std::vector<std::size_t>{}));
  if (op == "reshape")
    return tapegrad::reshape(in.at(0), a.at("shape").get<std::vector<std::ptrdiff_t>>());
  if (op == "slice")
    return tapegrad::slice(in.at(0), axis(), a.at("start").get<std::size_t>(),
                           a.at("stop").get<std::size_t>(), a.at("step").get<std::size_t>());
  if (op == "concat") return tapegrad::concat(in, axis());
  if (op == "stack") return tapegrad::stack(in, axis());
  if (op == "select")
    return tapegrad::select(in.at(0), axis(), a.at("index").get<std::ptrdiff_t>());
  if (op == "squeeze") return tapegrad::squeeze(in.at(0), axis());
  if (op == "unsqueeze") return tapegrad::unsqueeze(in.at(0), axis());
  if (op == "sum") return tapegrad::sum(in.at(0));
  if (op == "mean") return tapegrad::mean(in.at(0));
  if (op == "sum_axis") return tapegrad::sum(in.at(0), axis(), a.at("keepdims").get<bool>());
  if (op == "mean_axis") return tapegrad::mean(in.at(0), axis(), a.at("keepdims").get<bool>());
  if (op == "softmax") return tapegrad::softmax(in.at(0), axis());
  if (op == "log_softmax") return tapegrad::log_softmax(in.at(0), axis());
  if (op == "softmax_cross_entropy") {
    const Indices targets = a.at("targets").get<Indices>();
    const std::int64_t ignore = a.value("ignore_index", tapegrad::kIgnoreIndex);
    if (!a.value("targets_as_tensor", false))
      return tapegrad::softmax_cross_entropy(in.at(0), targets, ignore);
    // The overload for targets read from a float data file.
    Tensor<T> t = Tensor<T>::from_shape(Shape{targets.size()});
    std::transform(targets.begin(), targets.end(), t.begin(),
                   [](std::int64_t v) { return static_cast<T>(v); });
    return tapegrad::softmax_cross_entropy(in.at(0), t, ignore);
  }
  if (op == "mse_loss") return tapegrad::mse_loss(in.at(0), in.at(1));
  if (op == "rnn_tanh_sequence") {
    const auto lengths = a.value("lengths", std::vector<std::size_t>{});
    return in.size() == 4
               ? tapegrad::rnn_tanh_sequence(in.at(0), in.at(1), in.at(2), in.at(3), lengths)
               : tapegrad::rnn_tanh_sequence(in.at(0), in.at(1), in.at(2), lengths);
  }
  if (op == "lstm_sequence") {
    const auto lengths = a.value("lengths", std::vector<std::size_t>{});
    return in.size() == 5
               ? tapegrad::lstm_sequence(in.at(0), in.at(1), in.at(2), in.at(3), in.at(4), lengths)
               : tapegrad::lstm_sequence(in.at(0), in.at(1), in.at(2), in.at(3), lengths);
  }
  if (op == "gather_rows") return tapegrad::gather_rows(in.at(0), a.at("indices").get<Indices>());
  throw std::runtime_error("the test has no builder for op '" + op + "'");
}

// Empty when `actual` matches `expected` element-wise within tol * max(1, |expected|);
// otherwise a description of the worst element.
template <class T>
std::string mismatch(const Tensor<T>& actual, const json& expected_json, double tol) {
  const Tensor<double> expected = to_tensor<double>(expected_json);
  if (!std::equal(actual.shape().begin(), actual.shape().end(), expected.shape().begin(),
                  expected.shape().end()))
    return "shape " + tapegrad::shape_str(actual.shape()) + ", PyTorch's is " +
           tapegrad::shape_str(expected.shape());
  double worst = 0;  // in units of the element's own tolerance scale
  std::size_t at = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected.data()[i];
    const double err =
        std::abs(static_cast<double>(actual.data()[i]) - e) / std::max(1.0, std::abs(e));
    if (!(err <= worst)) {  // also catches NaN, which no comparison orders
      worst = std::isnan(err) ? std::numeric_limits<double>::infinity() : err;
      at = i;
    }
  }
  if (worst <= tol) return {};
  // The flat position as a multi-index, to find the element in the fixture by eye.
  std::vector<std::size_t> idx(expected.dimension());
  for (std::size_t k = idx.size(), rest = at; k-- > 0;) {
    idx[k] = rest % expected.shape()[k];
    rest /= expected.shape()[k];
  }
  std::ostringstream os;
  os.precision(17);
  os << "worst element " << tapegrad::shape_str(idx) << " (flat " << at << "): tapegrad "
     << static_cast<double>(actual.data()[at]) << ", PyTorch " << expected.data()[at]
     << ", scaled error " << worst << " > " << tol;
  return os.str();
}

template <class T>
const char* type_name() {
  return sizeof(T) == sizeof(float) ? "float" : "double";
}

// Replays one case on a fresh Tape<T>; every mismatch becomes a Boost error naming the case.
template <class T>
void run_case(std::size_t index, const json& c, double tol) {
  const std::string label = case_label(index, c) + " [" + type_name<T>() + "]";
  try {
    Tape<T> tape;
    std::vector<Var<T>> in;
    for (const json& x : c.at("inputs")) {
      const Tensor<T> v = to_tensor<T>(x);
      in.push_back(x.at("requires_grad").get<bool>() ? tape.leaf(v) : tape.constant(v));
    }
    const Var<T> out = build<T>(c, in);
    BOOST_TEST(std::string(out.op_name()) == c.at("op").get<std::string>(),
               label << ": recorded op '" << out.op_name() << "'");
    const std::string fwd = mismatch(out.value(), c.at("output"), tol);
    BOOST_TEST(fwd.empty(), label << " output: " << fwd);

    tape.backward(out, to_tensor<T>(c.at("r")));
    const json& grads = c.at("grads");
    BOOST_TEST_REQUIRE(grads.size() == in.size(), label << ": one gradient entry per input");
    for (std::size_t i = 0; i < in.size(); ++i) {
      if (grads[i].is_null()) continue;  // a constant input: PyTorch computed no gradient
      const std::string bwd = mismatch(in[i].grad(), grads[i], tol);
      BOOST_TEST(bwd.empty(), label << " gradient of input " << i << ": " << bwd);
    }
  } catch (const std::exception& e) {
    BOOST_ERROR(label << " threw: " << e.what());
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(torch_fixtures)

// Every case of the fixture file, in double and in float. A failure names the case (its index,
// op and note); an op the builder above does not know is reported as a failure of its case.
BOOST_AUTO_TEST_CASE(every_fixture_case) {
  const json& cases = fixtures().at("cases");
  BOOST_TEST_REQUIRE(!cases.empty());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    run_case<double>(i, cases[i], kDoubleTol);
    run_case<float>(i, cases[i], kFloatTol);
  }
}

// A new library op fails here until make_op_fixtures.py gains a case for it.
BOOST_AUTO_TEST_CASE(every_registered_op_has_a_fixture) {
  std::set<std::string> covered;
  for (const json& c : fixtures().at("cases")) covered.insert(c.at("op").get<std::string>());
  const std::vector<std::string> ops = tapegrad::registered_ops();
  BOOST_TEST(ops.size() >= 30u, "only " << ops.size() << " ops registered");
  for (const std::string& op : ops) {
    if (testsupport::test_defined_ops().count(op)) continue;  // PyTorch has no such op
    BOOST_TEST(covered.count(op) == 1u, "op '"
                                            << op << "' has no PyTorch fixture; add a case to "
                                            << "tests/fixtures/make_op_fixtures.py and rerun it");
  }
}

BOOST_AUTO_TEST_SUITE_END()

// Seeing inside the tape: scope labels (nesting, clear(), the recurrent layers' steps and layers),
// the bytes each node keeps for backward against the buffers its op really holds, the listing,
// and the Graphviz picture (rendered by Graphviz when it is installed).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include <tapegrad/nn/nn.hpp>

#include "support/allocation_count.hpp"
#include "support/error_of.hpp"
#include "support/gradient_test.hpp"
#include "support/scratch_dir.hpp"

using namespace tapegrad;
using testsupport::error_of;
using testsupport::random_tensor;

namespace {

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

std::string two_digits(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

double norm(const Tensor<double>& t) {
  double s = 0;
  for (double v : t) s += v * v;
  return std::sqrt(s);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(inspect)

BOOST_AUTO_TEST_CASE(scopes_label_what_is_recorded_inside_them_and_nest) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1.0, 2.0});
  Var<double> a, b, c, d;
  {
    const auto outer = tape.scope("encoder");
    a = tanh(x);
    {
      const auto inner = tape.scope("t=", 3);
      b = a * a;
    }
    c = exp(b);
  }
  d = sum(c);
  BOOST_TEST(tape.scope_path(x.index()) == "");
  BOOST_TEST(tape.scope_path(a.index()) == "encoder");
  BOOST_TEST(tape.scope_path(b.index()) == "encoder/t=3");
  BOOST_TEST(tape.scope_path(c.index()) == "encoder");
  BOOST_TEST(tape.scope_path(d.index()) == "");
  BOOST_TEST(error_of([&] { tape.scope_path(99); }).find("position 99 is past the tape's size 5") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(clear_forgets_labels_even_inside_a_live_scope) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1.0});
  {
    const auto s = tape.scope("before clear");
    Var<double> y = tanh(x);
    BOOST_TEST(tape.scope_path(y.index()) == "before clear");
    tape.clear();
    Var<double> z = tape.leaf(Tensor<double>{2.0});
    BOOST_TEST(tape.scope_path(z.index()) == "");  // the label went with the recording
    const auto t = tape.scope("after");
    BOOST_TEST(tape.scope_path(tanh(z).index()) == "after");
  }
  Var<double> w = tape.leaf(Tensor<double>{3.0});
  BOOST_TEST(tape.scope_path(w.index()) == "");
}

BOOST_AUTO_TEST_CASE(the_recurrent_layers_label_their_steps_and_layers) {
  nn::Rng rng(3);
  nn::LSTM<double> lstm(2, 3, 2, rng);
  Tape<double> tape;
  std::vector<Var<double>> xs;
  for (int t = 0; t < 3; ++t) xs.push_back(tape.constant(Tensor<double>{{0.1 * t, -0.2}}));
  const std::size_t first = tape.size();
  auto out = lstm(xs);
  BOOST_TEST(tape.scope_path(out.last[0].h.index()) == "t=3/layer0");
  BOOST_TEST(tape.scope_path(out.outputs[0].index()) == "t=1/layer1");
  BOOST_TEST(tape.scope_path(out.outputs[2].index()) == "t=3/layer1");
  // Every op the layer recorded is inside a step and a layer.
  for (std::size_t i = first; i < tape.size(); ++i) {
    if (tape.inputs_of(i).empty()) continue;  // parameters and the zero state
    const std::string path = tape.scope_path(i);
    BOOST_TEST((path.rfind("t=", 0) == 0 && path.find("/layer") != std::string::npos), path);
  }
}

BOOST_AUTO_TEST_CASE(a_reused_tape_labels_without_allocating) {
  if (!testsupport::allocations_counted()) {
    BOOST_TEST_MESSAGE("allocations are not counted in this build: not measured");
    return;
  }
  std::mt19937_64 rng(4);
  Parameter<double> w(random_tensor({3, 3}, rng), "w");
  const Tensor<double> x0 = random_tensor({2, 3}, rng);
  Tape<double> tape;
  auto step = [&] {
    tape.clear();
    Var<double> h = tape.constant(x0);
    for (std::size_t t = 1; t <= 6; ++t) {
      const auto at_step = tape.scope("t=", t);
      const auto named = tape.scope("a label longer than the short string buffer");
      h = tanh(matmul(h, tape.param(w)));
    }
    tape.backward(sum(h));
  };
  step();
  step();
  const std::size_t before = testsupport::allocations_so_far();
  step();
  BOOST_TEST(testsupport::allocations_so_far() - before == 0u);
}

BOOST_AUTO_TEST_CASE(saved_bytes_are_the_buffers_the_ops_hold) {
  Tape<double> tape;
  Parameter<double> w(Tensor<double>::from_shape({3, 5}), "w");
  w.value.fill(0.1);
  const Indices targets = {0, 4, 2, 1};
  Var<double> x = tape.leaf(Tensor<double>::from_shape({4, 3}));  // 12 doubles
  Var<double> y = matmul(x, tape.param(w));                       // [4, 5]: its output
  Var<double> a = tanh(y);                                        // [4, 5]
  Var<double> loss = softmax_cross_entropy(a, targets);  // 1 + probabilities [4, 5] + 4 indices
  BOOST_TEST(tape.saved_bytes(x.index()) == 12 * sizeof(double));
  BOOST_TEST(tape.saved_bytes(y.index() - 1) == 0u);  // the parameter: its value is w's
  BOOST_TEST(tape.saved_bytes(y.index()) == 20 * sizeof(double));
  BOOST_TEST(tape.saved_bytes(a.index()) == 20 * sizeof(double));
  const std::size_t loss_position = loss.index();
  BOOST_TEST(tape.saved_bytes(loss_position) == 21 * sizeof(double) + 4 * sizeof(std::int64_t));
  // Independently: the elements of every value and saved buffer the nodes hold.
  std::size_t held = 0;
  for (std::size_t i = 0; i < tape.size(); ++i)
    held += tape.op_name(i) == std::string("parameter") ? 0 : tape.at(i).size() * sizeof(double);
  held += 20 * sizeof(double) + 4 * sizeof(std::int64_t);  // the cross-entropy's saved buffers
  const auto totals = tape.saved_bytes_by_scope();
  BOOST_REQUIRE(totals.size() == 1u);
  BOOST_TEST(totals[0].nodes == 5u);
  BOOST_TEST(totals[0].bytes == held);

  // Reused for a computation that saves nothing, the node keeps its old buffers for later, but
  // they are not this recording's: they are not counted.
  tape.clear();
  Var<double> x2 = tape.leaf(Tensor<double>::from_shape({4, 3}));
  Var<double> y2 = matmul(x2, tape.param(w));
  Var<double> a2 = tanh(y2);
  Var<double> b2 = exp(a2);
  BOOST_TEST(b2.index() == loss_position);
  BOOST_TEST(tape.saved_bytes(b2.index()) == 20 * sizeof(double));
}

BOOST_AUTO_TEST_CASE(the_listing_shows_each_node_and_totals_by_scope) {
  Tape<double> tape;
  Parameter<double> w(Tensor<double>::from_shape({2, 2}), "w_hh");
  w.value.fill(0.5);
  Var<double> h = tape.full({1, 2}, 1.0);
  for (std::size_t t = 1; t <= 2; ++t) {
    const auto at_step = tape.scope("t=", t);
    h = tanh(matmul(h, tape.param(w)));
  }
  const auto at_loss = tape.scope("loss");
  Var<double> loss = sum(h);
  const std::string listing = tape.listing();
  // %0 constant, %1 w_hh, %2 matmul, %3 tanh, %4 matmul (w_hh bound once), %5 tanh, %6 sum.
  std::istringstream lines(listing);
  std::string line;
  std::vector<std::string> rows;
  while (std::getline(lines, line) && !line.empty()) rows.push_back(line);
  BOOST_REQUIRE(rows.size() == 7u);
  BOOST_TEST(rows[0].rfind("%0 = constant", 0) == 0u, rows[0]);
  BOOST_TEST(rows[1].rfind("%1 = parameter w_hh", 0) == 0u, rows[1]);
  BOOST_TEST(rows[1].find("saved") == std::string::npos, rows[1]);
  BOOST_TEST(rows[2].rfind("%2 = matmul(%0, %1)", 0) == 0u, rows[2]);
  BOOST_TEST(rows[3].rfind("%3 = tanh(%2)", 0) == 0u, rows[3]);
  BOOST_TEST(rows[3].find("[1, 2]") != std::string::npos, rows[3]);
  BOOST_TEST(rows[3].find("saved 16 B") != std::string::npos, rows[3]);
  BOOST_TEST(rows[3].find("t=1") == rows[3].size() - 3, rows[3]);
  BOOST_TEST(rows[4].rfind("%4 = matmul(%3, %1)", 0) == 0u, rows[4]);
  BOOST_TEST(rows[5].find("t=2") != std::string::npos, rows[5]);
  BOOST_TEST(rows[6].rfind("%6 = sum(%5)", 0) == 0u, rows[6]);
  BOOST_TEST(rows[6].find("loss") != std::string::npos, rows[6]);
  // Totals: the constant and w_hh outside any scope (16 B), 2 nodes of 16 B per step, the sum's
  // 8 B; 88 B in all.
  BOOST_TEST(listing.find("2 nodes          16 B  (no scope)") != std::string::npos, listing);
  BOOST_TEST(listing.find("2 nodes          32 B  t=1") != std::string::npos, listing);
  BOOST_TEST(listing.find("2 nodes          32 B  t=2") != std::string::npos, listing);
  BOOST_TEST(listing.find("1 node            8 B  loss") != std::string::npos, listing);
  BOOST_TEST(listing.find("7 nodes          88 B  in all") != std::string::npos, listing);
  // Totals only.
  BOOST_TEST(tape.listing(false).find("%0") == std::string::npos);
  BOOST_TEST(tape.listing(false).find("in all") != std::string::npos);
  (void)loss;
}

BOOST_AUTO_TEST_CASE(to_dot_clusters_steps_draws_parameters_once_and_shows_gradients) {
  // A 4-step tanh RNN with small recurrent weights: the gradient reaching h_t fades going back.
  std::mt19937_64 rng(5);
  Parameter<double> w_xh(random_tensor({3, 2}, rng), "W_xh");
  Parameter<double> w_hh(random_tensor({3, 3}, rng, -0.3, 0.3), "W_hh");
  Tape<double> tape;
  Var<double> h = tape.full({1, 3}, 0.0);
  std::vector<Var<double>> hs;
  for (std::size_t t = 1; t <= 4; ++t) {
    const auto at_step = tape.scope("t=", t);
    Var<double> x = tape.constant(random_tensor({1, 2}, rng));
    h = tanh(linear(x, tape.param(w_xh)) + linear(h, tape.param(w_hh)));
    hs.push_back(h);
  }
  Var<double> loss = sum(h);
  const std::string before = tape.to_dot();
  BOOST_TEST(before.rfind("digraph tape {", 0) == 0u);
  BOOST_TEST(count_of(before, "subgraph cluster_") == 4u);
  for (int t = 1; t <= 4; ++t)
    BOOST_TEST(before.find("label=\"t=" + std::to_string(t) + "\"") != std::string::npos);
  BOOST_TEST(count_of(before, "[label=\"W_hh\\n[3, 3]\"") == 1u, before);  // drawn once
  BOOST_TEST(count_of(before, "[label=\"W_xh\\n[3, 2]\"") == 1u, before);
  // ... with an edge to each of the 4 steps that read it.
  std::size_t edges = 0;
  for (std::size_t i = 0; i < tape.size(); ++i) edges += tape.inputs_of(i).size();
  BOOST_TEST(count_of(before, " -> ") == edges);
  BOOST_TEST(before.find("penwidth") == std::string::npos);  // no gradients yet

  tape.backward(loss);
  const std::string after = tape.to_dot();
  for (const Var<double>& ht : hs)
    BOOST_TEST(after.find("|grad| " + two_digits(norm(ht.grad()))) != std::string::npos);
  BOOST_TEST(norm(hs[0].grad()) < norm(hs[3].grad()));  // the fading the colours show
  BOOST_TEST(count_of(after, "penwidth=") > 10u);
  BOOST_TEST(after.find("|grad| " + two_digits(norm(w_hh.grad))) != std::string::npos);

  // Graphviz renders it, when it is installed (scripts/setup.sh installs it).
  if (std::system("command -v dot > /dev/null 2>&1") != 0) {
    BOOST_TEST_MESSAGE("Graphviz (dot) is not installed: not rendered");
    return;
  }
  testsupport::ScratchDir dir("tapegrad_dot");
  const std::string in = dir.path("tape.dot"), out = dir.path("tape.svg");
  std::ofstream(in) << after;
  BOOST_TEST(std::system(("dot -Tsvg '" + in + "' -o '" + out + "' 2> /dev/null").c_str()) == 0);
  std::ifstream svg(out);
  const std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  BOOST_TEST(text.find("<svg") != std::string::npos);
  BOOST_TEST(text.find("W_hh") != std::string::npos);
  BOOST_TEST(text.find("t=4") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(labels_with_quotes_are_escaped_in_dot) {
  Tape<double> tape;
  Var<double> x = tape.leaf(Tensor<double>{1.0});
  const auto s = tape.scope("say \"hi\" \\ there");
  Var<double> y = tanh(x);
  (void)y;
  BOOST_TEST(tape.to_dot().find("label=\"say \\\"hi\\\" \\\\ there\"") != std::string::npos,
             tape.to_dot());
}

BOOST_AUTO_TEST_SUITE_END()

// The complete models: gradients through everything they compose, state carried between
// chunks, and a short training run each that must lower the loss.
#include <cmath>
#include <map>

#include <tapegrad/models/models.hpp>

#include "support/gradient_test.hpp"

using namespace tapegrad;
namespace tt = boost::test_tools;

namespace {

bool message_has(const Error& e, const std::string& part) {
  return std::string(e.what()).find(part) != std::string::npos;
}

// "abcabcabc..." as indices: perfectly predictable, so a model must learn it.
std::vector<Indices> periodic_steps(std::size_t steps, std::size_t batch, std::size_t offset) {
  std::vector<Indices> out(steps, Indices(batch));
  for (std::size_t t = 0; t < steps; ++t)
    for (std::size_t b = 0; b < batch; ++b) out[t][b] = std::int64_t((t + b + offset) % 3);
  return out;
}

Indices next_symbols(const std::vector<Indices>& steps) {
  Indices out;
  for (const Indices& s : steps)
    for (std::int64_t v : s) out.push_back((v + 1) % 3);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(complete_models)

BOOST_AUTO_TEST_CASE(sine_regressor_gradients_and_shapes) {
  nn::Rng rng(1);
  models::SineRegressor<double> model(3, rng);
  Tensor<double> x = Tensor<double>{{0.1, 0.2, 0.3, 0.4}, {0.5, 0.4, 0.3, 0.2}};
  Tensor<double> y = Tensor<double>::from_shape({2, 1});
  y(0, 0) = 0.5;
  y(1, 0) = 0.1;
  Tape<double> tape;
  BOOST_TEST(shape_str(model(tape, x).shape()) == "[2, 1]");
  const GradcheckResult r =
      gradcheck([&](Tape<double>& t) { return model.loss(t, x, y); }, model.parameters());
  BOOST_TEST(r.ok, r.report());
  BOOST_CHECK_EXCEPTION(model(tape, Tensor<double>{1.0, 2.0}), Error,
                        [](const Error& e) { return message_has(e, "SineRegressor"); });
}

BOOST_AUTO_TEST_CASE(sequence_regressor_gradients_for_every_cell_kind) {
  const Tensor<double> x = Tensor<double>{{0.1, -0.2, 0.3, 0.4}, {0.5, 0.4, -0.3, 0.2}};
  Tensor<double> y = Tensor<double>::from_shape({2, 1});
  y(0, 0) = 0.5;
  y(1, 0) = -0.1;
  for (const std::string& name : nn::cell_type_names()) {
    nn::Rng rng(3);
    models::SequenceRegressor<double> model(nn::parse_cell_type(name), 3, 2, rng);
    Tape<double> tape;
    BOOST_TEST(shape_str(model(tape, x).shape()) == "[2, 1]");
    const GradcheckResult r =
        gradcheck([&](Tape<double>& t) { return model.loss(t, x, y); }, model.parameters());
    BOOST_TEST(r.ok, name << ": " << r.report());
  }
  nn::Rng rng(3);
  models::SequenceRegressor<double> model(nn::CellType::rnn, 3, 1, rng);
  Tape<double> tape;
  BOOST_CHECK_EXCEPTION(model(tape, Tensor<double>{1.0, 2.0}), Error,
                        [](const Error& e) { return message_has(e, "SequenceRegressor"); });
  BOOST_CHECK_EXCEPTION(nn::parse_cell_type("tcn"), Error, [](const Error& e) {
    return message_has(e, "unknown cell 'tcn' (expected rnn, lstm or gru)");
  });
}

BOOST_AUTO_TEST_CASE(sequence_regressor_is_the_rnn_recurrence_then_the_head) {
  // One RNN layer by hand: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), y = w h_T + b.
  nn::Rng rng(5);
  models::SequenceRegressor<double> model(nn::CellType::rnn, 4, 1, rng);
  std::map<std::string, const Tensor<double>*> p;
  for (const auto& [name, param] : model.named_parameters()) p[name] = &param->value;
  const Tensor<double> x = Tensor<double>{{0.3, -0.1, 0.7}, {-0.5, 0.2, 0.1}};
  Tape<double> tape;
  const Tensor<double> got = model(tape, x).value();
  for (std::size_t b = 0; b < 2; ++b) {
    std::vector<double> h(4, 0.0);
    for (std::size_t t = 0; t < 3; ++t) {
      std::vector<double> next(4);
      for (std::size_t i = 0; i < 4; ++i) {
        double a = (*p.at("rnn.layer0.weight_ih"))(i, 0) * x(b, t) +
                   (*p.at("rnn.layer0.bias_ih"))(i) + (*p.at("rnn.layer0.bias_hh"))(i);
        for (std::size_t j = 0; j < 4; ++j) a += (*p.at("rnn.layer0.weight_hh"))(i, j) * h[j];
        next[i] = std::tanh(a);
      }
      h = next;
    }
    double out = (*p.at("head.bias"))(0);
    for (std::size_t j = 0; j < 4; ++j) out += (*p.at("head.weight"))(0, j) * h[j];
    BOOST_TEST(got(b, 0) == out, boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(next_word_model_starts_near_uniform_and_learns) {
  nn::Rng rng(7);
  models::NextWordModel<double> model({"a", "b", "c", "d"}, 4, rng);
  const Indices words = model.encode({"a", "b", "c", "d"});
  Tape<double> tape;
  const double initial = model.loss(tape, words).item();
  BOOST_TEST(std::fabs(initial - std::log(4.0)) < 0.5);  // small weights: close to uniform
  tape.clear();
  const GradcheckResult r =
      gradcheck([&](Tape<double>& t) { return model.loss(t, words); }, model.parameters());
  BOOST_TEST(r.ok, r.report());
  nn::SGD<double> opt(model.parameters(), 0.5);
  for (int i = 0; i < 200; ++i) {
    tape.clear();
    tape.backward(model.loss(tape, words));
    opt.step();
    opt.zero_grad();
  }
  tape.clear();
  BOOST_TEST(model.loss(tape, words).item() < 0.1);
  BOOST_TEST(model.predict(model.encode({"a", "b"}))(2) > 0.9);  // "c" follows "a b"
  BOOST_CHECK_EXCEPTION(model.encode({"a", "zebra"}), Error, [](const Error& e) {
    return message_has(e, "unknown word 'zebra'") && message_has(e, "a, b, c, d");
  });
}

BOOST_AUTO_TEST_CASE(next_word_model_with_embedding_input) {
  nn::Rng rng(8);
  models::NextWordModel<double> model({"x", "y", "z"}, 3, rng,
                                      models::NextWordModel<double>::Input::embedding, 2);
  BOOST_TEST(model.named_parameters()[0].first == "embedding");
  const Indices words = model.encode({"x", "y", "z", "x"});
  const GradcheckResult r =
      gradcheck([&](Tape<double>& t) { return model.loss(t, words); }, model.parameters());
  BOOST_TEST(r.ok, r.report());
}

BOOST_AUTO_TEST_CASE(char_lm_gradients_for_every_cell_kind) {
  using LM = models::CharLM<double>;
  for (LM::Cell cell : {LM::Cell::rnn, LM::Cell::lstm, LM::Cell::gru}) {
    // 3 steps of 2: an embedding goes through the projected table (T * B >= V); 1 step of 2:
    // it is embedded and projected per step (T * B < V).
    for (auto [embed, length] : {std::pair<std::size_t, std::size_t>{0, 3}, {3, 3}, {3, 1}}) {
      nn::Rng rng(11);
      LM model(3, embed, 3, 2, cell, rng);
      const auto steps = periodic_steps(length, 2, 0);
      const Indices targets = next_symbols(steps);
      LM::State start = model.zero_state(2);
      start.h[0].fill(0.3);  // a non-zero carried state takes part too
      const GradcheckResult r = gradcheck(
          [&](Tape<double>& t) {
            LM::State s = start;
            return softmax_cross_entropy(model.forward(t, steps, s), targets);
          },
          model.parameters());
      BOOST_TEST(r.ok, LM::cell_name(cell) << " embed " << embed << " steps " << length << "\n"
                                           << r.report());
    }
  }
}

BOOST_AUTO_TEST_CASE(char_lm_carries_state_between_chunks_and_learns) {
  using LM = models::CharLM<float>;
  for (LM::Cell cell : {LM::Cell::rnn, LM::Cell::lstm, LM::Cell::gru}) {
    nn::Rng rng(5);
    LM model(3, 4, 16, 1, cell, rng);
    nn::Adam<float> opt(model.parameters(), 0.02);
    LM::State state = model.zero_state(4);
    Tape<float> tape;
    float first = 0, last = 0;
    for (int step = 0; step < 60; ++step) {
      const auto steps = periodic_steps(8, 4, std::size_t(step) * 8);
      Var<float> loss =
          softmax_cross_entropy(model.forward(tape, steps, state), next_symbols(steps));
      (step == 0 ? first : last) = loss.item();
      tape.backward(loss);
      opt.step();
      opt.zero_grad();
      tape.clear();
    }
    BOOST_TEST(last < 0.25f * first, LM::cell_name(cell) << ": loss " << first << " -> " << last);
    BOOST_TEST(state.h.size() == 1u);
    BOOST_TEST(state.c.size() == (cell == LM::Cell::lstm ? 1u : 0u));
    BOOST_TEST(std::fabs(state.h[0](0, 0)) > 0.0f);  // the carried state is the real last state
  }
}

BOOST_AUTO_TEST_CASE(char_lm_rejects_a_state_of_the_wrong_shape) {
  nn::Rng rng(5);
  models::CharLM<float> model(3, 0, 4, 2, models::CharLM<float>::Cell::gru, rng);
  auto state = model.zero_state(3);
  Tape<float> tape;
  BOOST_CHECK_EXCEPTION(model.forward(tape, periodic_steps(2, 2, 0), state), Error,
                        [](const Error& e) { return message_has(e, "input batch 2"); });
  BOOST_CHECK_EXCEPTION(models::CharLM<float>::parse_cell("transformer"), Error,
                        [](const Error& e) { return message_has(e, "'transformer'"); });
}

// With an embedding and V <= T * B, CharLM looks the first layer's input up in the projected
// table E W_ih^T + b_ih; one step at a time (T * B = 2 < V) it embeds and projects instead. The
// logits of a sequence must not depend on which way was taken, for every cell kind.
BOOST_AUTO_TEST_CASE(char_lm_projected_embedding_table_gives_the_embedded_logits) {
  using LM = models::CharLM<double>;
  for (LM::Cell cell : {LM::Cell::rnn, LM::Cell::lstm, LM::Cell::gru}) {
    nn::Rng rng(23);
    LM model(3, 4, 5, 2, cell, rng);
    const auto steps = periodic_steps(4, 2, 1);  // T * B = 8 >= V = 3: the table
    LM::State whole = model.zero_state(2), stepwise = model.zero_state(2);
    Tape<double> tape;
    const Tensor<double> together = model.forward(tape, steps, whole).value();
    for (std::size_t t = 0; t < steps.size(); ++t) {
      Tape<double> one;
      const Tensor<double> row = model.forward(one, {steps[t]}, stepwise).value();
      for (std::size_t k = 0; k < row.size(); ++k)
        BOOST_TEST(row.data()[k] == together.data()[t * row.size() + k],
                   boost::test_tools::tolerance(1e-12));
    }
    for (std::size_t l = 0; l < 2; ++l)
      for (std::size_t k = 0; k < whole.h[l].size(); ++k)
        BOOST_TEST(whole.h[l].data()[k] == stepwise.h[l].data()[k],
                   boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(char_lm_with_dropout_is_gradient_checked_and_evaluates_without_it) {
  // Dropout on the embedding output, between the two layers and before the head: gradcheck with
  // every generator restored before each evaluation (fixed masks), for every cell kind; the
  // model has three generators, draws masks while training and none in eval() mode, where its
  // logits are those of the same weights without dropout.
  using LM = models::CharLM<double>;
  for (LM::Cell cell : {LM::Cell::rnn, LM::Cell::lstm, LM::Cell::gru}) {
    LM::Options o;
    o.dropout = 0.3;
    nn::Rng rng(31), plain_rng(31);
    LM model(3, 3, 4, 2, cell, rng, o);
    LM plain(3, 3, 4, 2, cell, plain_rng);  // the same weights: dropout draws its seeds last
    const auto generators = model.named_generators();
    BOOST_TEST_REQUIRE(generators.size() == 3u);
    std::vector<std::string> starts;
    for (auto& [name, g] : generators) starts.push_back(g->state());
    const auto restore = [&] {
      for (std::size_t k = 0; k < generators.size(); ++k)
        generators[k].second->set_state(starts[k]);
    };
    const auto steps = periodic_steps(3, 2, 0);
    const Indices targets = next_symbols(steps);
    const auto loss = [&](LM& m, Tape<double>& t) {
      LM::State s = m.zero_state(2);
      return softmax_cross_entropy(m.forward(t, steps, s), targets);
    };
    const GradcheckResult r = gradcheck(
        [&](Tape<double>& t) {
          restore();
          return loss(model, t);
        },
        model.parameters());
    BOOST_TEST(r.ok, LM::cell_name(cell) << "\n" << r.report());
    Tape<double> a, b, c;
    restore();
    const double dropped = loss(model, a).item(), without = loss(plain, b).item();
    BOOST_TEST(dropped != without, LM::cell_name(cell));
    model.eval();
    const std::string before = generators[0].second->state();
    BOOST_TEST(loss(model, c).item() == without, LM::cell_name(cell));
    BOOST_TEST(generators[0].second->state() == before);
  }
}

BOOST_AUTO_TEST_SUITE_END()

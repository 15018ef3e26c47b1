// The incremental predictor on a small CharLM with random weights: reading token by token gives
// the distribution of a whole re-read; back() restores earlier points bit for bit, within the
// kept history and beyond it; predictors on threads sharing one model answer as one alone; once
// warm, a keystroke allocates no memory.
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/train/predictor.hpp>

#include "support/allocation_count.hpp"
#include "support/error_of.hpp"

using namespace tapegrad;
using namespace tapegrad::train;

namespace {

constexpr std::size_t kVocabulary = 13;

Indices tokens(std::size_t n, std::size_t seed = 0) {
  Indices out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = std::int64_t((i * 5 + seed + i / 3) % kVocabulary);
  return out;
}

struct Model {
  explicit Model(LanguageModelNet::Cell cell, std::size_t embed = 6)
      : rng(21), net(kVocabulary, embed, 16, 2, cell, rng) {
    net.eval();
  }
  nn::Rng rng;
  LanguageModelNet net;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(predictor)

BOOST_AUTO_TEST_CASE(token_by_token_gives_the_distribution_of_a_whole_re_read) {
  for (auto cell :
       {LanguageModelNet::Cell::rnn, LanguageModelNet::Cell::lstm, LanguageModelNet::Cell::gru})
    for (std::size_t embed : {std::size_t(0), std::size_t(6)}) {
      Model m(cell, embed);
      const Indices text = tokens(40);
      Predictor p(m.net);
      for (std::size_t n = 1; n <= text.size(); ++n) {
        p.feed(text[n - 1]);
        // The same prefix read at once by the sampling helper: its steps are batched in pieces
        // (the embedding projected as one table), so float sums differ in the last bits: an
        // absolute bound, as logits near zero make relative ones meaningless.
        LanguageModelNet::State zero = m.net.zero_state(1);
        const std::vector<double> whole =
            next_token_logits(m.net, zero, Indices(text.begin(), text.begin() + std::ptrdiff_t(n)));
        BOOST_TEST_REQUIRE(p.logits().size() == kVocabulary);
        for (std::size_t k = 0; k < kVocabulary; ++k)
          BOOST_TEST(std::abs(p.logits()[k] - whole[k]) <= 1e-6,
                     k << ": " << p.logits()[k] << " vs " << whole[k]);
      }
      BOOST_TEST(p.size() == text.size());
      BOOST_TEST(p.tokens() == text, boost::test_tools::per_element());
      const auto best = p.top(3);
      BOOST_TEST_REQUIRE(best.size() == 3u);
      const std::vector<double> probs = p.probabilities();
      BOOST_TEST(best[0].first == argmax(p.logits()));
      // Its normaliser is summed in float: equal to probabilities() to about 1e-6.
      for (const auto& [i, q] : best)
        BOOST_TEST(q == probs[std::size_t(i)], boost::test_tools::tolerance(1e-5));
      BOOST_TEST(best[0].second >= best[1].second);
      BOOST_TEST(best[1].second >= best[2].second);
      // A token never suggested leaves the list; the others keep their probabilities.
      p.never_suggest(best[0].first);
      const auto without = p.top(kVocabulary);
      BOOST_TEST_REQUIRE(without.size() == kVocabulary - 1);
      BOOST_TEST(without[0].first == best[1].first);
      BOOST_TEST(without[0].second == best[1].second);
      for (const auto& [i, q] : without) BOOST_TEST(i != best[0].first);
      p.never_suggest(-1);
    }
}

BOOST_AUTO_TEST_CASE(back_restores_every_earlier_point_exactly) {
  Model m(LanguageModelNet::Cell::lstm);
  const Indices text = tokens(30, 4);
  Predictor p(m.net, 4);  // snapshots of the last 4 tokens: further back re-reads
  std::vector<std::vector<double>> seen;
  std::vector<std::vector<float>> states;
  for (std::int64_t t : text) {
    p.feed(t);
    seen.push_back(p.logits());
    states.emplace_back(p.state().c[1].begin(), p.state().c[1].end());
  }
  for (std::size_t n : {1u, 3u, 4u, 5u, 11u}) {  // within the history, at its edge, beyond it
    Predictor q(m.net, 4);
    q.feed(text);
    q.back(n);
    const std::size_t at = text.size() - n;
    BOOST_TEST(q.size() == at);
    BOOST_TEST(q.logits() == seen[at - 1], boost::test_tools::per_element());
    BOOST_TEST(std::vector<float>(q.state().c[1].begin(), q.state().c[1].end()) == states[at - 1],
               boost::test_tools::per_element());
    // And forward again from there: the same as never having gone back.
    q.feed(text[at]);
    BOOST_TEST(q.logits() == seen[at], boost::test_tools::per_element());
  }
  // Backspace key by key down to nothing, then the text again.
  for (std::size_t k = text.size() - 1; k >= 1; --k) {
    p.back();
    BOOST_TEST(p.logits() == seen[k - 1], boost::test_tools::per_element());
  }
  p.back();
  BOOST_TEST(p.empty());
  BOOST_TEST(testsupport::error_of([&] { p.logits(); }) ==
             "Predictor: no token read yet, so there is no next-token distribution");
  for (float h : p.state().h[0]) BOOST_TEST(h == 0.0f);
  p.feed(text);
  BOOST_TEST(p.logits() == seen.back(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(predictors_on_threads_share_one_model) {
  Model m(LanguageModelNet::Cell::lstm);
  const Indices text = tokens(120, 7);
  std::vector<std::vector<double>> alone;
  {
    Predictor p(m.net);
    for (std::int64_t t : text) {
      p.feed(t);
      alone.push_back(p.logits());
    }
  }
  const LanguageModelNet& shared = m.net;  // read only, by every thread at once
  constexpr int kThreads = 4;
  std::vector<std::vector<std::vector<double>>> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      Predictor p(shared, 8);
      for (std::size_t k = 0; k < text.size(); ++k) {
        p.feed(text[k]);
        if (k % 10 == 9) {  // some backspacing on the way
          p.back(2);
          p.feed(text[k - 1]);
          p.feed(text[k]);
        }
        got[std::size_t(i)].push_back(p.logits());
      }
    });
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i)
    for (std::size_t k = 0; k < text.size(); ++k)
      BOOST_TEST(got[std::size_t(i)][k] == alone[k], boost::test_tools::per_element());
  // The model's parameters were only read: no gradient was allocated or bound.
  for (Parameter<float>* p : m.net.parameters()) BOOST_TEST(p->bound_tape == nullptr);
}

BOOST_AUTO_TEST_CASE(a_keystroke_allocates_nothing_once_warm) {
  if (!testsupport::allocations_counted()) {
    BOOST_TEST_MESSAGE("allocations are not counted under a sanitizer: not measured");
    return;
  }
  for (auto cell :
       {LanguageModelNet::Cell::rnn, LanguageModelNet::Cell::lstm, LanguageModelNet::Cell::gru})
    for (std::size_t embed : {std::size_t(0), std::size_t(6)}) {
      Model m(cell, embed);
      const Indices text = tokens(24, 3);
      Predictor p(m.net, 8);
      std::vector<std::pair<std::int64_t, double>> best;
      // What a user does, twice: type, take the suggestions, backspace within the history and
      // beyond it, start over. The first round makes every buffer; the second must make none.
      std::size_t made = 0;
      for (int round = 0; round < 2; ++round) {
        const std::size_t before = testsupport::allocations_so_far();
        for (std::size_t k = 0; k < text.size(); ++k) {
          p.feed(text[k]);
          p.top(3, best);
          if (k % 7 == 6) p.back(2);
        }
        p.logits();
        p.back(3);   // within the history
        p.back(12);  // beyond it: re-read
        p.top(3, best);
        p.reset();
        made = testsupport::allocations_so_far() - before;
        if (round == 0) BOOST_TEST(made > 0u);  // the count sees them
      }
      BOOST_TEST(made == 0u, LanguageModelNet::cell_name(cell)
                                 << ", embedding " << embed << ": " << made << " allocations");
      BOOST_TEST(best.size() == 3u);
    }
}

BOOST_AUTO_TEST_CASE(bad_requests_are_errors_that_say_what_was_expected) {
  Model m(LanguageModelNet::Cell::gru);
  Predictor p(m.net);
  BOOST_TEST(testsupport::error_of([&] { p.feed(13); }) ==
             "Predictor: token 13 is outside the vocabulary of 13");
  BOOST_TEST(testsupport::error_of([&] { p.feed(-1); }) ==
             "Predictor: token -1 is outside the vocabulary of 13");
  BOOST_TEST(p.empty());  // a refused token changes nothing
  p.feed(tokens(3));
  BOOST_TEST(testsupport::error_of([&] { p.back(4); }) ==
             "Predictor::back: 4 tokens back, but only 3 were read");
  BOOST_TEST(p.size() == 3u);
  BOOST_TEST(testsupport::error_of([&] { Predictor(m.net, 0); }) ==
             "Predictor: history must be at least 1 token, got 0");
}

BOOST_AUTO_TEST_SUITE_END()

// Using a trained model: complete (the tutorial's "king sits on"), sample (seeds, temperature,
// top-k, primes with unknown symbols), eval on a file, and word-level detokenisation.
#include <cmath>
#include <string>

#include <boost/test/unit_test.hpp>

#include "lm/generate.hpp"
#include "lm/lm_support.hpp"

using namespace tapegrad;
using namespace tapegrad::lm;
using lmtest::builtin_word_model;
using lmtest::contains;
using lmtest::error_of;
using lmtest::LmTempDir;
using lmtest::small_text;
using lmtest::tiny_options;

namespace {

// A character-level model of small_text() (a few steps: only determinism is tested with it).
struct CharModel {
  LmTempDir tmp;
  std::unique_ptr<LanguageModel> lm;
  CharModel() {
    Trainer(tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"), 5))
        .run(nullptr, nullptr);
    lm = std::move(load_model_dir(tmp.path("run")).lm);
  }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(lm_generate)

BOOST_AUTO_TEST_CASE(king_sits_on_the_throne) {
  const LanguageModel& lm = builtin_word_model();
  const Completion c = complete(lm, "king sits on", 5);
  BOOST_TEST(c.prompt.tokens.size() == 3u);
  BOOST_TEST(c.prompt.unknown_words.empty());
  BOOST_TEST_REQUIRE(c.top.size() == 5u);
  BOOST_TEST(c.top[0].symbol == "the");
  BOOST_TEST(c.top[0].probability > 0.8);
  double total = 0;
  for (std::size_t i = 0; i < c.top.size(); ++i) {
    total += c.top[i].probability;
    if (i > 0) BOOST_TEST(c.top[i].probability <= c.top[i - 1].probability);
    BOOST_TEST(lm.vocabulary.symbol(std::size_t(c.top[i].index)) == c.top[i].symbol);
  }
  BOOST_TEST(total <= 1.0 + 1e-9);
  BOOST_TEST(c.greedy == "the throne.");
}

BOOST_AUTO_TEST_CASE(unknown_words_become_unk_and_are_listed) {
  const LanguageModel& lm = builtin_word_model();
  const Completion c = complete(lm, "the dragon sits on", 3);
  BOOST_TEST(c.prompt.unknown_words == std::vector<std::string>{"dragon"},
             boost::test_tools::per_element());
  BOOST_TEST(c.prompt.tokens[1] == 0);  // <unk>
  BOOST_TEST(error_of([&] { complete(lm, "   ", 3); }) ==
             "complete: the text '   ' holds no words; give at least one");
  BOOST_TEST(error_of([&] { complete(lm, "king", 0); }) ==
             "complete: --top must be at least 1, got 0");
}

BOOST_AUTO_TEST_CASE(unknown_character_in_a_prime_names_it_and_its_position) {
  CharModel m;
  SampleOptions s;
  s.prime = "the cat Zzz";
  BOOST_TEST(error_of([&] { sample(*m.lm, s); }) ==
             "unknown character 'Z' (U+005A) at position 8: not in the model's vocabulary of 15 "
             "characters");
  BOOST_TEST(error_of([&] { complete(*m.lm, "the dog!", 3); }) ==
             "unknown character '!' (U+0021) at position 7: not in the model's vocabulary of 15 "
             "characters");
}

BOOST_AUTO_TEST_CASE(sampling_is_seeded_and_temperature_zero_is_greedy) {
  CharModel m;
  SampleOptions s;
  s.prime = "the ";
  s.length = 60;
  s.seed = 7;
  const std::string a = sample(*m.lm, s);
  BOOST_TEST(a.size() == 64u);  // the prime, then 60 characters (all ASCII here)
  BOOST_TEST(a.rfind("the ", 0) == 0u);
  BOOST_TEST(sample(*m.lm, s) == a);
  s.seed = 8;
  BOOST_TEST(sample(*m.lm, s) != a);

  // Temperature 0, top-k 1 and the greedy completion all pick the most likely symbol.
  s.temperature = 0;
  s.length = 15;
  const std::string greedy = sample(*m.lm, s);
  s.temperature = 1;
  s.top_k = 1;
  BOOST_TEST(sample(*m.lm, s) == greedy);
  const std::string completed = complete(*m.lm, "the ", 1, 15).greedy;
  BOOST_TEST(greedy.substr(4, completed.size()) == completed);

  // Every drawn symbol is in the vocabulary; with no prime the text starts after a newline.
  s = SampleOptions{};
  s.length = 30;
  const std::string unprimed = sample(*m.lm, s);
  BOOST_TEST(unprimed.size() == 30u);
  BOOST_TEST(m.lm->vocabulary.encode(unprimed).size() == 30u);
}

BOOST_AUTO_TEST_CASE(a_sample_is_handed_out_token_by_token_as_it_is_drawn) {
  // sample used to print nothing until it had generated everything.
  CharModel m;
  SampleOptions s;
  s.prime = "the ";
  s.length = 40;
  s.seed = 3;
  std::vector<std::string> pieces;
  sample(*m.lm, s, [&](const std::string& piece) { pieces.push_back(piece); });
  BOOST_TEST(pieces.size() == 44u);  // the prime's 4 characters, then one piece per draw
  std::string joined;
  for (const std::string& p : pieces) joined += p;
  BOOST_TEST(joined == sample(*m.lm, s));
  // The pieces come while drawing: a reader that stops after three stops the generation.
  int seen = 0;
  struct Enough {};
  BOOST_CHECK_THROW(sample(*m.lm, s,
                           [&](const std::string&) {
                             if (++seen == 3) throw Enough{};
                           }),
                    Enough);
  BOOST_TEST(seen == 3);

  // Word level: the pieces carry their spaces, so they join to the detokenized text.
  const Vocabulary words = Vocabulary::build("the king sits on the throne .", Level::word);
  Detokenizer d(words);
  std::string text;
  for (const char* w : {"the", "king", "sits", "on", "the", "throne", "."})
    text += d.next(*words.find(w));
  BOOST_TEST(text == "the king sits on the throne.");
}

BOOST_AUTO_TEST_CASE(keystroke_savings_at_word_level_complete_the_word_being_typed) {
  const LanguageModel& lm = builtin_word_model();
  const Vocabulary& v = lm.vocabulary;
  // The keyboard simulated here the plain way: after j characters of a word it offers the most
  // likely vocabulary word (not <unk>) that starts with them; accepted when it is the word and at
  // least 2 characters are left.
  const auto simulate = [&](const std::vector<std::string>& words) {
    KeystrokeSavings k;
    train::Predictor p(*lm.net);
    for (std::size_t i = 0; i < words.size(); ++i) {
      const std::string& w = words[i];  // ASCII here: bytes are characters
      const std::int64_t token = v.find(w).value_or(0);
      k.characters += w.size();
      std::size_t keys = w.size();
      for (std::size_t j = 0; i > 0 && token != 0 && j + 2 <= w.size(); ++j) {
        std::int64_t offer = -1;
        for (std::size_t c = 1; c < v.size(); ++c)
          if (v.symbol(c).compare(0, j, w, 0, j) == 0 && v.symbol(c).size() >= j &&
              (offer < 0 || p.logits()[c] > p.logits()[std::size_t(offer)]))
            offer = std::int64_t(c);
        if (offer == token) {
          keys = j + 1;
          ++k.accepted;
          break;
        }
      }
      k.keystrokes += keys;
      p.feed(token);
    }
    return k;
  };
  for (const std::string text :
       {"king sits on the throne.", "the queen sits on the dragon throne .", "a king rules"}) {
    const KeystrokeSavings k = keystroke_savings(lm, text);
    const KeystrokeSavings expected = simulate(tokenize_words(text));
    BOOST_TEST(k.characters == expected.characters, text);
    BOOST_TEST(k.keystrokes == expected.keystrokes, text);
    BOOST_TEST(k.accepted == expected.accepted, text);
  }
  // The model completes "king sits on" with "the throne.": "the" and "throne" are offered
  // before their first letter (one key each); "." is one character, nothing to save.
  const KeystrokeSavings k = keystroke_savings(lm, "king sits on the throne.");
  BOOST_TEST(k.characters == 4u + 4u + 2u + 3u + 6u + 1u);  // spaces between words not counted
  BOOST_TEST(k.accepted >= 2u);
  BOOST_TEST(k.keystrokes <= k.characters - (3u - 1u) - (6u - 1u));
  BOOST_TEST(k.rate() == 1.0 - double(k.keystrokes) / double(k.characters));
  // A word the vocabulary lacks counts its own characters (not those of "<unk>"), all typed.
  const KeystrokeSavings dragon = keystroke_savings(lm, "king dragon");
  BOOST_TEST(!v.find("dragon"));
  BOOST_TEST(dragon.characters == 4u + 6u);
  BOOST_TEST(dragon.keystrokes == 4u + 6u);
  // The simulation can be cut: the first 9 characters are "king sits".
  const KeystrokeSavings cut = keystroke_savings(lm, "king sits on the throne.", 9);
  BOOST_TEST(cut.characters == 8u);
  BOOST_TEST(keystroke_savings(lm, "").characters == 0u);
  BOOST_TEST(keystroke_savings(lm, "").rate() == 0.0);
}

BOOST_AUTO_TEST_CASE(the_held_out_part_is_the_tail_training_validated_on) {
  const LanguageModel& lm = builtin_word_model();  // the built-in corpus, --val-fraction 0.1
  const std::string text = builtin_corpus();
  const HeldOut part = held_out_part(lm, DataIdentity::of("", text), text);
  const Indices all = lm.vocabulary.encode(text);
  BOOST_TEST(part.tokens == train::split(all, lm.hp.val_fraction).validation,
             boost::test_tools::per_element());
  BOOST_TEST(part.tokens.size() == std::size_t(std::llround(0.1 * double(all.size()))));
  // Its text starts at the first held-out word and reads as exactly those tokens.
  BOOST_TEST_REQUIRE(part.text.size() < text.size());
  BOOST_TEST(text.compare(text.size() - part.text.size(), part.text.size(), part.text) == 0);
  BOOST_TEST(lm.vocabulary.encode(part.text) == part.tokens, boost::test_tools::per_element());
  BOOST_TEST(part.chars_per_token == characters_per_token(text, lm.vocabulary));
  // Another text is refused: its tail is not what the model was validated on.
  BOOST_TEST(contains(error_of([&] { held_out_part(lm, DataIdentity::of("", text), text + " "); }),
                      "the held-out part is that of the text the model trained on, the built-in "
                      "corpus"));
}

BOOST_AUTO_TEST_CASE(keystroke_savings_at_character_level_accept_whole_word_completions) {
  LmTempDir tmp;
  // A model that has learnt a repetitive text completes its words: most keys are saved.
  const std::string text = small_text();
  TrainOptions o = tiny_options(tmp.write("data.txt", text), tmp.path("run"), 400);
  o.hp.hidden = 32;
  Trainer(o).run(nullptr, nullptr);
  const std::unique_ptr<LanguageModel> trained = std::move(load_model_dir(o.out_dir).lm);
  const KeystrokeSavings k = keystroke_savings(*trained, text, 300);
  BOOST_TEST(k.characters > 200u);
  BOOST_TEST(k.characters <= 300u);
  BOOST_TEST(k.accepted > 10u);
  BOOST_TEST(k.rate() > 0.3, "saved " << k.rate());
  // Untrained (five steps), its completions are not the text's words: almost every key typed.
  CharModel untrained;
  const KeystrokeSavings u = keystroke_savings(*untrained.lm, text, 300);
  BOOST_TEST(u.rate() < k.rate() / 3, "untrained saved " << u.rate());
  // The eval numbers beside it: the trained model ranks the right next character first more
  // often, and top-3 never below top-1.
  const std::string path = tmp.write("eval.txt", text);
  const Evaluation good = evaluate_file(*trained, path), bad = evaluate_file(*untrained.lm, path);
  BOOST_TEST(good.top1_accuracy() > 0.7);
  BOOST_TEST(good.top1_accuracy() > bad.top1_accuracy());
  BOOST_TEST(good.top3 >= good.top1);
  BOOST_TEST(good.perplexity() == std::exp(good.nats_per_token()));
}

BOOST_AUTO_TEST_CASE(low_temperature_concentrates_the_draws) {
  // At temperature 0.1 nearly every draw is the most likely symbol; at 3 most are not.
  const LanguageModel& lm = builtin_word_model();
  SampleOptions s;
  s.prime = "the king sits on";
  s.length = 1;
  int greedy_cold = 0, greedy_hot = 0;
  const std::string best = "the king sits on the";
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    s.seed = seed;
    s.temperature = 0.1;
    greedy_cold += sample(lm, s) == best;
    s.temperature = 3;
    greedy_hot += sample(lm, s) == best;
  }
  BOOST_TEST(greedy_cold == 40);
  BOOST_TEST(greedy_hot < 30);
}

BOOST_AUTO_TEST_CASE(eval_reports_nats_per_token_and_bits_per_character) {
  CharModel m;
  const std::string path = m.tmp.write("eval.txt", "the cat sat on a mat.\nthe dog ran.\n");
  const Evaluation e = evaluate_file(*m.lm, path);
  // 35 characters make 3 streams of 11 (each at least --seq-len 8 + 1), predicting 10 each;
  // a prediction stands for one character.
  BOOST_TEST(e.tokens == 30u);
  BOOST_TEST(e.characters == double(e.tokens));
  BOOST_TEST(e.bits_per_character() == e.nats_per_token() / std::log(2.0),
             boost::test_tools::tolerance(1e-12));
  BOOST_TEST(e.nats_per_token() > 0.0);

  const std::string bad = m.tmp.write("bad.txt", "the cat sat on the Mat.\n");
  BOOST_TEST(error_of([&] { evaluate_file(*m.lm, bad); }) ==
             "eval: '" + bad +
                 "': unknown character 'M' (U+004D) at position 19: not in the model's "
                 "vocabulary of 15 characters");
  const std::string missing = m.tmp.path("missing.txt");
  BOOST_TEST(error_of([&] { evaluate_file(*m.lm, missing); }) ==
             "'" + missing + "': cannot open: No such file or directory");
}

BOOST_AUTO_TEST_CASE(word_level_text_is_respaced_around_punctuation) {
  const Vocabulary v = Vocabulary::build("the king ( old ) sits , on the throne .", Level::word);
  BOOST_TEST(detokenize(v, v.encode("the king ( old ) sits , on the throne .")) ==
             "the king (old) sits, on the throne.");
  const Vocabulary c = Vocabulary::build("ab c", Level::character);
  BOOST_TEST(detokenize(c, c.encode("c ab")) == "c ab");
}

BOOST_AUTO_TEST_SUITE_END()

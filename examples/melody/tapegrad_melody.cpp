// tapegrad-melody: the tutorial's "[C, D, E] -> F" -- notes are words to a language model. Trains
// tapegrad-lm's word-level LSTM on a built-in corpus of public-domain melodies, then continues a
// prime into a new melody and writes it as a Standard MIDI File any player opens.
//
//   tapegrad-melody train --out melody-model
//   tapegrad-melody sample --model melody-model --prime "C D E" --midi tune.mid
//   tapegrad-melody corpus                      # the melodies, one a line, in the notation of
//   notes.hpp
//
// Exit codes: 0 success; 1 an error; 2 a usage error.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <tapegrad/nn/atomic_file.hpp>
#include <tapegrad/train/predictor.hpp>

#include "common/cli.hpp"
#include "lm/generate.hpp"
#include "lm/train.hpp"
#include "melody/midi.hpp"
#include "melody/notes.hpp"

using namespace tapegrad;

namespace {

int run_train(const std::string& out, std::size_t steps, std::uint64_t seed) {
  if (std::filesystem::exists(out + "/checkpoint.npz"))
    throw Error("--out '" + out +
                "' already holds a model; choose another directory (or remove it)");
  std::filesystem::create_directories(out);
  // The corpus beside the model: the training text a resumed or re-evaluated run reads again.
  const std::string corpus = out + "/melodies.txt";
  nn::write_file_atomically(corpus, melody::melody_corpus());
  lm::TrainOptions o;
  o.data_path = corpus;
  o.out_dir = out;
  o.hp.level = lm::Level::word;
  o.hp.min_count = 1;  // every note of the corpus is a word of the model
  o.hp.hidden = 64;
  o.hp.embed = 32;
  o.hp.seq_len = 32;
  o.hp.batch = 8;
  o.hp.lr = 0.005;
  o.hp.dropout = 0.2;  // a corpus this small is learnt by heart without it
  o.hp.seed = seed;
  o.max_steps = steps;
  o.val_every = 50;
  o.print_every = 50;
  lm::Trainer trainer(o);
  trainer.run(nullptr, nullptr);
  const auto& h = trainer.history();
  std::printf(
      "trained %zu steps on %zu melodies: train loss %.3f -> %.3f nats per note", steps,
      std::size_t(std::count(melody::melody_corpus().begin(), melody::melody_corpus().end(), '\n')),
      double(h.train_loss.front()), double(h.train_loss.back()));
  if (const auto best = trainer.best_validation())
    std::printf(", best validation %.3f at step %zu", best->second, best->first);
  std::printf("; saved in %s\n", out.c_str());
  return 0;
}

int run_sample(const std::string& dir, const std::string& prime, std::size_t length,
               std::size_t min_notes, double temperature, std::uint64_t seed,
               const std::string& midi, double bpm) {
  const lm::ModelDir m = lm::load_model_dir(dir);
  const std::vector<std::string> primed = melody::expand_prime(prime);
  std::string prime_text;
  for (const std::string& t : primed) prime_text += (prime_text.empty() ? "" : " ") + t;
  // Drawn token by token, as tapegrad-lm sample draws them; the end of a melody (".") may not
  // come before `min_notes` notes, and <unk> never comes.
  const lm::LanguageModel& model = *m.lm;
  for (const std::string& t : primed)
    if (!model.vocabulary.find(t))
      throw Error("the prime's '" + t + "' never occurs in the melodies the model learnt (" +
                  std::to_string(model.vocabulary.size() - 1) +
                  " notes and rests); `tapegrad-melody corpus` shows them");
  const std::int64_t end = model.vocabulary.find(".").value_or(-1);
  train::Predictor p(*model.net, 1);
  p.feed(model.vocabulary.encode(prime_text));
  nn::Rng rng(seed);
  std::vector<std::string> tokens = primed;
  bool ended = false;
  std::vector<double> logits;
  for (std::size_t n = 0; n < length && !ended; ++n) {
    logits = p.logits();
    logits[std::size_t(lm::never_suggested(model.vocabulary))] = -HUGE_VAL;
    if (end >= 0 && tokens.size() < min_notes) logits[std::size_t(end)] = -HUGE_VAL;
    const std::int64_t next = train::draw_token(logits, temperature, 0, rng);
    if (next == end) {
      ended = true;
    } else {
      tokens.push_back(model.vocabulary.symbol(std::size_t(next)));
      p.feed(next);
    }
  }
  std::vector<melody::Note> notes;
  std::string line;
  double beats = 0;
  for (const std::string& t : tokens) {
    if (!melody::is_note(t)) continue;  // a prime may hold "."
    notes.push_back(melody::parse_note(t));
    beats += notes.back().beats;
    line += (line.empty() ? "" : " ") + t;
  }
  std::printf("%s\n", line.c_str());
  std::fprintf(stderr, "%zu notes, %.1f beats%s\n", notes.size(), beats,
               ended ? " (the model ended the melody)" : "");
  if (!midi.empty()) {
    nn::write_file_atomically(midi, melody::midi_file(notes, bpm));
    std::fprintf(stderr, "wrote %s (%.0f quarter notes a minute)\n", midi.c_str(), bpm);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tapegrad-melody: a language model of note sequences, written out as MIDI"};
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("tapegrad-melody: ") + e.what() + " (see --help)\n";
  });
  std::string out = "melody-model", dir = "melody-model", prime = "C D E", midi;
  std::size_t steps = 150, length = 64, min_notes = 16;
  std::uint64_t seed = 1;
  double temperature = 1.0, bpm = 100;
  CLI::App* train_cmd = app.add_subcommand("train", "train on the built-in melodies");
  train_cmd->add_option("--out", out, "the model directory")->capture_default_str();
  train_cmd->add_option("--steps", steps, "training steps")
      ->transform(examples::integer_in(1, 1000000))
      ->capture_default_str();
  train_cmd->add_option("--seed", seed, "seed of the weights and the batches")
      ->capture_default_str();
  CLI::App* sample_cmd = app.add_subcommand("sample", "continue a prime into a new melody");
  sample_cmd->add_option("--model", dir, "the --out directory of train")->capture_default_str();
  sample_cmd->add_option("--prime", prime, "the first notes: C4q D4q E4q, or bare pitches C D E")
      ->capture_default_str();
  sample_cmd->add_option("--length", length, "notes drawn at most (the model may end sooner)")
      ->transform(examples::integer_in(1, 100000))
      ->capture_default_str();
  sample_cmd->add_option("--min-notes", min_notes, "notes before the model may end the melody")
      ->transform(examples::integer_in(0, 100000))
      ->capture_default_str();
  sample_cmd->add_option("--temperature", temperature, "0 picks the most likely note")
      ->check(examples::number("a number >= 0", [](double v) { return v >= 0; }))
      ->capture_default_str();
  sample_cmd->add_option("--seed", seed, "seed of the draws")->capture_default_str();
  sample_cmd->add_option("--midi", midi, "write the melody as a Standard MIDI File")
      ->type_name("FILE");
  sample_cmd->add_option("--bpm", bpm, "tempo: quarter notes a minute")
      ->check(
          examples::number("a number from 1 to 1000", [](double v) { return v >= 1 && v <= 1000; }))
      ->capture_default_str();
  CLI::App* corpus_cmd = app.add_subcommand("corpus", "print the built-in melodies");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (*train_cmd) return run_train(out, steps, seed);
    if (*sample_cmd) return run_sample(dir, prime, length, min_notes, temperature, seed, midi, bpm);
    if (*corpus_cmd) {
      std::fputs(melody::melody_corpus().c_str(), stdout);
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-melody: %s\n", e.what());
    return 1;
  }
  return 2;
}

#pragma once
// What the tapegrad-lm suites share: capturing an Error's message, scratch directories, and
// small training runs that finish in well under a second.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>

#include "lm/model_dir.hpp"
#include "lm/train.hpp"
#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

namespace lmtest {

namespace fs = std::filesystem;

using testsupport::error_of;

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A directory of its own per test case, removed afterwards.
struct LmTempDir : testsupport::ScratchDir {
  LmTempDir() : ScratchDir("tapegrad_lm") {}
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// 680 characters of repetitive text over 15 characters: enough structure for a tiny model
// to learn something in a few steps.
inline std::string small_text() {
  std::string text;
  const char* const lines[] = {"the cat sat on the mat.\n", "a dog ran to the cat.\n",
                               "the man sat on a dog.\n"};
  for (int i = 0; i < 30; ++i) text += lines[(i * 7) % 3];
  return text;
}

// A tiny character-level run on `data` into `out`: a few milliseconds a step.
inline tapegrad::lm::TrainOptions tiny_options(const std::string& data, const std::string& out,
                                               std::size_t steps = 10) {
  tapegrad::lm::TrainOptions o;
  o.data_path = data;
  o.out_dir = out;
  o.hp.level = tapegrad::lm::Level::character;
  o.hp.model = "lstm";
  o.hp.hidden = 8;
  o.hp.embed = 4;
  o.hp.seq_len = 8;
  o.hp.batch = 4;
  o.hp.lr = 0.01;
  o.max_steps = steps;
  o.val_every = 5;
  o.checkpoint_every = 1000;
  return o;
}

// A small word-level LSTM on the built-in corpus (no data path) into `out`: about 10 ms a step.
inline tapegrad::lm::TrainOptions builtin_word_options(const std::string& out, std::size_t steps) {
  tapegrad::lm::TrainOptions o;
  o.out_dir = out;
  o.hp.level = tapegrad::lm::Level::word;
  o.hp.hidden = 32;
  o.hp.embed = 16;
  o.hp.seq_len = 16;
  o.hp.batch = 8;
  o.hp.lr = 0.01;
  o.max_steps = steps;
  o.val_every = steps / 2;
  return o;
}

// The word-level LSTM of builtin_word_options trained 80 steps, once per process (about a
// second): it completes "king sits on" with "the throne.".
inline const tapegrad::lm::LanguageModel& builtin_word_model() {
  static const std::unique_ptr<tapegrad::lm::LanguageModel> model = [] {
    LmTempDir tmp;
    const tapegrad::lm::TrainOptions o = builtin_word_options(tmp.path("builtin"), 80);
    tapegrad::lm::Trainer(o).run(nullptr, nullptr);
    return std::move(tapegrad::lm::load_model_dir(o.out_dir).lm);
  }();
  return *model;
}

}  // namespace lmtest

// Bad input to tapegrad-lm gets a clear error, never a crash or a lost checkpoint: bad data
// files, impossible batching, unusable checkpoint directories, a resume that does not match,
// and nonsensical numbers. Each message must name what was expected and what was given; where
// a checkpoint exists, the test also proves its bytes are untouched.
#include <cstdio>
#include <string>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>
#include <tapegrad/nn/nn.hpp>

#include "lm/generate.hpp"
#include "lm/lm_support.hpp"
#include "lm/model_dir.hpp"
#include "lm/train.hpp"
#include "support/peak_memory.hpp"

using namespace tapegrad;
using namespace tapegrad::lm;
using lmtest::contains;
using lmtest::error_of;
using lmtest::LmTempDir;
using lmtest::read_file;
using lmtest::small_text;
using lmtest::tiny_options;

namespace {

// A checkpoint of a 2-step tiny run on small_text() in tmp/run; returns the data path.
std::string make_checkpoint(const LmTempDir& tmp, const std::string& model = "lstm") {
  const std::string data = tmp.write("data.txt", small_text());
  TrainOptions o = tiny_options(data, tmp.path("run"), 2);
  o.hp.model = model;
  Trainer(o).run(nullptr, nullptr);
  return data;
}

// Resume options that give `flags` explicitly (as the CLI marks them) and nothing else.
TrainOptions resume_options(const LmTempDir& tmp, std::vector<std::string> flags = {}) {
  TrainOptions o = tiny_options(tmp.path("data.txt"), tmp.path("run"), 4);
  o.resume = true;
  o.given = std::move(flags);
  return o;
}

// The error of constructing a Trainer; a checkpoint in tmp/run must come out unchanged.
std::string trainer_error(const LmTempDir& tmp, const TrainOptions& o) {
  const std::string checkpoint = checkpoint_path(tmp.path("run"));
  const std::string before = read_file(checkpoint);
  const std::string message = error_of([&] { Trainer t(o); });
  BOOST_TEST(read_file(checkpoint) == before, "the checkpoint changed");
  return message;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lm_model_dir)

// ---------------------------------------------------------------------------------------------
// Data files

BOOST_AUTO_TEST_CASE(missing_data_file) {
  LmTempDir tmp;
  const std::string path = tmp.path("nope.txt");
  BOOST_TEST(error_of([&] { Trainer t(tiny_options(path, tmp.path("run"))); }) ==
             "'" + path + "': cannot open: No such file or directory");
  BOOST_TEST(!lmtest::fs::exists(tmp.path("run")));  // nothing written
}

BOOST_AUTO_TEST_CASE(empty_data_file) {
  LmTempDir tmp;
  const std::string path = tmp.write("empty.txt", "");
  BOOST_TEST(error_of([&] { Trainer t(tiny_options(path, tmp.path("run"))); }) ==
             "'" + path + "' is empty");
}

BOOST_AUTO_TEST_CASE(one_character_data_file) {
  LmTempDir tmp;
  const std::string path = tmp.write("one.txt", "x");
  BOOST_TEST(error_of([&] { Trainer t(tiny_options(path, tmp.path("run"))); }) ==
             "'" + path +
                 "' holds only 1 character; a language model needs at least 2 (an input and its "
                 "target)");
}

BOOST_AUTO_TEST_CASE(binary_data_file) {
  LmTempDir tmp;
  const std::string path = tmp.write("model.bin", std::string("PK\x03\x04\0\0\x14\0", 8));
  BOOST_TEST(error_of([&] { Trainer t(tiny_options(path, tmp.path("run"))); }) ==
             "'" + path + "' looks like a binary file (a NUL byte at offset 4), not text");
}

BOOST_AUTO_TEST_CASE(invalid_utf8_data_file_at_word_level) {
  LmTempDir tmp;
  const std::string path = tmp.write("latin1.txt", "the caf\xE9 is open, the caf\xE9 is shut\n");
  TrainOptions o = tiny_options(path, tmp.path("run"));
  o.hp.level = Level::word;
  BOOST_TEST(error_of([&] { Trainer t(o); }) ==
             "tokenize_words: invalid UTF-8 at byte offset 7 (byte 0xE9): a 3-byte character is "
             "cut short by byte 0x20 at offset 8");
}

BOOST_AUTO_TEST_CASE(sequence_longer_than_the_data) {
  LmTempDir tmp;
  TrainOptions o = tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"));
  o.hp.seq_len = 700;
  // 680 characters, 612 of them for training.
  BOOST_TEST(error_of([&] { Trainer t(o); }) ==
             "--seq-len 700 is longer than the training data: 612 characters (a chunk of 700 "
             "steps needs 701)");
}

BOOST_AUTO_TEST_CASE(batch_larger_than_the_streams_allow) {
  LmTempDir tmp;
  TrainOptions o = tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"));
  o.hp.seq_len = 16;
  o.hp.batch = 64;
  BOOST_TEST(error_of([&] { Trainer t(o); }) ==
             "--batch 64 is larger than the training data allows: 612 characters make at most 36 "
             "streams of 17 (--seq-len 16 + 1)");
  o.hp.batch = 36;  // the largest that fits
  BOOST_TEST(Trainer(o).batcher().stream_length() == 17u);
}

// ---------------------------------------------------------------------------------------------
// Checkpoint directories

BOOST_AUTO_TEST_CASE(missing_model_directory) {
  LmTempDir tmp;
  const std::string dir = tmp.path("nowhere");
  BOOST_TEST(error_of([&] { load_model_dir(dir); }) ==
             "model directory '" + dir + "': No such file or directory");
  const std::string file = tmp.write("file.txt", "hello");
  BOOST_TEST(error_of([&] { load_model_dir(file); }) ==
             "model directory '" + file +
                 "' is not a directory (expected the --out directory of tapegrad-lm train)");
}

BOOST_AUTO_TEST_CASE(model_directory_without_a_checkpoint) {
  LmTempDir tmp;
  const std::string dir = tmp.dir.string();
  BOOST_TEST(error_of([&] { load_model_dir(dir); }) ==
             "model directory '" + dir + "' holds no checkpoint (expected " + dir +
                 "/checkpoint.npz, written by tapegrad-lm train --out " + dir + ")");
}

BOOST_AUTO_TEST_CASE(truncated_checkpoint) {
  LmTempDir tmp;
  make_checkpoint(tmp);
  const std::string path = checkpoint_path(tmp.path("run"));
  const std::string whole = read_file(path);
  const std::string half = whole.substr(0, whole.size() / 2);
  tmp.write("run/checkpoint.npz", half);
  const std::string message = error_of([&] { load_model_dir(tmp.path("run")); });
  BOOST_TEST(contains(message, path), message);
  BOOST_TEST(contains(message, "is truncated"), message);
  // Resuming from it fails the same way and leaves the truncated file as it was.
  const std::string resume = trainer_error(tmp, resume_options(tmp));
  BOOST_TEST(resume == message);
  BOOST_TEST(read_file(path) == half);
}

BOOST_AUTO_TEST_CASE(checkpoint_not_written_by_tapegrad_lm) {
  LmTempDir tmp;
  nn::Rng rng(1);
  nn::Linear<float> layer(3, 2, rng);
  lmtest::fs::create_directories(tmp.path("run"));
  nn::save_checkpoint(checkpoint_path(tmp.path("run")), layer, {{"epoch", 3}});
  BOOST_TEST(error_of([&] { load_model_dir(tmp.path("run")); }) ==
             checkpoint_path(tmp.path("run")) +
                 " is a tapegrad checkpoint but was not written by tapegrad-lm (its metadata has "
                 "no \"tapegrad_lm\" field)");
}

BOOST_AUTO_TEST_CASE(checkpoint_whose_tensors_belong_to_another_vocabulary) {
  // The metadata of one run over the tensors of another with a larger vocabulary: the shapes
  // do not match the vocabulary the metadata describes.
  LmTempDir tmp;
  make_checkpoint(tmp);
  const nlohmann::json meta = nn::read_checkpoint_metadata(checkpoint_path(tmp.path("run")));
  const std::string wider = tmp.write("wider.txt", small_text() + "xyz\n");
  TrainOptions o = tiny_options(wider, tmp.path("other"), 1);
  Trainer other(o);
  LanguageModel& lm = other.model();
  std::vector<std::pair<std::string, const Tensor<float>*>> extra;
  for (auto& [name, t] : lm.extra_tensors()) extra.emplace_back(name, t);
  nn::save_checkpoint(checkpoint_path(tmp.path("run")), *lm.net, meta["user"], extra);

  const std::string message = error_of([&] { load_model_dir(tmp.path("run")); });
  BOOST_TEST(message.rfind("cannot load the model in '" + tmp.path("run") + "': ", 0) == 0u,
             message);
  // 15 characters in the metadata; 18 (then x, y and z) behind the arrays.
  BOOST_TEST(contains(message,
                      "its metadata describes a 1-layer lstm of hidden 8 over 15 characters (643 "
                      "parameters), but the checkpoint stores 682 parameter values"),
             message);
}

BOOST_AUTO_TEST_CASE(metadata_claiming_a_huge_model_is_refused_before_anything_is_built) {
  // A model directory of a few KB whose metadata says 64 layers of hidden 2048: the loader used
  // to build that model (and its optimiser state, 6 GB) before comparing it with the arrays.
  LmTempDir tmp;
  make_checkpoint(tmp);
  const std::string path = checkpoint_path(tmp.path("run"));
  const nn::Checkpoint saved = nn::read_checkpoint(path);
  nlohmann::json user = saved.metadata["user"];
  user["hyperparameters"]["layers"] = 64;
  user["hyperparameters"]["hidden"] = 2048;
  TrainOptions o = tiny_options(tmp.path("data.txt"), tmp.path("other"), 1);
  Trainer small(o);
  LanguageModel& lm = small.model();
  std::vector<std::pair<std::string, const Tensor<float>*>> extra;
  for (auto& [name, t] : lm.extra_tensors()) extra.emplace_back(name, t);
  nn::save_checkpoint(path, *lm.net, user, extra);

  const testsupport::PeakMemory memory;
  const std::string message = error_of([&] { load_model_dir(tmp.path("run")); });
  BOOST_TEST(contains(message,
                      "its metadata describes a 64-layer lstm of hidden 2048 over 15 characters "
                      "(2,131,818,571 parameters), but the checkpoint stores 643 parameter "
                      "values: the metadata does not belong to these arrays"),
             message);
  if (memory.measured()) BOOST_TEST(memory.growth_mib() < 64.0);
}

BOOST_AUTO_TEST_CASE(a_version_1_directory_loads_and_resumes) {
  // The layout before the training library: the batcher position and the train tokens under
  // "progress", the gradient diagnostics under "history", no "task" and no "rngs".
  LmTempDir tmp;
  make_checkpoint(tmp);
  const ModelDir now = load_model_dir(tmp.path("run"));
  nlohmann::json meta = nn::read_checkpoint_metadata(checkpoint_path(tmp.path("run")))["user"];
  meta["tapegrad_lm"] = 1;
  meta["progress"]["position"] = meta["task"]["position"];
  meta["progress"]["train_tokens"] = meta["progress"]["train_items"];
  meta["progress"].erase("train_items");
  for (const char* name : {"last_step_hidden_grad_norms", "last_time_step_grad_norms"})
    meta["history"][name] = meta["task"][name];
  meta.erase("task");
  meta.erase("rngs");
  // Nor the fields of format 3: the recipe's hyper-parameters, the schedule, the rates.
  for (const char* name :
       {"weight_decay", "lr_schedule", "warmup", "lr_min", "lr_decay", "lr_decay_every",
        "lr_decay_start", "dropout", "init", "forget_bias", "patience"})
    BOOST_TEST_REQUIRE(meta["hyperparameters"].erase(name) == 1u, name);
  meta.erase("schedule");
  meta["history"].erase("lr");
  ModelDir run = load_model_dir(tmp.path("run"));
  std::vector<std::pair<std::string, const Tensor<float>*>> extra;
  for (auto& [name, t] : run.lm->extra_tensors()) extra.emplace_back(name, t);
  nn::save_checkpoint(checkpoint_path(tmp.path("run")), *run.lm->net, meta, extra);

  const ModelDir old = load_model_dir(tmp.path("run"));
  BOOST_TEST(old.progress.step == 2u);
  BOOST_TEST(old.progress.train_items == now.progress.train_items);
  BOOST_TEST((old.position == now.position));
  BOOST_TEST(old.history.train_loss == now.history.train_loss, boost::test_tools::per_element());
  BOOST_TEST(old.history.last_time_step_grad_norms == now.history.last_time_step_grad_norms,
             boost::test_tools::per_element());
  BOOST_TEST(old.lm->hp.dropout == 0.0);
  BOOST_TEST(old.lm->hp.lr_schedule == "constant");
  Trainer resumed(resume_options(tmp));
  BOOST_TEST((resumed.run(nullptr, nullptr) == Trainer::Outcome::finished));
  BOOST_TEST(load_model_dir(tmp.path("run")).progress.step == 4u);
  // The old steps ran at the optimiser's constant rate, and the log says so.
  BOOST_TEST(resumed.history().lr == std::vector<double>(4, old.lm->hp.lr),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(checkpoint_whose_metadata_has_a_field_of_the_wrong_type) {
  // Metadata written by something else (the checkpoint's CRC is intact): a training loss that
  // is a string must give the loader's error naming the directory, not a bare JSON exception.
  LmTempDir tmp;
  make_checkpoint(tmp);
  nlohmann::json meta = nn::read_checkpoint_metadata(checkpoint_path(tmp.path("run")));
  meta["user"]["history"]["train_loss"][0] = "low";
  ModelDir run = load_model_dir(tmp.path("run"));
  std::vector<std::pair<std::string, const Tensor<float>*>> extra;
  for (auto& [name, t] : run.lm->extra_tensors()) extra.emplace_back(name, t);
  nn::save_checkpoint(checkpoint_path(tmp.path("run")), *run.lm->net, meta["user"], extra);

  const std::string message = error_of([&] { load_model_dir(tmp.path("run")); });
  BOOST_TEST(message.rfind("cannot load the model in '" + tmp.path("run") +
                               "': malformed "
                               "metadata",
                           0) == 0u,
             message);
  BOOST_TEST(contains(message, "must be number"), message);
}

// ---------------------------------------------------------------------------------------------
// Resume

BOOST_AUTO_TEST_CASE(resume_without_a_checkpoint) {
  LmTempDir tmp;
  tmp.write("data.txt", small_text());
  TrainOptions o = resume_options(tmp);
  BOOST_TEST(error_of([&] { Trainer t(o); }) == "--resume: '" + tmp.path("run") +
                                                    "' holds no checkpoint to continue (expected " +
                                                    checkpoint_path(tmp.path("run")) + ")");
}

BOOST_AUTO_TEST_CASE(a_new_run_never_overwrites_a_checkpoint) {
  LmTempDir tmp;
  const std::string data = make_checkpoint(tmp);
  TrainOptions o = tiny_options(data, tmp.path("run"));  // no --resume
  BOOST_TEST(trainer_error(tmp, o) ==
             "--out '" + tmp.path("run") + "' already holds a checkpoint (" +
                 checkpoint_path(tmp.path("run")) +
                 "); pass --resume to continue it, or choose another --out directory");
}

BOOST_AUTO_TEST_CASE(resume_with_another_model_kind) {
  LmTempDir tmp;
  make_checkpoint(tmp, "lstm");
  TrainOptions o = resume_options(tmp, {"--model"});
  o.hp.model = "gru";
  BOOST_TEST(trainer_error(tmp, o) ==
             "--resume: the checkpoint in '" + tmp.path("run") +
                 "' was trained with other hyper-parameters:\n"
                 "  --model: the checkpoint has lstm, given gru\n"
                 "leave these flags out to continue with the checkpoint's values, or train into "
                 "another --out directory");
}

BOOST_AUTO_TEST_CASE(resume_with_changed_hyperparameters_names_each) {
  LmTempDir tmp;
  make_checkpoint(tmp);
  TrainOptions o = resume_options(tmp, {"--hidden", "--lr", "--seq-len", "--batch", "--seed"});
  o.hp.hidden = 16;
  o.hp.lr = 0.002;
  o.hp.seed = 1;  // the same as the checkpoint: given, but not a difference
  const std::string message = trainer_error(tmp, o);
  BOOST_TEST(contains(message, "\n  --hidden: the checkpoint has 8, given 16\n"), message);
  BOOST_TEST(contains(message, "\n  --lr: the checkpoint has 0.01, given 0.002\n"), message);
  BOOST_TEST(!contains(message, "--seq-len"), message);
  BOOST_TEST(!contains(message, "--seed"), message);
  // A flag that was not given is taken from the checkpoint, whatever its default says.
  TrainOptions quiet = resume_options(tmp);
  quiet.hp.hidden = 999;
  Trainer resumed(quiet);
  BOOST_TEST(resumed.model().hp.hidden == 8u);
}

BOOST_AUTO_TEST_CASE(resume_with_another_vocabulary) {
  LmTempDir tmp;
  make_checkpoint(tmp);
  const std::string other = tmp.write("other.txt", small_text() + "zebra\n");
  TrainOptions o = resume_options(tmp, {"--data"});
  o.data_path = other;
  const Vocabulary saved = Vocabulary::build(small_text(), Level::character);
  const Vocabulary given = Vocabulary::build(small_text() + "zebra\n", Level::character);
  BOOST_TEST(trainer_error(tmp, o) ==
             "--resume: the vocabulary of '" + other + "' (17 characters, fingerprint " +
                 given.fingerprint_hex() + ") differs from the checkpoint's (15 characters, " +
                 "fingerprint " + saved.fingerprint_hex() + ", trained on '" +
                 tmp.path("data.txt") + "' (680 bytes, fingerprint " +
                 DataIdentity::of("", small_text()).fingerprint + "))");
}

BOOST_AUTO_TEST_CASE(resume_with_other_text_of_the_same_vocabulary) {
  LmTempDir tmp;
  make_checkpoint(tmp);
  std::string reordered = small_text();
  std::swap(reordered[0], reordered[1]);
  const std::string other = tmp.write("other.txt", reordered);
  TrainOptions o = resume_options(tmp, {"--data"});
  o.data_path = other;
  const std::string message = trainer_error(tmp, o);
  BOOST_TEST(message.rfind("--resume: the data differs from what the checkpoint was trained on: "
                           "given '" +
                               other + "' (680 bytes",
                           0) == 0u,
             message);
  BOOST_TEST(contains(message, "the checkpoint has '" + tmp.path("data.txt") + "' (680 bytes"),
             message);
}

BOOST_AUTO_TEST_CASE(resume_asking_for_no_more_steps) {
  LmTempDir tmp;
  make_checkpoint(tmp);
  TrainOptions o = resume_options(tmp);
  o.max_steps = 2;
  BOOST_TEST(trainer_error(tmp, o) == "--steps 2: the checkpoint in '" + tmp.path("run") +
                                          "' is already at step 2; ask for more steps to continue");
}

// ---------------------------------------------------------------------------------------------
// Nonsensical numbers

BOOST_AUTO_TEST_CASE(nonsensical_numbers_name_the_flag_the_range_and_the_value) {
  const auto check = [](auto change, const std::string& expected) {
    Hyperparameters hp;
    change(hp);
    BOOST_TEST(error_of([&] { hp.validate(); }) == expected);
  };
  // The hyper-parameters name their values as the schema declares them ...
  check([](Hyperparameters& h) { h.lr = -0.1; }, "lr: expected a positive number, got -0.1");
  check([](Hyperparameters& h) { h.lr = 0; }, "lr: expected a positive number, got 0");
  check([](Hyperparameters& h) { h.hidden = 0; },
        "hidden: expected an integer in [1, 65536], got 0");
  check([](Hyperparameters& h) { h.layers = 0; }, "layers: expected an integer in [1, 64], got 0");
  check([](Hyperparameters& h) { h.clip = -1; },
        "clip: expected a number >= 0 (0 turns clipping off), got -1");
  check([](Hyperparameters& h) { h.val_fraction = 0.9; },
        "val_fraction: expected a number in [0, 0.5], got 0.9");
  check([](Hyperparameters& h) { h.model = "transformer"; },
        "model: expected one of rnn, lstm, gru, got 'transformer'");
  check([](Hyperparameters& h) { h.optimizer = "rmsprop"; },
        "optimizer: expected one of adam, adamw, adagrad, sgd, got 'rmsprop'");

  // ... and training, tapegrad-lm's front end, reports them as the flags.
  {
    LmTempDir tmp;
    TrainOptions o = tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"));
    o.hp.val_fraction = 0.9;
    BOOST_TEST(error_of([&] { Trainer t(o); }) ==
               "--val-fraction: expected a number in [0, 0.5], got 0.9");
    o.hp.val_fraction = 0.1;
    o.hp.optimizer = "rmsprop";
    BOOST_TEST(error_of([&] { Trainer t(o); }) ==
               "--optimizer: expected one of adam, adamw, adagrad, sgd, got 'rmsprop'");
    BOOST_TEST(!lmtest::fs::exists(tmp.path("run")));
  }

  LmTempDir tmp;
  TrainOptions o = tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"));
  o.max_steps = 0;
  BOOST_TEST(error_of([&] { Trainer t(o); }) == "--steps must be at least 1, got 0");
  o.max_steps.reset();
  o.max_seconds = -5;
  BOOST_TEST(error_of([&] { Trainer t(o); }) ==
             "--time must be a positive number of seconds, got -5");
  o.max_seconds.reset();
  BOOST_TEST(error_of([&] { Trainer t(o); }) == "train: give --steps or --time (when to stop)");
}

BOOST_AUTO_TEST_CASE(negative_temperature) {
  LmTempDir tmp;
  make_checkpoint(tmp);
  const ModelDir m = load_model_dir(tmp.path("run"));
  SampleOptions s;
  s.temperature = -0.5;
  BOOST_TEST(error_of([&] { sample(*m.lm, s); }) ==
             "sample: --temperature must be a number >= 0 (0 picks the most likely token), got "
             "-0.5");
}

BOOST_AUTO_TEST_SUITE_END()

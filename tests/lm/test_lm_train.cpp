// The tapegrad-lm training loop: the state carried between chunks and reset at a wrap, resume
// continuing an interrupted run bit for bit, evaluation, the files a run writes, the progress
// line, and a short training on the built-in corpus whose validation loss falls.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include <tapegrad/train/format.hpp>
#include "lm/lm_support.hpp"
#include "lm/train.hpp"

using namespace tapegrad;
using namespace tapegrad::lm;
using lmtest::contains;
using lmtest::LmTempDir;
using lmtest::read_file;
using lmtest::small_text;
using lmtest::tiny_options;
using tapegrad::train::format_number;

namespace {

// The training loss of `batch` for the model as it is, from `state`, without touching it.
float loss_from(const Model& net, const Batch& batch, Model::State state) {
  NoGradGuard no_grad;
  Tape<float> tape;
  return softmax_cross_entropy(net.forward(tape, batch.inputs, state), batch.targets).item();
}

std::vector<float> flat_parameters(LanguageModel& lm) {
  std::vector<float> out;
  for (Parameter<float>* p : lm.net->parameters())
    out.insert(out.end(), p->value.begin(), p->value.end());
  return out;
}

std::vector<float> flat_state(const Model::State& s) {
  std::vector<float> out;
  for (const auto* part : {&s.h, &s.c})
    for (const Tensor<float>& t : *part) out.insert(out.end(), t.begin(), t.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(lm_train)

BOOST_AUTO_TEST_CASE(carried_state_continues_between_chunks_and_resets_at_a_wrap) {
  LmTempDir tmp;
  TrainOptions o = tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"));
  // 30 lines of ~22 characters, 90% for training over 4 streams: 3 chunks of 40 steps fit.
  o.hp.seq_len = 40;
  Trainer trainer(o);
  BOOST_TEST_REQUIRE(trainer.batcher().batches_per_epoch() == 3u);
  Model& net = *trainer.model().net;

  for (int k = 1; k <= 7; ++k) {
    StreamBatcher peek = trainer.batcher();  // a copy: the chunk the next step will see
    const Batch next = peek.next();
    const Model::State carried = trainer.model().carried;
    const float expected_carried = loss_from(net, next, carried);
    const float expected_fresh = loss_from(net, next, net.zero_state(o.hp.batch));
    const StepResult r = trainer.step();
    // Saving measures the gradient reach on the last chunk again; it must change nothing the
    // next step depends on (state, weights, gradients), which the next iteration checks.
    if (k == 2) trainer.save();
    // Steps 4 and 7 start the streams over; every other step continues from the last state.
    BOOST_TEST(r.wrapped == (k == 4 || k == 7), "step " << k);
    if (k == 1 || r.wrapped) {
      BOOST_TEST(r.loss == expected_fresh, "step " << k);
    } else {
      BOOST_TEST(r.loss == expected_carried, "step " << k);
      BOOST_TEST(r.loss != expected_fresh,
                 "step " << k << ": the carried state made no difference");
    }
  }
  // What is carried is the state the last chunk ended in, detached: plain tensors, non-zero.
  BOOST_TEST(std::fabs(trainer.model().carried.h[0](0, 0)) > 0.0f);
  BOOST_TEST(trainer.model().carried.c.size() == 1u);
}

BOOST_AUTO_TEST_CASE(resume_reproduces_an_uninterrupted_run_bit_for_bit) {
  // One configuration per optimiser and cell; 4 chunks per epoch, so the streams wrap at step 5,
  // before the interruption after step 6, and at steps 9 and 13, after it. The two-layer ones
  // train with dropout (its masks come from the model's generators, which the checkpoint must
  // restore) and a schedule (whose rate depends on the step the checkpoint restores).
  struct Case {
    const char* model;
    const char* optimizer;
    double dropout;
    const char* schedule;
  };
  for (const Case c :
       {Case{"lstm", "adamw", 0.3, "cosine"}, Case{"gru", "adagrad", 0.2, "step"},
        Case{"rnn", "sgd", 0.0, "constant"}, Case{"lstm", "adam", 0.0, "constant"}}) {
    BOOST_TEST_CONTEXT(c.model << " + " << c.optimizer << ", dropout " << c.dropout << ", "
                               << c.schedule) {
      LmTempDir tmp;
      const std::string data = tmp.write("data.txt", small_text());
      TrainOptions o = tiny_options(data, tmp.path("straight"), 14);
      o.hp.model = c.model;
      o.hp.optimizer = c.optimizer;
      o.hp.dropout = c.dropout;
      o.hp.lr_schedule = c.schedule;
      if (c.dropout > 0) {
        o.hp.layers = 2;
        o.hp.warmup = 3;
        o.hp.weight_decay = 0.05;
        o.hp.lr_min = o.hp.lr / 10;
        o.hp.lr_decay = 0.5;
        o.hp.lr_decay_every = 4;
      }
      o.hp.seq_len = 38;
      o.val_every = 4;

      Trainer straight(o);
      BOOST_TEST_REQUIRE(straight.batcher().batches_per_epoch() == 4u);
      BOOST_TEST((straight.run(nullptr, nullptr) == Trainer::Outcome::finished));

      // The interrupted run: 6 steps, then the interrupt flag (as SIGINT sets it) makes run()
      // save and stop; a fresh Trainer resumes from the directory alone.
      TrainOptions first = o;
      first.out_dir = tmp.path("resumed");
      {
        Trainer t(first);
        for (int k = 0; k < 6; ++k) t.step();
        std::atomic<bool> interrupt{true};
        BOOST_TEST((t.run(&interrupt, nullptr) == Trainer::Outcome::interrupted));
        BOOST_TEST(t.progress().step == 6u);
      }
      TrainOptions again;
      again.out_dir = first.out_dir;
      again.resume = true;
      Trainer resumed(again);  // everything else comes from the checkpoint
      BOOST_TEST(resumed.progress().step == 6u);
      BOOST_TEST((resumed.run(nullptr, nullptr) == Trainer::Outcome::finished));

      const std::vector<float>& a = straight.history().train_loss;
      const std::vector<float>& b = resumed.history().train_loss;
      BOOST_TEST_REQUIRE(a.size() == 14u);
      BOOST_TEST(a == b, boost::test_tools::per_element());  // exact: float ==
      BOOST_TEST(straight.history().grad_norm == resumed.history().grad_norm,
                 boost::test_tools::per_element());
      BOOST_TEST(flat_parameters(straight.model()) == flat_parameters(resumed.model()),
                 boost::test_tools::per_element());
      BOOST_TEST(flat_state(straight.model().carried) == flat_state(resumed.model().carried),
                 boost::test_tools::per_element());
      BOOST_TEST(straight.history().validation.back().second ==
                 resumed.history().validation.back().second);
      BOOST_TEST(straight.history().lr == resumed.history().lr, boost::test_tools::per_element());
      // The loss did move: a resume of a run that learns nothing would prove nothing.
      BOOST_TEST(a.back() < a.front());
      if (c.dropout > 0) {
        // Dropout really drew masks (the model's generators moved on), and a checkpoint lists
        // their states.
        const auto generators = straight.model().net->named_generators();
        BOOST_TEST_REQUIRE(generators.size() == 3u);  // embedding, between layers, before the head
        const auto again_generators = resumed.model().net->named_generators();
        for (std::size_t g = 0; g < generators.size(); ++g) {
          BOOST_TEST(generators[g].second->state() == again_generators[g].second->state());
          BOOST_TEST(generators[g].second->state() != nn::Rng(0).state());
        }
        BOOST_TEST(straight.history().lr.front() < straight.history().lr[3], "warm-up");
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(dropout_changes_training_but_not_evaluation) {
  // The same seed with and without dropout: the same initial weights, so the same validation
  // loss before any step (evaluation never drops); different first training losses (training
  // does).
  LmTempDir tmp;
  const std::string data = tmp.write("data.txt", small_text());
  TrainOptions o = tiny_options(data, tmp.path("plain"), 3);
  TrainOptions d = o;
  d.out_dir = tmp.path("dropout");
  d.hp.dropout = 0.5;
  Trainer plain(o), dropping(d);
  BOOST_TEST(flat_parameters(plain.model()) == flat_parameters(dropping.model()),
             boost::test_tools::per_element());
  BOOST_TEST(plain.validate() == dropping.validate());
  BOOST_TEST(plain.step().loss != dropping.step().loss);
}

BOOST_AUTO_TEST_CASE(a_run_writes_checkpoint_plots_log_and_summary) {
  LmTempDir tmp;
  TrainOptions o = tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"), 6);
  o.val_every = 3;
  Trainer trainer(o);
  trainer.run(nullptr, nullptr);

  const History& h = trainer.history();
  BOOST_TEST(h.train_loss.size() == 6u);
  BOOST_TEST_REQUIRE(h.validation.size() == 2u);  // steps 3 and 6
  BOOST_TEST(h.validation[0].first == 3u);
  BOOST_TEST(h.validation[1].first == 6u);
  // ||dL/dh_t|| for every time step of the last chunk, read from the tape after backward.
  BOOST_TEST_REQUIRE(h.last_step_hidden_grad_norms.size() == o.hp.seq_len);
  for (double g : h.last_step_hidden_grad_norms) BOOST_TEST((std::isfinite(g) && g > 0));
  // ||dL_T/dh_t||: the error of the last time step alone, reaching back through the chunk.
  BOOST_TEST_REQUIRE(h.last_time_step_grad_norms.size() == o.hp.seq_len);
  for (double g : h.last_time_step_grad_norms) BOOST_TEST((std::isfinite(g) && g > 0));

  const std::string log = read_file(tmp.path("run/log.csv"));
  BOOST_TEST(log.rfind("step,train_loss,grad_norm,lr,validation_loss\n1,", 0) == 0u);
  BOOST_TEST(std::count(log.begin(), log.end(), '\n') == 7);
  BOOST_TEST(contains(log, "\n3," + format_number(h.train_loss[2]) + ","));
  BOOST_TEST(contains(log, "," + format_number(h.validation[1].second) + "\n"));

  const std::string losses = read_file(tmp.path("run/losses.svg"));
  BOOST_TEST(contains(losses, "<svg"));
  BOOST_TEST(contains(losses, ">train</text>"));
  BOOST_TEST(contains(losses, ">validation</text>"));
  BOOST_TEST(contains(losses, "nats per character"));
  const std::string norms = read_file(tmp.path("run/gradient_norms.svg"));
  BOOST_TEST(contains(norms, "lstm: gradient reaching each time step (training step 6)"));
  BOOST_TEST(contains(norms, ">dL/dh_t, all steps</text>"));
  BOOST_TEST(contains(norms, ">dL_T/dh_t, last step</text>"));

  const nlohmann::json summary = nlohmann::json::parse(read_file(tmp.path("run/summary.json")));
  BOOST_TEST(summary["steps"] == 6);
  BOOST_TEST(summary["parameters"] == trainer.model().net->parameter_count());
  BOOST_TEST(summary["validation_loss"].get<double>() == h.validation[1].second);
  BOOST_TEST(summary["train_tokens"] == 6 * o.hp.batch * o.hp.seq_len);
  const auto best = h.best_validation();
  BOOST_TEST(summary["best_validation_loss"].get<double>() == best->second);
  BOOST_TEST(summary["best_validation_step"].get<std::size_t>() == best->first);

  // The directory reads back as it was written.
  const ModelDir back = load_model_dir(o.out_dir);
  BOOST_TEST(back.progress.step == 6u);
  BOOST_TEST(back.history.train_loss == h.train_loss, boost::test_tools::per_element());
  BOOST_TEST((back.lm->vocabulary == trainer.model().vocabulary));
  BOOST_TEST(back.lm->optimizer->steps() == 6u);
  BOOST_TEST(flat_parameters(*back.lm) == flat_parameters(trainer.model()),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(time_limit_stops_the_run) {
  LmTempDir tmp;
  TrainOptions o = tiny_options(tmp.write("data.txt", small_text()), tmp.path("run"));
  o.max_steps.reset();
  o.max_seconds = 0.2;
  Trainer trainer(o);
  trainer.run(nullptr, nullptr);
  BOOST_TEST(trainer.progress().train_seconds >= 0.2);
  BOOST_TEST(trainer.progress().train_seconds < 5.0);
  BOOST_TEST(trainer.progress().step > 1u);
}

BOOST_AUTO_TEST_CASE(evaluation_carries_the_state_and_counts_every_prediction) {
  LmTempDir tmp;
  Trainer trainer(tiny_options(tmp.write("data.txt", small_text()), tmp.path("run")));
  for (int k = 0; k < 5; ++k) trainer.step();
  const Model& net = *trainer.model().net;
  const Indices tokens = trainer.model().vocabulary.encode(small_text().substr(0, 101));

  // One stream in one chunk: the mean cross-entropy of a single forward pass.
  Model::State zero = net.zero_state(1);
  std::vector<Indices> steps;
  Indices targets;
  for (std::size_t t = 0; t + 1 < tokens.size(); ++t) {
    steps.push_back(Indices{tokens[t]});
    targets.push_back(tokens[t + 1]);
  }
  Tape<float> tape;
  const double whole =
      softmax_cross_entropy(net.forward(tape, steps, zero), targets).item() * 100.0;

  const Evaluation one_chunk = evaluate(net, tokens, 1, 1000);
  BOOST_TEST(one_chunk.tokens == 100u);
  BOOST_TEST(one_chunk.nats == whole, boost::test_tools::tolerance(1e-5));
  // Chunks of 7 with the state carried predict the same symbols from the same states; only
  // float rounding differs. Without the carried state the loss would differ visibly.
  const Evaluation chunked = evaluate(net, tokens, 1, 7);
  BOOST_TEST(chunked.tokens == 100u);
  BOOST_TEST(chunked.nats == whole, boost::test_tools::tolerance(1e-5));
  BOOST_TEST(chunked.bits_per_character() == chunked.nats / 100.0 / std::log(2.0),
             boost::test_tools::tolerance(1e-12));
  // Four streams of 25 symbols (7 + 7 + 7 + 3 steps each) predict 24 symbols each.
  const Evaluation streams = evaluate(net, tokens, 4, 7);
  BOOST_TEST(streams.tokens == 96u);
  // Word level: characters count the file's mean characters per token.
  const Evaluation words = evaluate(net, tokens, 1, 7, 4.5);
  BOOST_TEST(words.characters == 450.0);
  BOOST_TEST(words.bits_per_character() == words.nats / 450.0 / std::log(2.0),
             boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(characters_per_token_counts_characters_with_whitespace) {
  const Vocabulary words = Vocabulary::build("the king sits.", Level::word);
  // 14 characters (spaces and the full stop included) over 4 tokens: the, king, sits, "."
  BOOST_TEST(characters_per_token("the king sits.", words) == 3.5);
  const Vocabulary chars = Vocabulary::build("the king sits.", Level::character);
  BOOST_TEST(characters_per_token("the king sits.", chars) == 1.0);
  // Characters, not bytes: "été" is 3 characters in 5 bytes.
  BOOST_TEST(characters_per_token("\xC3\xA9t\xC3\xA9 x", Vocabulary::build("x", Level::word)) ==
             2.5);
}

BOOST_AUTO_TEST_CASE(progress_line_shows_step_losses_speed_elapsed_and_eta) {
  ProgressPrinter::Status s{};
  s.step = 120;
  s.max_steps = 2000;
  s.train_loss = 1.84312f;
  s.validation_loss = 1.9021;
  s.lr = 0.00123456;
  s.tokens_per_second = 24130;
  s.elapsed = 42.2;
  s.eta = 658;
  s.unit = "chars";
  BOOST_TEST(ProgressPrinter::format(s) ==
             "step 120/2000  loss 1.8431  val 1.9021  lr 0.00123  24.1k chars/s  elapsed 0:42  "
             "ETA 10:58");
  s.validation_loss.reset();
  s.max_steps.reset();
  s.max_seconds = 300;
  s.eta.reset();
  BOOST_TEST(ProgressPrinter::format(s) ==
             "step 120  loss 1.8431  val -  lr 0.00123  24.1k chars/s  elapsed 0:42/5:00  ETA -");

  // Off a terminal: plain lines at step 1 and every print_every steps. On one: redrawn in place.
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = open_memstream(&buffer, &size);
  ProgressPrinter plain(out, false, 10);
  for (std::size_t k = 1; k <= 25; ++k) {
    s.step = k;
    plain.update(s);
  }
  plain.finish();
  std::fclose(out);
  const std::string text(buffer, size);
  std::free(buffer);
  BOOST_TEST(std::count(text.begin(), text.end(), '\n') == 3);
  BOOST_TEST(text.rfind("step 1  ", 0) == 0u);
  BOOST_TEST(contains(text, "\nstep 10  "));
  BOOST_TEST(contains(text, "\nstep 20  "));
  BOOST_TEST(!contains(text, "\r"));

  out = open_memstream(&buffer, &size);
  ProgressPrinter terminal(out, true, 10);
  s.step = 1, s.elapsed = 0;
  terminal.update(s);
  s.step = 2, s.elapsed = 0.01;  // too soon: not redrawn
  terminal.update(s);
  s.step = 3, s.elapsed = 0.5;
  terminal.update(s);
  terminal.message("validation done");
  std::fclose(out);
  const std::string drawn(buffer, size);
  std::free(buffer);
  BOOST_TEST(drawn.rfind("\rstep 1  ", 0) == 0u);
  BOOST_TEST(!contains(drawn, "step 2  "));
  BOOST_TEST(contains(drawn, "\x1b[K\rstep 3  "));
  BOOST_TEST(contains(drawn, "\x1b[K\nvalidation done\n"));
}

BOOST_AUTO_TEST_CASE(training_on_the_builtin_corpus_lowers_the_validation_loss) {
  LmTempDir tmp;
  Trainer trainer(lmtest::builtin_word_options(tmp.path("builtin"), 60));
  const double before = trainer.validate();  // untrained: about ln(vocabulary size)
  BOOST_TEST(before == std::log(double(trainer.model().vocabulary.size())),
             boost::test_tools::tolerance(0.05));
  trainer.run(nullptr, nullptr);
  const double after = trainer.history().validation.back().second;
  BOOST_TEST_MESSAGE("built-in corpus validation loss " << before << " -> " << after);
  BOOST_TEST(after < 0.5 * before);
  BOOST_TEST(trainer.history().train_loss.back() < 0.5f * trainer.history().train_loss.front());
}

BOOST_AUTO_TEST_SUITE_END()

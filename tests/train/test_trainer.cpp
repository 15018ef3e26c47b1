// The generic Trainer on a small task of its own (the sine regressor on random minibatches, so
// that a random generator is part of the state): a run interrupted and resumed from its
// checkpoint by fresh objects equals the uninterrupted run bit for bit; log.csv; the stop rules;
// the hooks; and errors that name the settings.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/models/sine_regressor.hpp>
#include <tapegrad/nn/checkpoint.hpp>
#include <tapegrad/train/format.hpp>
#include <tapegrad/train/trainer.hpp>
#include <tapegrad/train/value_error.hpp>

#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

using namespace tapegrad;
namespace fs = std::filesystem;

namespace {

// Minibatches of 8 windows of sin(0.3 n), drawn with the task's generator.
class SineTask : public train::Task {
 public:
  SineTask(models::SineRegressor<float>& model, nn::Rng& rng) : model_(model), rng_(rng) {}
  Var<float> training_loss(Tape<float>& tape) override {
    return model_.loss(tape, draw(x_, y_, 8), y_);
  }
  std::size_t items_in_last_batch() const override { return 8; }
  std::optional<double> validation_loss() override {
    NoGradGuard no_grad;
    Tape<float> tape;
    Tensor<float> x = Tensor<float>::from_shape({4, 5}), y = Tensor<float>::from_shape({4, 1});
    for (std::size_t i = 0; i < 4; ++i) fill(x, y, i, 100 + i);
    return model_.loss(tape, x, y).item();
  }
  std::size_t after_backward_calls = 0;
  void after_backward() override { ++after_backward_calls; }

 private:
  static void fill(Tensor<float>& x, Tensor<float>& y, std::size_t i, std::size_t start) {
    for (std::size_t k = 0; k < 5; ++k) x(i, k) = float(std::sin(0.3 * double(start + k)));
    y(i, 0) = float(std::sin(0.3 * double(start + 5)));
  }
  const Tensor<float>& draw(Tensor<float>& x, Tensor<float>& y, std::size_t n) {
    x = Tensor<float>::from_shape({n, 5});
    y = Tensor<float>::from_shape({n, 1});
    for (std::size_t i = 0; i < n; ++i) fill(x, y, i, std::size_t(rng_.uniform(0, 60)));
    return x;
  }
  models::SineRegressor<float>& model_;
  nn::Rng& rng_;
  Tensor<float> x_, y_;
};

// A model, its optimiser, its task and the generator, built from seeds: a resumed run is built
// from other seeds, to show that everything comes from the checkpoint.
struct Job {
  explicit Job(std::uint64_t seed) : init(seed), batches(seed + 100), model(6, init) {}
  nn::Rng init, batches;
  models::SineRegressor<float> model;
  nn::Adam<float> adam{model.parameters(), 0.02};
  SineTask task{model, batches};
};

train::TrainerOptions options(const std::string& out, Job& job, std::size_t steps) {
  train::TrainerOptions o;
  o.max_steps = steps;
  o.validate_every = 4;
  o.checkpoint_every = 5;
  o.clip = 0.5;
  o.out_dir = out;
  o.rngs = {{"batches", &job.batches}};
  return o;
}

std::vector<float> flat_parameters(nn::Module<float>& m) {
  std::vector<float> out;
  for (Parameter<float>* p : m.parameters())
    out.insert(out.end(), p->value.begin(), p->value.end());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(trainer)

BOOST_AUTO_TEST_CASE(an_interrupted_and_resumed_run_equals_the_uninterrupted_one) {
  testsupport::ScratchDir tmp("trainer");
  Job straight_job(1);
  train::Trainer straight(straight_job.model, straight_job.adam, straight_job.task,
                          options(tmp.path("straight"), straight_job, 13));
  BOOST_TEST((straight.run() == train::Trainer::Outcome::finished));
  BOOST_TEST(straight.progress().step == 13u);
  BOOST_TEST(straight.history().train_loss.size() == 13u);
  // Validated at 4, 8, 12 and after the last step.
  BOOST_TEST(straight.history().validation.size() == 4u);
  BOOST_TEST(straight.history().validation.back().first == 13u);
  BOOST_TEST(straight_job.task.after_backward_calls == 13u);

  // Interrupted after step 7 (between checkpoints): the interrupt saves a checkpoint.
  {
    Job job(1);
    std::atomic<bool> interrupt{false};
    train::TrainerOptions o = options(tmp.path("resumed"), job, 13);
    o.interrupt = &interrupt;
    o.on_progress = [&](const train::Report& r) {
      if (r.step == 7) interrupt = true;
    };
    train::Trainer first(job.model, job.adam, job.task, o);
    BOOST_TEST((first.run() == train::Trainer::Outcome::interrupted));
    BOOST_TEST(first.progress().step == 7u);
  }
  // Fresh objects from other seeds; the checkpoint holds everything, the stop rule included.
  Job job(99);
  train::TrainerOptions o = options(tmp.path("resumed"), job, 13);
  o.max_steps.reset();
  train::Trainer resumed(job.model, job.adam, job.task, o);
  resumed.resume();
  BOOST_TEST(resumed.progress().step == 7u);
  BOOST_TEST(resumed.options().max_steps.value_or(0) == 13u);
  BOOST_TEST(job.adam.steps() == 7u);
  BOOST_TEST((resumed.run() == train::Trainer::Outcome::finished));

  BOOST_TEST(resumed.history().train_loss == straight.history().train_loss,
             boost::test_tools::per_element());
  BOOST_TEST(resumed.history().grad_norm == straight.history().grad_norm,
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(resumed.history().validation.size() == 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    BOOST_TEST(resumed.history().validation[i].first == straight.history().validation[i].first);
    BOOST_TEST(resumed.history().validation[i].second == straight.history().validation[i].second);
  }
  BOOST_TEST(flat_parameters(job.model) == flat_parameters(straight_job.model),
             boost::test_tools::per_element());
  BOOST_TEST(job.batches.state() == straight_job.batches.state());
  BOOST_TEST(testsupport::read_file(tmp.path("resumed/log.csv")) ==
             testsupport::read_file(tmp.path("straight/log.csv")));
}

BOOST_AUTO_TEST_CASE(log_csv_has_one_row_per_step_and_the_validation_losses) {
  testsupport::ScratchDir tmp("trainer");
  Job job(3);
  train::Trainer t(job.model, job.adam, job.task, options(tmp.path("run"), job, 6));
  t.run();
  const train::History& h = t.history();
  BOOST_TEST_REQUIRE(h.validation.size() == 2u);  // steps 4 and 6
  using train::format_number;
  std::string expected = "step,train_loss,grad_norm,lr,validation_loss\n";
  for (std::size_t k = 1; k <= 6; ++k) {
    expected += std::to_string(k) + "," + format_number(h.train_loss[k - 1]) + "," +
                format_number(h.grad_norm[k - 1]) + ",0.02,";
    if (k == 4) expected += format_number(h.validation[0].second);
    if (k == 6) expected += format_number(h.validation[1].second);
    expected += "\n";
  }
  BOOST_TEST(testsupport::read_file(tmp.path("run/log.csv")) == expected);
  BOOST_TEST(train::log_csv(h) == expected);
  // The values in the file read back as exactly the recorded floats.
  BOOST_TEST(std::stof(format_number(h.train_loss[2])) == h.train_loss[2]);
}

BOOST_AUTO_TEST_CASE(training_time_counts_the_steps_only) {
  testsupport::ScratchDir tmp("trainer");
  Job job(4);
  train::TrainerOptions o = options(tmp.path("run"), job, 0);
  o.max_steps.reset();
  o.max_seconds = 0.2;
  o.checkpoint_every = 1000000;  // the checkpoint at the end only: fsyncs are not steps
  train::Trainer t(job.model, job.adam, job.task, o);
  BOOST_TEST((t.run() == train::Trainer::Outcome::finished));
  BOOST_TEST(t.progress().train_seconds >= 0.2);
  BOOST_TEST(t.progress().train_seconds < 5.0);
  BOOST_TEST(t.progress().step > 1u);
  BOOST_TEST(t.progress().train_items == 8 * t.progress().step);
}

BOOST_AUTO_TEST_CASE(hooks_see_every_gradient_and_step_and_rank_nonzero_writes_nothing) {
  testsupport::ScratchDir tmp("trainer");
  Job job(5);
  train::TrainerOptions o = options(tmp.path("run"), job, 3);
  std::size_t handed = 0, updates = 0;
  o.hooks.hand_off_gradients = [&](const std::vector<Parameter<float>*>& params) {
    BOOST_TEST(params.size() == job.model.parameters().size());
    // What an allreduce over two processes with equal gradients does: sum, then halve.
    for (Parameter<float>* p : params) p->grad *= 2.0f * 0.5f;
    ++handed;
  };
  o.hooks.optimizer_step = [&](nn::Optimizer<float>& opt) {
    BOOST_TEST(&opt == &job.adam);
    opt.step();
    ++updates;
  };
  o.hooks.write_files = false;
  std::size_t reports = 0;
  o.on_progress = [&](const train::Report& r) {
    ++reports;
    BOOST_TEST(r.step == reports);
    BOOST_TEST(r.last == (r.step == 3));
  };
  train::Trainer t(job.model, job.adam, job.task, o);
  t.run();
  BOOST_TEST(handed == 3u);
  BOOST_TEST(updates == 3u);
  BOOST_TEST(reports == 3u);
  BOOST_TEST(job.adam.steps() == 3u);
  BOOST_TEST(!fs::exists(tmp.path("run")));
}

BOOST_AUTO_TEST_CASE(a_fresh_run_never_replaces_a_checkpoint_it_did_not_resume) {
  testsupport::ScratchDir tmp("trainer");
  const std::string out = tmp.path("run");
  {
    Job job(1);
    train::Trainer first(job.model, job.adam, job.task, options(out, job, 5));
    first.run();
  }
  const std::string before = testsupport::read_file(train::checkpoint_path(out));
  BOOST_TEST_REQUIRE(!before.empty());

  Job other(2);
  train::Trainer fresh(other.model, other.adam, other.task, options(out, other, 10));
  const std::string expected = "out_dir '" + out + "' already holds a checkpoint (" +
                               train::checkpoint_path(out) +
                               ") that this run did not resume; resume() it to continue, or "
                               "choose another out_dir";
  BOOST_TEST(testsupport::error_of([&] { fresh.run(); }) == expected);
  BOOST_TEST(testsupport::error_of([&] { fresh.save(); }) == expected);
  BOOST_TEST(fresh.progress().step == 0u);  // refused before the first step
  BOOST_TEST((testsupport::read_file(train::checkpoint_path(out)) == before));

  // Resumed, the same directory is this run's to write.
  train::Trainer resumed(other.model, other.adam, other.task, options(out, other, 10));
  resumed.resume();
  BOOST_TEST((resumed.run() == train::Trainer::Outcome::finished));
  BOOST_TEST(resumed.progress().step == 10u);
}

BOOST_AUTO_TEST_CASE(a_run_removes_the_temporary_files_a_killed_run_left) {
  // kill -9 between creating checkpoint.npz.tmp-<pid> and renaming it leaves the file behind;
  // 5 of 36 kills in an outside test did, and no later run removed them.
  testsupport::ScratchDir tmp("trainer");
  const std::string out = tmp.path("run");
  fs::create_directories(out);
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const std::string stale = tmp.write("run/checkpoint.npz.tmp-" + std::to_string(child), "half");
  Job job(3);
  train::Trainer t(job.model, job.adam, job.task, options(out, job, 2));
  t.run();
  BOOST_TEST(!fs::exists(stale));
  BOOST_TEST(t.removed_temporaries() == std::vector<std::string>{stale},
             boost::test_tools::per_element());
  BOOST_TEST(fs::exists(train::checkpoint_path(out)));
}

BOOST_AUTO_TEST_CASE(a_diverged_run_says_which_checkpoint_it_left) {
  // The loss turns NaN at the third step. The message used to promise "the last checkpoint"
  // when none had been written.
  struct Diverging : SineTask {
    using SineTask::SineTask;
    Var<float> training_loss(Tape<float>& tape) override {
      const Var<float> loss = SineTask::training_loss(tape);
      return ++calls < 3 ? loss : loss + tape.constant(Tensor<float>(std::nanf("")));
    }
    int calls = 0;
  };
  testsupport::ScratchDir tmp("trainer");
  for (const std::size_t every : {2, 100}) {
    const std::string out = tmp.path("run" + std::to_string(every));
    Job job(4);
    Diverging task(job.model, job.batches);
    train::TrainerOptions o = options(out, job, 10);
    o.checkpoint_every = every;
    train::Trainer t(job.model, job.adam, task, o);
    const std::string kept = every == 2 ? "the checkpoint of step 2 in '" + out + "' is kept"
                                        : std::string("no checkpoint had been written yet");
    BOOST_TEST(testsupport::error_of([&] { t.run(); }) ==
               "step 3: the training loss is nan (the run diverged; a lower learning rate or "
               "clipping may help); " +
                   kept);
    BOOST_TEST(fs::exists(train::checkpoint_path(out)) == (every == 2));
  }
}

BOOST_AUTO_TEST_CASE(a_schedule_sets_every_steps_rate_and_a_resume_continues_it_exactly) {
  // Warm-up then cosine over a 13-step run: the rate of step k is the schedule's at k - 1 steps
  // done, (k - 1) / 13 of the run; the optimiser runs at it; a resumed run (with AdamW's
  // decoupled decay) draws the same curve and ends with the same weights.
  testsupport::ScratchDir tmp("trainer");
  train::LRSchedule cosine;
  cosine.kind = train::LRSchedule::Kind::cosine;
  cosine.lr = 0.02;
  cosine.lr_min = 0.002;
  cosine.warmup = 3;
  const auto run = [&](const std::string& dir, std::uint64_t seed, std::size_t interrupt_at) {
    auto job = std::make_unique<Job>(seed);
    nn::AdamW<float> adamw(job->model.parameters(), 0.02, 0.9, 0.999, 1e-8, 0.1);
    std::atomic<bool> interrupt{false};
    train::TrainerOptions o = options(tmp.path(dir), *job, 13);
    o.schedule = cosine;
    o.interrupt = &interrupt;
    o.on_progress = [&](const train::Report& r) {
      if (r.step == interrupt_at) interrupt = true;
    };
    {
      train::Trainer t(job->model, adamw, job->task, o);
      if (t.run() == train::Trainer::Outcome::finished)
        return std::make_pair(std::move(job), t.history());
    }
    auto fresh = std::make_unique<Job>(seed + 50);
    nn::AdamW<float> fresh_adamw(fresh->model.parameters(), 0.02, 0.9, 0.999, 1e-8, 0.1);
    train::TrainerOptions again = options(tmp.path(dir), *fresh, 13);
    again.schedule = cosine;
    train::Trainer t(fresh->model, fresh_adamw, fresh->task, again);
    t.resume();
    BOOST_TEST((t.run() == train::Trainer::Outcome::finished));
    return std::make_pair(std::move(fresh), t.history());
  };
  const auto [straight_job, straight] = run("straight", 1, 0);
  BOOST_TEST_REQUIRE(straight.lr.size() == 13u);
  for (std::size_t k = 1; k <= 13; ++k) {
    const double warm = std::min(1.0, double(k) / 3);
    const double expected =
        warm * (0.002 + 0.018 * 0.5 * (1 + std::cos(M_PI * double(k - 1) / 13.0)));
    BOOST_TEST(std::fabs(straight.lr[k - 1] - expected) <= 1e-15, "step " << k);
  }
  BOOST_TEST(straight.lr[0] < straight.lr[1]);  // warming up
  const auto [resumed_job, resumed] = run("resumed", 1, 6);
  BOOST_TEST(resumed.lr == straight.lr, boost::test_tools::per_element());
  BOOST_TEST(resumed.train_loss == straight.train_loss, boost::test_tools::per_element());
  BOOST_TEST(flat_parameters(resumed_job->model) == flat_parameters(straight_job->model),
             boost::test_tools::per_element());

  // Resuming with another schedule would bend the curve: refused, naming both.
  Job job(7);
  train::TrainerOptions other = options(tmp.path("resumed"), job, 20);
  other.schedule = cosine;
  other.schedule->lr_min = 0.001;
  train::Trainer t(job.model, job.adam, job.task, other);
  BOOST_TEST(testsupport::error_of([&] { t.resume(); }) ==
             "lr_schedule: the checkpoint in '" + tmp.path("resumed") +
                 "' was trained with the schedule cosine from 0.02 to 0.002, 3 warm-up steps, "
                 "given cosine from 0.02 to 0.001, 3 warm-up steps; a resumed run must continue "
                 "the same curve");
}

// A task whose validation losses are scripted: the best checkpoint and early stopping depend on
// them alone.
class ScriptedValidation : public SineTask {
 public:
  ScriptedValidation(models::SineRegressor<float>& model, nn::Rng& rng, std::vector<double> losses)
      : SineTask(model, rng), losses_(std::move(losses)) {}
  std::optional<double> validation_loss() override { return losses_.at(next_++); }

 private:
  std::vector<double> losses_;
  std::size_t next_ = 0;
};

BOOST_AUTO_TEST_CASE(the_best_checkpoint_is_kept_and_patience_stops_the_run) {
  // Validated every 2 steps: 0.9 (step 2), 0.7 (4), 0.8 (6), 0.6 (8), 0.65 (10), 0.61 (12):
  // with patience 2 the run stops after step 12, two validations after the best (step 8), and
  // best.npz holds step 8.
  testsupport::ScratchDir tmp("trainer");
  Job job(8);
  ScriptedValidation task(job.model, job.batches, {0.9, 0.7, 0.8, 0.6, 0.65, 0.61, 0.5});
  train::TrainerOptions o = options(tmp.path("run"), job, 100);
  o.validate_every = 2;
  o.checkpoint_every = 100;
  o.patience = 2;
  std::vector<float> at_step_8;
  o.on_progress = [&](const train::Report& r) {
    if (r.step == 8) at_step_8 = flat_parameters(job.model);
  };
  train::Trainer t(job.model, job.adam, task, o);
  BOOST_TEST((t.run() == train::Trainer::Outcome::stopped_early));
  BOOST_TEST(t.progress().step == 12u);
  BOOST_TEST(t.stopped_early());
  BOOST_TEST(t.history().best_validation()->first == 8u);
  BOOST_TEST(t.history().validations_since_best() == 2u);
  const nlohmann::json best =
      nn::read_checkpoint_metadata(train::best_checkpoint_path(tmp.path("run")));
  BOOST_TEST(best["user"]["progress"]["step"].get<std::size_t>() == 8u);
  const nlohmann::json latest =
      nn::read_checkpoint_metadata(train::checkpoint_path(tmp.path("run")));
  BOOST_TEST(latest["user"]["progress"]["step"].get<std::size_t>() == 12u,
             "saved where it stopped");
  models::SineRegressor<float> loaded(6, job.init);
  nn::load_checkpoint(train::best_checkpoint_path(tmp.path("run")), loaded,
                      train::optimizer_tensors(job.adam));
  BOOST_TEST(flat_parameters(loaded) == at_step_8, boost::test_tools::per_element());

  // A resume with the same patience has nothing left to do: refused, saying so.
  Job again(9);
  train::TrainerOptions same = options(tmp.path("run"), again, 100);
  same.patience = 2;
  train::Trainer stopped(again.model, again.adam, again.task, same);
  BOOST_TEST(testsupport::error_of([&] { stopped.resume(); }) ==
             "patience 2: the checkpoint in '" + tmp.path("run") +
                 "' stopped early, 2 validations after its best; raise patience to continue");
}

BOOST_AUTO_TEST_CASE(errors_name_the_settings) {
  testsupport::ScratchDir tmp("trainer");
  Job job(6);
  const auto make = [&](train::TrainerOptions o) {
    train::Trainer t(job.model, job.adam, job.task, o);
  };
  train::TrainerOptions o = options(tmp.path("run"), job, 0);
  BOOST_TEST(testsupport::error_of([&] { make(o); }) == "max_steps must be at least 1, got 0");
  o.max_steps.reset();
  o.max_seconds = -5;
  BOOST_TEST(testsupport::error_of([&] { make(o); }) ==
             "max_seconds must be a positive number of seconds, got -5");
  o.max_seconds = 1;
  o.clip = -1;
  BOOST_TEST(testsupport::error_of([&] { make(o); }) ==
             "clip must be a number >= 0 (0 turns clipping off), got -1");
  o.clip = 0;
  o.validate_every = 0;
  BOOST_TEST(testsupport::error_of([&] { make(o); }) == "validate_every must be at least 1, got 0");
  o.validate_every = 1;
  o.patience = 0;
  BOOST_TEST(testsupport::error_of([&] { make(o); }) ==
             "patience must be at least 1 validation, got 0");
  o.patience.reset();
  o.max_steps = 10;
  o.schedule = train::LRSchedule{};
  o.schedule->warmup = 10;
  BOOST_TEST(testsupport::error_of([&] { make(o); }) ==
             "warmup 10 is not shorter than the run (max_steps 10): the rate would never reach "
             "lr");
  o.schedule.reset();
  o.max_steps.reset();
  o.out_dir = tmp.write("file", "x");
  BOOST_TEST(testsupport::error_of([&] { make(o); }) ==
             "out_dir '" + tmp.path("file") + "' is a file, expected a directory");

  // No stop rule: an error when run, as a ValueError a program can show with its own names.
  train::TrainerOptions none = options(tmp.path("run"), job, 1);
  none.max_steps.reset();
  train::Trainer t(job.model, job.adam, job.task, none);
  try {
    t.run();
    BOOST_FAIL("no error");
  } catch (const train::ValueError& e) {
    BOOST_TEST(e.message([](const std::string& n) {
      return n == "max_steps" ? "--steps" : "--time";
    }) == "train: give --steps or --time (when to stop)");
  }
  BOOST_TEST(testsupport::error_of([&] { t.resume(); }) ==
             "resume: out_dir '" + tmp.path("run") +
                 "' holds no checkpoint to continue (expected " + tmp.path("run") +
                 "/checkpoint.npz)");

  // A resume whose stop rule is already met changes nothing.
  train::Trainer done(job.model, job.adam, job.task, options(tmp.path("run"), job, 2));
  done.run();
  const std::vector<float> before = flat_parameters(job.model);
  Job other(7);
  train::Trainer again(other.model, other.adam, other.task, options(tmp.path("run"), other, 2));
  BOOST_TEST(testsupport::error_of([&] { again.resume(); }) ==
             "max_steps 2: the checkpoint in '" + tmp.path("run") +
                 "' is already at step 2; ask for more steps to continue");
  BOOST_TEST(again.progress().step == 0u);
  BOOST_TEST(flat_parameters(other.model) != before);
}

BOOST_AUTO_TEST_SUITE_END()

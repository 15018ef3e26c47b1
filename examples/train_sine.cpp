// A training program of your own on the library's Trainer: the sine regressor of sine_wave.cpp,
// fed random minibatches of windows. The Trainer owns the loop, the held-out validation, the
// checkpoint, log.csv and exact resume; this file says only what a batch and its loss are.
//   train_sine [OUT_DIR] [--steps N] [--resume]   (--resume continues OUT_DIR/checkpoint.npz)
#include <cmath>
#include <cstdio>
#include <numeric>

#include <tapegrad/models/sine_regressor.hpp>
#include <tapegrad/train/trainer.hpp>
#include "common/cli.hpp"
#include "common/main.hpp"

using namespace tapegrad;

// Window i: sin(0.2 n) for n = starts[i] .. starts[i] + 9, and the target at n = starts[i] + 10.
void windows(const std::vector<std::size_t>& starts, Tensor<float>& x, Tensor<float>& y) {
  x = Tensor<float>::from_shape({starts.size(), 10});
  y = Tensor<float>::from_shape({starts.size(), 1});
  for (std::size_t i = 0; i < starts.size(); ++i) {
    for (std::size_t k = 0; k < 10; ++k) x(i, k) = float(std::sin(0.2 * double(starts[i] + k)));
    y(i, 0) = float(std::sin(0.2 * double(starts[i] + 10)));
  }
}

// Trains on 32 windows drawn from the first 300 starts; validates on the 100 after them.
struct SineTask : train::Task {
  SineTask(models::SineRegressor<float>& m, nn::Rng& r) : model(m), rng(r) {}
  Var<float> training_loss(Tape<float>& tape) override {
    std::vector<std::size_t> starts(32);
    for (std::size_t& s : starts) s = std::size_t(rng.uniform(0, 300));
    Tensor<float> x, y;
    windows(starts, x, y);
    return model.loss(tape, x, y);
  }
  std::size_t items_in_last_batch() const override { return 32; }
  std::optional<double> validation_loss() override {
    NoGradGuard no_grad;
    Tape<float> tape;
    std::vector<std::size_t> starts(100);
    std::iota(starts.begin(), starts.end(), std::size_t(310));
    Tensor<float> x, y;
    windows(starts, x, y);
    return model.loss(tape, x, y).item();
  }
  models::SineRegressor<float>& model;
  nn::Rng& rng;
};

static int run(int argc, char** argv) {
  std::string out_dir = "train_sine_run";
  int steps = 400;
  bool resume = false;
  CLI::App app{"The sine regressor trained by the library's Trainer, with a checkpoint.",
               "train_sine"};
  app.add_option("out_dir", out_dir, "where checkpoint.npz and log.csv go")
      ->check(examples::non_empty("a directory"))
      ->capture_default_str();
  app.add_option("--steps", steps, "stop after this many steps in all")
      ->transform(examples::positive_integer(1000000))
      ->type_name("N")
      ->capture_default_str();
  app.add_flag("--resume", resume, "continue the checkpoint in OUT_DIR");
  if (const auto code =
          examples::parse_command_line(app, argc, argv, "[OUT_DIR] [--steps N] [--resume]"))
    return *code;
  nn::Rng init(1), batches(2);
  models::SineRegressor<float> model(16, init);
  nn::Adam<float> adam(model.parameters(), 0.01);
  SineTask task(model, batches);
  train::TrainerOptions o;
  o.max_steps = std::size_t(steps);
  o.validate_every = 100;
  o.clip = 1.0;
  o.out_dir = out_dir;
  o.rngs = {{"batches", &batches}};
  o.on_progress = [](const train::Report& r) {
    if (r.validated)
      std::printf("step %3zu  train MSE %.6f  held-out MSE %.6f\n", r.step, double(r.train_loss),
                  *r.validation_loss);
  };
  train::Trainer trainer(model, adam, task, o);
  if (resume) trainer.resume();  // parameters, Adam's moments, step, generator: all of it
  trainer.run();
  const double mse = trainer.history().validation.back().second;
  std::printf("held-out MSE %.6f; checkpoint and log.csv in %s\n", mse, o.out_dir.c_str());
  return mse < 1e-3 ? 0 : 1;
}

TAPEGRAD_EXAMPLE_MAIN(run)

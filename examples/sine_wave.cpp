// Tutorial section 4: predict the next value of a sine wave from a window of past values.
// Train on the first part of the curve, measure MSE on a held-out later part, and write an SVG
// of truth against prediction.
//   sine_wave [--out sine_wave.svg]
#include <cmath>
#include <cstdio>
#include <string>

#include <tapegrad/models/sine_regressor.hpp>
#include <tapegrad/nn/atomic_file.hpp>
#include <tapegrad/train/svg_chart.hpp>

#include "common/cli.hpp"
#include "common/main.hpp"

using namespace tapegrad;

static int run(int argc, char** argv) {
  std::string out_path = "sine_wave.svg";
  CLI::App app{
      "An RNN predicting the next value of a sine wave from a window of 10 past values: train "
      "and held-out MSE, and an SVG of truth against prediction.",
      "sine_wave"};
  app.add_option("--out", out_path, "where to write the SVG chart")
      ->type_name("FILE.svg")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)  // as before: the last wins
      ->check(examples::non_empty("a file name"))
      ->capture_default_str();
  if (const auto code = examples::parse_command_line(app, argc, argv, "[--out FILE.svg]"))
    return *code;
  const std::size_t window = 10, train_n = 300, test_n = 100;
  const double dt = 0.2;
  auto series = [&](std::size_t n) { return std::sin(dt * double(n)); };
  // Sample n: the window s[n .. n+window-1], the target s[n+window].
  auto make = [&](std::size_t first, std::size_t count, Tensor<float>& xs, Tensor<float>& ys) {
    xs = Tensor<float>::from_shape({count, window});
    ys = Tensor<float>::from_shape({count, 1});
    for (std::size_t i = 0; i < count; ++i) {
      for (std::size_t k = 0; k < window; ++k) xs(i, k) = float(series(first + i + k));
      ys(i, 0) = float(series(first + i + window));
    }
  };
  Tensor<float> train_x, train_y, test_x, test_y;
  make(0, train_n, train_x, train_y);
  make(train_n + window, test_n, test_x, test_y);  // later, unseen part of the curve

  nn::Rng rng(1);
  models::SineRegressor<float> model(16, rng);
  nn::Adam<float> opt(model.parameters(), 0.01);
  Tape<float> tape;
  std::printf(
      "training an RNN (hidden 16) on %zu windows of %zu values, full batch, Adam lr 0.01\n",
      train_n, window);
  float train_mse = 0;
  for (int epoch = 1; epoch <= 400; ++epoch) {
    Var<float> loss = model.loss(tape, train_x, train_y);
    train_mse = loss.item();
    tape.backward(loss);
    nn::clip_grad_norm(model.parameters(), 1.0);
    opt.step();
    opt.zero_grad();
    tape.clear();
    if (epoch % 50 == 0) std::printf("  epoch %3d  train MSE %.6f\n", epoch, train_mse);
  }
  NoGradGuard inference;
  tape.clear();
  const Tensor<float> pred = model(tape, test_x).value();
  double test_mse = 0;
  for (std::size_t i = 0; i < test_n; ++i)
    test_mse += std::pow(double(pred(i, 0) - test_y(i, 0)), 2);
  test_mse /= double(test_n);
  std::printf("train MSE %.6f\nheld-out MSE %.6f\n", train_mse, test_mse);

  train::Series truth{"sin(t)", {}, {}, "#1f77b4"}, guess{"RNN prediction", {}, {}, "#d62728"};
  for (std::size_t i = 0; i < test_n; ++i) {
    const double t = dt * double(train_n + 2 * window + i);
    truth.x.push_back(t), truth.y.push_back(test_y(i, 0));
    guess.x.push_back(t), guess.y.push_back(pred(i, 0));
  }
  nn::write_file_atomically(
      out_path, train::svg_line_chart("held-out sine wave: truth against one-step prediction", "t",
                                      "value", {truth, guess}));
  std::printf("wrote %s\n", out_path.c_str());
  return test_mse < 1e-3 ? 0 : 1;
}

TAPEGRAD_EXAMPLE_MAIN(run)

#pragma once
// tapegrad-forecast's library: a recurrent forecaster of one series (the training library does
// the loop), the naive baselines every forecaster is judged against, and the scores.
//
// The series is cut in three, oldest first:
//   [0, fit)        the part trained on: windows of `window` values and the value after each;
//   [fit, train)    the validation block (`horizon` values), forecast from the values before it
//                   while training: its error picks best.npz;
//   [train, n)      held out (the last `horizon` values): eval forecasts it from everything
//                   before it and scores the forecast against the truth.
// The network sees changes, not levels: a window's inputs are its values minus its last value,
// and the target is the next value minus that last value, both divided by `scale` (the root mean
// square of one-step changes over the fitted part). A trend then looks the same at every level,
// which a network trained on levels could not extrapolate. Multi-step forecasts feed each
// predicted value back as the newest input.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/models/sequence_regressor.hpp>
#include <tapegrad/nn/optim.hpp>
#include <tapegrad/train/trainer.hpp>

#include "forecast/series.hpp"

namespace tapegrad::forecast {

using Model = models::SequenceRegressor<float>;

/// What defines a forecaster; saved with it.
struct Settings {
  std::string cell = "lstm";  // rnn, lstm or gru
  std::size_t hidden = 32;
  std::size_t layers = 1;
  std::size_t window = 0;    // values per input window; 0: two seasons, or 24 without a season
  std::size_t horizon = 12;  // values held out (and in the validation block)
  std::size_t season = 0;    // 0: detected from the training part; 1: none
  std::size_t batch = 32;
  double lr = 3e-3;
  double clip = 1.0;  // the largest gradient norm
  std::uint64_t seed = 1;
};

struct Split {
  std::size_t fit = 0, train = 0, n = 0;  // see the top of this file
};
/// The cut of a series of n values; an Error when it is too short to hold the fitted part's
/// windows (at least 8 of them), the validation block and the held-out part.
Split split_series(std::size_t n, std::size_t window, std::size_t horizon);

/// The season length of `values`: the lag from 2 to n/3 at which the autocorrelation of the
/// residuals of a quadratic trend has its highest local peak (above 0.2); 1 when there is none.
std::size_t detect_season(const std::vector<double>& values);

/// Forecasts of the next h values after `history` by the naive rules.
std::vector<double> last_value_forecast(const std::vector<double>& history, std::size_t h);
/// The line through the first and the last value, extended.
std::vector<double> drift_forecast(const std::vector<double>& history, std::size_t h);
/// The value one season before, season after season.
std::vector<double> seasonal_naive_forecast(const std::vector<double>& history, std::size_t h,
                                            std::size_t season);

struct Scores {
  double mae = 0, rmse = 0, mase = 0;
};
/// The mean absolute error of the seasonal naive rule within `history` (one-step naive for
/// season 1): MASE divides by it.
double mase_scale(const std::vector<double>& history, std::size_t season);
Scores score(const std::vector<double>& forecast, const std::vector<double>& truth, double scale);

/// The root mean square of the one-step changes of `values` (an Error when it is 0: the
/// series is constant).
double change_scale(const std::vector<double>& values);

/// A network and what turns values into its inputs.
struct Forecaster {
  Forecaster(const Settings& resolved, double scale);
  Settings settings;  // window and season resolved
  double scale;
  nn::Rng init_rng;  // drew the initial weights
  Model model;
  /// The next `steps` values after `history` (at least `window` values), each fed back.
  std::vector<double> forecast(const std::vector<double>& history, std::size_t steps) const;
};

/// Where the series came from.
struct DataIdentity {
  std::string path, column;
  std::size_t bytes = 0;
  std::string fingerprint;  // FNV-1a 64 of the file's bytes, hex
  nlohmann::json to_json() const;
  static DataIdentity from_json(const nlohmann::json& j);
};

/// A series read from a CSV file (at most max_bytes of it) with its identity.
struct LoadedSeries {
  SeriesData data;
  DataIdentity identity;
};
LoadedSeries load_series(const std::string& path, const std::string& column,
                         std::uint64_t max_bytes = std::uint64_t(1) << 30);

struct TrainOptions {
  std::string csv, column, out_dir;
  Settings settings;
  std::optional<std::size_t> steps;
  std::optional<double> seconds;
  std::size_t validate_every = 100;
  bool resume = false;
  const std::atomic<bool>* interrupt = nullptr;
  std::function<void(const train::Report&)> on_progress;
};
struct TrainResult {
  train::Trainer::Outcome outcome;
  std::size_t steps = 0;
  std::optional<std::pair<std::size_t, double>> best_validation;  // (step, loss)
  Settings settings;                                              // resolved
  Split split;
  std::size_t filled = 0;  // missing values filled in the series
};
/// Trains (or continues, with resume) the forecaster of options.csv's column into out_dir:
/// checkpoint.npz, best.npz, log.csv and losses.svg. The validation loss is the mean squared
/// error of the validation block's forecast, in units of `scale` squared.
TrainResult train_forecaster(const TrainOptions& options);

/// A trained forecaster read back from its directory.
struct SavedForecaster {
  std::unique_ptr<Forecaster> forecaster;
  DataIdentity data;
  Split split;
  std::string checkpoint;  // the file read
  std::size_t step = 0;
};
/// `which`: "best" (best.npz, or checkpoint.npz when there is none) or "latest".
SavedForecaster load_forecaster(const std::string& dir, const std::string& which = "best");

/// An SVG line chart: the last values of the history, the truth after it (when known) and the
/// forecast, against the values' positions.
std::string forecast_svg(const std::string& title, const std::vector<double>& history,
                         const std::vector<double>& truth, const std::vector<double>& forecast);

}  // namespace tapegrad::forecast

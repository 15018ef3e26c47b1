#include "forecast/forecast.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <tapegrad/nn/atomic_file.hpp>
#include <tapegrad/nn/checkpoint.hpp>
#include <tapegrad/nn/read_file.hpp>
#include <tapegrad/train/fingerprint.hpp>
#include <tapegrad/train/svg_chart.hpp>

namespace tapegrad::forecast {

using json = nlohmann::json;

namespace {

constexpr std::size_t kLeastWindows = 8;  // windows the fitted part must hold at the least
constexpr int kFormatVersion = 1;

// sqrt(mean of term(i)^2) over n terms, the terms divided by the largest |term| before they are
// squared: a change of 1e-308 squares to 0 and one of 1e200 to inf, which made an RMSE below
// its MAE (fuzz_csv) and a changing series look constant. An infinite or NaN term is the result.
template <class Term>
double root_mean_square(std::size_t n, Term term) {
  double largest = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double a = std::fabs(term(i));
    if (!std::isfinite(a)) return a;
    largest = std::max(largest, a);
  }
  if (largest == 0) return 0;
  double sq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double r = term(i) / largest;
    sq += r * r;
  }
  return largest * std::sqrt(sq / double(n));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Cutting, baselines, scores

Split split_series(std::size_t n, std::size_t window, std::size_t horizon) {
  if (window == 0 || horizon == 0)
    throw Error("the window and the horizon must be at least 1 value, got " +
                std::to_string(window) + " and " + std::to_string(horizon));
  const std::size_t need = window + kLeastWindows + 2 * horizon;
  if (n < need)
    throw Error("the series holds " + std::to_string(n) + " values; with --window " +
                std::to_string(window) + " and --horizon " + std::to_string(horizon) +
                " it needs at least " + std::to_string(need) + " (" +
                std::to_string(window + kLeastWindows) + " to train on, " +
                std::to_string(horizon) + " to validate, " + std::to_string(horizon) +
                " held out)");
  return Split{n - 2 * horizon, n - horizon, n};
}

std::size_t detect_season(const std::vector<double>& values) {
  const std::size_t n = values.size();
  if (n < 8) return 1;
  // The residuals of a least-squares quadratic trend (time scaled to [0, 1], which keeps the
  // normal equations well conditioned): a trend would make every lag look alike.
  double m[3][4] = {};  // the normal equations, augmented
  for (std::size_t i = 0; i < n; ++i) {
    const double t = double(i) / double(n - 1), p[3] = {1, t, t * t};
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) m[r][c] += p[r] * p[c];
      m[r][3] += p[r] * values[i];
    }
  }
  for (int k = 0; k < 3; ++k)  // Gauss-Jordan; the matrix is positive definite for n >= 3
    for (int r = 0; r < 3; ++r)
      if (r != k) {
        const double f = m[r][k] / m[k][k];
        for (int c = k; c < 4; ++c) m[r][c] -= f * m[k][c];
      }
  std::vector<double> residual(n);
  double variance = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double t = double(i) / double(n - 1);
    residual[i] =
        values[i] - (m[0][3] / m[0][0] + m[1][3] / m[1][1] * t + m[2][3] / m[2][2] * t * t);
    variance += residual[i] * residual[i];
  }
  if (!(variance > 1e-12 * double(n))) return 1;
  // The autocorrelation of the residuals: the season is the lag of its highest local peak.
  const std::size_t longest = std::min<std::size_t>(n / 3, 5000);
  std::vector<double> acf(longest + 2, 0.0);
  for (std::size_t lag = 1; lag <= longest + 1 && lag < n; ++lag) {
    double sum = 0;
    for (std::size_t i = 0; i + lag < n; ++i) sum += residual[i] * residual[i + lag];
    acf[lag] = sum / variance;
  }
  std::size_t best = 1;
  double best_acf = 0.2;  // a peak must clear this to count as a season
  for (std::size_t lag = 2; lag <= longest; ++lag)
    if (acf[lag] > acf[lag - 1] && acf[lag] >= acf[lag + 1] && acf[lag] > best_acf)
      best = lag, best_acf = acf[lag];
  return best;
}

std::vector<double> last_value_forecast(const std::vector<double>& history, std::size_t h) {
  return std::vector<double>(h, history.back());
}

std::vector<double> drift_forecast(const std::vector<double>& history, std::size_t h) {
  const double slope =
      history.size() > 1 ? (history.back() - history.front()) / double(history.size() - 1) : 0.0;
  std::vector<double> out(h);
  for (std::size_t k = 0; k < h; ++k) out[k] = history.back() + double(k + 1) * slope;
  return out;
}

std::vector<double> seasonal_naive_forecast(const std::vector<double>& history, std::size_t h,
                                            std::size_t season) {
  if (season == 0 || season > history.size())
    throw Error("seasonal naive: a season of " + std::to_string(season) + " needs 1 to " +
                std::to_string(history.size()) + " values");
  std::vector<double> out(h);
  const std::size_t start = history.size() - season;
  for (std::size_t k = 0; k < h; ++k) out[k] = history[start + k % season];
  return out;
}

double mase_scale(const std::vector<double>& history, std::size_t season) {
  if (season == 0 || history.size() <= season)
    throw Error("MASE: a season of " + std::to_string(season) + " needs more than " +
                std::to_string(season) + " values, got " + std::to_string(history.size()));
  // Each term divided before it is added, as in score().
  const double n = double(history.size() - season);
  double mean = 0;
  for (std::size_t t = season; t < history.size(); ++t)
    mean += std::fabs(history[t] - history[t - season]) / n;
  return mean;
}

Scores score(const std::vector<double>& forecast, const std::vector<double>& truth, double scale) {
  if (forecast.size() != truth.size() || truth.empty())
    throw Error("score: " + std::to_string(forecast.size()) + " forecast values for " +
                std::to_string(truth.size()) + " true ones");
  const auto error = [&](std::size_t i) { return forecast[i] - truth[i]; };
  // Each term divided before it is added: a sum of errors near the largest double overflows.
  const double n = double(truth.size());
  Scores s;
  s.mae = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) s.mae += std::fabs(error(i)) / n;
  s.rmse = root_mean_square(truth.size(), error);
  s.mase = scale > 0 ? s.mae / scale : std::nan("");
  return s;
}

double change_scale(const std::vector<double>& values) {
  const double scale =
      values.size() > 1 ? root_mean_square(values.size() - 1,
                                           [&](std::size_t i) { return values[i + 1] - values[i]; })
                        : 0.0;
  if (!(scale > 0))
    throw Error("the series is constant over the " + std::to_string(values.size()) +
                " values trained on (every change is 0): there is nothing to forecast");
  return scale;
}

// ---------------------------------------------------------------------------------------------
// The forecaster

Forecaster::Forecaster(const Settings& resolved, double scale)
    : settings(resolved),
      scale(scale),
      init_rng(resolved.seed),
      model(nn::parse_cell_type(resolved.cell), resolved.hidden, resolved.layers, init_rng) {}

std::vector<double> Forecaster::forecast(const std::vector<double>& history,
                                         std::size_t steps) const {
  const std::size_t W = settings.window;
  if (history.size() < W)
    throw Error("forecast: the window is " + std::to_string(W) + " values, the history holds " +
                std::to_string(history.size()));
  std::vector<double> values(history.end() - std::ptrdiff_t(W), history.end());
  std::vector<double> out;
  out.reserve(steps);
  NoGradGuard no_grad;
  Tape<float> tape;
  Tensor<float> x = Tensor<float>::from_shape({1, W});
  for (std::size_t s = 0; s < steps; ++s) {
    const double last = values.back();
    for (std::size_t k = 0; k < W; ++k)
      x(0, k) = float((values[values.size() - W + k] - last) / scale);
    tape.clear();
    const double next = last + double(model(tape, x).value()(0, 0)) * scale;
    out.push_back(next);
    values.push_back(next);
  }
  return out;
}

namespace {

// Windows of the fitted part, drawn at random, and the validation block's forecast error.
class ForecastTask : public train::Task {
 public:
  ForecastTask(const Forecaster& f, const std::vector<double>& values, Split split, nn::Rng& rng)
      : f_(f), values_(values), split_(split), rng_(rng) {}

  Var<float> training_loss(Tape<float>& tape) override {
    const std::size_t W = f_.settings.window, B = f_.settings.batch;
    const std::size_t windows = split_.fit - W;  // ends at W - 1 .. fit - 2, target after
    Tensor<float>& x = windows_;
    Tensor<float>& y = targets_;
    if (x.shape() != Shape{B, W}) x = Tensor<float>::from_shape({B, W});  // made once, reused
    if (y.shape() != Shape{B, 1}) y = Tensor<float>::from_shape({B, 1});
    for (std::size_t b = 0; b < B; ++b) {
      const std::size_t end =
          W - 1 + std::min(windows - 1, std::size_t(rng_.uniform(0, double(windows))));
      const double last = values_[end];
      for (std::size_t k = 0; k < W; ++k)
        x(b, k) = float((values_[end + 1 - W + k] - last) / f_.scale);
      y(b, 0) = float((values_[end + 1] - last) / f_.scale);
    }
    return f_.model.loss(tape, x, y);
  }
  std::size_t items_in_last_batch() const override { return f_.settings.batch; }

  std::optional<double> validation_loss() override {
    const std::vector<double> before(values_.begin(), values_.begin() + std::ptrdiff_t(split_.fit));
    const std::vector<double> forecast = f_.forecast(before, split_.train - split_.fit);
    double sq = 0;
    for (std::size_t i = 0; i < forecast.size(); ++i) {
      const double e = (forecast[i] - values_[split_.fit + i]) / f_.scale;
      sq += e * e;
    }
    return sq / double(forecast.size());
  }

 private:
  const Forecaster& f_;
  const std::vector<double>& values_;
  Split split_;
  nn::Rng& rng_;
  Tensor<float> windows_, targets_;  // a step's inputs [batch, window] and targets [batch, 1]
};

json settings_json(const Settings& s) {
  return json{{"cell", s.cell},     {"hidden", s.hidden},   {"layers", s.layers},
              {"window", s.window}, {"horizon", s.horizon}, {"season", s.season},
              {"batch", s.batch},   {"lr", s.lr},           {"clip", s.clip},
              {"seed", s.seed}};
}

Settings settings_from_json(const json& j) {
  Settings s;
  s.cell = j.at("cell").get<std::string>();
  nn::parse_cell_type(s.cell);  // an unknown cell is an Error here, not later
  s.hidden = j.at("hidden").get<std::size_t>();
  s.layers = j.at("layers").get<std::size_t>();
  s.window = j.at("window").get<std::size_t>();
  s.horizon = j.at("horizon").get<std::size_t>();
  s.season = j.at("season").get<std::size_t>();
  s.batch = j.at("batch").get<std::size_t>();
  s.lr = j.at("lr").get<double>();
  s.clip = j.at("clip").get<double>();
  s.seed = j.at("seed").get<std::uint64_t>();
  if (s.hidden == 0 || s.layers == 0 || s.window == 0 || s.horizon == 0 || s.season == 0 ||
      s.batch == 0)
    throw Error("the saved settings hold a size of 0: " + j.dump());
  return s;
}

std::string losses_svg(const train::History& h) {
  train::Series tr{"train loss (one step)", {}, {}, "#1f77b4"};
  for (std::size_t i = 0; i < h.train_loss.size(); ++i) {
    tr.x.push_back(double(i + 1));
    tr.y.push_back(h.train_loss[i]);
  }
  train::Series va{"validation (the block's forecast)", {}, {}, "#d62728"};
  for (const auto& [step, loss] : h.validation) {
    va.x.push_back(double(step));
    va.y.push_back(loss);
  }
  return train::svg_line_chart("tapegrad-forecast: losses", "step",
                               "mean squared error (changes / scale)", {tr, va}, true);
}

}  // namespace

json DataIdentity::to_json() const {
  return json{{"path", path}, {"column", column}, {"bytes", bytes}, {"fingerprint", fingerprint}};
}

DataIdentity DataIdentity::from_json(const json& j) {
  return DataIdentity{j.at("path").get<std::string>(), j.at("column").get<std::string>(),
                      j.at("bytes").get<std::size_t>(), j.at("fingerprint").get<std::string>()};
}

LoadedSeries load_series(const std::string& path, const std::string& column,
                         std::uint64_t max_bytes) {
  const std::string text = nn::read_regular_file("'" + path + "'", path, max_bytes);
  LoadedSeries out;
  out.data = read_csv_series(text, column, path);
  out.identity = DataIdentity{path, column, text.size(), train::fnv1a_hex(text)};
  return out;
}

TrainResult train_forecaster(const TrainOptions& o) {
  const LoadedSeries series = load_series(o.csv, o.column);
  const std::vector<double>& values = series.data.values;
  Settings s = o.settings;
  if (o.resume) {  // the checkpoint's settings, on the series it was trained on
    const json saved = nn::read_checkpoint_metadata(train::checkpoint_path(o.out_dir)).at("user");
    s = settings_from_json(saved.at("settings"));
    const DataIdentity was = DataIdentity::from_json(saved.at("data"));
    if (was.fingerprint != series.identity.fingerprint || was.column != series.identity.column)
      throw Error("--resume: the checkpoint in '" + o.out_dir + "' was trained on column '" +
                  was.column + "' of '" + was.path + "' (" + std::to_string(was.bytes) +
                  " bytes, fingerprint " + was.fingerprint + "), not on column '" + o.column +
                  "' of '" + o.csv + "' (" + std::to_string(series.identity.bytes) +
                  " bytes, fingerprint " + series.identity.fingerprint + ")");
  }
  nn::parse_cell_type(s.cell);
  if (s.hidden == 0 || s.layers == 0 || s.batch == 0 || !(s.lr > 0) || !(s.clip >= 0))
    throw Error("hidden, layers and batch must be at least 1, lr > 0 and clip >= 0");
  if (s.horizon == 0) throw Error("--horizon must be at least 1 value, got 0");
  // The season is read from the part before the held-out values (never from them), and the
  // window covers two seasons unless given.
  if (values.size() <= s.horizon)
    throw Error("the series holds " + std::to_string(values.size()) + " values, no more than the " +
                std::to_string(s.horizon) + " held out (--horizon)");
  if (s.season == 0)
    s.season = detect_season(
        std::vector<double>(values.begin(), values.end() - std::ptrdiff_t(s.horizon)));
  if (s.window == 0) s.window = s.season > 1 ? 2 * s.season : 24;
  const Split split = split_series(values.size(), s.window, s.horizon);
  const std::vector<double> fitted(values.begin(), values.begin() + std::ptrdiff_t(split.fit));
  Forecaster f(s, change_scale(fitted));

  auto optimizer = std::make_unique<nn::Adam<float>>(f.model.parameters(), s.lr);
  nn::Rng batch_rng(s.seed ^ 0x9e3779b97f4a7c15ULL);
  ForecastTask task(f, values, split, batch_rng);
  train::TrainerOptions t;
  t.max_steps = o.steps;
  t.max_seconds = o.seconds;
  if (!t.max_steps && !t.max_seconds && !o.resume) t.max_steps = 2000;
  t.validate_every = o.validate_every;
  t.checkpoint_every = std::max<std::size_t>(o.validate_every, 500);
  t.clip = s.clip;
  t.out_dir = o.out_dir;
  t.metadata = json{{"format", "tapegrad-forecast"},
                    {"version", kFormatVersion},
                    {"settings", settings_json(s)},
                    {"scale", f.scale},
                    {"split", {{"fit", split.fit}, {"train", split.train}, {"n", split.n}}},
                    {"data", series.identity.to_json()}};
  t.rngs = {{"batches", &batch_rng}};
  t.interrupt = o.interrupt;
  t.on_progress = o.on_progress;
  train::Trainer* running = nullptr;
  t.on_checkpoint = [&] {
    nn::write_file_atomically(o.out_dir + "/losses.svg", losses_svg(running->history()));
  };
  train::Trainer trainer(f.model, *optimizer, task, t);
  running = &trainer;
  if (o.resume) trainer.resume();
  TrainResult r;
  r.outcome = trainer.run();
  r.steps = trainer.progress().step;
  r.best_validation = trainer.history().best_validation();
  r.settings = s;
  r.split = split;
  r.filled = series.data.filled;
  return r;
}

SavedForecaster load_forecaster(const std::string& dir, const std::string& which) {
  if (which != "best" && which != "latest")
    throw Error("expected the checkpoint 'best' or 'latest', got '" + which + "'");
  std::string path = train::checkpoint_path(dir);
  if (which == "best" && std::filesystem::exists(train::best_checkpoint_path(dir)))
    path = train::best_checkpoint_path(dir);
  if (!std::filesystem::exists(path))
    throw Error("'" + dir + "' holds no forecaster (no " + path +
                "): train one with "
                "tapegrad-forecast train --out " +
                dir);
  const json meta = nn::read_checkpoint_metadata(path).at("user");
  if (meta.value("format", "") != "tapegrad-forecast" || meta.value("version", 0) != kFormatVersion)
    throw Error("'" + path + "' is not a tapegrad-forecast checkpoint of version " +
                std::to_string(kFormatVersion));
  SavedForecaster out;
  out.checkpoint = path;
  const Settings s = settings_from_json(meta.at("settings"));
  const double scale = meta.at("scale").get<double>();
  if (!(scale > 0)) throw Error("'" + path + "': the saved scale must be > 0");
  out.forecaster = std::make_unique<Forecaster>(s, scale);
  out.split = Split{meta.at("split").at("fit").get<std::size_t>(),
                    meta.at("split").at("train").get<std::size_t>(),
                    meta.at("split").at("n").get<std::size_t>()};
  out.data = DataIdentity::from_json(meta.at("data"));
  out.step = meta.at("progress").at("step").get<std::size_t>();
  nn::Adam<float> optimizer(out.forecaster->model.parameters(), s.lr);
  nn::load_checkpoint(path, out.forecaster->model, train::optimizer_tensors(optimizer));
  return out;
}

std::string forecast_svg(const std::string& title, const std::vector<double>& history,
                         const std::vector<double>& truth, const std::vector<double>& forecast) {
  // The history's last stretch: enough to see the pattern the forecast continues.
  const std::size_t shown =
      std::min(history.size(), std::max<std::size_t>(60, 3 * forecast.size()));
  const std::size_t first = history.size() - shown;
  train::Series h{"history", {}, {}, "#555555"}, t{"held-out truth", {}, {}, "#2ca02c"},
      f{"forecast", {}, {}, "#d62728"};
  for (std::size_t i = first; i < history.size(); ++i) {
    h.x.push_back(double(i));
    h.y.push_back(history[i]);
  }
  // Both start from the last value of the history, so the lines join it.
  t.x.push_back(double(history.size() - 1));
  t.y.push_back(history.back());
  f.x = t.x;
  f.y = t.y;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    t.x.push_back(double(history.size() + i));
    t.y.push_back(truth[i]);
  }
  for (std::size_t i = 0; i < forecast.size(); ++i) {
    f.x.push_back(double(history.size() + i));
    f.y.push_back(forecast[i]);
  }
  std::vector<train::Series> series{h};
  if (!truth.empty()) series.push_back(t);
  series.push_back(f);
  return train::svg_line_chart(title, "position in the series", "value", series);
}

}  // namespace tapegrad::forecast

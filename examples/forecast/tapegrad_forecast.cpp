// tapegrad-forecast: a recurrent forecaster of one column of a CSV file.
//
//   tapegrad-forecast train --csv co2.csv --column co2 --horizon 52 --out co2-model
//   tapegrad-forecast eval --model co2-model          # the held-out part, beside the baselines
//   tapegrad-forecast forecast --model co2-model --steps 104 --svg co2.svg
//
// Exit codes: 0 success; 1 an error (bad data, an unusable model directory, I/O); 2 a usage
// error; 130 training interrupted by SIGINT after saving a checkpoint (143 for SIGTERM).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <tapegrad/nn/atomic_file.hpp>
#include <tapegrad/train/format.hpp>
#include <tapegrad/train/interrupt.hpp>

#include "common/cli.hpp"
#include "forecast/forecast.hpp"

using namespace tapegrad;
using namespace tapegrad::forecast;

namespace {

constexpr int kExitError = 1, kExitUsage = 2;

std::string fixed(double v, int decimals = 4) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

int run_train(const TrainOptions& base, std::size_t print_every) {
  TrainOptions o = base;
  train::install_interrupt_handlers();
  o.interrupt = &train::interrupt_flag();
  o.on_progress = [print_every](const train::Report& r) {
    if (r.step % print_every != 0 && !r.last) return;
    std::string line = "step " + std::to_string(r.step);
    if (r.max_steps) line += "/" + std::to_string(*r.max_steps);
    line += "  loss " + fixed(r.train_loss, 5);
    if (r.validation_loss) line += "  validation " + fixed(*r.validation_loss, 5);
    if (r.best_validation)
      line += " (best " + fixed(r.best_validation->second, 5) + " at step " +
              std::to_string(r.best_validation->first) + ")";
    line += "  " + train::format_rate(r.items_per_second) + " windows/s";
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  const TrainResult r = train_forecaster(o);
  std::printf(
      "trained %zu steps: %s %zu x %zu, window %zu, season %zu, horizon %zu; %zu values "
      "trained on, %zu validated, %zu held out%s\n",
      r.steps, r.settings.cell.c_str(), r.settings.layers, r.settings.hidden, r.settings.window,
      r.settings.season, r.settings.horizon, r.split.fit, r.split.train - r.split.fit,
      r.split.n - r.split.train,
      r.filled ? (" (" + std::to_string(r.filled) + " missing values filled)").c_str() : "");
  if (r.best_validation)
    std::printf("best validation %.5f at step %zu (best.npz); saved in %s\n",
                r.best_validation->second, r.best_validation->first, o.out_dir.c_str());
  if (r.outcome == train::Trainer::Outcome::interrupted) {
    std::fprintf(stderr,
                 "interrupted: continue with tapegrad-forecast train --csv %s --column %s "
                 "--out %s --resume\n",
                 o.csv.c_str(), o.column.c_str(), o.out_dir.c_str());
    return train::interrupted_exit_code();
  }
  return 0;
}

// The series a saved forecaster reads: its own file, or `csv` (the same column).
LoadedSeries series_of(const SavedForecaster& m, const std::string& csv) {
  return load_series(csv.empty() ? m.data.path : csv, m.data.column);
}

int run_eval(const std::string& dir, const std::string& which, const std::string& csv) {
  const SavedForecaster m = load_forecaster(dir, which);
  const LoadedSeries s = series_of(m, csv);
  if (s.identity.fingerprint != m.data.fingerprint)
    throw Error("eval scores the held-out part of the series the model trained on, '" +
                m.data.path + "' (" + std::to_string(m.data.bytes) + " bytes); '" +
                s.identity.path + "' (" + std::to_string(s.identity.bytes) + " bytes) is another");
  const std::vector<double>& v = s.data.values;
  const Settings& st = m.forecaster->settings;
  const std::vector<double> history(v.begin(), v.begin() + std::ptrdiff_t(m.split.train));
  const std::vector<double> truth(v.begin() + std::ptrdiff_t(m.split.train), v.end());
  const double scale = mase_scale(history, st.season);
  std::printf(
      "held out: the last %zu values of column '%s' of '%s', forecast from the %zu "
      "before them; MASE divides by %s, the seasonal naive error within those (season "
      "%zu)\n\n",
      truth.size(), s.data.column.c_str(), s.identity.path.c_str(), history.size(),
      fixed(scale).c_str(), st.season);
  std::printf("| forecaster | MAE | RMSE | MASE |\n|---|---:|---:|---:|\n");
  const auto row = [&](const std::string& name, const std::vector<double>& f) {
    const Scores sc = score(f, truth, scale);
    std::printf("| %s | %s | %s | %s |\n", name.c_str(), fixed(sc.mae).c_str(),
                fixed(sc.rmse).c_str(), fixed(sc.mase, 3).c_str());
  };
  row("tapegrad " + st.cell + " (" + m.checkpoint + ", step " + std::to_string(m.step) + ")",
      m.forecaster->forecast(history, truth.size()));
  row("last value", last_value_forecast(history, truth.size()));
  row("drift", drift_forecast(history, truth.size()));
  row("seasonal naive (season " + std::to_string(st.season) + ")",
      seasonal_naive_forecast(history, truth.size(), st.season));
  return 0;
}

int run_forecast(const std::string& dir, const std::string& which, const std::string& csv,
                 std::size_t steps, const std::string& from, const std::string& out_csv,
                 const std::string& svg) {
  const SavedForecaster m = load_forecaster(dir, which);
  if (steps == 0) steps = m.forecaster->settings.horizon;  // --steps not given
  const LoadedSeries s = series_of(m, csv);
  const std::vector<double>& v = s.data.values;
  // From the held-out part's start (its truth drawn beside the forecast), or after the last value.
  const bool held_out = from == "held-out";
  if (held_out && s.identity.fingerprint != m.data.fingerprint)
    throw Error("--from held-out forecasts the held-out part of '" + m.data.path +
                "', which the model trained on; for another series use --from end");
  const std::size_t origin = held_out ? m.split.train : v.size();
  const std::vector<double> history(v.begin(), v.begin() + std::ptrdiff_t(origin));
  const std::vector<double> truth(v.begin() + std::ptrdiff_t(origin),
                                  v.begin() + std::ptrdiff_t(std::min(v.size(), origin + steps)));
  const std::vector<double> f = m.forecaster->forecast(history, steps);
  std::string table = "position,forecast,truth\n";
  std::printf("%-10s %14s %14s\n", "position", "forecast", "truth");
  for (std::size_t i = 0; i < f.size(); ++i) {
    const std::string t = i < truth.size() ? train::format_number(truth[i]) : "";
    table += std::to_string(origin + i) + "," + train::format_number(f[i]) + "," + t + "\n";
    std::printf("%-10zu %14s %14s\n", origin + i, fixed(f[i]).c_str(),
                i < truth.size() ? fixed(truth[i]).c_str() : "");
  }
  if (!out_csv.empty()) nn::write_file_atomically(out_csv, table);
  if (!svg.empty())
    nn::write_file_atomically(svg, forecast_svg("tapegrad-forecast: " + s.data.column + " (" +
                                                    m.forecaster->settings.cell + ")",
                                                history, truth, f));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tapegrad-forecast: a recurrent forecaster of one column of a CSV file"};
  app.require_subcommand(1);
  // A usage error is one line (set before the subcommands, which inherit it).
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("tapegrad-forecast: ") + e.what() + " (see --help)\n";
  });
  app.footer(
      "Exit codes: 0 success; 1 error (bad data, unusable model directory, I/O); 2 usage error; "
      "130 training interrupted by SIGINT after saving a checkpoint (143 for SIGTERM).");

  TrainOptions t;
  std::size_t steps = 0, print_every = 100;
  double seconds = 0;
  CLI::App* train_cmd = app.add_subcommand(
      "train",
      "train on a CSV column: windows of the past predict the next value; the last --horizon "
      "values are held out and the --horizon before them validate");
  train_cmd->add_option("--csv", t.csv, "CSV file with a header line")
      ->type_name("FILE")
      ->required();
  train_cmd->add_option("--column", t.column, "the column: its header, or its 0-based index")
      ->required();
  train_cmd->add_option("--out", t.out_dir, "the model directory written")
      ->type_name("DIR")
      ->required()
      ->check(examples::non_empty("a directory"));
  Settings& st = t.settings;
  train_cmd->add_option("--window", st.window, "values per input window (0: two seasons, or 24)")
      ->transform(examples::integer_in(0, 100000))
      ->capture_default_str();
  train_cmd->add_option("--horizon", st.horizon, "values held out, and forecast by eval")
      ->transform(examples::integer_in(1, 100000))
      ->capture_default_str();
  train_cmd
      ->add_option("--season", st.season,
                   "the season's length in values (0: detected from the data; 1: none)")
      ->transform(examples::integer_in(0, 100000))
      ->capture_default_str();
  train_cmd->add_option("--model", st.cell, "the recurrent cell")
      ->check(CLI::IsMember(nn::cell_type_names()))
      ->capture_default_str();
  train_cmd->add_option("--hidden", st.hidden, "hidden units per layer")
      ->transform(examples::integer_in(1, 4096))
      ->capture_default_str();
  train_cmd->add_option("--layers", st.layers, "recurrent layers")
      ->transform(examples::integer_in(1, 16))
      ->capture_default_str();
  train_cmd->add_option("--batch", st.batch, "windows per step")
      ->transform(examples::integer_in(1, 65536))
      ->capture_default_str();
  train_cmd->add_option("--lr", st.lr, "Adam's learning rate")
      ->check(examples::number("a number > 0", [](double v) { return v > 0; }))
      ->capture_default_str();
  train_cmd->add_option("--clip", st.clip, "the largest gradient norm (0: no clipping)")
      ->check(examples::number("a number >= 0", [](double v) { return v >= 0; }))
      ->capture_default_str();
  train_cmd->add_option("--seed", st.seed, "seed of the weights and the batches")
      ->capture_default_str();
  train_cmd->add_option("--steps", steps, "steps to train (default 2000 without --time)")
      ->transform(examples::integer_in(1, 1000000000));
  train_cmd->add_option("--time", seconds, "seconds to train")
      ->check(examples::number("a positive number of seconds", [](double v) { return v > 0; }));
  train_cmd->add_option("--val-every", t.validate_every, "steps between validations")
      ->transform(examples::integer_in(1, 1000000))
      ->capture_default_str();
  train_cmd->add_option("--print-every", print_every, "steps between progress lines")
      ->transform(examples::integer_in(1, 1000000))
      ->capture_default_str();
  train_cmd->add_flag("--resume", t.resume,
                      "continue the checkpoint in --out with its own settings (the flags of "
                      "the model are taken from it)");

  std::string model_dir, which = "best", csv, from = "held-out", out_csv, svg;
  std::size_t forecast_steps = 0;
  const auto add_model = [&](CLI::App* cmd) {
    cmd->add_option("--model", model_dir, "the --out directory of train")
        ->type_name("DIR")
        ->required();
    cmd->add_option("--checkpoint", which,
                    "best (the lowest validation loss) or latest (where training stopped)")
        ->check(CLI::IsMember({"best", "latest"}))
        ->capture_default_str();
    cmd->add_option("--csv", csv, "the series (default: the file the model trained on)")
        ->type_name("FILE");
  };
  CLI::App* eval_cmd = app.add_subcommand(
      "eval",
      "MAE, RMSE and MASE of the held-out part's forecast, beside the last value, drift "
      "and seasonal naive forecasts");
  add_model(eval_cmd);
  CLI::App* forecast_cmd =
      app.add_subcommand("forecast", "print the next values (CSV and SVG on request)");
  add_model(forecast_cmd);
  forecast_cmd->add_option("--steps", forecast_steps, "values to forecast (default: --horizon)")
      ->transform(examples::integer_in(1, 1000000));
  forecast_cmd
      ->add_option("--from", from,
                   "held-out: from the start of the held-out part, its truth beside the forecast; "
                   "end: after the last value of the series")
      ->check(CLI::IsMember({"held-out", "end"}))
      ->capture_default_str();
  forecast_cmd->add_option("--out", out_csv, "write position,forecast,truth as CSV")
      ->type_name("FILE");
  forecast_cmd->add_option("--svg", svg, "write a chart of history, truth and forecast")
      ->type_name("FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  try {
    if (*train_cmd) {
      if (train_cmd->count("--steps")) t.steps = steps;
      if (train_cmd->count("--time")) t.seconds = seconds;
      return run_train(t, print_every);
    }
    if (*eval_cmd) return run_eval(model_dir, which, csv);
    if (*forecast_cmd) {
      return run_forecast(model_dir, which, csv, forecast_steps, from, out_csv, svg);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-forecast: %s\n", e.what());
    return kExitError;
  }
  return kExitUsage;
}

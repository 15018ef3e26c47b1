// tapegrad-lm-curves: validation loss against training time, for several runs on one SVG --
// tapegrad-lm model directories and PyTorch twin results (bench/lm_yardstick_torch.py's JSON
// line) alike, so that runs of equal training time can be compared by eye.
//
//   tapegrad-lm-curves --out curves.svg --title "tinyshakespeare, 300 s"
//       "tapegrad=build/quality/best-300" "PyTorch=build/quality/best-300/pytorch.json"
//
// Time is training time (steps only, as both programs count it), placed at each validation as
// step x (the run's training seconds / its steps): both programs train at a steady rate, so the
// mean rate places every point to within that rate's jitter.
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/nn/atomic_file.hpp>
#include <tapegrad/nn/read_file.hpp>
#include <tapegrad/train/svg_chart.hpp>

namespace {

using nlohmann::json;
using tapegrad::Error;

constexpr std::uint64_t kMaxFile = 256ull << 20;

const char* const kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

struct Curve {
  std::vector<double> steps, losses;
  double seconds = 0;
  std::size_t total_steps = 0;
};

std::string read(const std::string& path) {
  return tapegrad::nn::read_regular_file(path, path, kMaxFile);
}

// A tapegrad-lm model directory: summary.json (time and steps) and log.csv's last column.
Curve from_model_dir(const std::string& dir) {
  Curve c;
  const json summary = json::parse(read(dir + "/summary.json"));
  c.seconds = summary.at("train_seconds").get<double>();
  c.total_steps = summary.at("steps").get<std::size_t>();
  std::istringstream log(read(dir + "/log.csv"));
  std::string line;
  std::getline(log, line);
  if (line.rfind("step,", 0) != 0 || line.substr(line.rfind(',') + 1) != "validation_loss")
    throw Error(dir + "/log.csv: expected a header 'step,...,validation_loss', got '" + line + "'");
  while (std::getline(log, line)) {
    const std::string loss = line.substr(line.rfind(',') + 1);
    if (loss.empty()) continue;
    try {
      c.steps.push_back(std::stod(line.substr(0, line.find(','))));
      c.losses.push_back(std::stod(loss));
    } catch (const std::logic_error&) {
      throw Error(dir + "/log.csv: expected numbers, got the line '" + line + "'");
    }
  }
  return c;
}

// The PyTorch twin's result: the last line of its output, a JSON object.
Curve from_twin_json(const std::string& path) {
  const std::string text = read(path);
  std::string last;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) last = line;
  const json j = json::parse(last);
  Curve c;
  c.seconds = j.at("train_seconds").get<double>();
  c.total_steps = j.at("steps").get<std::size_t>();
  for (const json& point : j.at("validation_curve")) {
    c.steps.push_back(point.at(0).get<double>());
    c.losses.push_back(point.at(1).get<double>());
  }
  return c;
}

int usage(const std::string& message) {
  std::fprintf(stderr,
               "tapegrad-lm-curves: %s\nusage: tapegrad-lm-curves --out FILE.svg [--title TEXT] "
               "[--y-max LOSS] LABEL=RUN...\n  RUN: a tapegrad-lm --out directory, or the JSON "
               "output of bench/lm_yardstick_torch.py\n  --y-max: leave out points above LOSS "
               "(the first validations) so the ends of the curves can be told apart\n",
               message.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, title = "validation loss against training time";
  double y_max = INFINITY;
  std::vector<std::pair<std::string, std::string>> runs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--out" || a == "--title" || a == "--y-max") && i + 1 >= argc)
      return usage(a + " needs a value");
    if (a == "--out") {
      out = argv[++i];
    } else if (a == "--title") {
      title = argv[++i];
    } else if (a == "--y-max") {
      char* end = nullptr;
      y_max = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(y_max > 0) || !std::isfinite(y_max))
        return usage(std::string("--y-max: expected a positive number, got '") + argv[i] + "'");
    } else if (a.find('=') != std::string::npos && a.rfind("--", 0) != 0) {
      runs.emplace_back(a.substr(0, a.find('=')), a.substr(a.find('=') + 1));
    } else {
      return usage("unexpected argument '" + a + "'");
    }
  }
  if (out.empty()) return usage("--out is required");
  if (runs.empty()) return usage("give at least one LABEL=RUN");
  try {
    std::vector<tapegrad::train::Series> series;
    for (std::size_t r = 0; r < runs.size(); ++r) {
      const auto& [label, path] = runs[r];
      const Curve c =
          std::filesystem::is_directory(path) ? from_model_dir(path) : from_twin_json(path);
      if (c.total_steps == 0 || c.steps.empty())
        throw Error(path + ": no training steps or no validation losses to plot");
      tapegrad::train::Series s{label, {}, {}, kColors[r % (sizeof kColors / sizeof *kColors)]};
      const double per_step = c.seconds / double(c.total_steps);
      for (std::size_t i = 0; i < c.steps.size(); ++i) {
        if (c.losses[i] > y_max) continue;
        s.x.push_back(c.steps[i] * per_step);
        s.y.push_back(c.losses[i]);
      }
      series.push_back(std::move(s));
    }
    tapegrad::nn::write_file_atomically(
        out, tapegrad::train::svg_line_chart(title, "training time (s)",
                                             "validation loss (nats per character)", series));
    std::printf("wrote %s\n", out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tapegrad-lm-curves: %s\n", e.what());
    return 1;
  }
  return 0;
}

// Per-keystroke latency of a keyboard's language model: one train::Predictor step (the token just
// typed through the embedding, the LSTM layers and the head) and the top 3 next tokens with
// their probabilities, timed key by key. bench/run_keystroke.sh runs it beside PyTorch eager
// doing the same step (keystroke_torch.py) and compares.
//
//   bench_keystroke V E H LAYERS [--keys N] [--seed S]
//
// The weights are random (latency does not depend on them) and the keys are a fixed sequence of
// random tokens. Prints one JSON line: parameters, model size, p50/p95/p99/max in microseconds.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <tapegrad/train/predictor.hpp>

namespace {

using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, std::size_t(q * double(v.size() - 1) + 0.5));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Per-keystroke latency of train::Predictor (an LSTM language model)"};
  std::size_t V = 0, E = 0, H = 0, layers = 1, keys = 5000;
  std::uint64_t seed = 1;
  app.add_option("V", V, "vocabulary")->required()->check(CLI::Range(2, 10000000));
  app.add_option("E", E, "embedding (0: one-hot)")->required()->check(CLI::Range(0, 100000));
  app.add_option("H", H, "hidden units")->required()->check(CLI::Range(1, 100000));
  app.add_option("LAYERS", layers, "LSTM layers")->required()->check(CLI::Range(1, 16));
  app.add_option("--keys", keys, "keystrokes timed")->check(CLI::Range(10, 100000000));
  app.add_option("--seed", seed, "seed of the weights and the keys");
  CLI11_PARSE(app, argc, argv);
  try {
    tapegrad::nn::Rng rng(seed);
    tapegrad::train::LanguageModelNet net(V, E, H, layers,
                                          tapegrad::train::LanguageModelNet::Cell::lstm, rng);
    net.eval();
    tapegrad::train::Predictor predictor(net);
    // Warm: more keys than the snapshot history (256), so that every buffer exists and a timed
    // key allocates nothing, as on a keyboard in use.
    constexpr std::size_t kWarm = 300;
    std::vector<std::int64_t> tokens(keys + kWarm);
    for (std::int64_t& t : tokens) t = std::int64_t(rng.uniform(0, double(V)));

    double checksum = 0;  // the answers are used, so nothing is optimised away
    std::vector<std::pair<std::int64_t, double>> best;
    auto key = [&](std::int64_t token) {
      predictor.feed(token);
      predictor.top(3, best);
      for (const auto& [index, p] : best) checksum += double(index) * p;
    };
    for (std::size_t i = 0; i < kWarm; ++i) key(tokens[i]);
    std::vector<double> micros(keys);
    for (std::size_t i = 0; i < keys; ++i) {
      const Clock::time_point t0 = Clock::now();
      key(tokens[kWarm + i]);
      micros[i] = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
    }
    const std::size_t parameters = net.parameter_count();
    std::printf(
        "{\"impl\": \"tapegrad\", \"V\": %zu, \"E\": %zu, \"H\": %zu, \"layers\": %zu, "
        "\"parameters\": %zu, \"size_mb\": %.3f, \"keys\": %zu, \"p50_us\": %.2f, \"p95_us\": "
        "%.2f, \"p99_us\": %.2f, \"max_us\": %.2f, \"checksum\": %.6g}\n",
        V, E, H, layers, parameters, double(parameters) * 4 / 1e6, keys, percentile(micros, 0.5),
        percentile(micros, 0.95), percentile(micros, 0.99), percentile(micros, 1.0), checksum);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_keystroke: %s\n", e.what());
    return 1;
  }
}

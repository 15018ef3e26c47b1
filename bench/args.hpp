#pragma once
// The command line of the bench_rnn_* / bench_lstm_* programs, one parser for all of them:
//
//   PROGRAM H B T V [--steps N] [--seconds S]
//
// --help prints the usage and exits 0; a usage error (unknown flag, missing or extra size, a
// value that is not a number or out of range) prints one line naming what was expected and what
// was given, and exits 2. bench/run.sh relies on this interface.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "workload.hpp"

namespace bench {

constexpr long long kMaxSize = 1LL << 24;
constexpr const char* kUsage = "H B T V [--steps N] [--seconds S]";

/// An integer in [lo, hi], decimal only. The text is rewritten to its canonical decimal form so
/// that CLI11's own conversion (which reads 010 as octal and 0x10 as hex) sees what was checked.
inline CLI::Validator integer_in(long long lo, long long hi) {
  const std::string expected =
      hi == std::numeric_limits<long long>::max()
          ? "an integer >= " + std::to_string(lo)
          : "an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long n = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE || n < lo || n > hi)
          return "expected " + expected + ", got '" + text + "'";
        text = std::to_string(n);
        return "";
      },
      "");
}

/// A finite number >= 0.
inline CLI::Validator non_negative_number() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        char* end = nullptr;
        const double d = std::strtod(text.c_str(), &end);
        if (text.empty() || *end != '\0' || !(d >= 0) || !std::isfinite(d))
          return "expected a finite number >= 0, got '" + text + "'";
        return "";
      },
      "");
}

/// Parses argv into Args; on --help or a usage error it does not return (exit 0 or 2).
inline Args parse_args(int argc, char** argv) {
  const std::string prog = argc > 0 ? argv[0] : "bench";
  Args a;
  CLI::App app{
      "One training step (forward, full BPTT, SGD) of the character-level language model of "
      "bench/workload.hpp, timed; prints one JSON record with the loss before and after the "
      "first step and the steps per second."};
  app.failure_message([prog](const CLI::App*, const CLI::Error& e) {
    return prog + ": " + e.what() + " (usage: " + prog + " " + kUsage + ")\n";
  });
  const auto size = [&](const char* name, std::size_t& value, const char* what) {
    app.add_option(name, value, what)->required()->transform(integer_in(1, kMaxSize));
  };
  size("H", a.H, "hidden size");
  size("B", a.B, "batch: character streams per step");
  size("T", a.T, "time steps per stream (BPTT length)");
  size("V", a.V, "vocabulary size");
  app.add_option("--steps", a.steps, "time at least this many steps")
      ->type_name("N")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)  // as before: the last wins
      ->transform(integer_in(1, std::numeric_limits<long>::max()))
      ->capture_default_str();
  app.add_option("--seconds", a.seconds, "... and for at least this many seconds")
      ->type_name("S")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)  // as before: the last wins
      ->check(non_negative_number())
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    std::exit(app.exit(e));
  } catch (const CLI::RequiredError& e) {
    // CLI11 checks for missing sizes before unknown arguments; "-x" alone is about the "-x".
    const std::vector<std::string> unknown = app.remaining();
    if (unknown.empty())
      app.exit(e);
    else
      app.exit(CLI::ExtrasError(unknown));
    std::exit(2);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    std::exit(2);
  }
  return a;
}

}  // namespace bench

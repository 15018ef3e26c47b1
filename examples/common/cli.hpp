#pragma once
// The examples' command lines, with CLI11: --help prints the usage and exits 0; a usage error
// (unknown flag, missing or malformed value) prints one line, "PROGRAM: what was wrong (usage:
// PROGRAM FLAGS)", and exits 2.
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

namespace tapegrad::examples {

/// An integer in [lo, hi], decimal digits only: no sign, no "0x", no blanks. The text is rewritten
/// to its canonical decimal form so that CLI11's own conversion (which reads 010 as octal, 0x10
/// as hex and wraps -1 to 2^64-1) sees exactly what was checked. Apply it with transform(),
/// which passes the rewritten text on (check() validates a copy).
inline CLI::Validator integer_in(unsigned long long lo, unsigned long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) -> std::string {
        const std::string expected =
            "expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi);
        const bool digits = !text.empty() && text.size() <= 20 &&
                            text.find_first_not_of("0123456789") == std::string::npos;
        errno = 0;
        const unsigned long long n = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
        if (!digits || errno == ERANGE || n < lo || n > hi)
          return expected + ", got '" + text + "'";
        text = std::to_string(n);
        return "";
      },
      "");
}

/// An integer in [1, max].
inline CLI::Validator positive_integer(unsigned long long max) { return integer_in(1, max); }

/// A size in bytes: a number with an optional binary unit, K, M, G or T (KiB, MiB, GiB, TiB
/// spelled either way): "1048576", "512M", "1.5G". The text is rewritten to the whole number of
/// bytes, for an integer option, and must come to at least `least`.
inline CLI::Validator byte_size(unsigned long long least = 1) {
  return CLI::Validator(
      [least](std::string& text) -> std::string {
        const std::string expected =
            std::string("expected a size in bytes such as 1048576, 512M or 1.5G") +
            (least > 1 ? " (at least " + std::to_string(least) + ")" : "");
        const std::size_t digits = text.find_first_not_of("0123456789.");
        const std::string number = text.substr(0, digits);
        const std::string unit = digits == std::string::npos ? "" : text.substr(digits);
        static const std::pair<const char*, int> units[] = {
            {"", 0},     {"B", 0},  {"K", 10},  {"KB", 10},  {"KiB", 10}, {"M", 20},  {"MB", 20},
            {"MiB", 20}, {"G", 30}, {"GB", 30}, {"GiB", 30}, {"T", 40},   {"TB", 40}, {"TiB", 40}};
        int shift = -1;
        for (const auto& [name, bits] : units)
          if (unit == name) shift = bits;
        char* end = nullptr;
        const double value = number.empty() ? -1 : std::strtod(number.c_str(), &end);
        const double bytes =
            shift < 0 || end != number.c_str() + number.size() ? -1 : value * double(1ULL << shift);
        if (!(bytes >= double(least)) || bytes > 1.8e19) return expected + ", got '" + text + "'";
        text = std::to_string(static_cast<unsigned long long>(bytes));
        return "";
      },
      "SIZE");
}

/// A decimal number for which ok() holds: the message says what was expected and what was given
/// (CLI::PositiveNumber in CLI11 2.1 prints DBL_MAX as a 300-digit number).
inline CLI::Validator number(const std::string& expected, std::function<bool(double)> ok) {
  return CLI::Validator(
      [expected, ok](std::string& text) -> std::string {
        // Decimal notation only: strtod would also take "0x1p3", "inf" and "nan".
        const bool decimal = text.find_first_not_of("0123456789+-.eE") == std::string::npos;
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || !decimal || *end != '\0' || !std::isfinite(v) || !ok(v))
          return "expected " + expected + ", got '" + text + "'";
        return "";
      },
      "NUMBER");
}

/// A non-empty value (a file name).
inline CLI::Validator non_empty(const std::string& expected) {
  return CLI::Validator(
      [expected](std::string& text) -> std::string {
        return text.empty() ? "expected " + expected + ", got ''" : "";
      },
      "");
}

/// Parses argv into the options of `app`. Returns the exit code if the program should stop
/// here (0 after --help, 2 after a usage error, which has been printed), nothing otherwise.
/// `usage` is the flags part of the one-line usage, e.g. "[--trace] [--epochs N]".
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv,
                                             const std::string& usage) {
  const std::string prog = app.get_name();
  app.failure_message([prog, usage](const CLI::App*, const CLI::Error& e) {
    return prog + ": " + e.what() + " (usage: " + prog + " " + usage + ")\n";
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return std::nullopt;
}

}  // namespace tapegrad::examples

#pragma once
// The examples' command lines, with CLI11: --help prints the usage and exits 0; a usage error
// (unknown flag, missing or malformed value) prints one line, "PROGRAM: what was wrong (usage:
// PROGRAM FLAGS)", and exits 2.
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace tapegrad::examples {

/// An integer in [1, max], decimal only. The text is rewritten to its canonical decimal form so
/// that CLI11's own conversion (which reads 010 as octal and 0x10 as hex) sees what was checked.
inline CLI::Validator positive_integer(long long max) {
  return CLI::Validator(
      [max](std::string& text) -> std::string {
        char* end = nullptr;
        errno = 0;
        const long long n = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE || n < 1 || n > max)
          return "expected an integer in 1.." + std::to_string(max) + ", got '" + text + "'";
        text = std::to_string(n);
        return "";
      },
      "");
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

#pragma once
// Every example's main(): errors are reported as one readable line and exit code 1, never as an
// uncaught-exception abort.
#include <cstdio>
#include <exception>

#define TAPEGRAD_EXAMPLE_MAIN(run)                         \
  int main(int argc, char** argv) {                        \
    try {                                                  \
      return run(argc, argv);                              \
    } catch (const std::exception& e) {                    \
      std::fprintf(stderr, "%s: %s\n", argv[0], e.what()); \
      return 1;                                            \
    }                                                      \
  }

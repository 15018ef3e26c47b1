// Prints docs/derivatives.md -- every built-in op's output and vector-Jacobian products, taken
// from the ops' own `math` fields -- to standard output. scripts/derivatives.sh writes the file
// with it; the derivatives_doc test fails when the committed file differs.
#include <cstdio>
#include <exception>

#include <tapegrad/autograd.hpp>

int main(int argc, char** argv) {
  if (argc != 1) {
    std::fprintf(stderr, "usage: %s > docs/derivatives.md (takes no arguments, got %d)\n", argv[0],
                 argc - 1);
    return 2;
  }
  try {
    const std::string md = tapegrad::derivatives_markdown(tapegrad::op_catalog());
    return std::fwrite(md.data(), 1, md.size(), stdout) == md.size() && std::fflush(stdout) == 0
               ? 0
               : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}

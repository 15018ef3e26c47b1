// The main() of a fuzz target outside libFuzzer: runs LLVMFuzzerTestOneInput once on every file
// named on the command line and on every file in each directory named (sorted by name, not
// recursive), so that the committed corpus is replayed by ctest in any build, with any compiler.
//
//   fuzz_checkpoint fuzz/corpus/checkpoint        replay a corpus
//   fuzz_checkpoint crash-1234abcd                reproduce one input
//   fuzz_model_dir --skip NAME ... DIR            leave out a known, not yet fixed finding
//
// Each file's name is printed before it runs, so the last line before a crash names the input.
// Without AddressSanitizer the address space is capped at 4 GiB, so that an input making a
// loader allocate without bound fails with bad_alloc instead of swapping the machine to death.
#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

#if defined(__SANITIZE_ADDRESS__)
#define TAPEGRAD_REPLAY_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TAPEGRAD_REPLAY_ASAN 1
#endif
#endif

namespace fs = std::filesystem;

int main(int argc, char** argv) {
#ifndef TAPEGRAD_REPLAY_ASAN
  const rlimit cap{rlim_t(4) << 30, rlim_t(4) << 30};
  setrlimit(RLIMIT_AS, &cap);
#endif
  std::set<std::string> skip;
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--skip" && i + 1 < argc) {
      skip.insert(argv[++i]);
    } else if (fs::is_directory(arg)) {
      std::vector<fs::path> files;
      for (const fs::directory_entry& e : fs::directory_iterator(arg))
        if (e.is_regular_file()) files.push_back(e.path());
      if (files.empty()) {
        std::fprintf(stderr, "replay: %s holds no inputs\n", arg.c_str());
        return 1;
      }
      std::sort(files.begin(), files.end());
      inputs.insert(inputs.end(), files.begin(), files.end());
    } else if (fs::is_regular_file(arg)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "usage: %s [--skip NAME]... FILE_OR_DIRECTORY...\n(%s: no such file)\n",
                   argv[0], arg.c_str());
      return 2;
    }
  }
  std::size_t ran = 0;
  for (const fs::path& input : inputs) {
    if (skip.count(input.filename().string())) {
      std::printf("skipped %s (a known finding, see fuzz/README.md)\n", input.c_str());
      continue;
    }
    std::printf("running %s\n", input.c_str());
    std::fflush(stdout);
    std::ifstream in(input, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
    // An exact-size copy, so that AddressSanitizer sees a read past the end.
    const std::unique_ptr<std::uint8_t[]> copy(new std::uint8_t[bytes.size()]);
    std::copy(bytes.begin(), bytes.end(), copy.get());
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
    ++ran;
  }
  std::printf("replayed %zu inputs\n", ran);
  return 0;
}

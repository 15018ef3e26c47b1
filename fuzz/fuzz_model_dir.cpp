// fuzz_model_dir: the input is a tapegrad-lm checkpoint.npz. Its CRC-32s are repaired (see
// fix_zip_crcs), it is written as DIR/checkpoint.npz in the scratch directory, and
// tapegrad::lm::load_model_dir(DIR) reads it: the metadata upgrade, the hyper-parameters,
// vocabulary, data identity, progress, history and task state, the model they describe, and the
// checkpoint's tensors into that model.
#include <sys/stat.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "lm/model_dir.hpp"
#include "support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string dir = [] {
    const std::string d = tapegrad_fuzz::scratch_dir() + "/model";
    if (mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
      std::perror(d.c_str());
      std::abort();
    }
    return d;
  }();
  const std::string bytes = tapegrad_fuzz::fix_zip_crcs(data, size);
  tapegrad_fuzz::write_scratch_file("model/checkpoint.npz", bytes.data(), bytes.size());
  try {
    tapegrad::lm::load_model_dir(dir);
  } catch (const tapegrad::Error&) {
  }
  return 0;
}

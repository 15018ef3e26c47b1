// fuzz_npz: the input is a whole .npz file as numpy.savez writes it (no metadata.json). Its
// CRC-32s are repaired first (see fix_zip_crcs), so that mutations reach the NPY parser. Then
// nn::read_npz runs in float and in double, and what it returns is loaded with
// Module::load_state_dict into a small fixed model (a Linear 3 -> 2 and a 2-layer GRU 2 -> 2,
// whose names have a PyTorch form too), so that name and shape matching run on it.
#include <cstddef>
#include <cstdint>

#include <tapegrad/nn/linear.hpp>
#include <tapegrad/nn/recurrent.hpp>
#include <tapegrad/nn/state_dict.hpp>

#include "support.hpp"

namespace {

template <class T>
struct SmallModel : tapegrad::nn::Module<T> {
  SmallModel() {
    this->register_module("fc", fc);
    this->register_module("rnn", rnn);
  }
  tapegrad::nn::Rng rng{1};
  tapegrad::nn::Linear<T> fc{3, 2, rng};
  tapegrad::nn::GRU<T> rnn{2, 2, 2, rng};
};

template <class T>
void read_and_load(const std::string& path) {
  static SmallModel<T> model;
  try {
    model.load_state_dict(tapegrad::nn::read_npz<T>(path));
  } catch (const tapegrad::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes = tapegrad_fuzz::fix_zip_crcs(data, size);
  const std::string path =
      tapegrad_fuzz::write_scratch_file("input.npz", bytes.data(), bytes.size());
  read_and_load<float>(path);
  read_and_load<double>(path);
  return 0;
}

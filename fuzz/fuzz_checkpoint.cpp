// fuzz_checkpoint: the input is a whole .npz checkpoint. Its CRC-32s are repaired first (see
// fix_zip_crcs), so that a mutation inside an entry reaches the NPY and JSON parsers instead of
// stopping at the checksum. Then every public reader runs on it: read_checkpoint,
// read_checkpoint_metadata, and load_checkpoint into a small fixed model (a Linear 3 -> 2 and
// one extra tensor of shape [2]) in float and in double, so that the name, shape and dtype
// matching paths run too.
#include <cstddef>
#include <cstdint>

#include <tapegrad/nn/checkpoint.hpp>
#include <tapegrad/nn/linear.hpp>

#include "support.hpp"

namespace {

template <class T>
void load_into_small_model(const std::string& path) {
  static tapegrad::nn::Rng rng(1);
  static tapegrad::nn::Linear<T> model(3, 2, rng);
  static tapegrad::Tensor<T> extra = tapegrad::Tensor<T>::from_shape({2});
  try {
    tapegrad::nn::load_checkpoint(path, model, {{"extra", &extra}});
  } catch (const tapegrad::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes = tapegrad_fuzz::fix_zip_crcs(data, size);
  const std::string path =
      tapegrad_fuzz::write_scratch_file("input.npz", bytes.data(), bytes.size());
  tapegrad_fuzz::read_without_model(path);
  load_into_small_model<float>(path);
  load_into_small_model<double>(path);
  return 0;
}

// fuzz_npy: the input is the bytes of one .npy entry. The harness wraps it, as "weight.npy",
// into a valid stored ZIP beside a valid metadata.json that lists it as the only parameter, so
// every mutation lands in the NPY header parser and the data-size checks. The dtype written into
// metadata.json follows the input ('<f8' anywhere in it: float64, else float32), so that both
// element types get through to the loaders. Then read_checkpoint, read_checkpoint_metadata and
// load_checkpoint into a Linear 3 -> 2 without bias (weight [2, 3]) of that type.
#include <cstddef>
#include <cstdint>
#include <string>

#include <tapegrad/nn/checkpoint.hpp>
#include <tapegrad/nn/linear.hpp>

#include "support.hpp"

namespace {

template <class T>
void load_into_weight_only_model(const std::string& path) {
  static tapegrad::nn::Rng rng(1);
  static tapegrad::nn::Linear<T> model(3, 2, rng, /*with_bias=*/false);
  try {
    tapegrad::nn::load_checkpoint(path, model);
  } catch (const tapegrad::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string npy(reinterpret_cast<const char*>(data), size);
  const bool f8 = npy.find("'<f8'") != std::string::npos;
  const std::string metadata =
      std::string(R"({"format": "tapegrad-checkpoint", "format_version": 1,)") + R"( "dtype": ")" +
      (f8 ? "float64" : "float32") + R"(", "parameters": ["weight"], "extra": [], "user": {}})";
  const std::string zip =
      tapegrad_fuzz::make_stored_zip({{"weight.npy", npy}, {"metadata.json", metadata}});
  const std::string path = tapegrad_fuzz::write_scratch_file("input.npz", zip.data(), zip.size());
  tapegrad_fuzz::read_without_model(path);
  if (f8)
    load_into_weight_only_model<double>(path);
  else
    load_into_weight_only_model<float>(path);
  return 0;
}

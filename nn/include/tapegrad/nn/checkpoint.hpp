#pragma once
// Checkpoints: a module's parameters, plus any extra tensors (optimiser state), in a NumPy .npz
// file, so that Python reads them directly:
//
//   nn::save_checkpoint("model.npz", model, {{"epoch", 3}}, {{"optim.m.0", &m0}});
//   np.load("model.npz")["layer0.weight_ih"]            # in Python
//   nlohmann::json user = nn::load_checkpoint("model.npz", model, {{"optim.m.0", &m0}});
//
// The file is a ZIP archive of uncompressed entries: one "<name>.npy" (NPY 1.0, little-endian,
// C order, '<f4' or '<f8') per tensor, and "metadata.json":
//   {"format": "tapegrad-checkpoint", "format_version": 1, "dtype": "float32",
//    "parameters": [names in module order], "extra": [extra names], "user": <metadata>}
// Files are limited to 4 GiB and 65534 tensors (no ZIP64).
//
// Saving is atomic: the file is written to "<path>.tmp-<pid>", flushed to disk and renamed over
// `path`, so a crash or error never leaves a half-written checkpoint at `path` (two threads of
// one process must not save to the same path at once: they would share the temporary name). Loading
// checks the whole file (structure, CRC-32 of every entry, names, shapes, dtypes) before it changes
// anything, so a failed load leaves the module and the extra tensors as they were. Both throw
// tapegrad::Error naming the file and the problem.
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

/// Writes every parameter of `module` (named as by named_parameters()), the `extra` tensors and
/// `metadata` (any JSON, returned by load_checkpoint) to `path`. Extra names must differ from
/// the parameter names and from each other.
template <class T>
void save_checkpoint(const std::string& path, Module<T>& module,
                     const nlohmann::json& metadata = {},
                     const std::vector<std::pair<std::string, const Tensor<T>*>>& extra = {});

/// Restores every parameter of `module` and each `extra` tensor from `path`. The file must
/// hold exactly those names (no more, no fewer), each with the same shape and element type.
/// Returns the user metadata given to save_checkpoint.
template <class T>
nlohmann::json load_checkpoint(const std::string& path, Module<T>& module,
                               const std::vector<std::pair<std::string, Tensor<T>*>>& extra = {});

/// The whole metadata.json of a checkpoint (format, dtype, names, "user"), e.g. to pick the
/// model configuration before building the model. Validates the whole file like load does.
nlohmann::json read_checkpoint_metadata(const std::string& path);

/// What a checkpoint holds, without the tensors' values: the whole metadata.json and each
/// tensor's name, shape and kind. Validates the whole file like load does, and allocates
/// nothing beyond the file's bytes, so a program can compare the shapes with what its metadata
/// describes before it builds a model of that size.
struct CheckpointIndex {
  struct Entry {
    std::string name;
    std::vector<std::size_t> shape;
    bool parameter;  // listed under "parameters" (else under "extra")
    std::size_t elements() const;
  };
  nlohmann::json metadata;
  std::vector<Entry> tensors;  // in file order
};
CheckpointIndex read_checkpoint_index(const std::string& path);

/// Everything in a checkpoint without a model to load it into (inspection, conversion tools).
/// Tensors are widened to double, which is exact for float files.
struct Checkpoint {
  nlohmann::json metadata;                                      // the whole metadata.json
  std::vector<std::pair<std::string, Tensor<double>>> tensors;  // in file order

  /// The tensor called `name`; throws tapegrad::Error if there is none.
  const Tensor<double>& at(const std::string& name) const;
};
Checkpoint read_checkpoint(const std::string& path);

}  // namespace tapegrad::nn

#pragma once
// Weights in and out by name, in the form PyTorch users already have them.
//
// A module's state dict is a copy of its parameters by name (Module::state_dict), and
// Module::load_state_dict sets them all from one, or changes nothing and lists every problem.
// Either name of a parameter is accepted: tapegrad's ("rnn.layer1.weight_ih", as checkpoints
// store it) or that of the equivalent PyTorch model ("rnn.weight_ih_l1"). Linear, Embedding,
// Conv1d and the recurrent cells have PyTorch's names already; a stack of recurrent layers
// (RNN/LSTM/GRU) declares PyTorch's "weight_ih_l0", ... (Module::set_pytorch_name), and a model
// that registers its layers under the attribute names of the PyTorch model ("emb", "rnn",
// "head") has the same names as its state_dict().
//
// The files are what numpy.savez writes, so in Python
//
//   numpy.savez("w.npz", **{k: v.numpy() for k, v in model.state_dict().items()})
//
// and in C++
//
//   model.load_state_dict(nn::read_npz<double>("w.npz"));
//
// and the other way,
//
//   nn::write_npz("w.npz", model.state_dict(nn::ParameterNames::pytorch));
//   model.load_state_dict({k: torch.from_numpy(v) for k, v in numpy.load("w.npz").items()})
//
// A plain .npz has no metadata.json (a checkpoint, checkpoint.hpp, does); the same ZIP and NPY
// code reads and writes both.
#include <string>

#include "tapegrad/nn/module.hpp"

namespace tapegrad::nn {

/// Every array of the .npz file at `path` (numpy.savez, or write_npz) by name ("<name>.npy"
/// entries), converted to T ('<f8' to float rounds). Entries must be float32 ('<f4') or float64
/// ('<f8') arrays in C order, stored uncompressed; anything else (an '<i8' array, a Fortran-order
/// array, an entry of numpy.savez_compressed, a truncated or corrupt file) is a tapegrad::Error
/// naming the file, the entry and what it holds.
template <class T>
StateDict<T> read_npz(const std::string& path);

/// Writes `tensors` to `path` as numpy.savez would ("<name>.npy" entries, '<f4' or '<f8', C
/// order, uncompressed), atomically (AtomicFile: a failure leaves the old file as it was).
/// numpy.load reads it; so does read_npz.
template <class T>
void write_npz(const std::string& path, const StateDict<T>& tensors);

}  // namespace tapegrad::nn

#pragma once
// Data-parallel training: N processes each compute the gradients of their share of the batch,
// average them, and take the same optimiser step, so that they hold the same parameters at every
// step and together train the model one process would train on the whole batch.
//
// What the processes are and how they talk is a ProcessGroup; tapegrad::distributed implements
// it over MPI. The training library needs only this interface, so it builds and runs without MPI,
// and a user's own training loop becomes data-parallel with two calls:
//
//   train::broadcast_parameters(group, model);              // once: rank 0's weights everywhere
//   train::GradientAverager<float> average(group, model.parameters());
//   for (...) {                                             // each process on its own shard
//     tape.clear();
//     tape.backward(loss_of_my_shard(tape));
//     average();                                            // one allreduce of every gradient
//     optimizer.step();
//     optimizer.zero_grad();
//   }
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <tapegrad/error.hpp>
#include <tapegrad/nn/module.hpp>
#include <tapegrad/train/stream_batcher.hpp>

namespace tapegrad::train {

/// The processes of a data-parallel run, and the collective operations they take part in. Every
/// process calls each collective operation in the same order with the same sizes (as in MPI).
class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual std::size_t rank() const = 0;  // 0 .. size() - 1
  virtual std::size_t size() const = 0;
  /// In place: data[i] becomes the sum over the processes of their data[i].
  virtual void sum(float* data, std::size_t n) = 0;
  virtual void sum(double* data, std::size_t n) = 0;
  /// root's `bytes` bytes at `data` are copied to `data` in every process.
  virtual void broadcast(void* data, std::size_t bytes, std::size_t root) = 0;
  /// Each process's `bytes` bytes at `data` land in root's `out` in rank order (size() * bytes
  /// bytes; `out` is not used elsewhere).
  virtual void gather(const void* data, std::size_t bytes, void* out, std::size_t root) = 0;
  /// Ends every process of the group now: for a failure only one process knows of, which would
  /// otherwise leave the others waiting in their next collective operation.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

/// Whether this process was started by an MPI launcher (Open MPI's mpirun, or a PMI/PMIx launcher
/// such as Slurm's srun), from the environment it sets: how many processes it started, 0 when
/// not launched so. Needs no MPI, so that a program built without it can refuse to run as N
/// processes that would each train alone.
std::size_t launched_processes();

/// This process's share of a data-parallel run (the whole when there is no group).
inline Shard shard_of(const ProcessGroup* group) {
  return group ? Shard{group->rank(), group->size()} : Shard{};
}

/// Whether `group` has more than this process.
inline bool is_parallel(const ProcessGroup* group) { return group && group->size() > 1; }

/// An error raised on every process of a group at the same point of the program, so that none is
/// left waiting for the others: a program reports it once (on rank 0).
class CollectiveError : public Error {
 public:
  using Error::Error;
};

/// Runs `work` on `root` alone (writing files, say) and then tells every process how it went: if
/// it threw, every process throws a CollectiveError with root's message. Without a group (or
/// with one process) it only runs `work`.
void run_on_root(ProcessGroup* group, const std::function<void()>& work, std::size_t root = 0);

/// root's string on every process.
std::string broadcast_string(ProcessGroup& group, const std::string& text, std::size_t root = 0);

/// Throws a CollectiveError on every process when any process's `value` differs from root's,
/// naming those processes: "<what>: process 1 differs from process 0".
void check_same_everywhere(ProcessGroup& group, std::uint64_t value, const std::string& what);

/// A 64-bit FNV-1a hash of the parameters' values, bit for bit: equal on two processes when
/// their parameters are identical (and almost surely different otherwise).
template <class T>
std::uint64_t fingerprint_values(const std::vector<Parameter<T>*>& parameters);
/// The same over the parameters' names and shapes: what must agree before any gradient is sent.
template <class T>
std::uint64_t fingerprint_layout(const std::vector<Parameter<T>*>& parameters);

/// Copies rank 0's parameter values to every process (processes that initialised their models
/// differently then start from the same weights). The layouts are checked first
/// (check_same_everywhere), so a process built with other sizes is an error, not a corrupted
/// broadcast.
template <class T>
void broadcast_parameters(ProcessGroup& group, nn::Module<T>& model);
template <class T>
void broadcast_tensors(ProcessGroup& group, const std::vector<Tensor<T>*>& tensors);

/// Averages the gradients of `parameters` over the processes: every gradient is copied into one
/// contiguous buffer, the buffer is summed over the processes in one operation (one message,
/// however many parameters), and each gradient becomes the sum divided by the number of
/// processes. `extra` more values can ride along in the same operation (a step's loss), averaged
/// the same way. The buffer is allocated once.
template <class T>
class GradientAverager {
 public:
  GradientAverager(ProcessGroup& group, std::vector<Parameter<T>*> parameters,
                   std::size_t extra = 0);
  /// Every process calls it after its backward pass. `extra_values` points at the `extra` values
  /// to average (may be null when extra is 0); they are replaced by their averages.
  void operator()(T* extra_values = nullptr);

  std::size_t values() const { return buffer_.size(); }
  /// Seconds spent in the sum (waiting for the slowest process included) and in the copies,
  /// summed over all calls: what data parallelism costs a step.
  double sum_seconds() const { return sum_seconds_; }
  double copy_seconds() const { return copy_seconds_; }

 private:
  ProcessGroup& group_;
  std::vector<Parameter<T>*> parameters_;
  std::size_t extra_;
  std::vector<T> buffer_;
  double sum_seconds_ = 0, copy_seconds_ = 0;
};

}  // namespace tapegrad::train

#pragma once
// tapegrad::distributed: the processes of a data-parallel run over MPI (Open MPI here), so the
// same program runs as N processes on one machine (`mpirun -np N program`) or on a cluster
// (`mpirun --hostfile hosts -np N program`). A Communicator is a train::ProcessGroup over
// MPI_COMM_WORLD: give it to train::TrainerOptions::processes, or use it with
// train::broadcast_parameters and train::GradientAverager in a training loop of your own
// (train/data_parallel.hpp shows the two calls).
//
//   int main(int argc, char** argv) {
//     tapegrad::distributed::Communicator world(&argc, &argv);   // MPI_Init .. MPI_Finalize
//     ...
//   }
#include <cstddef>
#include <string>

#include <tapegrad/train/data_parallel.hpp>

namespace tapegrad::distributed {

class Communicator final : public train::ProcessGroup {
 public:
  /// Initialises MPI unless something else already has (then it leaves finalising to that),
  /// and makes MPI errors on MPI_COMM_WORLD exceptions (tapegrad::Error naming the call)
  /// instead of a silent abort.
  explicit Communicator(int* argc = nullptr, char*** argv = nullptr);
  ~Communicator() override;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  std::size_t rank() const override { return rank_; }
  std::size_t size() const override { return size_; }
  void sum(float* data, std::size_t n) override;
  void sum(double* data, std::size_t n) override;
  void broadcast(void* data, std::size_t bytes, std::size_t root) override;
  void gather(const void* data, std::size_t bytes, void* out, std::size_t root) override;
  /// MPI_Abort on MPI_COMM_WORLD: mpirun ends every process.
  [[noreturn]] void abort(int exit_code) override;
  void barrier();

  /// The "name:pid" of this process, for messages.
  static std::string processor_name();

 private:
  std::size_t rank_ = 0, size_ = 1;
  bool owns_ = false;
};

}  // namespace tapegrad::distributed

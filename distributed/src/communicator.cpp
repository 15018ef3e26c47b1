#include "tapegrad/distributed/communicator.hpp"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>

namespace tapegrad::distributed {

namespace {

// MPI counts are ints: a larger buffer goes in pieces of at most this many elements.
constexpr std::size_t kMaxCount = std::size_t(1) << 30;

void check(int code, const char* call) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
  throw Error(
      std::string(call) + " failed: " +
      (length > 0 ? std::string(text, std::size_t(length)) : "MPI error " + std::to_string(code)));
}

template <class T>
void sum_in_place(T* data, std::size_t n, MPI_Datatype type) {
  for (std::size_t done = 0; done < n;) {
    const std::size_t piece = std::min(kMaxCount, n - done);
    check(MPI_Allreduce(MPI_IN_PLACE, data + done, int(piece), type, MPI_SUM, MPI_COMM_WORLD),
          "MPI_Allreduce");
    done += piece;
  }
}

}  // namespace

Communicator::Communicator(int* argc, char*** argv) {
  int initialized = 0;
  check(MPI_Initialized(&initialized), "MPI_Initialized");
  if (!initialized) {
    check(MPI_Init(argc, argv), "MPI_Init");
    owns_ = true;
  }
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  int rank = 0, size = 1;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  rank_ = std::size_t(rank);
  size_ = std::size_t(size);
}

Communicator::~Communicator() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void Communicator::sum(float* data, std::size_t n) { sum_in_place(data, n, MPI_FLOAT); }

void Communicator::sum(double* data, std::size_t n) { sum_in_place(data, n, MPI_DOUBLE); }

void Communicator::broadcast(void* data, std::size_t bytes, std::size_t root) {
  auto* p = static_cast<char*>(data);
  for (std::size_t done = 0; done < bytes;) {
    const std::size_t piece = std::min(kMaxCount, bytes - done);
    check(MPI_Bcast(p + done, int(piece), MPI_BYTE, int(root), MPI_COMM_WORLD), "MPI_Bcast");
    done += piece;
  }
}

void Communicator::gather(const void* data, std::size_t bytes, void* out, std::size_t root) {
  if (bytes > std::size_t(INT_MAX))
    throw Error("Communicator::gather: " + std::to_string(bytes) +
                " bytes from each process, at most " + std::to_string(INT_MAX) + " supported");
  check(MPI_Gather(data, int(bytes), MPI_BYTE, rank_ == root ? out : nullptr, int(bytes), MPI_BYTE,
                   int(root), MPI_COMM_WORLD),
        "MPI_Gather");
}

void Communicator::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void Communicator::abort(int exit_code) {
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; should it, this process still ends
}

std::string Communicator::processor_name() {
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  if (MPI_Get_processor_name(name, &length) != MPI_SUCCESS) length = 0;
  return std::string(name, std::size_t(std::max(length, 0))) + ":" + std::to_string(::getpid());
}

}  // namespace tapegrad::distributed

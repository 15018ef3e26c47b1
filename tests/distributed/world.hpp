#pragma once
// The MPI processes of the distributed tests (mpirun -np 2): one Communicator for the whole test
// program, made by a Boost.Test global fixture (MPI is initialised once per process).
#include <tapegrad/distributed/communicator.hpp>

namespace testsupport {

tapegrad::distributed::Communicator& world();

}  // namespace testsupport

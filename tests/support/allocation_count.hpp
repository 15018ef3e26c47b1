#pragma once
// How many times the process asked the heap for memory: the test binary counts every malloc,
// calloc, realloc and aligned allocation (operator new and xtensor's buffers both end in one),
// so a test can check that a loop allocates nothing once warm.
//
// The count comes from replacing glibc's allocation functions in the test binary
// (allocation_count.cpp). Under AddressSanitizer or ThreadSanitizer, which replace them
// themselves, there is no count: counted() is false and a test says it did not measure.
#include <cstddef>

namespace testsupport {

/// Whether allocations are counted in this build.
bool allocations_counted();
/// Allocations made by every thread since the process started.
std::size_t allocations_so_far();

}  // namespace testsupport

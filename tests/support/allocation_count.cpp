// The allocation counter of allocation_count.hpp: glibc's malloc family replaced by functions
// that count and forward to glibc's own implementations (__libc_malloc and friends, which glibc
// exports for exactly this). A definition in the executable takes the place of libc's for every
// library in the process, libstdc++'s operator new included.
#include "support/allocation_count.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TAPEGRAD_COUNT_ALLOCATIONS 0
#else
#define TAPEGRAD_COUNT_ALLOCATIONS 1
#endif

namespace {
// Relaxed: a count, not a synchronisation; a plain global is initialised before any code runs.
std::atomic<std::size_t> g_allocations{0};
}  // namespace

namespace testsupport {
bool allocations_counted() { return TAPEGRAD_COUNT_ALLOCATIONS; }
std::size_t allocations_so_far() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace testsupport

#if TAPEGRAD_COUNT_ALLOCATIONS
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);

static void count() { g_allocations.fetch_add(1, std::memory_order_relaxed); }

void* malloc(std::size_t n) {
  count();
  return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t size) {
  count();
  return __libc_calloc(n, size);
}
void* realloc(void* p, std::size_t n) {
  count();
  return __libc_realloc(p, n);
}
void free(void* p) { __libc_free(p); }
void* memalign(std::size_t alignment, std::size_t n) {
  count();
  return __libc_memalign(alignment, n);
}
void* aligned_alloc(std::size_t alignment, std::size_t n) {
  count();
  return __libc_memalign(alignment, n);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t n) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  count();
  void* p = __libc_memalign(alignment, n);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
}
#endif

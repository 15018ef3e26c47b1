#pragma once
// How much a piece of code raised the process's peak resident memory: the kernel's high-water
// mark (VmHWM) is reset to the current resident size by writing 5 to /proc/self/clear_refs,
// so the peak after the code, less the resident size before it, is what the code needed at
// its worst moment -- whether it held the memory to the end or freed it before returning.
//
// AddressSanitizer keeps freed memory in quarantine (256 MB by default), so under it freed
// blocks still count; a test that bounds memory skips the bound there (see measured()).
#include <fstream>
#include <string>

namespace testsupport {

class PeakMemory {
 public:
  PeakMemory() {
    std::ofstream("/proc/self/clear_refs") << "5";
    start_kib_ = status_kib("VmRSS:");
    reset_ = status_kib("VmHWM:") == start_kib_;
  }
  /// The rise of the peak resident size since construction, in MiB.
  double growth_mib() const { return double(status_kib("VmHWM:") - start_kib_) / 1024.0; }
  /// Whether the figure means something here: the reset worked and no sanitizer keeps freed
  /// memory.
  bool measured() const {
#if defined(__SANITIZE_ADDRESS__)
    return false;
#else
    return reset_;
#endif
  }

 private:
  static long status_kib(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string key;
    long value = 0;
    while (in >> key) {
      if (key == field && in >> value) return value;
      std::string rest;
      std::getline(in, rest);
    }
    return 0;
  }
  long start_kib_ = 0;
  bool reset_ = false;
};

}  // namespace testsupport

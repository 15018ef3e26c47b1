#include "support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <tapegrad/nn/checkpoint.hpp>

namespace tapegrad_fuzz {
namespace {

// The scratch directory's path in plain storage: the atexit handler may run after the static
// objects of this file are destroyed.
char scratch_path[PATH_MAX];

void remove_scratch_dir() {
  std::error_code ignored;
  std::filesystem::remove_all(scratch_path, ignored);
}

[[noreturn]] void die(const char* what, const std::string& path) {
  std::fprintf(stderr, "fuzz harness: %s %s: %s\n", what, path.c_str(), std::strerror(errno));
  std::abort();
}

std::uint32_t get16(const unsigned char* p) { return p[0] | std::uint32_t(p[1]) << 8; }
std::uint32_t get32(const unsigned char* p) { return get16(p) | get16(p + 2) << 16; }
void set32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put16(std::string& s, std::uint32_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

// ZIP record signatures and fixed sizes.
constexpr std::uint32_t kLocal = 0x04034b50, kCentral = 0x02014b50, kEnd = 0x06054b50;
constexpr std::size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22;

}  // namespace

const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string base = "/dev/shm";
    if (access(base.c_str(), W_OK) != 0) {
      const char* tmp = std::getenv("TMPDIR");
      base = tmp && *tmp ? tmp : "/tmp";
    }
    // The pid in the name lets scripts/fuzz.sh remove what a crashed run (which exits without
    // running atexit handlers) left behind.
    std::string path = base + "/tapegrad-fuzz-" + std::to_string(getpid()) + "-XXXXXX";
    if (path.size() >= sizeof scratch_path || mkdtemp(path.data()) == nullptr)
      die("cannot create a scratch directory", path);
    std::memcpy(scratch_path, path.c_str(), path.size() + 1);
    std::atexit(remove_scratch_dir);
    return path;
  }();
  return dir;
}

std::string write_scratch_file(const std::string& name, const void* data, std::size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot create", path);
  const char* p = static_cast<const char*>(data);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) die("cannot write", path);
    done += static_cast<std::size_t>(n);
  }
  if (close(fd) != 0) die("cannot close", path);
  return path;
}

std::uint32_t crc32(const void* data, std::size_t size) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t n = 0; n < 256; ++n) {
      std::uint32_t r = n;
      for (int bit = 0; bit < 8; ++bit) r = (r >> 1) ^ ((r & 1) ? 0xEDB88320u : 0u);
      t[n] = r;
    }
    return t;
  }();
  std::uint32_t crc = 0xFFFFFFFFu;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::string fix_zip_crcs(const std::uint8_t* data, std::size_t size) {
  std::string out(reinterpret_cast<const char*>(data), size);
  if (size < kEndSize) return out;
  auto* f = reinterpret_cast<unsigned char*>(out.data());

  // The end record: the last one whose 22 bytes fit, searched back over a possible comment.
  std::size_t end = size - kEndSize;
  const std::size_t lowest = end > 0xFFFF ? end - 0xFFFF : 0;
  while (get32(f + end) != kEnd) {
    if (end == lowest) return out;
    --end;
  }

  const std::size_t count = get16(f + end + 10);
  std::size_t pos = get32(f + end + 16);
  for (std::size_t k = 0; k < count; ++k) {
    if (pos > size || size - pos < kCentralSize || get32(f + pos) != kCentral) break;
    unsigned char* c = f + pos;
    const std::size_t local = get32(c + 42), stored = get32(c + 20);
    if (get16(c + 4) != kKeepCrcMarker && local <= size && size - local >= kLocalSize) {
      const std::size_t start = local + kLocalSize + get16(f + local + 26) + get16(f + local + 28);
      if (start <= size && size - start >= stored) {
        const std::uint32_t crc = crc32(f + start, stored);
        set32(c + 16, crc);
        set32(f + local + 14, crc);
      }
    }
    pos += kCentralSize + get16(c + 28) + get16(c + 30) + get16(c + 32);
  }
  return out;
}

std::string make_stored_zip(const std::vector<ZipEntry>& entries) {
  std::string body, directory;
  for (const ZipEntry& e : entries) {
    // Version needed 2.0, no flags, stored, time 00:00, date 1980-01-01, CRC, both sizes,
    // name length, no extra field: the part a local header and a central record share.
    std::string common;
    put16(common, 20);
    put16(common, 0);
    put16(common, 0);
    put16(common, 0);
    put16(common, (1 << 5) | 1);
    put32(common, crc32(e.data.data(), e.data.size()));
    put32(common, static_cast<std::uint32_t>(e.data.size()));
    put32(common, static_cast<std::uint32_t>(e.data.size()));
    put16(common, static_cast<std::uint32_t>(e.name.size()));
    put16(common, 0);

    const auto offset = static_cast<std::uint32_t>(body.size());
    put32(body, kLocal);
    body += common + e.name + e.data;

    put32(directory, kCentral);
    put16(directory, 20);  // made by: MS-DOS, ZIP 2.0
    directory += common;
    put16(directory, 0);  // comment length
    put16(directory, 0);  // disk
    put16(directory, 0);  // internal attributes
    put32(directory, 0);  // external attributes
    put32(directory, offset);
    directory += e.name;
  }
  std::string end;
  put32(end, kEnd);
  put16(end, 0);
  put16(end, 0);
  put16(end, static_cast<std::uint32_t>(entries.size()));
  put16(end, static_cast<std::uint32_t>(entries.size()));
  put32(end, static_cast<std::uint32_t>(directory.size()));
  put32(end, static_cast<std::uint32_t>(body.size()));
  put16(end, 0);
  return body + directory + end;
}

void read_without_model(const std::string& path) {
  try {
    tapegrad::nn::read_checkpoint_index(path);
  } catch (const tapegrad::Error&) {
  }
  try {
    tapegrad::nn::read_checkpoint_metadata(path);
  } catch (const tapegrad::Error&) {
  }
  try {
    tapegrad::nn::read_checkpoint(path);
  } catch (const tapegrad::Error&) {
  }
}

}  // namespace tapegrad_fuzz

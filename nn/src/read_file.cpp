#include "tapegrad/nn/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include <tapegrad/error.hpp>

namespace tapegrad::nn {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "something other than a file";
}

}  // namespace

std::string read_regular_file(const std::string& where, const std::string& path,
                              std::uint64_t max_bytes, const std::string& limit_hint,
                              const ChunkCheck& check) {
  const auto fail = [&](const std::string& what) -> void { throw Error(where + ": " + what); };
  const auto fail_errno = [&](const char* what) {
    const int err = errno;  // read before building the message, which may change it
    fail(std::string(what) + ": " + std::generic_category().message(err));
  };
  struct Fd {
    int fd;
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  };
  // O_NONBLOCK: opening a FIFO for reading otherwise waits for a writer. It is cleared below,
  // once the file is known to be a regular one (where it changes nothing anyway).
  const Fd in{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (in.fd < 0) fail_errno("cannot open");
  struct stat st {};
  if (::fstat(in.fd, &st) != 0) fail_errno("cannot stat");
  if (!S_ISREG(st.st_mode)) fail(std::string("is ") + kind_of(st.st_mode) + ", not a regular file");
  const auto size = std::uint64_t(st.st_size);
  if (size > max_bytes)
    fail("is " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
         " bytes accepted" + limit_hint);
  const int flags = ::fcntl(in.fd, F_GETFL);
  if (flags < 0 || ::fcntl(in.fd, F_SETFL, flags & ~O_NONBLOCK) != 0) fail_errno("cannot read");

  std::string bytes;
  constexpr std::size_t kPiece = std::size_t(1) << 20;
  // Room for the whole file up front, unless it is big enough that a check may well stop the
  // read early.
  bytes.reserve(std::size_t(std::min<std::uint64_t>(size, 64 * kPiece)));
  for (;;) {
    // Pieces of what fstat promised, then small reads until end of file, since the file may
    // have grown; never past the limit (one byte more tells).
    const std::uint64_t promised = size > bytes.size() ? size - bytes.size() : 0;
    const std::uint64_t room = max_bytes + 1 - std::min<std::uint64_t>(bytes.size(), max_bytes);
    const std::size_t want = std::size_t(std::min<std::uint64_t>(
        promised > 0 ? std::min<std::uint64_t>(kPiece, promised) : 4096, room));
    const std::size_t at = bytes.size();
    bytes.resize(at + want);  // zero-fills only what this read may fill
    const ssize_t k = ::read(in.fd, bytes.data() + at, want);
    if (k < 0 && errno == EINTR) {
      bytes.resize(at);
      continue;
    }
    if (k < 0) fail_errno("cannot read");
    bytes.resize(at + std::size_t(k));
    if (k == 0) break;
    if (bytes.size() > max_bytes)
      fail("grew past the " + std::to_string(max_bytes) + " bytes accepted while being read" +
           limit_hint);
    if (check) check(std::string_view(bytes).substr(at), at);
  }
  return bytes;
}

}  // namespace tapegrad::nn

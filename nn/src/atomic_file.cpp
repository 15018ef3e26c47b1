#include "tapegrad/nn/atomic_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include <tapegrad/error.hpp>

namespace tapegrad::nn {

AtomicFile::AtomicFile(std::string where, std::string path)
    : where_(std::move(where)),
      path_(std::move(path)),
      tmp_(path_ + ".tmp-" + std::to_string(::getpid())) {
  // O_NOFOLLOW: never write through a symlink someone placed at the temporary name.
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  check(fd_ >= 0, "cannot create");
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, std::size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t k = ::write(fd_, p, n);
    if (k < 0 && errno == EINTR) continue;
    check(k > 0, "cannot write");
    p += k;
    n -= std::size_t(k);
  }
}

void AtomicFile::commit() {
  // Data on disk before the rename, so that path never names a file with missing contents.
  check(::fsync(fd_) == 0, "cannot flush", " to disk");
  const int fd = fd_;
  fd_ = -1;
  check(::close(fd) == 0, "cannot close");
  check(::rename(tmp_.c_str(), path_.c_str()) == 0, "cannot rename", " into place");
  committed_ = true;
  // Makes the rename itself durable. Best effort: the file is complete either way, and some
  // file systems refuse fsync on a directory.
  const std::string dir = std::filesystem::path(path_).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void AtomicFile::check(bool ok, const char* what, const char* after) {
  if (ok) return;
  // errno is read first: building the message allocates, which may change it.
  const int err = errno;
  throw Error(where_ + ": " + what + " " + tmp_ + after + ": " +
              std::generic_category().message(err));
}

void write_file_atomically(const std::string& path, const std::string& content) {
  AtomicFile file("write_file_atomically: " + path, path);
  file.write(content);
  file.commit();
}

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::size_t mark = name.rfind(".tmp-");
    if (mark == std::string::npos || mark == 0) continue;
    const std::string digits = name.substr(mark + 5);
    if (digits.empty() || digits.size() > 9 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    // kill(pid, 0) delivers nothing; ESRCH says no such process. EPERM means it runs as
    // someone else: keep its file.
    if (pid <= 0 || pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    std::error_code gone;
    if (it->is_regular_file(gone) && fs::remove(it->path(), gone))
      removed.push_back(it->path().string());
  }
  return removed;
}

}  // namespace tapegrad::nn

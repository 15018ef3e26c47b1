#pragma once
// The one way tapegrad writes a file: to "<path>.tmp-<pid>", flushed to disk (fsync), then
// renamed over `path`. A reader never sees half a file, and a failed write (disk full, a crash,
// a throw while the content is produced) leaves the previous file at `path` as it was.
// Checkpoints, plots, logs and JSON summaries all go through here.
//
// Two threads of one process must not write the same path at once: they would share the
// temporary name.
#include <string>
#include <vector>

namespace tapegrad::nn {

/// An open "<path>.tmp-<pid>". The destructor removes it unless commit() renamed it over path,
/// so every failure path (a throw from anywhere) cleans up. Errors are tapegrad::Error reading
/// "<where>: <what> <temporary path>: <reason>".
class AtomicFile {
 public:
  /// `where` starts every error message (e.g. "save_checkpoint: model.npz").
  AtomicFile(std::string where, std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  void write(const void* data, std::size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  /// Flushes the data to disk, then renames the temporary file over the path.
  void commit();

  const std::string& temporary_path() const { return tmp_; }

 private:
  void check(bool ok, const char* what, const char* after = "");

  std::string where_, path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

/// Replaces the file at `path` with `content` through an AtomicFile.
void write_file_atomically(const std::string& path, const std::string& content);

/// Removes what killed writers left in `dir`: "<name>.tmp-<pid>" files whose process no longer
/// runs (a kill -9 between creating and renaming leaves one; the destructor never ran). Files of
/// this process and of running processes are kept, since they may be mid-write; so is anything
/// else. Best effort: a file that cannot be removed stays. Returns the paths removed.
std::vector<std::string> remove_stale_temporaries(const std::string& dir);

}  // namespace tapegrad::nn

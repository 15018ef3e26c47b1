#pragma once
// The one way tapegrad reads a file someone handed it (a checkpoint, a text to train on): whole,
// bounded, and never blocking. A path can name something that is not a file at all -- a FIFO
// with no writer blocks open() and read() forever, /dev/zero never ends -- or a file far larger
// than any sane input, so what it names is checked before a byte is read and reading stops at
// a limit the caller chooses.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace tapegrad::nn {

/// Called with each piece of the file as it is read (`offset`: where the piece starts), so that
/// a caller can reject bad content at its first byte rather than after reading gigabytes of it
/// (by throwing).
using ChunkCheck = std::function<void(std::string_view piece, std::uint64_t offset)>;

/// The bytes of the regular file at `path`. Errors are tapegrad::Error "<where>: <what>":
///   cannot open: <the system's reason>
///   is a directory / a FIFO (named pipe) / a socket / a character device / a block device,
///     not a regular file                 (checked without blocking, before reading)
///   is <n> bytes, more than the <max_bytes> bytes accepted<limit_hint>
///   cannot read: <the system's reason>
/// `limit_hint` says how to raise the limit, e.g. " (raise it with --max-text)".
std::string read_regular_file(const std::string& where, const std::string& path,
                              std::uint64_t max_bytes, const std::string& limit_hint = "",
                              const ChunkCheck& check = {});

}  // namespace tapegrad::nn

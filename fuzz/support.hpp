#pragma once
// What the fuzz targets share: a scratch directory for the files the loaders read, a lenient
// ZIP walker that repairs CRC-32s so that mutated archives get past the checksum, and a small
// writer of stored ZIP archives. Written for the harness: nothing here comes from the library.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad_fuzz {

/// A directory of this process's own, under /dev/shm if it exists (else $TMPDIR, else /tmp),
/// created on first use and removed when the process exits normally.
const std::string& scratch_dir();

/// Writes the bytes to scratch_dir()/name (replacing it) and returns the path. Aborts if the
/// file cannot be written: that is a broken machine, not a finding.
std::string write_scratch_file(const std::string& name, const void* data, std::size_t size);

/// CRC-32 as ZIP computes it (reflected polynomial 0xEDB88320).
std::uint32_t crc32(const void* data, std::size_t size);

/// A copy of `data` in which every ZIP entry that can be found carries the right CRC-32:
/// the end-of-central-directory record is looked for from the end, the central directory walked
/// from where that record says it starts, and for each record whose local header and data lie
/// inside the input, the CRC-32 of the data is written into the record (offset 16) and into the
/// local header (offset 14). Everything else is left as it is, however broken.
///
/// An entry whose central record has "version made by" 0xFFFF (a value no ZIP writer uses) is
/// not repaired, so a seed can keep a wrong CRC on purpose and the mismatch path stays reachable.
std::string fix_zip_crcs(const std::uint8_t* data, std::size_t size);
constexpr std::uint16_t kKeepCrcMarker = 0xFFFF;

/// A valid ZIP archive of stored (uncompressed) entries, in the given order.
struct ZipEntry {
  std::string name;
  std::string data;
};
std::string make_stored_zip(const std::vector<ZipEntry>& entries);

/// Reads the checkpoint at `path` with each reader that needs no model (read_checkpoint_index,
/// read_checkpoint_metadata, read_checkpoint); a tapegrad::Error from any is expected.
void read_without_model(const std::string& path);

}  // namespace tapegrad_fuzz

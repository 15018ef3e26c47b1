// Checkpoints as NumPy .npz files (see checkpoint.hpp), and plain numpy.savez files of named
// arrays (see state_dict.hpp): tapegrad's one ZIP and NPY reader and writer. The code below is
// the small subset both need: stored (uncompressed) entries, no ZIP64, NPY 1.0 headers written
// (1.0 to 3.0 read).
//
// ZIP layout written, all integers little-endian:
//   per entry: local header (30 bytes + name) then the entry's bytes
//   central directory: one record per entry (46 bytes + name), pointing at its local header
//   end record (22 bytes): entry count, size and offset of the central directory
#include "tapegrad/nn/checkpoint.hpp"
#include "tapegrad/nn/state_dict.hpp"

#include "tapegrad/nn/atomic_file.hpp"
#include "tapegrad/nn/read_file.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

namespace tapegrad::nn {
namespace {

// Tensor bytes are written and read as they lie in memory, and NPY's '<f4'/'<f8' are
// little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checkpoints assume a little-endian host");

using json = nlohmann::json;

constexpr std::uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr std::size_t kLocalSize = 30, kCentralSize = 46, kEndSize = 22;
// Sizes and offsets are 32-bit; 0xFFFFFFFF (and 0xFFFF entries) would mean "look in ZIP64".
constexpr std::uint64_t kMaxZipBytes = 0xFFFFFFFEu;
constexpr std::size_t kMaxEntries = 0xFFFE;
// Every entry gets the same DOS timestamp (1980-01-01 00:00), so a model always saves to the
// same bytes.
constexpr std::uint32_t kDosDate = (1 << 5) | 1;
const std::string kMetadataEntry = "metadata.json";
const std::string kFormat = "tapegrad-checkpoint";
constexpr int kFormatVersion = 1;

// Errors read "<function>: <path>: <what>"; `where` is the first two parts.
[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Error(where + ": " + what);
}

void put16(std::string& s, std::uint32_t v) {
  s += char(v & 0xff);
  s += char((v >> 8) & 0xff);
}
void put32(std::string& s, std::uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}
std::uint32_t get16(const unsigned char* p) {
  return std::uint32_t(p[0]) | std::uint32_t(p[1]) << 8;
}
std::uint32_t get32(const unsigned char* p) { return get16(p) | get16(p + 2) << 16; }

// CRC-32 as ZIP defines it (reflected polynomial 0xEDB88320). Chainable: crc32(crc32(0, a), b)
// is the CRC of a followed by b.
std::uint32_t crc32(std::uint32_t crc, const void* data, std::size_t n) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

template <class T>
const char* npy_descr() {
  return sizeof(T) == 4 ? "<f4" : "<f8";
}
template <class T>
const char* dtype_name() {
  return sizeof(T) == 4 ? "float32" : "float64";
}

// ---------------------------------------------------------------------------------------------
// NPY

// Magic, version 1.0, header length (u16), then a Python dict literal padded with spaces and a
// final '\n' so that the data starts at a multiple of 64 bytes (NumPy's alignment rule).
std::string npy_header(const char* descr, const Shape& shape) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) dict += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dict += ',';  // (5,) -- a Python 1-tuple needs the comma
  dict += "), }";
  const std::size_t unpadded = 10 + dict.size() + 1;
  dict.append((64 - unpadded % 64) % 64, ' ');
  dict += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  put16(out, std::uint32_t(dict.size()));
  return out + dict;
}

// One .npy entry, pointing into the file's bytes.
struct Npy {
  std::string descr;  // "<f4" or "<f8"
  std::vector<std::size_t> shape;
  const unsigned char* data = nullptr;
  std::size_t bytes = 0;
};

// Reads the header NumPy and save_checkpoint write. Only what a checkpoint can hold is accepted:
// '<f4'/'<f8' in C order, with exactly as many data bytes as the shape needs.
Npy parse_npy(const std::string& where, const std::string& entry, const unsigned char* p,
              std::size_t n) {
  auto bad = [&](const std::string& why) {
    fail(where, "entry '" + entry + "' is not a valid .npy array (" + why + ")");
  };
  if (n < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0) bad("no NPY magic");
  // Version 1 has a 16-bit header length, versions 2 and 3 a 32-bit one.
  if (p[6] < 1 || p[6] > 3) bad("unsupported NPY version " + std::to_string(p[6]));
  const std::size_t start = p[6] == 1 ? 10 : 12;
  if (n < start) bad("it is cut short");
  const std::size_t header = start == 10 ? get16(p + 8) : get32(p + 8);
  if (header > n - start) bad("its header runs past the end of the entry");
  const std::string dict(reinterpret_cast<const char*>(p + start), header);

  // The text after "'key': ".
  auto value = [&](const std::string& key) {
    const std::size_t k = dict.find("'" + key + "':");
    const std::size_t v =
        k == std::string::npos ? k : dict.find_first_not_of(' ', k + key.size() + 3);
    if (v == std::string::npos) bad("its header has no '" + key + "'");
    return dict.substr(v);
  };
  Npy out;
  const std::string descr = value("descr");
  const std::size_t close = descr.find('\'', 1);
  if (descr[0] != '\'' || close == std::string::npos) bad("unreadable 'descr'");
  out.descr = descr.substr(1, close - 1);
  if (out.descr != "<f4" && out.descr != "<f8")
    fail(where, "entry '" + entry + "' has dtype " + out.descr +
                    "; expected float32 (<f4) or float64 (<f8)");
  if (value("fortran_order").compare(0, 5, "False") != 0)
    fail(where, "entry '" + entry + "' (dtype " + out.descr +
                    ") is stored in Fortran order; expected C order (fortran_order False)");

  const std::string shape = value("shape");
  const std::size_t end = shape.find(')');
  if (shape[0] != '(' || end == std::string::npos) bad("unreadable 'shape'");
  std::size_t count = 1;  // elements; kept <= n so that count * 8 cannot overflow
  // The product of the nonzero dimensions: an empty array's other dimensions are not bounded by
  // its bytes, but they still set its strides, which must not overflow.
  constexpr std::size_t kMaxSpan = std::size_t(1) << 40;
  std::size_t span = 1;
  for (std::size_t i = 1; i < end;) {
    if (shape[i] == ' ' || shape[i] == ',') {
      ++i;
      continue;
    }
    std::size_t dim = 0, digits = 0;  // at most 16 digits: no overflow, and no real size has more
    for (; i < end && shape[i] >= '0' && shape[i] <= '9' && digits < 16; ++i, ++digits)
      dim = dim * 10 + std::size_t(shape[i] - '0');
    if (digits == 0 || (i < end && shape[i] != ',' && shape[i] != ' ')) bad("unreadable 'shape'");
    if (dim != 0 && count > n / dim) bad("its shape needs more bytes than the entry has");
    if (dim != 0 && span > kMaxSpan / dim)
      bad("its dimensions multiply past 2^40 (even with a 0 among them)");
    if (dim != 0) span *= dim;
    count *= dim;
    out.shape.push_back(dim);
  }
  out.data = p + start + header;
  out.bytes = n - start - header;
  const std::size_t needed = count * (out.descr == "<f4" ? 4 : 8);
  if (out.bytes != needed)
    bad("shape " + shape_str(out.shape) + " of " + out.descr + " needs " + std::to_string(needed) +
        " bytes, the entry holds " + std::to_string(out.bytes));
  return out;
}

// ---------------------------------------------------------------------------------------------
// ZIP writing

struct OutEntry {
  std::string name;
  std::string head;  // the entry's bytes are head followed by data[0, size)
  const void* data;
  std::size_t size;
};

// The fields a local header and its central directory record share, "version needed" onwards.
std::string shared_fields(std::uint32_t crc, std::uint32_t size, std::size_t name_size) {
  std::string s;
  put16(s, 20);  // version needed to extract: 2.0
  put16(s, 0);   // flags
  put16(s, 0);   // method: stored
  put16(s, 0);   // time
  put16(s, kDosDate);
  put32(s, crc);
  put32(s, size);  // compressed size = size
  put32(s, size);
  put16(s, std::uint32_t(name_size));
  put16(s, 0);  // extra field length
  return s;
}

void write_zip(const std::string& where, const std::string& path,
               const std::vector<OutEntry>& entries) {
  // Refuse what needs ZIP64 before touching the disk.
  std::uint64_t total = kEndSize;
  for (const OutEntry& e : entries)
    total += kLocalSize + kCentralSize + 2 * e.name.size() + e.head.size() + e.size;
  if (total > kMaxZipBytes || entries.size() > kMaxEntries)
    fail(where, "the checkpoint would be " + std::to_string(total) + " bytes in " +
                    std::to_string(entries.size()) +
                    " entries; the format is limited to 4 GiB and 65534 entries (no ZIP64)");

  std::vector<std::string> locals;
  std::string central;
  std::uint32_t offset = 0;
  for (const OutEntry& e : entries) {
    const auto size = std::uint32_t(e.head.size() + e.size);
    const std::uint32_t crc = crc32(crc32(0, e.head.data(), e.head.size()), e.data, e.size);
    const std::string shared = shared_fields(crc, size, e.name.size());
    std::string local;
    put32(local, kLocalSig);
    locals.push_back(local + shared + e.name);
    put32(central, kCentralSig);
    put16(central, 20);  // version made by: 2.0, MS-DOS attributes
    central += shared;
    put16(central, 0);  // comment length
    put16(central, 0);  // disk number
    put16(central, 0);  // internal attributes
    put32(central, 0);  // external attributes
    put32(central, offset);
    central += e.name;
    offset += std::uint32_t(kLocalSize + e.name.size()) + size;
  }
  std::string end;
  put32(end, kEndSig);
  put16(end, 0);  // this disk
  put16(end, 0);  // disk holding the central directory
  put16(end, std::uint32_t(entries.size()));
  put16(end, std::uint32_t(entries.size()));
  put32(end, std::uint32_t(central.size()));
  put32(end, offset);
  put16(end, 0);  // comment length

  AtomicFile out(where, path);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    out.write(locals[i]);
    out.write(entries[i].head);
    if (entries[i].size > 0) out.write(entries[i].data, entries[i].size);
  }
  out.write(central);
  out.write(end);
  out.commit();
}

// ---------------------------------------------------------------------------------------------
// ZIP reading

struct InEntry {
  std::string name;
  const unsigned char* data;
  std::size_t size;
};

// The end record is missing but the file starts like a ZIP archive: walk the local headers from
// the front to tell a cut-off file (the usual case: an interrupted copy) from a damaged one.
[[noreturn]] void fail_without_end_record(const std::string& where, const unsigned char* f,
                                          std::size_t n) {
  const std::string has = ", the file has " + std::to_string(n) + " bytes)";
  std::size_t pos = 0, central = 0;
  // A header whose signature is cut short counts as begun.
  for (int k = 1; pos < n && std::memcmp(f + pos, "PK\3\4", std::min<std::size_t>(n - pos, 4)) == 0;
       ++k) {
    if (pos + kLocalSize > n)
      fail(where, "is truncated (it ends inside entry " + std::to_string(k) + "'s header" + has);
    const std::size_t name_size = get16(f + pos + 26);
    const std::size_t next =
        pos + kLocalSize + name_size + get16(f + pos + 28) + get32(f + pos + 18);
    if (next > n) {
      const std::string name =
          pos + kLocalSize + name_size <= n
              ? "'" + std::string(reinterpret_cast<const char*>(f + pos + kLocalSize), name_size) +
                    "'"
              : std::to_string(k);
      fail(where,
           "is truncated (entry " + name + " needs " + std::to_string(next) + " bytes" + has);
    }
    central += kCentralSize + name_size;
    pos = next;
  }
  const std::size_t expected = pos + central + kEndSize;
  if (expected > n)
    fail(where, "is truncated (expected " + std::to_string(expected) + " bytes" + has);
  fail(where, "is corrupt (no ZIP end-of-central-directory record at the end of the file)");
}

// What a ZIP archive is read as: a checkpoint (metadata.json required) or any numpy.savez file.
enum class ZipKind { checkpoint, npz };

// The archive's entries, after checking every record against the file's size and every
// entry's CRC-32. Only what save_checkpoint and numpy.savez write is accepted: stored entries,
// no ZIP64 beyond the extra field numpy adds to each local header, no archive comment.
std::vector<InEntry> read_zip(const std::string& where, const std::string& file, ZipKind kind) {
  const auto* f = reinterpret_cast<const unsigned char*>(file.data());
  const std::size_t n = file.size();
  if (n == 0)
    fail(where, kind == ZipKind::checkpoint ? "is empty (not a tapegrad checkpoint)"
                                            : "is empty (not a .npz file)");
  if (n < kEndSize || get32(f + n - kEndSize) != kEndSig) {
    if (std::memcmp(f, "PK\3\4", std::min<std::size_t>(n, 4)) == 0)
      fail_without_end_record(where, f, n);
    fail(where, kind == ZipKind::checkpoint
                    ? "is not a tapegrad checkpoint (not a ZIP/.npz archive)"
                    : "is not a .npz file (not a ZIP archive, as numpy.savez writes)");
  }
  auto corrupt = [&](const std::string& what) { fail(where, "is corrupt (" + what + ")"); };
  const unsigned char* e = f + n - kEndSize;
  const std::size_t count = get16(e + 10), dir_size = get32(e + 12), dir_start = get32(e + 16);
  if (get16(e + 4) != 0 || get16(e + 6) != 0 || get16(e + 8) != count || get16(e + 20) != 0)
    corrupt("the end-of-central-directory record is damaged");
  const std::size_t dir_end = n - kEndSize;
  if (dir_start > dir_end || dir_size != dir_end - dir_start)
    corrupt("the central directory does not end where the end record starts");

  // The central directory first: it names the entries, so a foreign archive (np.savez,
  // np.savez_compressed) is reported as such rather than as corrupt.
  struct Record {
    std::string name;
    std::uint32_t crc;
    std::size_t size, local;
  };
  std::vector<Record> records;
  std::set<std::string> names;
  for (std::size_t i = 0, pos = dir_start; i < count; ++i) {
    const unsigned char* c = f + pos;
    if (pos + kCentralSize > dir_end || get32(c) != kCentralSig)
      corrupt("central directory record " + std::to_string(i + 1) + " is damaged");
    const std::size_t name_size = get16(c + 28);
    const std::size_t next = pos + kCentralSize + name_size + get16(c + 30) + get16(c + 32);
    if (next > dir_end) corrupt("central directory record " + std::to_string(i + 1) + " overruns");
    Record r{std::string(reinterpret_cast<const char*>(c + kCentralSize), name_size), get32(c + 16),
             get32(c + 24), get32(c + 42)};
    if (get16(c + 10) != 0)
      fail(where, "entry '" + r.name + "' is compressed (method " + std::to_string(get16(c + 10)) +
                      (kind == ZipKind::checkpoint
                           ? "); tapegrad checkpoints store entries uncompressed"
                           : ", as numpy.savez_compressed writes); expected stored entries, as "
                             "numpy.savez writes"));
    if (get16(c + 8) & 1) fail(where, "entry '" + r.name + "' is encrypted");
    if (get32(c + 20) != r.size) corrupt("entry '" + r.name + "' has two different sizes");
    if (!names.insert(r.name).second) corrupt("entry '" + r.name + "' appears twice");
    records.push_back(r);
    pos = next;
  }
  if (kind == ZipKind::checkpoint && !names.count(kMetadataEntry))
    fail(where, "is not a tapegrad checkpoint (it has no " + kMetadataEntry + ")");

  std::vector<InEntry> out;
  for (const Record& r : records) {
    const unsigned char* l = f + r.local;
    if (r.local + kLocalSize + r.name.size() > dir_start || get32(l) != kLocalSig ||
        get16(l + 8) != 0 || get32(l + 14) != r.crc || get32(l + 18) != r.size ||
        get32(l + 22) != r.size || get16(l + 26) != r.name.size() ||
        std::memcmp(l + kLocalSize, r.name.data(), r.name.size()) != 0)
      corrupt("the local header of entry '" + r.name + "' does not match the central directory");
    const std::size_t data = r.local + kLocalSize + r.name.size() + get16(l + 28);
    if (data + r.size > dir_start) corrupt("entry '" + r.name + "' overruns the central directory");
    if (crc32(0, f + data, r.size) != r.crc)
      fail(where, "CRC mismatch in entry '" + r.name + "' (corrupt file)");
    out.push_back({r.name, f + data, r.size});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The checkpoint format on top of ZIP and NPY

struct Archive {
  std::string bytes;  // the whole file; the Npy views point into it
  json metadata;
  std::vector<std::pair<std::string, Npy>> tensors;  // name without ".npy", in file order
  std::map<std::string, std::size_t> index;          // name -> position in tensors
  std::set<std::string> parameters;                  // the names metadata.json lists as such
};

Archive open_checkpoint(const std::string& where, const std::string& path) {
  Archive a;
  // A larger file would need ZIP64, which tapegrad never writes.
  a.bytes = read_regular_file(where, path, kMaxZipBytes,
                              " (the checkpoint format's limit: 4 GiB, no ZIP64)");
  for (const InEntry& e : read_zip(where, a.bytes, ZipKind::checkpoint)) {
    const std::size_t stem = e.name.size() - std::min<std::size_t>(e.name.size(), 4);
    if (e.name == kMetadataEntry) {
      try {
        a.metadata = json::parse(e.data, e.data + e.size);
      } catch (const json::exception& x) {
        fail(where, kMetadataEntry + " is not valid JSON: " + x.what());
      }
    } else if (stem > 0 && e.name.compare(stem, 4, ".npy") == 0) {
      a.index[e.name.substr(0, stem)] = a.tensors.size();
      a.tensors.emplace_back(e.name.substr(0, stem), parse_npy(where, e.name, e.data, e.size));
    } else {
      fail(where,
           "has an unexpected entry '" + e.name + "' (neither .npy nor " + kMetadataEntry + ")");
    }
  }

  const json& m = a.metadata;
  auto text = [&](const char* key) {
    const auto it = m.is_object() ? m.find(key) : m.end();
    return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  if (text("format") != kFormat)
    fail(where, "is not a tapegrad checkpoint (" + kMetadataEntry + " has no \"format\": \"" +
                    kFormat + "\")");
  const auto version = m.find("format_version");
  if (version == m.end() || !version->is_number_integer() || *version < 1)
    fail(where, "is corrupt (" + kMetadataEntry + " has no valid format_version)");
  if (*version > kFormatVersion)
    fail(where, "has format_version " + version->dump() + ", newer than this tapegrad reads (" +
                    std::to_string(kFormatVersion) + ")");
  const std::string dtype = text("dtype");
  if (dtype != "float32" && dtype != "float64")
    fail(where, "is corrupt (" + kMetadataEntry + " has dtype '" + dtype +
                    "', expected float32 or float64)");
  const std::string descr = dtype == "float32" ? "<f4" : "<f8";
  for (const auto& [name, t] : a.tensors)
    if (t.descr != descr)
      fail(where, "is corrupt (tensor '" + name + "' is " + t.descr + " but " + kMetadataEntry +
                      " says " + dtype + ")");

  // The names metadata.json lists must be exactly the .npy entries.
  std::set<std::string> listed;
  std::size_t listed_count = 0;
  for (const char* key : {"parameters", "extra"}) {
    const auto list = m.find(key);
    if (list == m.end() || !list->is_array())
      fail(where, "is corrupt (" + kMetadataEntry + " has no \"" + key + "\" list)");
    for (const json& name : *list) {
      if (!name.is_string() || !a.index.count(name.get<std::string>()))
        fail(where, "is corrupt (" + kMetadataEntry + " lists " + name.dump() +
                        ", which is not in the file)");
      listed.insert(name.get<std::string>());
      if (std::string(key) == "parameters") a.parameters.insert(name.get<std::string>());
      ++listed_count;
    }
  }
  if (listed.size() != listed_count || listed.size() != a.tensors.size())
    fail(where, "is corrupt (the tensors " + kMetadataEntry + " lists are not the file's entries)");
  return a;
}

template <class S>
bool same_shape(const std::vector<std::size_t>& a, const S& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// Element i of an NPY array of U, whose bytes need not be aligned for U.
template <class U>
double element(const Npy& t, std::size_t i) {
  U v;
  std::memcpy(&v, t.data + i * sizeof(U), sizeof(U));
  return double(v);
}

}  // namespace

template <class T>
void save_checkpoint(const std::string& path, Module<T>& module, const nlohmann::json& metadata,
                     const std::vector<std::pair<std::string, const Tensor<T>*>>& extra) {
  const std::string where = "save_checkpoint: " + path;
  json meta = {{"format", kFormat},        {"format_version", kFormatVersion},
               {"dtype", dtype_name<T>()}, {"parameters", json::array()},
               {"extra", json::array()},   {"user", metadata}};
  std::vector<std::pair<std::string, const Tensor<T>*>> tensors;
  for (const auto& [name, p] : module.named_parameters()) {
    tensors.emplace_back(name, &p->value);
    meta["parameters"].push_back(name);
  }
  for (const auto& [name, t] : extra) {
    if (t == nullptr) fail(where, "extra tensor '" + name + "' is a null pointer");
    tensors.emplace_back(name, t);
    meta["extra"].push_back(name);
  }

  std::vector<OutEntry> entries;
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) fail(where, "a tensor has an empty name");
    if (!names.insert(name).second)
      fail(where, "the name '" + name + "' is used by two tensors (names must be unique)");
    entries.push_back(
        {name + ".npy", npy_header(npy_descr<T>(), t->shape()), t->data(), t->size() * sizeof(T)});
  }
  std::string meta_text;
  try {
    meta_text = meta.dump(2) + "\n";
  } catch (const json::exception& e) {  // e.g. a string that is not UTF-8
    fail(where, std::string("the metadata cannot be written as JSON: ") + e.what());
  }
  entries.push_back({kMetadataEntry, meta_text, nullptr, 0});
  write_zip(where, path, entries);
}

template <class T>
nlohmann::json load_checkpoint(const std::string& path, Module<T>& module,
                               const std::vector<std::pair<std::string, Tensor<T>*>>& extra) {
  const std::string where = "load_checkpoint: " + path;
  const Archive a = open_checkpoint(where, path);

  // Pair every destination with its tensor and check them all; copy only once all match, so a
  // failed load changes nothing.
  std::vector<std::pair<Tensor<T>*, const Npy*>> plan;
  std::set<std::string> used;
  auto match = [&](bool is_parameter, const std::string& name, Tensor<T>* dst) {
    const std::string what =
        std::string(is_parameter ? "parameter" : "extra tensor") + " '" + name + "'";
    if (dst == nullptr) fail(where, what + " is a null pointer");
    if (!used.insert(name).second) fail(where, what + " is asked for twice");
    const auto it = a.index.find(name);
    if (it == a.index.end()) fail(where, what + " is missing from the file");
    const Npy& t = a.tensors[it->second].second;
    if (t.descr != npy_descr<T>())
      fail(where, what + " has dtype " + t.descr + " in the file, the model uses " +
                      dtype_name<T>() + " (" + npy_descr<T>() + ")");
    if (!same_shape(t.shape, dst->shape()))
      fail(where, what + " has shape " + shape_str(t.shape) + " in the file, " +
                      (is_parameter ? "the model expects " : "expected ") +
                      shape_str(dst->shape()));
    plan.emplace_back(dst, &t);
  };
  for (const auto& [name, p] : module.named_parameters()) match(true, name, &p->value);
  for (const auto& [name, t] : extra) match(false, name, t);
  for (const auto& [name, t] : a.tensors)
    if (!used.count(name))
      fail(where, a.parameters.count(name)
                      ? "the file has parameter '" + name + "', which the model does not have"
                      : "the file has extra tensor '" + name + "', which was not asked for");

  for (const auto& [dst, t] : plan)
    if (t->bytes > 0) std::memcpy(dst->data(), t->data, t->bytes);
  const auto user = a.metadata.find("user");
  return user != a.metadata.end() ? *user : json();
}

nlohmann::json read_checkpoint_metadata(const std::string& path) {
  return open_checkpoint("read_checkpoint_metadata: " + path, path).metadata;
}

std::size_t CheckpointIndex::Entry::elements() const {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;  // cannot overflow: the file held these elements
  return n;
}

CheckpointIndex read_checkpoint_index(const std::string& path) {
  const Archive a = open_checkpoint("read_checkpoint_index: " + path, path);
  CheckpointIndex index;
  index.metadata = a.metadata;
  for (const auto& [name, t] : a.tensors)
    index.tensors.push_back({name, t.shape, a.parameters.count(name) > 0});
  return index;
}

Checkpoint read_checkpoint(const std::string& path) {
  const Archive a = open_checkpoint("read_checkpoint: " + path, path);
  Checkpoint c;
  c.metadata = a.metadata;
  for (const auto& [name, t] : a.tensors) {
    Tensor<double> v = Tensor<double>::from_shape(t.shape);
    for (std::size_t i = 0; i < v.size(); ++i)
      v.data()[i] = t.descr == "<f4" ? element<float>(t, i) : element<double>(t, i);
    c.tensors.emplace_back(name, std::move(v));
  }
  return c;
}

const Tensor<double>& Checkpoint::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw Error("Checkpoint::at: no tensor named '" + name + "'");
}

// ---------------------------------------------------------------------------------------------
// Plain .npz files of named arrays (state_dict.hpp)

template <class T>
StateDict<T> read_npz(const std::string& path) {
  const std::string where = "read_npz: " + path;
  const std::string bytes =
      read_regular_file(where, path, kMaxZipBytes, " (the .npz reader's limit: 4 GiB, no ZIP64)");
  StateDict<T> out;
  for (const InEntry& e : read_zip(where, bytes, ZipKind::npz)) {
    const std::size_t stem = e.name.size() - std::min<std::size_t>(e.name.size(), 4);
    if (stem == 0 || e.name.compare(stem, 4, ".npy") != 0)
      fail(where, "has an entry '" + e.name +
                      "' that is not a .npy array (numpy.savez writes '<name>.npy' entries)");
    const Npy t = parse_npy(where, e.name, e.data, e.size);
    Tensor<T> v = Tensor<T>::from_shape(t.shape);
    for (std::size_t i = 0; i < v.size(); ++i)
      v.data()[i] = T(t.descr == "<f4" ? element<float>(t, i) : element<double>(t, i));
    out.emplace(e.name.substr(0, stem), std::move(v));
  }
  return out;
}

template <class T>
void write_npz(const std::string& path, const StateDict<T>& tensors) {
  const std::string where = "write_npz: " + path;
  std::vector<OutEntry> entries;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) fail(where, "a tensor has an empty name");
    entries.push_back(
        {name + ".npy", npy_header(npy_descr<T>(), t.shape()), t.data(), t.size() * sizeof(T)});
  }
  write_zip(where, path, entries);
}

template void save_checkpoint<float>(
    const std::string&, Module<float>&, const nlohmann::json&,
    const std::vector<std::pair<std::string, const Tensor<float>*>>&);
template void save_checkpoint<double>(
    const std::string&, Module<double>&, const nlohmann::json&,
    const std::vector<std::pair<std::string, const Tensor<double>*>>&);
template nlohmann::json load_checkpoint<float>(
    const std::string&, Module<float>&, const std::vector<std::pair<std::string, Tensor<float>*>>&);
template nlohmann::json load_checkpoint<double>(
    const std::string&, Module<double>&,
    const std::vector<std::pair<std::string, Tensor<double>*>>&);

template StateDict<float> read_npz<float>(const std::string&);
template StateDict<double> read_npz<double>(const std::string&);
template void write_npz<float>(const std::string&, const StateDict<float>&);
template void write_npz<double>(const std::string&, const StateDict<double>&);

}  // namespace tapegrad::nn

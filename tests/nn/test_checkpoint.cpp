// Checkpoints: bit-exact round trips (NaN payloads, infinities, denormals included), NumPy
// reading the files, and every kind of bad file or failed save reported without damage: a
// failed load leaves the module unchanged, a failed save leaves no temporary file and keeps the
// checkpoint that was there.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <boost/crc.hpp>
#include <boost/test/unit_test.hpp>
#include <tapegrad/nn/nn.hpp>

#include "support/scratch_dir.hpp"

namespace fs = std::filesystem;
using namespace tapegrad;
using json = nlohmann::json;

namespace {

// Parameters of its own (one 0-d, one with no elements) and two sub-modules, so that names like
// "rnn.layer1.weight_hh" and every shape rank the format writes are covered.
template <class T>
struct TinyNet : nn::Module<T> {
  TinyNet(std::size_t in, std::size_t layers, std::uint64_t seed = 1)
      : rng(seed),
        fc(in, 3, rng),
        rnn(3, 4, layers, rng),
        scale(this->register_parameter("scale", nn::uniform<T>({6}, -1, 1, rng))),
        offset(this->register_parameter("offset", Tensor<T>(T(0.25)))),
        empty(this->register_parameter("empty", Tensor<T>::from_shape({0, 2}))) {
    this->register_module("fc", fc);
    this->register_module("rnn", rnn);
  }
  nn::Rng rng;
  nn::Linear<T> fc;
  nn::RNN<T> rnn;
  Parameter<T>& scale;
  Parameter<T>& offset;
  Parameter<T>& empty;
};

template <class To, class From>
To bits_as(From from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof(To));
  return to;
}

// Overwrites every parameter with random bit patterns (which include NaNs with payloads and
// denormals), then puts the awkward values into `scale` explicitly.
template <class T>
void fill_bits(nn::Module<T>& m, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  for (auto& [name, p] : m.named_parameters())
    for (T& v : p->value) {
      const std::uint64_t bits = gen();
      std::memcpy(&v, &bits, sizeof(T));
    }
}
template <class T>
std::vector<T> special_values() {
  using L = std::numeric_limits<T>;
  if constexpr (sizeof(T) == 4)
    return {bits_as<float>(0x7fc12345u),
            bits_as<float>(0xff800001u),  // quiet and signalling NaN
            -L::infinity(),
            L::infinity(),
            L::denorm_min(),
            T(-0.0)};
  else
    return {bits_as<double>(0x7ff8000000abcdefull),
            bits_as<double>(0xfff0000000000001ull),
            -L::infinity(),
            L::infinity(),
            L::denorm_min(),
            T(-0.0)};
}

std::string raw_bytes(const void* data, std::size_t n) {
  return n ? std::string(static_cast<const char*>(data), n) : std::string();
}
template <class T>
std::string raw_bytes(const Tensor<T>& t) {
  return raw_bytes(t.data(), t.size() * sizeof(T));
}

// Every parameter's bytes, in order, for bit-exact comparison.
template <class T>
std::vector<std::string> snapshot(nn::Module<T>& m) {
  std::vector<std::string> out;
  for (auto& [name, p] : m.named_parameters()) out.push_back(name + ":" + raw_bytes(p->value));
  return out;
}
bool same_bits(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].size() != b[i].size() || std::memcmp(a[i].data(), b[i].data(), a[i].size()) != 0)
      return false;
  return true;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}
std::uint32_t get32(const std::string& b, std::size_t at) {
  std::uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = v << 8 | std::uint8_t(b[at + std::size_t(k)]);
  return v;
}
std::uint32_t get16(const std::string& b, std::size_t at) {
  return std::uint8_t(b[at]) | std::uint32_t(std::uint8_t(b[at + 1])) << 8;
}

// Where the entry called `name` starts its bytes (the .npy header) in a saved file.
std::size_t entry_data(const std::string& file, const std::string& name) {
  const std::size_t local = file.find(name) - 30;  // the first occurrence is the local header
  BOOST_REQUIRE(get32(file, local) == 0x04034b50u);
  return local + 30 + name.size() + get16(file, local + 28);
}

// load_checkpoint must throw a tapegrad::Error whose message contains every one of `parts`, and
// leave the module's parameters (and the extra tensors) bit-for-bit as they were.
template <class T>
void check_rejected(const std::string& path, nn::Module<T>& m, std::vector<std::string> parts,
                    const std::vector<std::pair<std::string, Tensor<T>*>>& extra = {}) {
  auto state = [&] {
    std::vector<std::string> s = snapshot(m);
    for (auto& [name, t] : extra) s.push_back(name + ":" + raw_bytes(*t));
    return s;
  };
  const std::vector<std::string> before = state();
  try {
    nn::load_checkpoint(path, m, extra);
    BOOST_ERROR("load_checkpoint(" << path << ") did not throw; expected: " << parts[0]);
  } catch (const Error& e) {
    BOOST_TEST_MESSAGE(e.what());
    for (const std::string& part : parts)
      BOOST_CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos,
                          "message \"" << e.what() << "\" lacks \"" << part << "\"");
  }
  BOOST_CHECK_MESSAGE(same_bits(before, state()), "a failed load changed the module");
}

template <class F>
void check_save_fails(F&& save, const std::string& part) {
  try {
    save();
    BOOST_ERROR("save_checkpoint did not throw; expected: " << part);
  } catch (const Error& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos,
                        "message \"" << e.what() << "\" lacks \"" << part << "\"");
  }
}

// Optimizer::state() made const and prefixed, in the forms save and load take.
template <class T>
std::vector<std::pair<std::string, Tensor<T>*>> optim_state(nn::Optimizer<T>& opt) {
  auto state = opt.state();
  for (auto& [name, t] : state) name = "optim." + name;
  return state;
}
template <class T>
std::vector<std::pair<std::string, const Tensor<T>*>> for_saving(
    const std::vector<std::pair<std::string, Tensor<T>*>>& v) {
  return {v.begin(), v.end()};
}

// The python3 that scripts/setup.sh provides, with NumPy. Its absence is a failure, not a skip:
// "NumPy reads our files" is a property the format promises.
const char* const kPython = "/usr/bin/python3";
std::string run_python(const std::string& script, const std::string& arg, int& status) {
  BOOST_REQUIRE_MESSAGE(
      std::system((std::string(kPython) + " -c 'import numpy' 2>/dev/null").c_str()) == 0,
      kPython << " with NumPy is needed to check that NumPy reads checkpoints; "
                 "install python3-numpy (scripts/setup.sh does)");
  const std::string cmd = std::string(kPython) + " -c \"" + script + "\" '" + arg + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  for (std::size_t k; (k = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, k);
  status = ::pclose(p);
  return out;
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {digits[c >> 4], digits[c & 15]};
  return out;
}

// A directory of its own for each test case, removed afterwards.
struct TempDir : testsupport::ScratchDir {
  TempDir() : ScratchDir("tapegrad_checkpoint") {}
  // Files a save left behind under a temporary name.
  std::vector<std::string> temp_files() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.path().filename().string().find(".tmp-") != std::string::npos)
        out.push_back(e.path().string());
    return out;
  }
};

using FloatTypes = std::tuple<float, double>;

}  // namespace

BOOST_FIXTURE_TEST_SUITE(checkpoint, TempDir)

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip_is_bit_exact, T, FloatTypes) {
  TinyNet<T> saved(3, 2, 1);
  fill_bits(saved, 7);
  const std::vector<T> specials = special_values<T>();
  std::memcpy(saved.scale.value.data(), specials.data(), specials.size() * sizeof(T));
  nn::save_checkpoint(path("model.npz"), saved);

  TinyNet<T> loaded(3, 2, 2);
  fill_bits(loaded, 8);
  BOOST_TEST(!same_bits(snapshot(saved), snapshot(loaded)));
  const json user = nn::load_checkpoint(path("model.npz"), loaded);
  BOOST_TEST(same_bits(snapshot(saved), snapshot(loaded)));
  BOOST_TEST(std::memcmp(loaded.scale.value.data(), specials.data(), specials.size() * sizeof(T)) ==
             0);
  BOOST_TEST(user.is_null());  // no metadata given
  BOOST_TEST(loaded.offset.value.dimension() == 0u);
  BOOST_TEST(loaded.empty.value.size() == 0u);

  // The same model always gives the same bytes (no timestamps).
  nn::save_checkpoint(path("again.npz"), saved);
  BOOST_TEST((read_bytes(path("model.npz")) == read_bytes(path("again.npz"))));
  BOOST_TEST(temp_files().empty());
}

BOOST_AUTO_TEST_CASE(metadata_round_trips) {
  TinyNet<double> m(3, 2);
  const json user = {{"epoch", 12},
                     {"lr", 1e-3},
                     {"name", "caf\u00e9 \u2713"},
                     {"config", {{"hidden", {4, 4}}, {"cell", "rnn"}}},
                     {"flag", true},
                     {"nothing", nullptr}};
  nn::save_checkpoint(path("m.npz"), m, user);
  BOOST_TEST(nn::load_checkpoint(path("m.npz"), m) == user);

  const json meta = nn::read_checkpoint_metadata(path("m.npz"));
  BOOST_TEST(meta["format"] == "tapegrad-checkpoint");
  BOOST_TEST(meta["format_version"] == 1);
  BOOST_TEST(meta["dtype"] == "float64");
  BOOST_TEST(meta["user"] == user);
  BOOST_TEST(meta["extra"] == json::array());
  json names = json::array();
  for (auto& [name, p] : m.named_parameters()) names.push_back(name);
  BOOST_TEST(meta["parameters"] == names);
  BOOST_TEST(names[0] == "scale");  // the module's own parameters first, then sub-modules'
  BOOST_TEST(names[3] == "fc.weight");
  BOOST_TEST(names[5] == "rnn.layer0.weight_ih");
}

BOOST_AUTO_TEST_CASE(read_checkpoint_widens_a_float_file_exactly) {
  TinyNet<float> m(3, 2);
  nn::save_checkpoint(path("m.npz"), m, {{"k", 1}});
  const nn::Checkpoint c = nn::read_checkpoint(path("m.npz"));
  BOOST_TEST(c.metadata["dtype"] == "float32");
  BOOST_TEST(c.metadata["user"]["k"] == 1);
  BOOST_TEST(c.tensors.size() == m.named_parameters().size());
  for (auto& [name, p] : m.named_parameters()) {
    const Tensor<double>& t = c.at(name);
    BOOST_TEST((t.shape() == p->value.shape()), name);
    for (std::size_t i = 0; i < t.size(); ++i)
      BOOST_TEST(t.data()[i] == double(p->value.data()[i]));
  }
  BOOST_CHECK_THROW(c.at("nope"), Error);
}

BOOST_AUTO_TEST_CASE(optimizer_state_round_trips_and_training_resumes_exactly) {
  // Grads that depend only on the parameter's position, the same for both runs.
  auto set_grads = [](TinyNet<float>& m, int step) {
    int k = 0;
    for (Parameter<float>* p : m.parameters())
      for (float& g : p->grad) g = std::sin(float(++k + 7 * step));
  };
  TinyNet<float> a(3, 2, 1);
  nn::Adam<float> opt_a(a.parameters(), 0.01);
  for (int s = 0; s < 3; ++s) set_grads(a, s), opt_a.step();
  nn::save_checkpoint(path("run.npz"), a, {{"steps", opt_a.steps()}},
                      for_saving(optim_state(opt_a)));

  TinyNet<float> b(3, 2, 2);
  nn::Adam<float> opt_b(b.parameters(), 0.01);
  const json user = nn::load_checkpoint(path("run.npz"), b, optim_state(opt_b));
  opt_b.set_steps(user["steps"].get<std::size_t>());
  BOOST_TEST(same_bits(snapshot(a), snapshot(b)));
  const auto sa = opt_a.state(), sb = opt_b.state();
  BOOST_REQUIRE(sa.size() == 2 * a.parameters().size());
  for (std::size_t i = 0; i < sa.size(); ++i)
    BOOST_TEST((raw_bytes(*sa[i].second) == raw_bytes(*sb[i].second)), sa[i].first);
  BOOST_TEST(nn::read_checkpoint_metadata(path("run.npz"))["extra"][0] == "optim.m.0");

  // The resumed run takes the very step the original takes.
  set_grads(a, 3), opt_a.step();
  set_grads(b, 3), opt_b.step();
  BOOST_TEST(same_bits(snapshot(a), snapshot(b)));

  // Extras are checked like parameters: missing, unexpected, or shaped differently.
  TinyNet<float> c(3, 2, 3);
  nn::Adam<float> opt_c(c.parameters(), 0.01);
  nn::save_checkpoint(path("plain.npz"), c);
  check_rejected(path("plain.npz"), c, {"extra tensor 'optim.m.0' is missing from the file"},
                 optim_state(opt_c));
  check_rejected(path("run.npz"), c,
                 {"the file has extra tensor 'optim.m.0', which was not asked for"});
  Tensor<float> wrong = full<float>({2}, 1.f);
  auto state_c = optim_state(opt_c);
  state_c[0].second = &wrong;
  check_rejected(path("run.npz"), c,
                 {"extra tensor 'optim.m.0' has shape [6] in the file, expected [2]"}, state_c);
  check_rejected(path("run.npz"), c, {"'scale' is asked for twice"}, {{"scale", &wrong}});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(numpy_reads_every_tensor_bit_exactly, T, FloatTypes) {
  TinyNet<T> m(3, 2);
  fill_bits(m, 11);
  const std::vector<T> specials = special_values<T>();
  std::memcpy(m.scale.value.data(), specials.data(), specials.size() * sizeof(T));
  m.fc.weight().value(1, 2) = T(0.1);
  Tensor<T> extra = full<T>({2, 2}, T(1.5));
  nn::save_checkpoint(path("np.npz"), m, {{"epoch", 5}}, {{"optim.m.0", &extra}});

  // One line per entry: name|dtype|shape|hex of the bytes NumPy sees.
  const std::string script =
      "import sys, json, numpy as np\n"
      "z = np.load(sys.argv[1])\n"
      "for k in sorted(f for f in z.files if f != 'metadata.json'):\n"
      "    a = z[k]\n"
      "    print(k + '|' + a.dtype.str + '|' + ','.join(map(str, a.shape)) + '|' + "
      "a.tobytes().hex())\n"
      "m = json.loads(z['metadata.json'])\n"
      "print('META|' + m['format'] + '|' + m['dtype'] + '|' + str(m['user']['epoch']))\n"
      "print(repr(float(z['fc.weight'][1, 2])))\n";
  int status = 0;
  const std::string out = run_python(script, path("np.npz"), status);
  BOOST_REQUIRE_MESSAGE(status == 0, "python failed:\n" << out);

  std::vector<std::pair<std::string, const Tensor<T>*>> all{{"optim.m.0", &extra}};
  for (auto& [name, p] : m.named_parameters()) all.emplace_back(name, &p->value);
  std::sort(all.begin(), all.end());
  const std::string descr = sizeof(T) == 4 ? "<f4" : "<f8";
  std::string expected;
  for (auto& [name, t] : all) {
    std::string shape;
    for (std::size_t d : t->shape()) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    expected += name + "|" + descr + "|" + shape + "|" + hex(raw_bytes(*t)) + "\n";
  }
  expected +=
      std::string("META|tapegrad-checkpoint|") + (sizeof(T) == 4 ? "float32" : "float64") + "|5\n";
  BOOST_TEST(out.substr(0, expected.size()) == expected);
  // And one value as NumPy prints it, for a reader who does not trust hex dumps.
  BOOST_REQUIRE(out.size() > expected.size());
  BOOST_TEST(std::stod(out.substr(expected.size())) == double(T(0.1)));
}

BOOST_AUTO_TEST_CASE(foreign_zip_files_are_rejected) {
  TinyNet<float> m(3, 2);
  int status = 0;
  const std::string made = run_python(
      "import sys, json, zipfile, numpy as np\n"
      "d = sys.argv[1]\n"
      "np.savez(d + '/plain.npz', a=np.zeros(3))\n"
      "np.savez_compressed(d + '/packed.npz', a=np.zeros(3))\n"
      "for name, meta in [('other', {'format': 'other'}),\n"
      "                   ('newer', {'format': 'tapegrad-checkpoint', 'format_version': 2})]:\n"
      "    with zipfile.ZipFile(d + '/' + name + '.npz', 'w') as z:\n"
      "        z.writestr('metadata.json', json.dumps(meta))\n",
      dir.string(), status);
  BOOST_REQUIRE_MESSAGE(status == 0, "python failed:\n" << made);
  check_rejected(path("plain.npz"), m,
                 {"plain.npz: is not a tapegrad checkpoint (it has no metadata.json)"});
  check_rejected(path("packed.npz"), m, {"entry 'a.npy' is compressed (method 8)"});
  check_rejected(path("other.npz"), m, {"other.npz: is not a tapegrad checkpoint"});
  check_rejected(path("newer.npz"), m,
                 {"has format_version 2, newer than this tapegrad reads (1)"});
}

BOOST_AUTO_TEST_CASE(truncated_files_are_rejected) {
  TinyNet<float> saved(3, 2), m(3, 2, 5);
  nn::save_checkpoint(path("full.npz"), saved);
  const std::string file = read_bytes(path("full.npz"));
  const std::size_t dir_start = get32(file, file.size() - 6);
  const std::size_t weight = entry_data(file, "fc.weight.npy");
  const struct {
    std::size_t size;
    std::string says;
  } cuts[] = {
      {2, "is truncated (it ends inside entry 1's header"},
      {10, "is truncated (it ends inside entry 1's header"},
      {weight + 20, "is truncated (entry 'fc.weight.npy' needs"},       // inside the .npy header
      {weight + 128 + 5, "is truncated (entry 'fc.weight.npy' needs"},  // inside the data
      {dir_start, "is truncated (expected " + std::to_string(file.size()) + " bytes"},
      {dir_start + 50, "is truncated (expected " + std::to_string(file.size()) + " bytes"},
      {file.size() - 1, "is truncated (expected " + std::to_string(file.size()) + " bytes"},
  };
  for (const auto& cut : cuts) {
    BOOST_TEST_CONTEXT("cut at " << cut.size << " of " << file.size()) {
      write_bytes(path("cut.npz"), file.substr(0, cut.size));
      check_rejected(path("cut.npz"), m,
                     {"load_checkpoint: " + path("cut.npz") + ": " + cut.says,
                      "the file has " + std::to_string(cut.size) + " bytes"});
    }
  }
}

BOOST_AUTO_TEST_CASE(a_flipped_byte_is_caught_by_the_crc) {
  TinyNet<float> saved(3, 2), m(3, 2, 5);
  nn::save_checkpoint(path("good.npz"), saved, {{"epoch", 1}});
  const std::string file = read_bytes(path("good.npz"));
  const std::size_t weight = entry_data(file, "fc.weight.npy");
  BOOST_REQUIRE(get16(file, weight + 8) + 10 == 128u);  // the .npy header NumPy would write

  for (const auto& [at, entry] :
       {std::pair{weight + 128 + 2, "fc.weight.npy"},  // a weight
        std::pair{weight + 30, "fc.weight.npy"},       // its .npy header
        std::pair{entry_data(file, "metadata.json") + 5, "metadata.json"}}) {
    std::string bad = file;
    bad[at] ^= 0x10;
    write_bytes(path("bad.npz"), bad);
    check_rejected(path("bad.npz"), m,
                   {"bad.npz: CRC mismatch in entry '" + std::string(entry) + "' (corrupt file)"});
  }
}

BOOST_AUTO_TEST_CASE(every_single_byte_flip_is_rejected_or_harmless) {
  // Each byte of a small checkpoint flipped in turn: load must either throw tapegrad::Error and
  // leave the module alone, or (for fields nothing depends on, e.g. the DOS date) load the very
  // values that were saved. No other exception, no crash.
  TinyNet<float> saved(1, 1);
  nn::save_checkpoint(path("good.npz"), saved);
  const std::string file = read_bytes(path("good.npz"));
  write_bytes(path("bad.npz"), file);
  // One byte is changed in place and put back: reopening with O_TRUNC costs about a millisecond
  // on some file systems, seconds over the whole file.
  std::fstream bad(path("bad.npz"), std::ios::in | std::ios::out | std::ios::binary);
  auto put = [&](std::size_t at, char c) {
    bad.seekp(std::streamoff(at));
    bad.put(c);
    bad.flush();
  };
  std::size_t rejected = 0;
  for (std::size_t i = 0; i < file.size(); ++i) {
    put(i, char(file[i] ^ 0x41));
    TinyNet<float> m(1, 1, 9);
    const auto before = snapshot(m);
    try {
      nn::load_checkpoint(path("bad.npz"), m);
      BOOST_CHECK_MESSAGE(same_bits(snapshot(m), snapshot(saved)),
                          "byte " << i << " loaded wrong values");
    } catch (const Error&) {
      ++rejected;
      BOOST_CHECK_MESSAGE(same_bits(snapshot(m), before), "byte " << i << ": module changed");
    } catch (const std::exception& e) {
      BOOST_ERROR("byte " << i << ": not a tapegrad::Error: " << e.what());
    }
    put(i, file[i]);
  }
  BOOST_REQUIRE(bad.good());
  BOOST_TEST_MESSAGE(rejected << " of " << file.size() << " flips rejected");
  BOOST_TEST(rejected > file.size() * 3 / 4);
}

BOOST_AUTO_TEST_CASE(garbage_empty_missing_and_directory_paths_are_rejected) {
  TinyNet<float> m(3, 2);
  std::mt19937 gen(3);
  std::string garbage(1000, '\0');
  for (char& c : garbage) c = char(gen());
  write_bytes(path("garbage.npz"), garbage);
  check_rejected(path("garbage.npz"), m, {path("garbage.npz") + ": is not a tapegrad checkpoint"});
  write_bytes(path("empty.npz"), "");
  check_rejected(path("empty.npz"), m, {path("empty.npz") + ": is empty"});
  check_rejected(
      path("missing.npz"), m,
      {"load_checkpoint: " + path("missing.npz") + ": cannot open: No such file or directory"});
  check_rejected(dir.string(), m, {dir.string() + ": is a directory, not a regular file"});
  BOOST_CHECK_THROW(nn::read_checkpoint_metadata(path("missing.npz")), Error);
  // A FIFO named like a checkpoint: opening it for reading used to wait for a writer forever.
  BOOST_REQUIRE(::mkfifo(path("fifo.npz").c_str(), 0600) == 0);
  check_rejected(path("fifo.npz"), m,
                 {path("fifo.npz") + ": is a FIFO (named pipe), not a regular file"});
}

BOOST_AUTO_TEST_CASE(an_empty_array_with_huge_dimensions_is_rejected) {
  // The 'empty' parameter [0, 2] rewritten as (0, 99999999999999, 99999999999999) in the space
  // its header pads with, and the CRCs made to match: no bytes are needed for 0 elements, but
  // the strides of such an array overflow. Found by fuzz_checkpoint's first run (UBSan).
  TinyNet<float> m(3, 2);
  nn::save_checkpoint(path("huge.npz"), m);
  std::string file = read_bytes(path("huge.npz"));
  const std::string entry = "empty.npy";
  std::size_t at = file.find("PK\3\4");
  while (file.compare(at + 30, entry.size(), entry) != 0) at = file.find("PK\3\4", at + 4);
  const auto u32 = [&](std::size_t p) {
    std::uint32_t v;
    std::memcpy(&v, file.data() + p, 4);
    return v;
  };
  const std::size_t data = at + 30 + entry.size(), size = u32(at + 18);
  const std::string old_shape = "(0, 2), }", new_shape = "(0, 99999999999999, 99999999999999), }";
  const std::size_t shape = file.find(old_shape, data);
  BOOST_REQUIRE(shape < data + size);
  BOOST_REQUIRE(file.find_first_not_of(' ', shape + old_shape.size()) >=
                shape + new_shape.size());  // room in the padding
  file.replace(shape, new_shape.size(), new_shape);
  boost::crc_32_type crc;
  crc.process_bytes(file.data() + data, size);
  const std::uint32_t sum = crc.checksum();
  std::memcpy(&file[at + 14], &sum, 4);  // the local header's CRC
  for (std::size_t c = file.find("PK\1\2"); c != std::string::npos;
       c = file.find("PK\1\2", c + 4))  // and its central directory record's
    if (file.compare(c + 46, entry.size(), entry) == 0) std::memcpy(&file[c + 16], &sum, 4);
  write_bytes(path("huge.npz"), file);
  check_rejected(path("huge.npz"), m,
                 {"entry 'empty.npy' is not a valid .npy array (its dimensions multiply past "
                  "2^40 (even with a 0 among them))"});
  BOOST_CHECK_THROW(nn::read_checkpoint(path("huge.npz")), Error);
}

BOOST_AUTO_TEST_CASE(mismatched_models_are_rejected_and_left_unchanged) {
  TinyNet<float> saved(3, 2);
  nn::save_checkpoint(path("f.npz"), saved);
  TinyNet<double> saved64(3, 2);
  nn::save_checkpoint(path("d.npz"), saved64);

  TinyNet<float> wider(4, 2);
  check_rejected(
      path("f.npz"), wider,
      {"load_checkpoint: " + path("f.npz") +
       ": parameter 'fc.weight' has shape [3, 3] in the file, the model expects [3, 4]"});
  TinyNet<float> deeper(3, 3);
  check_rejected(path("f.npz"), deeper,
                 {"parameter 'rnn.layer2.weight_ih' is missing from the file"});
  // Every parameter of this model is in the file, so only checking before copying keeps it
  // unchanged.
  TinyNet<float> shallower(3, 1);
  check_rejected(path("f.npz"), shallower,
                 {"the file has parameter 'rnn.layer1.weight_ih', which the model does not have"});
  TinyNet<double> as_double(3, 2);
  check_rejected(path("f.npz"), as_double,
                 {"parameter 'scale' has dtype <f4 in the file, the model uses float64 (<f8)"});
  TinyNet<float> as_float(3, 2);
  check_rejected(path("d.npz"), as_float,
                 {"parameter 'scale' has dtype <f8 in the file, the model uses float32 (<f4)"});
}

BOOST_AUTO_TEST_CASE(failed_saves_leave_no_temp_file_and_keep_the_old_checkpoint) {
  TinyNet<float> m(3, 2);
  const std::string good = path("model.npz");
  nn::save_checkpoint(good, m, {{"version", "good"}});
  const std::string good_bytes = read_bytes(good);
  TinyNet<float> other(3, 2, 77);

  // Directories that do not exist, and a "directory" that is a regular file.
  check_save_fails([&] { nn::save_checkpoint(path("nope/model.npz"), other); },
                   "save_checkpoint: " + path("nope/model.npz") + ": cannot create " +
                       path("nope/model.npz") + ".tmp-");
  check_save_fails([&] { nn::save_checkpoint(path("nope/model.npz"), other); },
                   "No such file or directory");
  write_bytes(path("a_file"), "x");
  check_save_fails([&] { nn::save_checkpoint(path("a_file/model.npz"), other); },
                   "Not a directory");

  // The temporary name is taken (by a directory, which must survive): nothing is written.
  const std::string tmp = good + ".tmp-" + std::to_string(::getpid());
  fs::create_directory(tmp);
  check_save_fails([&] { nn::save_checkpoint(good, other); }, "Is a directory");
  BOOST_TEST(fs::is_directory(tmp));
  fs::remove(tmp);

  // The disk fills up half way (a file size limit makes write() fail with EFBIG).
  std::string message = "(setrlimit failed or no exception)";
  {
    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    struct Restore {
      rlimit old;
      void (*handler)(int);
      ~Restore() {
        ::setrlimit(RLIMIT_FSIZE, &old);
        ::signal(SIGXFSZ, handler);
      }
    } restore{old, ::signal(SIGXFSZ, SIG_IGN)};  // EFBIG instead of being killed
    rlimit small = old;
    small.rlim_cur = 700;
    // Nothing but the save runs under the limit: a test log redirected to a file could not be
    // written either.
    if (::setrlimit(RLIMIT_FSIZE, &small) == 0) try {
        nn::save_checkpoint(good, other);
      } catch (const Error& e) {
        message = e.what();
      }
  }
  BOOST_TEST(good_bytes.size() > 700u);
  BOOST_TEST(message.find("cannot write " + good + ".tmp-") != std::string::npos, message);
  BOOST_TEST(message.find("File too large") != std::string::npos, message);

  // The rename fails: the destination is a non-empty directory.
  fs::create_directories(path("occupied/inside"));
  check_save_fails([&] { nn::save_checkpoint(path("occupied"), other); }, "cannot rename");
  BOOST_TEST(fs::is_directory(path("occupied/inside")));

  // Bad requests are refused before anything is written.
  Tensor<float> t = full<float>({2}, 1.f);
  check_save_fails(
      [&] {
        nn::save_checkpoint(good, other, {}, {{"fc.weight", &t}});
      },
      "the name 'fc.weight' is used by two tensors");
  check_save_fails(
      [&] {
        nn::save_checkpoint(good, other, {}, {{"a", &t}, {"a", &t}});
      },
      "the name 'a' is used by two tensors");

  BOOST_TEST(temp_files().empty());
  BOOST_TEST((read_bytes(good) == good_bytes));
  TinyNet<float> check(3, 2, 5);
  BOOST_TEST(nn::load_checkpoint(good, check)["version"] == "good");
  BOOST_TEST(same_bits(snapshot(check), snapshot(m)));
}

BOOST_AUTO_TEST_SUITE_END()

// The one atomic file writer (temp + fsync + rename): a written file holds exactly the content,
// and every failure -- before the rename or at it -- leaves the previous file intact and no
// temporary file behind.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>

#include <boost/test/unit_test.hpp>
#include <tapegrad/error.hpp>
#include <tapegrad/nn/atomic_file.hpp>

#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

using namespace tapegrad;
namespace fs = std::filesystem;

namespace {

// The names in `dir` that are temporary files of an AtomicFile.
std::size_t temporaries(const fs::path& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(atomic_file)

BOOST_AUTO_TEST_CASE(writes_and_replaces_the_whole_content) {
  testsupport::ScratchDir tmp("atomic_file");
  const std::string path = tmp.path("log.csv");
  nn::write_file_atomically(path, std::string("a,b\n1,2\n\0x", 10));
  BOOST_TEST(testsupport::read_file(path) == std::string("a,b\n1,2\n\0x", 10));
  nn::write_file_atomically(path, "short\n");
  BOOST_TEST(testsupport::read_file(path) == "short\n");
  BOOST_TEST(temporaries(tmp.dir) == 0u);
}

BOOST_AUTO_TEST_CASE(a_throw_before_commit_keeps_the_old_file) {
  testsupport::ScratchDir tmp("atomic_file");
  const std::string path = tmp.write("summary.json", "{\"old\": true}\n");
  try {
    nn::AtomicFile file("test", path);
    file.write("{\"new\": ");
    BOOST_TEST(fs::exists(file.temporary_path()));
    throw Error("the content could not be produced");
  } catch (const Error&) {
  }
  BOOST_TEST(testsupport::read_file(path) == "{\"old\": true}\n");
  BOOST_TEST(temporaries(tmp.dir) == 0u);
}

BOOST_AUTO_TEST_CASE(a_failed_rename_keeps_the_old_file_and_names_the_reason) {
  testsupport::ScratchDir tmp("atomic_file");
  // The destination is a non-empty directory, which rename(2) cannot replace.
  const std::string occupied = tmp.path("occupied");
  fs::create_directory(occupied);
  tmp.write("occupied/keep.txt", "kept");
  const std::string message =
      testsupport::error_of([&] { nn::write_file_atomically(occupied, "new"); });
  BOOST_TEST(message == "write_file_atomically: " + occupied + ": cannot rename " + occupied +
                            ".tmp-" + std::to_string(::getpid()) + " into place: Is a directory");
  BOOST_TEST(testsupport::read_file(tmp.path("occupied/keep.txt")) == "kept");
  BOOST_TEST(temporaries(tmp.dir) == 0u);
}

BOOST_AUTO_TEST_CASE(a_missing_directory_is_an_error_naming_the_temporary_file) {
  testsupport::ScratchDir tmp("atomic_file");
  const std::string path = tmp.path("nope/plot.svg");
  BOOST_TEST(testsupport::error_of([&] { nn::write_file_atomically(path, "<svg/>"); }) ==
             "write_file_atomically: " + path + ": cannot create " + path + ".tmp-" +
                 std::to_string(::getpid()) + ": No such file or directory");
}

BOOST_AUTO_TEST_CASE(stale_temporaries_of_dead_writers_are_removed_and_no_others) {
  testsupport::ScratchDir tmp("atomic_file");
  // A process that has exited and been reaped: its pid names no process now (until reused,
  // when its file is kept, which is safe).
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  const std::string dead = tmp.write("checkpoint.npz.tmp-" + std::to_string(child), "half");
  const std::string mine = tmp.write("log.csv.tmp-" + std::to_string(::getpid()), "writing");
  const std::string running = tmp.write("plot.svg.tmp-1", "init's");  // pid 1 always runs
  const std::string other = tmp.write("notes.tmp-abc", "not ours");
  const std::string bare = tmp.write(".tmp-" + std::to_string(child), "no name before");
  BOOST_TEST(nn::remove_stale_temporaries(tmp.dir.string()) == std::vector<std::string>{dead},
             boost::test_tools::per_element());
  BOOST_TEST(!fs::exists(dead));
  for (const std::string& kept : {mine, running, other, bare}) BOOST_TEST(fs::exists(kept), kept);
  BOOST_TEST(nn::remove_stale_temporaries(tmp.path("missing")).empty());  // no error
}

BOOST_AUTO_TEST_SUITE_END()

// nn::read_regular_file, the reader of every file a user hands tapegrad: whole files come back
// byte for byte; what is not a regular file is refused without blocking; a limit is enforced
// before reading; and a content check stops the read at the first bad piece.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include <boost/test/unit_test.hpp>
#include <tapegrad/error.hpp>
#include <tapegrad/nn/read_file.hpp>

#include "support/error_of.hpp"
#include "support/scratch_dir.hpp"

using tapegrad::nn::read_regular_file;
using testsupport::error_of;

BOOST_AUTO_TEST_SUITE(read_file)

BOOST_AUTO_TEST_CASE(regular_files_come_back_whole) {
  testsupport::ScratchDir tmp("read_file");
  std::string bytes(3 << 20, '\0');  // three pieces of 1 MiB
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 131 + 7);
  const std::string p = tmp.write("big.bin", bytes);
  BOOST_TEST((read_regular_file("t", p, bytes.size()) == bytes));
  BOOST_TEST(read_regular_file("t", tmp.write("empty", ""), 0).empty());
  // The check sees every piece once, in order.
  std::uint64_t seen = 0;
  read_regular_file("t", p, bytes.size(), "", [&](std::string_view piece, std::uint64_t offset) {
    BOOST_TEST(offset == seen);
    BOOST_TEST((piece == std::string_view(bytes).substr(offset, piece.size())));
    seen += piece.size();
  });
  BOOST_TEST(seen == bytes.size());
}

BOOST_AUTO_TEST_CASE(what_is_not_a_regular_file_is_refused_without_blocking) {
  testsupport::ScratchDir tmp("read_file");
  const std::string fifo = tmp.path("fifo");
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  BOOST_TEST(error_of([&] { read_regular_file("load", fifo, 100); }) ==
             "load: is a FIFO (named pipe), not a regular file");
  BOOST_TEST(error_of([&] { read_regular_file("load", "/dev/zero", 100); }) ==
             "load: is a character device, not a regular file");
  BOOST_TEST(error_of([&] { read_regular_file("load", tmp.dir.string(), 100); }) ==
             "load: is a directory, not a regular file");
  BOOST_TEST(error_of([&] { read_regular_file("load", tmp.path("missing"), 100); }) ==
             "load: cannot open: No such file or directory");
}

BOOST_AUTO_TEST_CASE(the_limit_is_enforced_before_reading) {
  testsupport::ScratchDir tmp("read_file");
  const std::string p = tmp.write("eleven", "hello world");
  BOOST_TEST(read_regular_file("t", p, 11) == "hello world");
  BOOST_TEST(error_of([&] { read_regular_file("t", p, 10, " (raise it with --max)"); }) ==
             "t: is 11 bytes, more than the 10 bytes accepted (raise it with --max)");
}

BOOST_AUTO_TEST_CASE(a_check_stops_a_huge_file_at_its_first_piece) {
  // 1 GiB of zeros that takes no disk space: the check throws on the first piece, so the
  // reader neither reads nor keeps the rest.
  testsupport::ScratchDir tmp("read_file");
  const std::string p = tmp.path("sparse");
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT, 0600);
  BOOST_REQUIRE(fd >= 0);
  BOOST_REQUIRE(::ftruncate(fd, off_t(1) << 30) == 0);
  ::close(fd);
  int pieces = 0;
  BOOST_TEST(error_of([&] {
               read_regular_file("t", p, std::uint64_t(1) << 31, "",
                                 [&](std::string_view piece, std::uint64_t offset) {
                                   ++pieces;
                                   if (piece.find('\0') != piece.npos)
                                     throw tapegrad::Error("NUL at " + std::to_string(offset));
                                 });
             }) == "NUL at 0");
  BOOST_TEST(pieces == 1);
}

BOOST_AUTO_TEST_SUITE_END()

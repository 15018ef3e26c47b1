// The Communicator's collective operations and the data-parallel helpers on top of them, run by
// every process of `mpirun -np 2` (each checks what it received).
#include <cstdint>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <tapegrad/nn/linear.hpp>
#include <tapegrad/train/data_parallel.hpp>

#include "distributed/world.hpp"
#include "support/error_of.hpp"

using namespace tapegrad;
using testsupport::world;

BOOST_AUTO_TEST_SUITE(communicator)

BOOST_AUTO_TEST_CASE(two_processes_with_their_ranks) {
  BOOST_TEST(world().size() == 2u);
  std::vector<double> seen(2, 0.0);
  seen[world().rank()] = 1;
  world().sum(seen.data(), seen.size());
  BOOST_TEST(seen == (std::vector<double>{1, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(sums_in_place) {
  const double r = double(world().rank());
  std::vector<float> f{1.5f + float(r), -2.0f, float(r) * 1e-3f};
  world().sum(f.data(), f.size());
  BOOST_TEST(f == (std::vector<float>{4.0f, -4.0f, 1e-3f}), boost::test_tools::per_element());
  std::vector<double> d{0.1 * (r + 1), 1e300};
  world().sum(d.data(), d.size());
  BOOST_TEST(d[0] == 0.1 + 0.2);  // the same two terms in the same order on both
  BOOST_TEST(d[1] == 2e300);
  world().sum(d.data(), 0);  // nothing to sum is not an error
}

BOOST_AUTO_TEST_CASE(broadcast_and_gather) {
  std::uint64_t v = world().rank() == 0 ? 0x0123456789abcdefULL : 7;
  world().broadcast(&v, sizeof v, 0);
  BOOST_TEST(v == 0x0123456789abcdefULL);
  std::uint32_t from_one = world().rank() == 1 ? 99u : 0u;
  world().broadcast(&from_one, sizeof from_one, 1);
  BOOST_TEST(from_one == 99u);

  const std::string text = train::broadcast_string(
      world(), world().rank() == 0 ? std::string("from rank 0\0with a zero", 23) : "other");
  BOOST_TEST(text == std::string("from rank 0\0with a zero", 23));
  BOOST_TEST(train::broadcast_string(world(), world().rank() == 0 ? "" : "x") == "");

  const std::int32_t mine[2] = {std::int32_t(world().rank()) * 10, std::int32_t(world().rank())};
  std::int32_t all[4] = {-1, -1, -1, -1};
  world().gather(mine, sizeof mine, all, 0);
  if (world().rank() == 0) {
    BOOST_TEST(all[0] == 0);
    BOOST_TEST(all[1] == 0);
    BOOST_TEST(all[2] == 10);
    BOOST_TEST(all[3] == 1);
  } else {
    BOOST_TEST(all[0] == -1);  // only root receives
  }
}

BOOST_AUTO_TEST_CASE(a_failure_on_root_reaches_every_process) {
  int ran = 0;
  const std::string message = testsupport::error_of([&] {
    train::run_on_root(&world(), [&] {
      ++ran;
      throw Error("disk full writing run/checkpoint.npz");
    });
  });
  BOOST_TEST(message == "disk full writing run/checkpoint.npz");
  BOOST_TEST(ran == (world().rank() == 0 ? 1 : 0));
  BOOST_CHECK_THROW(train::run_on_root(&world(), [] { throw Error("x"); }), train::CollectiveError);
  ran = 0;
  train::run_on_root(&world(), [&] { ++ran; });  // and no error when it succeeds
  BOOST_TEST(ran == (world().rank() == 0 ? 1 : 0));
}

BOOST_AUTO_TEST_CASE(a_difference_names_the_process) {
  train::check_same_everywhere(world(), 42, "the step");
  const std::string message = testsupport::error_of(
      [] { train::check_same_everywhere(world(), 42 + world().rank(), "the step"); });
  BOOST_TEST(message == "the step: process 1 differs from process 0");
}

BOOST_AUTO_TEST_CASE(broadcast_parameters_gives_every_process_rank_0s_weights) {
  nn::Rng rng(100 + world().rank());  // different weights on each process
  nn::Linear<float> layer(3, 2, rng);
  const auto parameters = layer.parameters();
  const std::uint64_t before = train::fingerprint_values(parameters);
  std::uint64_t root_before = before;
  world().broadcast(&root_before, sizeof root_before, 0);
  BOOST_TEST((before == root_before) == (world().rank() == 0));

  train::broadcast_parameters(world(), layer);
  BOOST_TEST(train::fingerprint_values(parameters) == root_before);
  train::check_same_everywhere(world(), train::fingerprint_values(parameters), "weights");

  // A process with another layout is refused before any value is sent.
  nn::Linear<float> other(3, world().rank() == 0 ? 2 : 4, rng);
  BOOST_TEST(testsupport::error_of([&] { train::broadcast_parameters(world(), other); }) ==
             "broadcast_parameters: the parameters' names and shapes: process 1 differs from "
             "process 0");
}

BOOST_AUTO_TEST_CASE(gradients_and_extra_values_are_averaged_in_one_buffer) {
  nn::Rng rng(1);
  nn::Linear<double> layer(2, 2, rng);
  const auto parameters = layer.parameters();
  const double r = double(world().rank());
  for (Parameter<double>* p : parameters)
    for (std::size_t i = 0; i < p->grad.size(); ++i) p->grad.data()[i] = double(i) + 10 * r;
  train::GradientAverager<double> average(world(), parameters, 2);
  BOOST_TEST(average.values() == 4u + 2u + 2u);  // W [2, 2], b [2], two extras
  double extra[2] = {r, 1.0 + 2 * r};
  average(extra);
  for (Parameter<double>* p : parameters)
    for (std::size_t i = 0; i < p->grad.size(); ++i) BOOST_TEST(p->grad.data()[i] == i + 5.0);
  BOOST_TEST(extra[0] == 0.5);
  BOOST_TEST(extra[1] == 2.0);
  BOOST_TEST(average.sum_seconds() > 0.0);     // the one sum was timed
  BOOST_CHECK_THROW(average(nullptr), Error);  // extras announced but not given (no collective)
}

BOOST_AUTO_TEST_SUITE_END()

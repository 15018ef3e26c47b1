// The machine's single-precision matrix-multiply peak as bench/run.sh measures everything else:
// cblas_sgemm on square row-major n x n matrices, C = A B (beta = 0), one BLAS thread (the
// caller sets OPENBLAS_NUM_THREADS and pins the core). GFLOP/s = 2 n^3 / seconds per call.
// A large square product is the best case for a BLAS kernel (its packing and edge costs are
// O(n^2) against O(n^3) work), so this is the rate the training-step programs' GEMMs are held
// against: bench/run.sh reports each row's nominal GFLOP/s as a percent of it.
//
//   bench_sgemm_peak [N ...] [--seconds S]   (default N: 512 1024 2048; S: 1)
//
// Prints one JSON record per n and a last one, "impl": "sgemm_peak", with the best of them.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "workload.hpp"

namespace {

double gflops_at(int n, double seconds) {
  std::vector<float> a(std::size_t(n) * n), b(a.size()), c(a.size());
  // The hashed values of workload.hpp: any finite data will do, but denormals would not.
  for (std::size_t k = 0; k < a.size(); ++k) {
    a[k] = bench::unit_value(11, k);
    b[k] = bench::unit_value(12, k);
  }
  auto multiply = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
  };
  bench::Args timing;  // the same warm-up and timing loop as the training-step programs
  timing.seconds = seconds;
  const double calls_per_s = bench::steps_per_second(timing, multiply);
  return 2.0 * double(n) * double(n) * double(n) * calls_per_s * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  double seconds = 1.0;
  CLI::App app{"Single-thread cblas_sgemm GFLOP/s on square n x n matrices (2 n^3 per call)."};
  const std::string prog = argc > 0 ? argv[0] : "bench_sgemm_peak";
  app.failure_message([prog](const CLI::App*, const CLI::Error& e) {  // one line, as args.hpp
    return prog + ": " + e.what() + " (usage: " + prog + " [N ...] [--seconds S])\n";
  });
  app.add_option("N", sizes, "matrix sizes (default 512 1024 2048)")->check(CLI::Range(16, 8192));
  app.add_option("--seconds", seconds, "time each size for at least this long")
      ->type_name("S")
      ->check(CLI::Range(0.0, 3600.0))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {  // --help exits 0, a usage error 2 (as bench/args.hpp)
    app.exit(e);
    return e.get_exit_code() == 0 ? 0 : 2;
  }
  if (sizes.empty()) sizes = {512, 1024, 2048};
  double best = 0;
  int best_n = 0;
  for (int n : sizes) {
    const double g = gflops_at(n, seconds);
    std::printf("{\"impl\": \"sgemm\", \"n\": %d, \"gflops\": %.6g}\n", n, g);
    if (g > best) {
      best = g;
      best_n = n;
    }
  }
  std::printf("{\"impl\": \"sgemm_peak\", \"n\": %d, \"gflops\": %.6g}\n", best_n, best);
  return 0;
}

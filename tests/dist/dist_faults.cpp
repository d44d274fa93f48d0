// Failure modes of memgrad::dist, each run under mpiexec by expect_failure.sh, which requires the
// whole job to exit non-zero, in time, with the expected message:
//   stall  rank 1 never joins the barrier: rank 0's wait times out (MEMGRAD_DIST_TIMEOUT), it exits
//          with the error, and its exit aborts the job (rank 1 would otherwise wait forever)
//   die    rank 1 throws before the barrier and dies: mpiexec ends rank 0, waiting in the barrier
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "dist/dist.h"

using namespace memgrad;

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  try {
    dist::init();
    if (dist::rank() == 1) {
      if (std::strcmp(mode, "die") == 0) throw RuntimeError("rank 1 fails on purpose");
      if (std::strcmp(mode, "stall") == 0) {
        std::this_thread::sleep_for(std::chrono::seconds(600));  // never joins
        return 0;
      }
    }
    dist::barrier();
    std::printf("rank %d passed the barrier\n", dist::rank());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s\n", dist::rank(), e.what());
    return 1;  // exit aborts the job (dist::finalize after a failure)
  }
}

#pragma once
// The byte-level transport under dist.h, one implementation per build: mpi_transport.cpp (MPI)
// or single_transport.cpp (no MPI). In a world of one (single_transport, or an MPI build run
// without a launcher) dist.cpp does the collectives itself and never calls these. Buffers are contiguous host memory that stays alive
// and untouched until the returned operation is done; counts are elements and fit in an int
// (dist.cpp checks). Every operation starts nonblocking, so dist.cpp can wait with a deadline.
#include <cstdint>
#include <memory>

#include "dist/dist.h"

namespace memgrad::dist::detail {

enum class Elem : uint8_t { f32, f64, i32, i64, u8 };

// A started operation.
class Pending {
 public:
  virtual ~Pending() = default;
  virtual bool done() = 0;  // polls once; true when finished
};

struct World {
  int rank = 0, size = 1, local_rank = 0;
  const char* name = "single";
};

World start();           // joins the world (MPI_Init_thread when a launcher started this process)
void stop(bool failed);  // leaves it: MPI_Finalize, or MPI_Abort of the whole job after a failure

// In the reductions op is sum, max or min (dist.cpp turns mean into sum and a division).
std::unique_ptr<Pending> ibarrier();
std::unique_ptr<Pending> ibroadcast(void* buf, int count, Elem e, int root);
std::unique_ptr<Pending> iall_reduce(void* buf, int count, Elem e, Reduce op);
std::unique_ptr<Pending> iall_gather(const void* in, void* out, int count, Elem e);  // out: size * count
std::unique_ptr<Pending> ireduce_scatter(const void* in, void* out, int count, Elem e, Reduce op);  // in: size * count
std::unique_ptr<Pending> isend(const void* buf, int count, Elem e, int dst, int tag);
std::unique_ptr<Pending> irecv(void* buf, int count, Elem e, int src, int tag);

}  // namespace memgrad::dist::detail

#pragma once
// memgrad::dist: collectives over processes, for data-parallel training and ring attention.
//
// The transport is the field's own, not one of ours: MPI (Open MPI from Debian) for CPU tensors.
// A build without MPI (or a program not started by mpirun) is a world of one process, where every
// collective is the identity and send / recv are errors, so single-process code needs no branches.
//
// Contracts:
// - Every rank calls the same collectives in the same order with tensors of the same shape and
//   dtype (MPI's rule). What a rank can check alone is checked (dtype, device, root, peer, sizes
//   against the world size); a mismatch between ranks is not detectable and ends in a timeout.
// - Tensors may be any view on any device: a contiguous CPU tensor is sent in place, any other is
//   staged through a contiguous CPU copy (and written back where the op writes).
// - No call waits forever: a pending operation that has not finished after timeout() seconds
//   (default 300, MEMGRAD_DIST_TIMEOUT) raises RuntimeError naming the op, and the process then
//   aborts the whole job when it exits (a collective cannot be cancelled, so the world cannot be
//   used again). A rank that dies makes mpirun end the others.
// - Calls come from one thread at a time (MPI_THREAD_SERIALIZED); kernels' OpenMP threads never call.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace memgrad::dist {

enum class Reduce { sum, mean, max, min };
Reduce parse_reduce(const std::string& s);  // "sum" | "mean" | "max" | "min"

// Whether this build has MPI.
bool built_with_mpi();
// Joins the world: under mpirun (or another MPI launcher) the MPI world, otherwise a world of one.
// Idempotent; the other calls init() themselves when needed.
void init();
bool is_initialized();
// Leaves MPI (also done at exit). After a timed-out or failed operation it aborts the job instead.
void finalize();

int rank();
int world_size();
int local_rank();  // rank among the processes on this machine
// "mpi" or "single" (a world of one).
std::string backend_name();

// Seconds any one operation may wait for the other ranks.
double timeout();
void set_timeout(double seconds);

// A pending operation. wait() finishes it (and any write-back); the destructor waits too.
class Request {
 public:
  struct State;
  Request() = default;
  explicit Request(std::shared_ptr<State> s) : s_(std::move(s)) {}
  Request(Request&&) noexcept = default;
  Request& operator=(Request&&) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request();
  void wait();
  bool test();  // true once finished (then wait() returns at once)
  bool pending() const { return s_ != nullptr; }

 private:
  std::shared_ptr<State> s_;
};

void barrier();
// t = root's t on every rank.
void broadcast(Tensor& t, int root = 0);
// t = op over the ranks' t, elementwise, on every rank (mean: floats only).
void all_reduce(Tensor& t, Reduce op = Reduce::sum);
Request all_reduce_async(Tensor& t, Reduce op = Reduce::sum);
// [P, *t.shape]: rank r's t at index r.
Tensor all_gather(const Tensor& t);
// t [P * m, ...] reduced over the ranks, rank r keeping rows r*m .. (r+1)*m - 1: [m, ...].
Tensor reduce_scatter(const Tensor& t, Reduce op = Reduce::sum);
void send(const Tensor& t, int dst, int tag = 0);
void recv(Tensor& t, int src, int tag = 0);
Request isend(const Tensor& t, int dst, int tag = 0);
Request irecv(Tensor& t, int src, int tag = 0);

}  // namespace memgrad::dist

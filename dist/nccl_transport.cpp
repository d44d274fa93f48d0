// NCCL for CUDA tensors (dist/nccl_transport.h states the contract). The communicator is made on
// first use as llm.c makes it: rank 0 draws the unique id, MPI broadcasts it, every rank joins.
// Errors name the dist op and NCCL's message; a rank that failed or vanished shows up as an
// operation that never completes, which dist.cpp's deadline turns into an error (and the job's
// abort at exit).
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstring>

#include "core/error.h"
#include "dist/nccl_transport.h"

namespace memgrad::dist::detail::nccl {
namespace {

void check(ncclResult_t r, const char* op) {
  MG_CHECK(r == ncclSuccess, op, "NCCL failed: {} ({})", ncclGetErrorString(r), ncclGetLastError(nullptr));
}

void check_cuda(cudaError_t e, const char* op) {
  MG_CHECK(e == cudaSuccess, op, "CUDA failed around an NCCL call: {} ({})", cudaGetErrorName(e), cudaGetErrorString(e));
}

ncclDataType_t type_of(Elem e) {
  switch (e) {
    case Elem::f32: return ncclFloat32;
    case Elem::f64: return ncclFloat64;
    case Elem::i32: return ncclInt32;
    case Elem::i64: return ncclInt64;
    case Elem::u8: return ncclUint8;
  }
  return ncclUint8;
}

ncclRedOp_t op_of(Reduce r) {
  switch (r) {
    case Reduce::sum: return ncclSum;
    case Reduce::max: return ncclMax;
    case Reduce::min: return ncclMin;
    case Reduce::mean: break;  // dist.cpp sends a sum and divides
  }
  fail("dist", "NCCL reduction {} is not sum, max or min", static_cast<int>(r));
}

// This process's communicator, made on first use.
ncclComm_t comm(const char* op) {
  static ncclComm_t c = [op] {
    const int r = dist::rank(), n = dist::world_size();
    ncclUniqueId id;
    if (r == 0) check(ncclGetUniqueId(&id), op);
    auto bcast = detail::ibroadcast(&id, static_cast<int>(sizeof id), Elem::u8, 0);  // over MPI, host memory
    while (!bcast->done()) {
    }
    ncclComm_t made = nullptr;
    check(ncclCommInitRank(&made, n, id, r), op);
    return made;
  }();
  return c;
}

// An enqueued NCCL operation: done when the event after it on the stream has completed; an
// asynchronous NCCL error (a peer gone, a network failure) is raised when polled.
class Event final : public Pending {
 public:
  explicit Event(const char* op) : op_(op) {
    check_cuda(cudaEventCreateWithFlags(&ev_, cudaEventDisableTiming), op_);
    check_cuda(cudaEventRecord(ev_, nullptr), op_);
  }
  ~Event() override { cudaEventDestroy(ev_); }
  bool done() override {
    const cudaError_t e = cudaEventQuery(ev_);
    if (e == cudaSuccess) return true;
    MG_CHECK(e == cudaErrorNotReady, op_, "CUDA event failed: {}", cudaGetErrorName(e));
    ncclResult_t async = ncclSuccess;
    check(ncclCommGetAsyncError(comm(op_), &async), op_);
    check(async, op_);
    return false;
  }

 private:
  const char* op_;
  cudaEvent_t ev_ = nullptr;
};

}  // namespace

bool available() { return true; }

void select_device(int local_rank) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count < 2) {
    cudaGetLastError();
    return;  // no GPU, or one: nothing to choose
  }
  check_cuda(cudaSetDevice(local_rank % count), "dist.init");
}

std::unique_ptr<Pending> ibroadcast(void* buf, int count, Elem e, int root) {
  const char* op = "dist.broadcast";
  check(ncclBroadcast(buf, buf, static_cast<size_t>(count), type_of(e), root, comm(op), nullptr), op);
  return std::make_unique<Event>(op);
}

std::unique_ptr<Pending> iall_reduce(void* buf, int count, Elem e, Reduce r) {
  const char* op = "dist.all_reduce";
  check(ncclAllReduce(buf, buf, static_cast<size_t>(count), type_of(e), op_of(r), comm(op), nullptr), op);
  return std::make_unique<Event>(op);
}

std::unique_ptr<Pending> iall_gather(const void* in, void* out, int count, Elem e) {
  const char* op = "dist.all_gather";
  check(ncclAllGather(in, out, static_cast<size_t>(count), type_of(e), comm(op), nullptr), op);
  return std::make_unique<Event>(op);
}

std::unique_ptr<Pending> ireduce_scatter(const void* in, void* out, int count, Elem e, Reduce r) {
  const char* op = "dist.reduce_scatter";
  check(ncclReduceScatter(in, out, static_cast<size_t>(count), type_of(e), op_of(r), comm(op), nullptr), op);
  return std::make_unique<Event>(op);
}

}  // namespace memgrad::dist::detail::nccl

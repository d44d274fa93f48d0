#pragma once
// The device-buffer transport under dist.h for CUDA tensors: NCCL (nccl_transport.cpp) where the
// build found it (MEMGRAD_NCCL; the library and header come from PyPI's nvidia-nccl-cu* wheel),
// else no_nccl.cpp, which says so. Same contract as transport.h, but buffers are contiguous
// device memory of this process's GPU (cuda:0: give each rank its own GPU with
// CUDA_VISIBLE_DEVICES, as docs/distributed.md shows). Operations are enqueued on the default
// stream, which orders them after the kernels that produced the data; an operation is done when
// its event has completed. Collectives only: send/recv of CUDA tensors stay staged through host
// memory over MPI, because NCCL's send blocks the stream until the peer's receive runs (and has
// no tags), which would deadlock dist's independent isend/irecv (ring attention posts both).
#include <memory>

#include "dist/transport.h"

namespace memgrad::dist::detail::nccl {

// True in a build with NCCL (the communicator is made on first use, from the MPI world).
bool available();
// Called by dist::init() in a world of more than one: on a machine with several GPUs, makes GPU
// local_rank % count this process's device (memgrad's cuda:0), as llm.c does, so that ranks on
// one machine use different GPUs (NCCL refuses two ranks on one GPU). It must run before the
// process's first CUDA call: call dist::init() before making CUDA tensors.
void select_device(int local_rank);

std::unique_ptr<Pending> ibroadcast(void* buf, int count, Elem e, int root);
std::unique_ptr<Pending> iall_reduce(void* buf, int count, Elem e, Reduce op);
std::unique_ptr<Pending> iall_gather(const void* in, void* out, int count, Elem e);
std::unique_ptr<Pending> ireduce_scatter(const void* in, void* out, int count, Elem e, Reduce op);

}  // namespace memgrad::dist::detail::nccl

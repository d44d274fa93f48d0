// A build without NCCL: CUDA tensors are staged through host memory and go over MPI (dist.cpp), so
// none of these is called; each says why if it were.
#include "core/error.h"
#include "dist/nccl_transport.h"

namespace memgrad::dist::detail::nccl {
namespace {
[[noreturn]] void missing(const char* op) {
  fail(op, "memgrad was built without NCCL (configure with -DMEMGRAD_NCCL=ON and NCCL_ROOT set)");
}
}  // namespace

bool available() { return false; }
void select_device(int) {}
std::unique_ptr<Pending> ibroadcast(void*, int, Elem, int) { missing("dist.broadcast"); }
std::unique_ptr<Pending> iall_reduce(void*, int, Elem, Reduce) { missing("dist.all_reduce"); }
std::unique_ptr<Pending> iall_gather(const void*, void*, int, Elem) { missing("dist.all_gather"); }
std::unique_ptr<Pending> ireduce_scatter(const void*, void*, int, Elem, Reduce) { missing("dist.reduce_scatter"); }

}  // namespace memgrad::dist::detail::nccl

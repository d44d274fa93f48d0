// The transport of a build without MPI: start() gives a world of one, whose collectives dist.cpp
// does locally; the operations are never called (point-to-point needs a peer, which dist.cpp has
// already refused).
#include "core/error.h"
#include "dist/transport.h"

namespace memgrad::dist::detail {
namespace {

[[noreturn]] std::unique_ptr<Pending> unreachable(const char* what) {
  throw RuntimeError(fmt::format("[dist.{}] internal: a transport call in a world of one", what));
}

}  // namespace

World start() { return World{}; }
void stop(bool) {}

std::unique_ptr<Pending> ibarrier() { unreachable("barrier"); }
std::unique_ptr<Pending> ibroadcast(void*, int, Elem, int) { unreachable("broadcast"); }
std::unique_ptr<Pending> iall_reduce(void*, int, Elem, Reduce) { unreachable("all_reduce"); }
std::unique_ptr<Pending> iall_gather(const void*, void*, int, Elem) { unreachable("all_gather"); }
std::unique_ptr<Pending> ireduce_scatter(const void*, void*, int, Elem, Reduce) { unreachable("reduce_scatter"); }
std::unique_ptr<Pending> isend(const void*, int, Elem, int, int) { unreachable("send"); }
std::unique_ptr<Pending> irecv(void*, int, Elem, int, int) { unreachable("recv"); }

}  // namespace memgrad::dist::detail

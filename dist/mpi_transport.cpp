// The MPI transport (Open MPI): nonblocking MPI-3 operations on a duplicate of MPI_COMM_WORLD whose
// errors return (MPI_ERRORS_RETURN) and become RuntimeErrors naming the operation.
#include <dlfcn.h>
#include <mpi.h>

#include <cstdlib>

#include "core/error.h"
#include "dist/transport.h"

namespace memgrad::dist::detail {
namespace {

MPI_Comm g_comm = MPI_COMM_NULL;
bool g_we_initialized = false;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw RuntimeError(fmt::format("[dist.{}] MPI error: {}", what, std::string(msg, static_cast<size_t>(len))));
}

MPI_Datatype type_of(Elem e) {
  switch (e) {
    case Elem::f32: return MPI_FLOAT;
    case Elem::f64: return MPI_DOUBLE;
    case Elem::i32: return MPI_INT32_T;
    case Elem::i64: return MPI_INT64_T;
    case Elem::u8: return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

MPI_Op op_of(Reduce r) { return r == Reduce::max ? MPI_MAX : r == Reduce::min ? MPI_MIN : MPI_SUM; }

class MpiPending final : public Pending {
 public:
  explicit MpiPending(const char* what) : what_(what) {}
  MPI_Request* req() { return &req_; }
  bool done() override {
    int flag = 0;
    check(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), what_);
    return flag != 0;
  }

 private:
  MPI_Request req_ = MPI_REQUEST_NULL;
  const char* what_;
};

// Whether an MPI launcher (mpirun / mpiexec, or a PMI-based one such as srun) started us.
bool launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}

template <class F>
std::unique_ptr<Pending> started(const char* what, F&& f) {
  auto p = std::make_unique<MpiPending>(what);
  check(f(p->req()), what);
  return p;
}

}  // namespace

World start() {
  if (!launched()) return World{};  // a plain run: a world of one, no MPI at all
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    // Open MPI loads its components with dlopen and needs its own symbols global, which they are
    // not when this library was itself loaded RTLD_LOCAL (a Python extension): promote them.
    for (const char* so : {"libmpi.so.40", "libmpi.so"})
      if (dlopen(so, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) break;
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "init");
    g_we_initialized = true;
  }
  check(MPI_Comm_dup(MPI_COMM_WORLD, &g_comm), "init");
  check(MPI_Comm_set_errhandler(g_comm, MPI_ERRORS_RETURN), "init");
  World w;
  w.name = "mpi";
  check(MPI_Comm_rank(g_comm, &w.rank), "init");
  check(MPI_Comm_size(g_comm, &w.size), "init");
  MPI_Comm local = MPI_COMM_NULL;
  check(MPI_Comm_split_type(g_comm, MPI_COMM_TYPE_SHARED, w.rank, MPI_INFO_NULL, &local), "init");
  check(MPI_Comm_rank(local, &w.local_rank), "init");
  MPI_Comm_free(&local);
  return w;
}

void stop(bool failed) {
  if (g_comm == MPI_COMM_NULL) return;
  if (failed) MPI_Abort(g_comm, 1);  // pending collectives cannot be cancelled: end the whole job
  MPI_Comm_free(&g_comm);
  int fin = 0;
  MPI_Finalized(&fin);
  if (g_we_initialized && !fin) MPI_Finalize();
}

std::unique_ptr<Pending> ibarrier() {
  return started("barrier", [](MPI_Request* r) { return MPI_Ibarrier(g_comm, r); });
}
std::unique_ptr<Pending> ibroadcast(void* buf, int count, Elem e, int root) {
  return started("broadcast", [&](MPI_Request* r) { return MPI_Ibcast(buf, count, type_of(e), root, g_comm, r); });
}
std::unique_ptr<Pending> iall_reduce(void* buf, int count, Elem e, Reduce op) {
  return started("all_reduce", [&](MPI_Request* r) {
    return MPI_Iallreduce(MPI_IN_PLACE, buf, count, type_of(e), op_of(op), g_comm, r);
  });
}
std::unique_ptr<Pending> iall_gather(const void* in, void* out, int count, Elem e) {
  return started("all_gather", [&](MPI_Request* r) {
    return MPI_Iallgather(in, count, type_of(e), out, count, type_of(e), g_comm, r);
  });
}
std::unique_ptr<Pending> ireduce_scatter(const void* in, void* out, int count, Elem e, Reduce op) {
  return started("reduce_scatter", [&](MPI_Request* r) {
    return MPI_Ireduce_scatter_block(in, out, count, type_of(e), op_of(op), g_comm, r);
  });
}
std::unique_ptr<Pending> isend(const void* buf, int count, Elem e, int dst, int tag) {
  return started("send", [&](MPI_Request* r) { return MPI_Isend(buf, count, type_of(e), dst, tag, g_comm, r); });
}
std::unique_ptr<Pending> irecv(void* buf, int count, Elem e, int src, int tag) {
  return started("recv", [&](MPI_Request* r) { return MPI_Irecv(buf, count, type_of(e), src, tag, g_comm, r); });
}

}  // namespace memgrad::dist::detail

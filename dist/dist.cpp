// dist.h's front end: argument checks, staging of views and device tensors through contiguous
// host buffers, the mean as a sum and a division, and waiting with a deadline. The bytes move in
// transport.h's implementation (MPI, or a world of one).
#include "dist/dist.h"

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>

#include "backends/backend.h"
#include "dist/nccl_transport.h"
#include "dist/transport.h"

namespace memgrad::dist {
namespace {

struct Global {
  bool inited = false;
  bool failed = false;  // an operation timed out or failed: leave by aborting the job
  detail::World world;
  double timeout_s = 300;
};
Global& g() {
  static Global s;
  return s;
}

double timeout_from_env() {
  const char* v = std::getenv("MEMGRAD_DIST_TIMEOUT");
  if (!v || !*v) return 300;
  char* end = nullptr;
  const double s = std::strtod(v, &end);
  MG_CHECK(end && *end == '\0' && s > 0, "dist.init", "MEMGRAD_DIST_TIMEOUT must be a positive number of seconds, got '{}'",
           escape_bytes(v));
  return s;
}

void leave_at_exit() { detail::stop(g().failed); }

detail::Elem elem_of(DType d) {
  switch (d) {
    case DType::float32: return detail::Elem::f32;
    case DType::float64: return detail::Elem::f64;
    case DType::int32: return detail::Elem::i32;
    case DType::int64: return detail::Elem::i64;
    case DType::boolean: return detail::Elem::u8;
  }
  return detail::Elem::u8;
}

int count_of(int64_t n, const char* op) {
  MG_CHECK(n <= INT_MAX, op, "{} elements exceed MPI's int count (at most {} per call)", n, INT_MAX);
  return static_cast<int>(n);
}

void check_tensor(const Tensor& t, const char* op) { MG_CHECK(t.defined(), op, "needs a tensor, got an undefined one"); }

void check_reduce(const Tensor& t, Reduce r, const char* op) {
  MG_CHECK(t.dtype() != DType::boolean || r == Reduce::max || r == Reduce::min, op,
           "bool tensors reduce with max or min only");
  MG_CHECK(r != Reduce::mean || t.dtype() == DType::float32 || t.dtype() == DType::float64, op,
           "mean needs a float tensor, got {}", to_string(t.dtype()));
}

void check_peer(int peer, const char* what, const char* op) {
  MG_CHECK(peer >= 0 && peer < world_size(), op, "{} {} is not a rank of this world of {}", what, peer, world_size());
  MG_CHECK(peer != rank(), op, "{} {} is this process itself", what, peer);
}

void check_tag(int tag, const char* op) {
  MG_CHECK(tag >= 0 && tag <= 32767, op, "tag {} outside 0 .. 32767 (the range MPI guarantees)", tag);
}

// A contiguous host tensor holding t's values: t itself when it is a contiguous CPU tensor.
Tensor host_buffer(const Tensor& t) {
  if (t.device().is_cpu() && t.is_contiguous()) return t;
  Tensor h = empty(t.shape(), t.dtype());
  if (t.device().is_cpu()) {
    backend_for(t.device()).copy(t, h);
    return h;
  }
  Tensor dc = t;
  if (!t.is_contiguous()) {
    dc = empty(t.shape(), t.dtype(), t.device());
    backend_for(t.device()).copy(t, dc);
  }
  backend_for(t.device()).copy_across(dc, h);
  return h;
}

// dst = buf (a buffer from comm_buffer(dst), or a new one), dst any view on any device.
void write_back(const Tensor& buf, const Tensor& dst) {
  if (buf.impl() == dst.impl()) return;
  Tensor d = dst;
  if (buf.device() == dst.device()) {
    backend_for(dst.device()).copy(buf, d);
    return;
  }
  if (dst.device().is_cpu()) {
    backend_for(dst.device()).copy(buf, d);
    return;
  }
  Tensor dev = empty(dst.shape(), dst.dtype(), dst.device());
  backend_for(dst.device()).copy_across(buf, dev);
  backend_for(dst.device()).copy(dev, d);
}

// A result moved to `device` (itself when it is there already).
Tensor on_device(const Tensor& host, Device device) {
  if (host.device() == device) return host;  // a CPU result, or one NCCL left on the GPU
  Tensor out = empty(host.shape(), host.dtype(), device);
  backend_for(device).copy_across(host, out);
  return out;
}

// A world of one (no launcher, or no MPI in this build): the collectives are done locally and the
// transport is never called. An operation that is already finished:
class Done final : public detail::Pending {
 public:
  bool done() override { return true; }
};
bool alone() { return std::string_view(g().world.name) == "single"; }
// A local op's result, or the transport's pending one.
template <class F>
std::unique_ptr<detail::Pending> local_or(F&& start) {
  if (alone()) return std::make_unique<Done>();
  return start();
}

// buf /= world size, for the mean (buf a contiguous float tensor: on the host, or on the GPU after NCCL).
void divide_by_world(const Tensor& buf) {
  if (!buf.device().is_cpu()) {
    Tensor inv = empty({}, buf.dtype(), buf.device());
    backend_for(buf.device()).fill(inv, 1.0 / world_size());
    const Tensor spread = alias(inv, buf.shape(), Strides(buf.shape().size(), 0), 0);  // broadcast to buf's shape
    Tensor out = buf;
    backend_for(buf.device()).binary(BinaryOp::mul, buf, spread, out);
    return;
  }
  const int64_t n = buf.numel();
  if (buf.dtype() == DType::float32) {
    float* x = buf.data<float>();
    const float inv = 1.0f / static_cast<float>(world_size());
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  } else {
    double* x = buf.data<double>();
    const double inv = 1.0 / world_size();
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  }
}

}  // namespace

struct Request::State {
  std::unique_ptr<detail::Pending> op;
  const char* name = "dist";
  std::function<void()> finish;  // after the transfer: write-back, the mean's division
  Tensor keep;                   // the buffer the transport reads or writes, alive until done
};

namespace {

Request make_request(const char* name, std::unique_ptr<detail::Pending> op, Tensor keep,
                     std::function<void()> finish = {}) {
  auto s = std::make_shared<Request::State>();
  s->op = std::move(op);
  s->name = name;
  s->keep = std::move(keep);
  s->finish = std::move(finish);
  return Request(std::move(s));
}

}  // namespace

Reduce parse_reduce(const std::string& s) {
  if (s == "sum") return Reduce::sum;
  if (s == "mean") return Reduce::mean;
  if (s == "max") return Reduce::max;
  if (s == "min") return Reduce::min;
  fail("dist", "unknown reduction '{}' (sum, mean, max or min)", escape_bytes(s));
}

bool built_with_mpi() {
#ifdef MEMGRAD_HAVE_MPI
  return true;
#else
  return false;
#endif
}

// CUDA tensors go over NCCL in a build that has it, with more than one process; everything
// else is staged through host memory for the transport (MPI). Point-to-point always takes the host
// path (dist/nccl_transport.h says why).
bool over_nccl(const Tensor& t) { return t.device().is_cuda() && detail::nccl::available() && !alone(); }

// The contiguous buffer a collective works in: t's own device memory over NCCL (t itself when
// contiguous), else a host buffer.
Tensor comm_buffer(const Tensor& t) {
  if (!over_nccl(t)) return host_buffer(t);
  if (t.is_contiguous()) return t;
  Tensor d = empty(t.shape(), t.dtype(), t.device());
  backend_for(t.device()).copy(t, d);
  return d;
}

void init() {
  Global& s = g();
  if (s.inited) return;
  s.timeout_s = timeout_from_env();
  s.world = detail::start();
  s.inited = true;
  if (s.world.size > 1) detail::nccl::select_device(s.world.local_rank);
  std::atexit(leave_at_exit);
}

bool is_initialized() { return g().inited; }

void finalize() {
  if (!g().inited) return;
  detail::stop(g().failed);
}

int rank() { return init(), g().world.rank; }
int world_size() { return init(), g().world.size; }
int local_rank() { return init(), g().world.local_rank; }
std::string backend_name() { return init(), g().world.name; }
double timeout() { return g().timeout_s; }
void set_timeout(double seconds) {
  MG_CHECK(seconds > 0, "dist.set_timeout", "the timeout must be positive, got {}", seconds);
  g().timeout_s = seconds;
}

Request& Request::operator=(Request&& o) noexcept {
  if (this != &o) {
    if (s_) {
      try {
        wait();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
      }
    }
    s_ = std::move(o.s_);
  }
  return *this;
}

Request::~Request() {
  if (!s_) return;
  try {
    wait();
  } catch (const std::exception& e) {  // a destructor cannot throw: report, the job aborts at exit
    std::fprintf(stderr, "%s\n", e.what());
  }
}

bool Request::test() {
  if (!s_) return true;
  if (!s_->op->done()) return false;
  std::shared_ptr<State> s = std::move(s_);
  if (s->finish) s->finish();
  return true;
}

void Request::wait() {
  if (!s_) return;
  const auto start = std::chrono::steady_clock::now();
  const auto limit = std::chrono::duration<double>(timeout());
  for (int polls = 0; !s_->op->done(); ++polls) {
    if (std::chrono::steady_clock::now() - start > limit) {
      g().failed = true;
      const char* name = s_->name;
      s_.reset();  // never polled again: the transfer is abandoned with the job
      throw RuntimeError(fmt::format("[{}] timed out after {} s waiting for the other ranks (rank {} of {}); the "
                                     "job is aborted when this process exits",
                                     name, timeout(), rank(), world_size()));
    }
    if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));  // spin briefly, then nap
  }
  std::shared_ptr<State> s = std::move(s_);
  if (s->finish) s->finish();
}

void barrier() {
  init();
  make_request("dist.barrier", local_or([] { return detail::ibarrier(); }), Tensor()).wait();
}

void broadcast(Tensor& t, int root) {
  const char* op = "dist.broadcast";
  check_tensor(t, op);
  MG_CHECK(root >= 0 && root < world_size(), op, "root {} is not a rank of this world of {}", root, world_size());
  Tensor buf = comm_buffer(t);
  const int n = count_of(buf.numel(), op);
  make_request(op, local_or([&] {
                 return over_nccl(t) ? detail::nccl::ibroadcast(buf.raw_data(), n, elem_of(t.dtype()), root)
                                     : detail::ibroadcast(buf.raw_data(), n, elem_of(t.dtype()), root);
               }),
               buf,
               [buf, t] { write_back(buf, t); })
      .wait();
}

Request all_reduce_async(Tensor& t, Reduce r) {
  const char* op = "dist.all_reduce";
  check_tensor(t, op);
  check_reduce(t, r, op);
  init();
  Tensor buf = comm_buffer(t);
  const int n = count_of(buf.numel(), op);
  const Reduce wire = r == Reduce::mean ? Reduce::sum : r;
  auto pending = local_or([&] {
    return over_nccl(t) ? detail::nccl::iall_reduce(buf.raw_data(), n, elem_of(t.dtype()), wire)
                        : detail::iall_reduce(buf.raw_data(), n, elem_of(t.dtype()), wire);
  });
  return make_request(op, std::move(pending), buf, [buf, t, r] {
    if (r == Reduce::mean) divide_by_world(buf);
    write_back(buf, t);
  });
}

void all_reduce(Tensor& t, Reduce r) { all_reduce_async(t, r).wait(); }

Tensor all_gather(const Tensor& t) {
  const char* op = "dist.all_gather";
  check_tensor(t, op);
  init();
  Tensor buf = comm_buffer(t);
  Shape shape = t.shape();
  shape.insert(shape.begin(), world_size());
  Tensor out = empty(shape, t.dtype(), buf.device());  // [P, *t.shape]
  count_of(out.numel(), op);
  const int n = count_of(buf.numel(), op);
  if (alone()) std::memcpy(out.raw_data(), buf.raw_data(), buf.nbytes());
  make_request(op, local_or([&] {
                 return over_nccl(t) ? detail::nccl::iall_gather(buf.raw_data(), out.raw_data(), n, elem_of(t.dtype()))
                                     : detail::iall_gather(buf.raw_data(), out.raw_data(), n, elem_of(t.dtype()));
               }),
               buf)
      .wait();
  return on_device(out, t.device());
}

Tensor reduce_scatter(const Tensor& t, Reduce r) {
  const char* op = "dist.reduce_scatter";
  check_tensor(t, op);
  check_reduce(t, r, op);
  const int P = world_size();
  MG_CHECK(t.dim() >= 1 && t.shape()[0] % P == 0, op,
           "needs a leading dim divisible by the world size {}, got shape {}", P, str(t.shape()));
  Tensor buf = comm_buffer(t);
  Shape shape = t.shape();
  shape[0] /= P;
  Tensor out = empty(shape, t.dtype(), buf.device());  // [m, ...], this rank's rows
  const int n = count_of(out.numel(), op);
  if (alone()) std::memcpy(out.raw_data(), buf.raw_data(), buf.nbytes());
  const Reduce wire = r == Reduce::mean ? Reduce::sum : r;
  make_request(op, local_or([&] {
                 return over_nccl(t)
                            ? detail::nccl::ireduce_scatter(buf.raw_data(), out.raw_data(), n, elem_of(t.dtype()), wire)
                            : detail::ireduce_scatter(buf.raw_data(), out.raw_data(), n, elem_of(t.dtype()), wire);
               }),
               buf, [out, r] {
                 if (r == Reduce::mean) divide_by_world(out);
               })
      .wait();
  return on_device(out, t.device());
}

Request isend(const Tensor& t, int dst, int tag) {
  const char* op = "dist.send";
  check_tensor(t, op);
  check_peer(dst, "destination", op);
  check_tag(tag, op);
  Tensor buf = host_buffer(t);
  return make_request(op, detail::isend(buf.raw_data(), count_of(buf.numel(), op), elem_of(t.dtype()), dst, tag), buf);
}

Request irecv(Tensor& t, int src, int tag) {
  const char* op = "dist.recv";
  check_tensor(t, op);
  check_peer(src, "source", op);
  check_tag(tag, op);
  Tensor buf = host_buffer(t);
  return make_request(op, detail::irecv(buf.raw_data(), count_of(buf.numel(), op), elem_of(t.dtype()), src, tag), buf,
                      [buf, t] { write_back(buf, t); });
}

void send(const Tensor& t, int dst, int tag) { isend(t, dst, tag).wait(); }
void recv(Tensor& t, int src, int tag) { irecv(t, src, tag).wait(); }

}  // namespace memgrad::dist

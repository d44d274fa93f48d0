// memgrad.distributed: memgrad::dist (dist/dist.h) from Python. Collectives take memgrad tensors
// (any view; in-place ones write into them) and return new tensors where they make one.
#include "common.h"
#include "dist/dist.h"
#include "nn/data_parallel.h"

namespace memgrad::python {

namespace {

void bind_world(py::module_& d) {
  d.def("is_available", &dist::built_with_mpi, "Whether this build has MPI (otherwise a world of one process).");
  d.def("init", &dist::init,
        "Joins the world: MPI's under mpirun, else a world of one. Idempotent; the other calls do it themselves.");
  d.def("is_initialized", &dist::is_initialized);
  d.def("finalize", &dist::finalize, "Leaves MPI (also done at exit).");
  d.def("rank", &dist::rank);
  d.def("world_size", &dist::world_size);
  d.def("local_rank", &dist::local_rank, "Rank among the processes on this machine.");
  d.def("backend", &dist::backend_name, "'mpi', or 'single' for a world of one.");
  d.def("timeout", &dist::timeout, "Seconds any one operation waits for the other ranks before it raises.");
  d.def("set_timeout", &dist::set_timeout, py::arg("seconds"));
}

void bind_collectives(py::module_& d) {
  py::class_<dist::Request>(d, "Request", "A pending operation: wait() finishes it.")
      .def("wait", &dist::Request::wait, py::call_guard<py::gil_scoped_release>())
      .def("test", &dist::Request::test)
      .def_property_readonly("pending", &dist::Request::pending);
  auto reduce = [](const std::string& op) { return dist::parse_reduce(op); };
  d.def("barrier", &dist::barrier, py::call_guard<py::gil_scoped_release>());
  d.def("broadcast", [](Tensor& t, int src) { py::gil_scoped_release nogil; dist::broadcast(t, src); }, py::arg("tensor"),
        py::arg("src") = 0, "tensor = rank src's tensor, in place.");
  d.def(
      "all_reduce",
      [reduce](Tensor& t, const std::string& op, bool async_op) -> py::object {
        const dist::Reduce r = reduce(op);
        if (async_op) return py::cast(dist::all_reduce_async(t, r));
        py::gil_scoped_release nogil;
        dist::all_reduce(t, r);
        return py::none();
      },
      py::arg("tensor"), py::arg("op") = "sum", py::arg("async_op") = false,
      "In place: op ('sum', 'mean', 'max', 'min') over the ranks' tensors. async_op=True returns a Request.");
  d.def("all_gather", [](const Tensor& t) { return dist::all_gather(t); }, py::arg("tensor"),
        "[world_size, *tensor.shape]: every rank's tensor, by rank.");
  d.def("reduce_scatter", [reduce](const Tensor& t, const std::string& op) { return dist::reduce_scatter(t, reduce(op)); },
        py::arg("tensor"), py::arg("op") = "sum",
        "tensor [world_size * m, ...] reduced over the ranks; this rank's m rows.");
  d.def("send", [](const Tensor& t, int dst, int tag) { py::gil_scoped_release nogil; dist::send(t, dst, tag); },
        py::arg("tensor"), py::arg("dst"), py::arg("tag") = 0);
  d.def("recv", [](Tensor& t, int src, int tag) { py::gil_scoped_release nogil; dist::recv(t, src, tag); },
        py::arg("tensor"), py::arg("src"), py::arg("tag") = 0, "Into tensor, in place.");
  d.def("isend", [](const Tensor& t, int dst, int tag) { return dist::isend(t, dst, tag); }, py::arg("tensor"),
        py::arg("dst"), py::arg("tag") = 0);
  d.def("irecv", [](Tensor& t, int src, int tag) { return dist::irecv(t, src, tag); }, py::arg("tensor"),
        py::arg("src"), py::arg("tag") = 0);
}

void bind_data_parallel(py::module_& d) {
  py::class_<nn::DataParallel>(d, "DataParallel",
                               "Data-parallel training (nn/data_parallel.h): broadcasts the root's parameters and "
                               "buffers, averages the gradients over the ranks in buckets started during backward.")
      .def(py::init([](std::vector<Tensor> params, std::vector<Tensor> buffers, int64_t bucket_bytes, int root) {
             return std::make_unique<nn::DataParallel>(std::move(params), std::move(buffers),
                                                       nn::DataParallelOptions{.bucket_bytes = bucket_bytes, .root = root});
           }),
           py::arg("parameters"), py::arg("buffers") = std::vector<Tensor>{}, py::arg("bucket_bytes") = int64_t{1} << 20,
           py::arg("root") = 0)
      .def("synchronize", &nn::DataParallel::synchronize, py::call_guard<py::gil_scoped_release>(),
           "Waits for the reductions and writes the averaged gradients; call after backward, before the optimizer step.")
      .def("set_gradient_sync", &nn::DataParallel::set_gradient_sync, py::arg("on"))
      .def("max_parameter_divergence", &nn::DataParallel::max_parameter_divergence)
      .def_property_readonly("num_buckets", &nn::DataParallel::num_buckets)
      .def_property_readonly("bytes_per_step", &nn::DataParallel::bytes_per_step);
}

}  // namespace

void bind_distributed(py::module_& m) {
  py::module_ d = m.def_submodule("distributed", "Collectives over processes (MPI), as memgrad::dist.");
  bind_world(d);
  bind_collectives(d);
  bind_data_parallel(d);
}

}  // namespace memgrad::python

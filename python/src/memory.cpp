// memgrad.memory: allocator statistics, reset_peak, empty_cache and a peak meter for `with` blocks.
#include "common.h"

namespace memgrad::python {

namespace {

py::dict stats_dict(const MemoryStats& s) {
  py::dict d;
  d["current"] = s.current;
  d["peak"] = s.peak;
  d["allocations"] = s.allocations;
  d["total_allocations"] = s.total_allocations;
  d["reserved"] = s.reserved;
  return d;
}

// `with memgrad.memory.PeakMeter() as m:` measures the peak inside the block. While the block
// runs, m.peak / m.overhead are live; after it they keep the values at exit. Nests.
class PyPeakMeter {
 public:
  explicit PyPeakMeter(Device d) : device_(d) {}
  void enter() {
    MG_CHECK(!meter_, "PeakMeter", "the meter is already running");
    meter_ = std::make_unique<memory::PeakMeter>(device_);
    baseline_ = meter_->baseline();
    peak_ = baseline_;
  }
  void exit() {
    if (!meter_) return;
    peak_ = meter_->peak();
    meter_.reset();  // restores the outer peak
  }
  int64_t baseline() const { return baseline_; }
  int64_t peak() const { return meter_ ? meter_->peak() : peak_; }
  int64_t overhead() const { return peak() - baseline_; }
  Device device() const { return device_; }

 private:
  Device device_;
  std::unique_ptr<memory::PeakMeter> meter_;
  int64_t baseline_ = 0, peak_ = 0;
};

}  // namespace

void bind_memory(py::module_& m) {
  py::module_ mem = m.def_submodule("memory", "Exact allocator statistics (bytes of tensor storage).");
  mem.def("stats", [](py::handle device) { return stats_dict(memory::stats(to_device(device))); },
          py::arg("device") = "cpu",
          "{'current', 'peak', 'allocations', 'total_allocations', 'reserved'}: bytes in live tensors, their "
          "highest value since the last reset_peak, live blocks, blocks ever handed out, bytes held incl. cache. "
          "Tensors that share a numpy array's memory are not counted.");
  mem.def("reset_peak", [](py::handle device) { memory::reset_peak(to_device(device)); }, py::arg("device") = "cpu");
  mem.def("empty_cache", [](py::handle device) { memory::empty_cache(to_device(device)); }, py::arg("device") = "cpu",
          "Gives cached blocks back to the system (reserved drops; current is unchanged).");
  py::class_<PyPeakMeter>(mem, "PeakMeter", "Context manager: the peak bytes allocated inside a with block.")
      .def(py::init([](py::handle device) { return std::make_unique<PyPeakMeter>(to_device(device)); }),
           py::arg("device") = "cpu")
      .def("__enter__", [](py::object self) {
        self.cast<PyPeakMeter&>().enter();
        return self;
      })
      .def("__exit__", [](PyPeakMeter& p, py::args) {
        p.exit();
        return false;
      })
      .def_property_readonly("baseline", &PyPeakMeter::baseline, "Bytes live when the block began.")
      .def_property_readonly("peak", &PyPeakMeter::peak, "Highest bytes live inside the block (absolute).")
      .def_property_readonly("overhead", &PyPeakMeter::overhead, "peak - baseline: what the block cost at most.")
      .def_property_readonly("device", &PyPeakMeter::device)
      .def("__repr__", [](const PyPeakMeter& p) {
        return fmt::format("PeakMeter(device={}, baseline={}, peak={}, overhead={})", p.device().str(), p.baseline(),
                           p.peak(), p.overhead());
      });
}

}  // namespace memgrad::python

// memgrad.memory: allocator statistics, reset_peak, empty_cache, a peak meter for `with` blocks, and
// the memory trace (core/memory_trace.h): categories, phase/module/category scopes, recordings.
#include <mutex>
#include <set>
#include <string>

#include "common.h"
#include "core/memory_trace.h"
#include "core/phase.h"

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

memory::Category to_category(const std::string& name) {
  for (int c = 0; c < memory::kNumCategories; ++c)
    if (name == memory::to_string(static_cast<memory::Category>(c))) return static_cast<memory::Category>(c);
  fail("memory.category", "unknown category '{}': parameter, gradient, optimizer_state, saved, attention_workspace, "
       "temporary or user", name);
}

// Scopes opened from Python (memgrad.memory.phase, category, Module.__call__) live on per-thread
// stacks here: PhaseScope and ModuleScope keep pointers to their names, which must outlive them.
struct PyScopes {
  std::vector<std::unique_ptr<std::string>> names;  // module names, one per open module scope
  std::vector<std::unique_ptr<memory::ModuleScope>> modules;
  std::vector<std::unique_ptr<PhaseScope>> phases;
  std::vector<std::unique_ptr<memory::CategoryScope>> categories;
};
thread_local PyScopes tl_scopes;

// Phase names are interned: a PhaseScope keeps the pointer for as long as it is open.
const char* intern_phase(const std::string& name) {
  static std::mutex mu;
  static std::set<std::string> names;
  std::lock_guard lock(mu);
  return names.insert(name).first->c_str();
}

py::dict category_dict(const memory::CategoryBytes& b) {
  py::dict d;
  for (int c = 0; c < memory::kNumCategories; ++c) d[memory::to_string(static_cast<memory::Category>(c))] = b[c];
  return d;
}

void bind_scopes(py::module_& mem) {
  mem.def("_enter_module", [](const std::string& name) {
    tl_scopes.names.push_back(std::make_unique<std::string>(name));
    tl_scopes.modules.push_back(std::make_unique<memory::ModuleScope>(*tl_scopes.names.back()));
  });
  mem.def("_exit_module", [] {
    MG_CHECK(!tl_scopes.modules.empty(), "memory", "no module scope is open");
    tl_scopes.modules.pop_back();
    tl_scopes.names.pop_back();
  });
  mem.def("_enter_phase", [](const std::string& name) {
    tl_scopes.phases.push_back(std::make_unique<PhaseScope>(intern_phase(name)));
  });
  mem.def("_exit_phase", [] {
    MG_CHECK(!tl_scopes.phases.empty(), "memory.phase", "no phase is open");
    tl_scopes.phases.pop_back();
  });
  mem.def("_enter_category", [](const std::string& name) {
    tl_scopes.categories.push_back(std::make_unique<memory::CategoryScope>(to_category(name)));
  });
  mem.def("_exit_category", [] {
    MG_CHECK(!tl_scopes.categories.empty(), "memory.category", "no category scope is open");
    tl_scopes.categories.pop_back();
  });
  mem.def("current_phase", [] { return std::string(current_phase()); });
}

void bind_trace(py::module_& mem) {
  mem.def("live_by_category", [](py::handle device) { return category_dict(memory::live_by_category(to_device(device))); },
          py::arg("device") = "cpu", "Bytes live now per category; they add up to stats()['current'].");
  mem.def("category_of", [](const Tensor& t) { return std::string(memory::to_string(t.storage()->category())); },
          py::arg("tensor"), "The category of the block holding the tensor.");
  mem.def("set_category", [](const Tensor& t, const std::string& c) { t.storage()->set_category(to_category(c)); },
          py::arg("tensor"), py::arg("category"), "Changes the category of the block holding the tensor.");
  py::class_<memory::Trace>(mem, "_Trace", "A recording of allocations (memgrad.memory.trace wraps it).")
      .def(py::init<std::string>(), py::arg("label") = "")
      .def("stop", &memory::Trace::stop)
      .def_property_readonly("recording", &memory::Trace::recording)
      .def_property_readonly("label", &memory::Trace::label)
      .def("json", &memory::Trace::json)
      .def("chrome_trace", &memory::Trace::chrome_trace)
      .def("write_json", &memory::Trace::write_json, py::arg("path"))
      .def("write_chrome_trace", &memory::Trace::write_chrome_trace, py::arg("path"));
}

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
  bind_scopes(mem);
  bind_trace(mem);
}

}  // namespace memgrad::python

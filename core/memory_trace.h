#pragma once
// Where the memory of a step goes: a category on every block of tensor storage, and an opt-in
// trace of every allocation, free and change of category, attributed to the op, module and phase
// that ran (issue 18; docs/memory_trace.md).
//
//   memory::Trace t("chunked");                        // records until stop() or destruction
//   loss = cross_entropy(model(x), y); loss.backward(); opt.step();
//   t.stop();
//   t.write_json("step.json");                         // the compact format (docs/memory_trace.md)
//   t.write_chrome_trace("step.trace.json");           // opens in ui.perfetto.dev, chrome://tracing
//
// Categories. Every Storage that memgrad allocates carries one, always (tracing or not), and the
// live bytes per category are counted exactly (live_by_category), so a trace started at any time
// knows what was live before it. A block gets its category when it is allocated, from the
// innermost CategoryScope on the allocating thread (default: temporary), and may change it once
// its role is known, at these places and nowhere else:
//   parameter           nn::Module::register_parameter and Module::to; an Optimizer's params
//   gradient            the engine, when it stores a leaf's .grad
//   optimizer_state     an Optimizer, when it creates a parameter's state buffers
//   saved               autograd's saved(t), for a block that was temporary (a parameter or a user
//                       tensor saved for backward keeps its category)
//   attention_workspace CategoryScope inside the attention kernels, for their per-thread blocks
//   user                CategoryScope where tensors come from the user: the Python bindings'
//                       factories and numpy conversions, the lra trainer's batches
//   temporary           everything else an op allocates (forward or backward)
//
// Attribution. An event belongs to an op: inside an OpScope (a backward node: "backward of
// linear"; an optimizer step: "AdamW.step") to that scope's op. Outside, an allocation belongs to
// the next op that finishes and owns one of the new blocks as an output (autograd's finish() and
// the factories call op_finished), because ops learn their name at their end and allocate before
// it; what no op claims (an op whose outputs are views of its temporaries) goes to the last op
// that finished, when an OpScope opens or the trace stops. A free outside an OpScope belongs to
// the op that finished last (an op's temporaries die as it returns), or to none (-1) before the
// trace's first op. Ops in the trace are slices [begin, end] on the trace's clock; a forward
// op's slice begins where the previous op ended. The module path comes from ModuleScope (nn
// modules open one in forward; a backward node remembers the path its forward ran in), the phase
// from core/phase.h. One thread drives ops at a time: events from other threads (OpenMP workers)
// are attributed to the op running on the driving thread.
//
// Exactness. While a trace records, each allocation and free of Storage happens under the
// trace's lock together with its event, so the running total of the events is the allocator's
// `current` at every point, and the trace's peak equals the allocator's peak over the same span
// (tests/test_memory_trace.cpp). Storage that wraps external memory (numpy arrays) is not counted
// by the allocator and is not traced either.
//
// Cost. Tracing off: a relaxed atomic load per allocation and free, an atomic add per category
// counter, and a thread-local push per module call. Tracing on: a lock and an event per block
// (bench_train_step --trace-memory measures the step with and without).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"

namespace memgrad {
class Storage;

namespace memory {

enum class Category : uint8_t { parameter, gradient, optimizer_state, saved, attention_workspace, temporary, user };
constexpr int kNumCategories = 7;
using CategoryBytes = std::array<int64_t, kNumCategories>;
const char* to_string(Category c);

// Live bytes per category on a device now (their sum is memory::stats(d).current).
CategoryBytes live_by_category(Device d = Device::cpu());

// Blocks allocated on this thread inside the scope get `c` (nests; default temporary).
class CategoryScope {
 public:
  explicit CategoryScope(Category c);
  ~CategoryScope();
  CategoryScope(const CategoryScope&) = delete;
  CategoryScope& operator=(const CategoryScope&) = delete;

 private:
  Category previous_;
};
Category current_category();

// A module's forward on this thread: `name` is its own name in its parent ("layers.0", "attn";
// "" for a root), the path is the dotted join of the open scopes. Sets the phase "forward" when the
// thread is in no phase. `name` must outlive the scope (a module's member).
class ModuleScope {
 public:
  explicit ModuleScope(const std::string& name);
  ~ModuleScope();
  ModuleScope(const ModuleScope&) = delete;
  ModuleScope& operator=(const ModuleScope&) = delete;

 private:
  const char* previous_phase_;
};
// The dotted path of this thread's open module scopes ("encoder.layers.0.attn"; "" outside any).
std::string current_module_path();

// True while a Trace records (one relaxed atomic load).
bool tracing();

// An op with a known name and extent (a backward node with the delivery of its gradients, an
// optimizer step): events recorded inside it, from any thread, are its own, and ops that finish inside it are not separate slices. When
// no trace records, constructing one costs a branch. `module` is the module path (may be "").
class OpScope {
 public:
  OpScope(const char* name_prefix, const std::string& name, const std::string& module = "");
  ~OpScope();
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  int32_t op_ = -1;
  int32_t previous_ = -1;
  std::shared_ptr<void> recorder_;
};

// autograd's finish() calls this at the end of every op (after its saves), with the trace ids of
// its outputs' blocks (Storage::trace_id). An op whose outputs include a block allocated since
// the last claim takes every event since then: its own outputs, its temporaries and frees. An op
// that allocated no output (a view, an in-place op) takes none, so a view an op makes of its
// inputs after allocating its output (linear's transpose of W) does not steal the output. Ignored
// inside an OpScope, and a no-op when no trace records. With `only_outputs` (the factories, which
// may run inside another op) the op takes only its outputs' events.
void op_finished(const char* name, const std::vector<uint64_t>& output_blocks, bool only_outputs = false);

struct Event {
  double t = 0;            // seconds since the trace began
  uint8_t kind = 0;        // 0 alloc, 1 free, 2 retag
  uint8_t device = 0;      // index into Trace::devices()
  uint8_t category = 0;    // alloc/free: the block's category; retag: the new one
  int8_t from = -1;        // retag: the previous category
  int32_t op = -1;         // index into Trace::ops(), -1 outside any op
  int64_t bytes = 0;       // the block's size
  uint64_t block = 0;      // block id, shared by a block's events
};

// Live bytes per category after event e, given those before it (one device's): an alloc adds its
// bytes to its category, a free takes them away, a retag moves them between categories. The one
// rule every replay of a trace uses (Trace::devices, the Trace Event Format export, lra's phase
// peaks; scripts/plot_memory.py is its Python twin).
inline void apply(const Event& e, CategoryBytes& live) {
  if (e.kind == 2) live[static_cast<size_t>(e.from)] -= e.bytes;
  live[e.category] += e.kind == 1 ? -e.bytes : e.bytes;
}

struct OpSlice {
  std::string name, phase, module;
  double begin = 0, end = 0;  // seconds since the trace began
};

struct DeviceSummary {
  Device device;
  CategoryBytes start{}, end{};  // live bytes per category when recording began / ended
  int64_t peak = 0;              // highest total live bytes over the trace
  int64_t peak_event = -1;       // the event that reached it (-1: the start)
};

// Records while it lives or until stop(). Only one trace records at a time (a second is an error
// naming the label of the first).
class Trace {
 public:
  explicit Trace(std::string label = "");
  ~Trace();
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  void stop();
  bool recording() const;
  const std::string& label() const;

  // Valid after stop() (reading while recording is an error).
  const std::vector<Event>& events() const;
  const std::vector<OpSlice>& ops() const;
  // Every device that had live blocks or events (cpu first).
  std::vector<DeviceSummary> devices() const;

  std::string json() const;          // the compact format (docs/memory_trace.md)
  std::string chrome_trace() const;  // the Trace Event Format: ops as slices, memory as counters
  void write_json(const std::string& path) const;          // atomically (core/file_util.h)
  void write_chrome_trace(const std::string& path) const;  // atomically

 private:
  std::shared_ptr<void> recorder_;
};

namespace detail {
// Storage's hooks (core/storage.cpp): allocation and free through the device allocator with the
// counters and the trace kept in step, and a change of category. `id` is the block's trace id
// (0 until the block first appears in a trace).
void* allocate_counted(Device d, size_t nbytes, Category c, uint64_t& id);
void deallocate_counted(Device d, void* p, size_t nbytes, Category c, uint64_t& id);
void recategorize(Device d, size_t nbytes, Category from, Category to, uint64_t& id);
}  // namespace detail

}  // namespace memory
}  // namespace memgrad

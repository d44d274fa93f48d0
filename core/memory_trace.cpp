// Categories, live counters and the opt-in allocation trace (core/memory_trace.h states the
// contract); the exports are in memory_trace_export.cpp.
#include "core/memory_trace.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include "core/allocator.h"
#include "core/error.h"
#include "core/memory_trace_internal.h"
#include "core/phase.h"

namespace memgrad {

// ---- phases (core/phase.h) ----
namespace {
thread_local const char* tl_phase = "other";
}
PhaseScope::PhaseScope(const char* name) : previous_(tl_phase) { tl_phase = name; }
PhaseScope::~PhaseScope() { tl_phase = previous_; }
const char* current_phase() { return tl_phase; }

namespace memory {
namespace {

constexpr int32_t kPending = -2;  // an event waiting for the op that is running to finish

// Live bytes per device type and category.
std::atomic<int64_t> g_live[2][kNumCategories];
std::atomic<uint64_t> g_next_block{1};
std::atomic<detail::Recorder*> g_active{nullptr};
std::mutex g_start_mu;  // serialises starting and stopping traces

thread_local Category tl_category = Category::temporary;
thread_local std::vector<const std::string*> tl_modules;

void count(Device d, Category c, int64_t delta) {
  g_live[static_cast<int>(d.type)][static_cast<int>(c)].fetch_add(delta, std::memory_order_relaxed);
}

}  // namespace

const char* to_string(Category c) {
  static const char* const names[kNumCategories] = {"parameter", "gradient",  "optimizer_state", "saved",
                                                     "attention_workspace", "temporary", "user"};
  return names[static_cast<int>(c)];
}

CategoryBytes live_by_category(Device d) {
  CategoryBytes b{};
  for (int c = 0; c < kNumCategories; ++c)
    b[c] = g_live[static_cast<int>(d.type)][c].load(std::memory_order_relaxed);
  return b;
}

CategoryScope::CategoryScope(Category c) : previous_(tl_category) { tl_category = c; }
CategoryScope::~CategoryScope() { tl_category = previous_; }
Category current_category() { return tl_category; }

ModuleScope::ModuleScope(const std::string& name) : previous_phase_(tl_phase) {
  tl_modules.push_back(&name);
  if (std::string_view(tl_phase) == "other") tl_phase = "forward";
}
ModuleScope::~ModuleScope() {
  tl_modules.pop_back();
  tl_phase = previous_phase_;
}

std::string current_module_path() {
  std::string path;
  for (const std::string* m : tl_modules) {
    if (m->empty()) continue;
    if (!path.empty()) path += '.';
    path += *m;
  }
  return path;
}

bool tracing() { return g_active.load(std::memory_order_relaxed) != nullptr; }

namespace detail {

double Recorder::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

uint8_t Recorder::device_index(Device d) {
  for (size_t i = 0; i < devices.size(); ++i)
    if (devices[i] == d) return static_cast<uint8_t>(i);
  devices.push_back(d);
  start.push_back(start_of(d));
  return static_cast<uint8_t>(devices.size() - 1);
}

CategoryBytes Recorder::start_of(Device d) const {
  for (const auto& [dev, bytes] : initial)
    if (dev == d) return bytes;
  return CategoryBytes{};
}

void Recorder::record(uint8_t kind, Device d, Category c, int8_t from, size_t nbytes, uint64_t& id) {
  if (id == 0) id = g_next_block.fetch_add(1, std::memory_order_relaxed);
  Event e;
  e.t = now();
  e.kind = kind;
  e.device = device_index(d);
  e.category = static_cast<uint8_t>(c);
  e.from = from;
  // An allocation waits for the op that owns it; a free belongs to the op that ended last (an op's
  // temporaries die as it returns, after its finish()).
  e.op = explicit_op >= 0 ? explicit_op : kind == 1 ? last_lazy_op : kPending;
  e.bytes = static_cast<int64_t>(nbytes);
  e.block = id;
  events.push_back(e);
}

void Recorder::flush_pending() {
  if (last_lazy_op < 0) return;
  for (size_t i = pending_from; i < events.size(); ++i)
    if (events[i].op == kPending) events[i].op = last_lazy_op;
  pending_from = events.size();
}

void* allocate_counted(Device d, size_t nbytes, Category c, uint64_t& id) {
  Recorder* r = g_active.load(std::memory_order_relaxed);
  if (!r) [[likely]] {
    void* p = allocator_for(d).allocate(nbytes);
    count(d, c, static_cast<int64_t>(nbytes));
    return p;
  }
  std::lock_guard lock(r->mu);  // the allocation and its event in one order (exactness)
  void* p = allocator_for(d).allocate(nbytes);
  count(d, c, static_cast<int64_t>(nbytes));
  if (nbytes > 0) r->record(0, d, c, -1, nbytes, id);
  return p;
}

void deallocate_counted(Device d, void* p, size_t nbytes, Category c, uint64_t& id) {
  Recorder* r = g_active.load(std::memory_order_relaxed);
  if (!r) [[likely]] {
    allocator_for(d).deallocate(p, nbytes);
    count(d, c, -static_cast<int64_t>(nbytes));
    return;
  }
  std::lock_guard lock(r->mu);
  allocator_for(d).deallocate(p, nbytes);
  count(d, c, -static_cast<int64_t>(nbytes));
  if (nbytes > 0) r->record(1, d, c, -1, nbytes, id);
}

void recategorize(Device d, size_t nbytes, Category from, Category to, uint64_t& id) {
  Recorder* r = g_active.load(std::memory_order_relaxed);
  if (!r) [[likely]] {
    count(d, from, -static_cast<int64_t>(nbytes));
    count(d, to, static_cast<int64_t>(nbytes));
    return;
  }
  std::lock_guard lock(r->mu);
  count(d, from, -static_cast<int64_t>(nbytes));
  count(d, to, static_cast<int64_t>(nbytes));
  if (nbytes > 0) r->record(2, d, to, static_cast<int8_t>(from), nbytes, id);
}

}  // namespace detail

// ---- ops ----

OpScope::OpScope(const char* name_prefix, const std::string& name, const std::string& module) {
  detail::Recorder* r = g_active.load(std::memory_order_relaxed);
  if (!r) [[likely]] return;
  std::lock_guard lock(r->mu);
  r->flush_pending();  // the ops before this one are done
  op_ = static_cast<int32_t>(r->ops.size());
  const double t = r->now();
  r->ops.push_back(OpSlice{std::string(name_prefix) + name, current_phase(), module, t, t});
  previous_ = r->explicit_op;
  r->explicit_op = op_;
  recorder_ = r->self.lock();
}

OpScope::~OpScope() {
  if (!recorder_) return;
  auto* r = static_cast<detail::Recorder*>(recorder_.get());
  std::lock_guard lock(r->mu);
  r->ops[op_].end = r->last_end = r->now();
  r->explicit_op = previous_;
}

void op_finished(const char* name, const std::vector<uint64_t>& output_blocks, bool only_outputs) {
  detail::Recorder* r = g_active.load(std::memory_order_relaxed);
  if (!r) [[likely]] return;
  std::lock_guard lock(r->mu);
  if (r->explicit_op >= 0) return;
  const auto op = static_cast<int32_t>(r->ops.size());
  const double t = r->now();
  r->ops.push_back(OpSlice{name, current_phase(), current_module_path(), r->last_end, t});
  r->last_end = t;
  r->last_lazy_op = op;
  bool owns = false;  // did this op allocate one of its outputs since the last claim?
  for (size_t i = r->pending_from; i < r->events.size() && !owns; ++i) {
    const Event& e = r->events[i];
    if (e.kind != 0 || e.op != kPending) continue;
    for (uint64_t b : output_blocks) owns |= b == e.block;
  }
  if (!owns) return;
  auto is_output = [&](uint64_t block) {
    return std::find(output_blocks.begin(), output_blocks.end(), block) != output_blocks.end();
  };
  for (size_t i = r->pending_from; i < r->events.size(); ++i)
    if (r->events[i].op == kPending && (!only_outputs || is_output(r->events[i].block))) r->events[i].op = op;
  if (!only_outputs) r->pending_from = r->events.size();
}

// ---- Trace ----

namespace {
detail::Recorder& rec(const std::shared_ptr<void>& p) { return *static_cast<detail::Recorder*>(p.get()); }
}  // namespace

Trace::Trace(std::string label) {
  auto r = std::make_shared<detail::Recorder>();
  r->self = r;
  r->label = std::move(label);
  std::lock_guard start(g_start_mu);
  detail::Recorder* running = g_active.load();
  MG_CHECK(running == nullptr, "memory.trace", "a trace is already recording ('{}'); stop it first",
           running ? running->label : "");
  r->initial.emplace_back(Device::cpu(), live_by_category(Device::cpu()));
  if (cuda_allocator_if_available()) r->initial.emplace_back(Device::cuda(0), live_by_category(Device::cuda(0)));
  for (const auto& [dev, bytes] : r->initial) {
    int64_t total = 0;
    for (int64_t b : bytes) total += b;
    if (total > 0 || dev.is_cpu()) r->device_index(dev);
  }
  r->t0 = std::chrono::steady_clock::now();
  recorder_ = r;
  g_active.store(r.get());
}

Trace::~Trace() {
  if (recording()) stop();
}

void Trace::stop() {
  detail::Recorder& r = rec(recorder_);
  std::lock_guard start(g_start_mu);
  MG_CHECK(r.recording, "memory.trace", "trace '{}' was already stopped", r.label);
  g_active.store(nullptr);
  std::lock_guard lock(r.mu);
  r.recording = false;
  r.flush_pending();
  for (Event& e : r.events)
    if (e.op == kPending) e.op = -1;
  for (Device d : r.devices) r.end.push_back(live_by_category(d));
}

bool Trace::recording() const { return rec(recorder_).recording; }
const std::string& Trace::label() const { return rec(recorder_).label; }

const std::vector<Event>& Trace::events() const {
  MG_CHECK(!recording(), "memory.trace", "trace '{}' is still recording: stop() it before reading", label());
  return rec(recorder_).events;
}

const std::vector<OpSlice>& Trace::ops() const {
  MG_CHECK(!recording(), "memory.trace", "trace '{}' is still recording: stop() it before reading", label());
  return rec(recorder_).ops;
}

std::vector<DeviceSummary> Trace::devices() const {
  const detail::Recorder& r = rec(recorder_);
  const std::vector<Event>& ev = events();
  std::vector<DeviceSummary> out(r.devices.size());
  std::vector<CategoryBytes> live(r.devices.size());
  auto total = [](const CategoryBytes& l) {
    int64_t t = 0;
    for (int64_t b : l) t += b;
    return t;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].device = r.devices[i];
    out[i].start = live[i] = r.start[i];
    out[i].end = r.end[i];
    out[i].peak = total(live[i]);
  }
  for (size_t k = 0; k < ev.size(); ++k) {
    const Event& e = ev[k];
    apply(e, live[e.device]);
    if (e.kind == 2) continue;  // a change of category moves bytes, never adds them
    const int64_t t = total(live[e.device]);
    if (t > out[e.device].peak) {
      out[e.device].peak = t;
      out[e.device].peak_event = static_cast<int64_t>(k);
    }
  }
  return out;
}

}  // namespace memory
}  // namespace memgrad

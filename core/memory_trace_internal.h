#pragma once
// The state of one recording, shared by memory_trace.cpp (recording) and memory_trace_export.cpp
// (the JSON exports). Not part of the API.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/memory_trace.h"

namespace memgrad::memory::detail {

struct Recorder {
  std::mutex mu;  // guards everything below once the recorder is active
  std::weak_ptr<Recorder> self;
  std::string label;
  std::chrono::steady_clock::time_point t0;
  bool recording = true;

  std::vector<Event> events;
  std::vector<OpSlice> ops;
  std::vector<Device> devices;                                // Event::device indexes this
  std::vector<CategoryBytes> start, end;                      // per entry of `devices`
  std::vector<std::pair<Device, CategoryBytes>> initial;      // live bytes when recording began

  size_t pending_from = 0;  // first event not yet given to an op
  double last_end = 0;      // where the last op ended: the next forward op's slice begins there
  int32_t explicit_op = -1; // the open OpScope's op, or -1
  int32_t last_lazy_op = -1; // the last op that finished outside any OpScope

  // Gives the events no op claimed to the last op that finished (the caller holds mu).
  void flush_pending();

  double now() const;
  uint8_t device_index(Device d);
  CategoryBytes start_of(Device d) const;
  // Appends an event (the caller holds mu); gives the block an id on its first event.
  void record(uint8_t kind, Device d, Category c, int8_t from, size_t nbytes, uint64_t& id);
};

}  // namespace memgrad::memory::detail

// A recorded memory trace written out: the compact JSON (format "memgrad.memory_trace", version
// 1, specified in docs/memory_trace.md and read by scripts/plot_memory.py) and the Trace Event
// Format that Perfetto and chrome://tracing open (ops as complete events "X" on one track, live
// bytes per category as counter events "C", the peak as an instant event "i").
#include <fmt/format.h>

#include "core/file_util.h"
#include "core/memory_trace.h"

namespace memgrad::memory {
namespace {

// A JSON string literal: quotes, backslashes and control characters escaped (names come from
// code and from the user's module names).
std::string jstr(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += {'\\', static_cast<char>(c)};
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

template <class T, class F>
std::string jlist(const std::vector<T>& v, F f) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + f(v[i]);
  return s + "]";
}

std::string jbytes(const CategoryBytes& b) {
  return jlist(std::vector<int64_t>(b.begin(), b.end()), [](int64_t x) { return std::to_string(x); });
}

std::string category_names() {
  std::vector<std::string> n;
  for (int c = 0; c < kNumCategories; ++c) n.push_back(to_string(static_cast<Category>(c)));
  return jlist(n, jstr);
}

// The op an event belongs to, as (name, module, phase); empty outside any op.
struct OpInfo {
  std::string name, module, phase;
};
OpInfo op_of(const Trace& t, int64_t event) {
  if (event < 0) return {};
  const int32_t op = t.events()[static_cast<size_t>(event)].op;
  if (op < 0) return {};
  const OpSlice& s = t.ops()[static_cast<size_t>(op)];
  return {s.name, s.module, s.phase};
}

std::string device_json(const Trace& t, const DeviceSummary& d) {
  const OpInfo op = op_of(t, d.peak_event);
  return fmt::format(
      R"({{"name":{},"start":{},"end":{},"peak":{},"peak_event":{},"peak_op":{},"peak_module":{},"peak_phase":{}}})",
      jstr(d.device.str()), jbytes(d.start), jbytes(d.end), d.peak, d.peak_event, jstr(op.name), jstr(op.module),
      jstr(op.phase));
}

std::string events_json(const std::vector<Event>& ev) {
  auto col = [&](auto f) { return jlist(ev, f); };
  return fmt::format(R"({{"t":{},"kind":{},"device":{},"bytes":{},"category":{},"from":{},"op":{},"block":{}}})",
                     col([](const Event& e) { return fmt::format("{:.9g}", e.t); }),
                     col([](const Event& e) { return std::to_string(e.kind); }),
                     col([](const Event& e) { return std::to_string(e.device); }),
                     col([](const Event& e) { return std::to_string(e.bytes); }),
                     col([](const Event& e) { return std::to_string(e.category); }),
                     col([](const Event& e) { return std::to_string(e.from); }),
                     col([](const Event& e) { return std::to_string(e.op); }),
                     col([](const Event& e) { return std::to_string(e.block); }));
}

std::string op_json(const OpSlice& o) {
  return fmt::format(R"({{"name":{},"phase":{},"module":{},"begin":{:.9g},"end":{:.9g}}})", jstr(o.name),
                     jstr(o.phase), jstr(o.module), o.begin, o.end);
}

double us(double seconds) { return seconds * 1e6; }

// One counter event: the live bytes per category of device `d` at time t.
std::string counter_event(const Device& d, double t, const CategoryBytes& live) {
  std::string args;
  for (int c = 0; c < kNumCategories; ++c)
    args += fmt::format("{}\"{}\":{}", c ? "," : "", to_string(static_cast<Category>(c)), live[c]);
  return fmt::format(R"J({{"name":"{} memory (bytes)","ph":"C","ts":{:.3f},"pid":1,"tid":1,"args":{{{}}}}})J",
                     d.str(), us(t), args);
}

}  // namespace

std::string Trace::json() const {
  const std::vector<DeviceSummary> devs = devices();
  return fmt::format(
      R"({{"format":"memgrad.memory_trace","version":1,"label":{},"categories":{},)"
      R"("kinds":["alloc","free","retag"],"phases":["forward","backward","optimizer","other"],)"
      R"("devices":{},"ops":{},"events":{}}})"
      "\n",
      jstr(label()), category_names(), jlist(devs, [&](const DeviceSummary& d) { return device_json(*this, d); }),
      jlist(ops(), op_json), events_json(events()));
}

std::string Trace::chrome_trace() const {
  const std::vector<DeviceSummary> devs = devices();
  std::vector<std::string> ev;
  ev.push_back(fmt::format(R"({{"name":"process_name","ph":"M","ts":0,"pid":1,"tid":1,"args":{{"name":{}}}}})",
                           jstr("memgrad " + label())));
  ev.push_back(R"({"name":"thread_name","ph":"M","ts":0,"pid":1,"tid":1,"args":{"name":"ops"}})");
  for (const OpSlice& o : ops())
    ev.push_back(fmt::format(R"({{"name":{},"cat":{},"ph":"X","ts":{:.3f},"dur":{:.3f},"pid":1,"tid":1,)"
                             R"("args":{{"module":{}}}}})",
                             jstr(o.name), jstr(o.phase), us(o.begin), us(std::max(0.0, o.end - o.begin)),
                             jstr(o.module)));
  std::vector<CategoryBytes> live;
  for (const DeviceSummary& d : devs) {
    live.push_back(d.start);
    ev.push_back(counter_event(d.device, 0.0, d.start));
  }
  const std::vector<Event>& events = this->events();
  for (size_t k = 0; k < events.size(); ++k) {
    const Event& e = events[k];
    CategoryBytes& l = live[e.device];
    apply(e, l);
    ev.push_back(counter_event(devs[e.device].device, e.t, l));
    if (static_cast<int64_t>(k) == devs[e.device].peak_event) {
      const OpInfo op = op_of(*this, static_cast<int64_t>(k));
      ev.push_back(fmt::format(R"({{"name":"peak {}","ph":"i","s":"g","ts":{:.3f},"pid":1,"tid":1,)"
                               R"("args":{{"bytes":{},"op":{},"module":{}}}}})",
                               devs[e.device].device.str(), us(e.t), devs[e.device].peak, jstr(op.name),
                               jstr(op.module)));
    }
  }
  return fmt::format(R"({{"displayTimeUnit":"ms","otherData":{{"producer":"memgrad","label":{}}},"traceEvents":{}}})"
                     "\n",
                     jstr(label()), jlist(ev, [](const std::string& s) { return s; }));
}

void Trace::write_json(const std::string& path) const {
  const std::string text = json();
  AtomicFile f(path, "memory.trace.write_json");
  f.write(text);
  f.commit();
}

void Trace::write_chrome_trace(const std::string& path) const {
  const std::string text = chrome_trace();
  AtomicFile f(path, "memory.trace.write_chrome_trace");
  f.write(text);
  f.commit();
}

}  // namespace memgrad::memory

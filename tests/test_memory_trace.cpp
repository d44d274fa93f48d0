// The memory trace (core/memory_trace.h): categories, op/module/phase attribution on a small known
// graph, exact agreement with the allocator's statistics, the two JSON exports (the compact format
// and the Trace Event Format's required fields), and results bitwise equal with tracing on or off.
#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "core/allocator.h"
#include "core/memory_trace.h"
#include "nn/layers.h"
#include "nn/optim/adam.h"
#include "nn/transformer.h"
#include "tests/cuda_test_util.h"

using namespace memgrad;
using memory::Category;
using json = nlohmann::json;

namespace {

int64_t total(const memory::CategoryBytes& b) {
  int64_t t = 0;
  for (int64_t x : b) t += x;
  return t;
}

// Replays a device's events: live bytes per category after each, checking none goes negative.
std::vector<memory::CategoryBytes> replay(const memory::Trace& t, size_t device) {
  memory::CategoryBytes live = t.devices()[device].start;
  std::vector<memory::CategoryBytes> out{live};
  for (const memory::Event& e : t.events()) {
    if (e.device != device) continue;
    if (e.kind == 0) live[e.category] += e.bytes;
    if (e.kind == 1) live[e.category] -= e.bytes;
    if (e.kind == 2) live[static_cast<size_t>(e.from)] -= e.bytes, live[e.category] += e.bytes;
    for (int64_t b : live) REQUIRE(b >= 0);
    out.push_back(live);
  }
  return out;
}

// The op an event was attributed to ("" outside any).
std::string op_name(const memory::Trace& t, const memory::Event& e) {
  return e.op < 0 ? std::string() : t.ops()[static_cast<size_t>(e.op)].name;
}

// A tiny model: one Linear layer (its name "fc" in a root module), trained one AdamW step.
struct Tiny : nn::Module {
  std::shared_ptr<nn::Linear> fc;
  Tiny() {
    Generator g(11);
    fc = register_module("fc", std::make_shared<nn::Linear>(6, 4, true, nn::ParamOptions{.gen = &g}));
  }
  Tensor forward(const Tensor& x) const {
    const auto scope = trace_scope();
    return gelu(fc->forward(x));  // [5, 4]
  }
};

}  // namespace

TEST_CASE("categories: live bytes per category add up to the allocator's current bytes") {
  Tiny m;
  const int64_t before = total(memory::live_by_category());
  CHECK(before == memory::stats().current);
  for (const Tensor& p : m.parameters()) CHECK(p.storage()->category() == Category::parameter);
  Tensor x;
  {
    memory::CategoryScope user(Category::user);
    x = ones({5, 6});
  }
  CHECK(x.storage()->category() == Category::user);
  Tensor y = m.forward(x);
  CHECK(y.storage()->category() == Category::temporary);  // gelu's output is not saved by anything
  CHECK(total(memory::live_by_category()) == memory::stats().current);
}

TEST_CASE("trace of one step: categories, ops, modules and phases of a known graph") {
  Tiny m;
  optim::AdamW opt(m.parameters(), {.lr = 1e-2});
  Tensor x;
  {
    memory::CategoryScope user(Category::user);
    Generator g(5);
    x = randn({5, 6}, DType::float32, &g);  // [5, 6]
  }
  memory::reset_peak();
  memory::Trace t("tiny");
  CHECK(t.recording());
  CHECK_THROWS_WITH_AS(t.events(), doctest::Contains("still recording"), Error);
  CHECK_THROWS_WITH_AS(memory::Trace("second"), doctest::Contains("already recording ('tiny')"), Error);
  {
    Tensor loss = sum(m.forward(x));
    loss.backward();
    opt.step();
  }
  t.stop();
  CHECK_FALSE(t.recording());

  const auto devs = t.devices();
  REQUIRE(devs.size() == 1);
  CHECK(devs[0].device == Device::cpu());
  // The start: the parameters (24 + 4 floats) and the user's x (30 floats); nothing else of ours.
  CHECK(devs[0].start[static_cast<int>(Category::user)] >= 30 * 4);
  CHECK(devs[0].start[static_cast<int>(Category::parameter)] >= 28 * 4);

  // Exactness: the replay ends at the live bytes now, and its peak is the allocator's.
  const auto live = replay(t, 0);
  CHECK(live.back() == devs[0].end);
  CHECK(devs[0].end == memory::live_by_category());
  CHECK(total(devs[0].end) == memory::stats().current);
  int64_t peak = 0;
  for (const auto& l : live) peak = std::max(peak, total(l));
  CHECK(peak == devs[0].peak);
  CHECK(devs[0].peak == memory::stats().peak);

  // Attribution. linear's output [5, 4] is allocated in op "linear", module "fc", forward, and
  // saved by gelu (a retag to saved); the gradients of the weight and the bias end as gradients;
  // AdamW's moments are allocated in its step and become optimizer state.
  std::map<std::string, const memory::OpSlice*> by_name;
  for (const memory::OpSlice& o : t.ops()) by_name.emplace(o.name, &o);
  REQUIRE(by_name.count("linear"));
  CHECK(by_name["linear"]->module == "fc");
  CHECK(by_name["linear"]->phase == "forward");
  REQUIRE(by_name.count("backward of gelu"));
  CHECK(by_name["backward of gelu"]->phase == "backward");
  CHECK(by_name["backward of gelu"]->module == "");  // gelu ran in the root module
  CHECK(by_name["backward of linear"]->module == "fc");
  REQUIRE(by_name.count("AdamW.step"));
  CHECK(by_name["AdamW.step"]->phase == "optimizer");

  int saved_linear = 0, gradients = 0, state = 0, first_linear_alloc = 0;
  for (const memory::Event& e : t.events()) {
    const std::string op = op_name(t, e);
    if (e.kind == 0 && op == "linear" && e.bytes == 5 * 4 * 4) ++first_linear_alloc;
    if (e.kind == 2 && e.category == static_cast<int>(Category::saved) && e.bytes == 5 * 4 * 4) ++saved_linear;
    if (e.kind == 2 && e.category == static_cast<int>(Category::gradient)) {
      ++gradients;
      CHECK(op == "backward of linear");
    }
    if (e.kind == 2 && e.category == static_cast<int>(Category::optimizer_state)) {
      ++state;
      CHECK(op == "AdamW.step");
    }
  }
  CHECK(first_linear_alloc == 1);
  CHECK(saved_linear >= 1);
  CHECK(gradients == 2);  // weight and bias (x needs none)
  CHECK(state == 4);      // exp_avg and exp_avg_sq of two parameters
  for (const Tensor& p : m.parameters()) CHECK(p.grad().storage()->category() == Category::gradient);
}

TEST_CASE("the compact JSON and the Trace Event Format carry the trace") {
  Tiny m;
  Tensor x = ones({5, 6});
  memory::Trace t("json \"quoted\"");
  Tensor loss = sum(m.forward(x));
  loss.backward();
  t.stop();

  const json c = json::parse(t.json());
  CHECK(c["format"] == "memgrad.memory_trace");
  CHECK(c["version"] == 1);
  CHECK(c["label"] == "json \"quoted\"");
  CHECK(c["categories"].size() == memory::kNumCategories);
  const size_t n = t.events().size();
  for (const char* col : {"t", "kind", "device", "bytes", "category", "from", "op", "block"})
    CHECK(c["events"][col].size() == n);
  CHECK(c["ops"].size() == t.ops().size());
  CHECK(c["devices"][0]["peak"] == t.devices()[0].peak);
  CHECK(c["devices"][0]["peak_event"] == t.devices()[0].peak_event);
  const int64_t pe = t.devices()[0].peak_event;
  if (pe >= 0) CHECK(c["devices"][0]["peak_op"] == op_name(t, t.events()[static_cast<size_t>(pe)]));

  // Trace Event Format: every event has name, ph, ts, pid (and tid); complete events a duration;
  // counters numeric args; timestamps in microseconds, never negative.
  const json chrome = json::parse(t.chrome_trace());
  REQUIRE(chrome.contains("traceEvents"));
  std::set<std::string> phases;
  int counters = 0, slices = 0;
  for (const json& e : chrome["traceEvents"]) {
    for (const char* k : {"name", "ph", "ts", "pid", "tid"}) REQUIRE_MESSAGE(e.contains(k), e.dump());
    CHECK(e["ts"].get<double>() >= 0);
    const std::string ph = e["ph"];
    phases.insert(ph);
    if (ph == "X") {
      ++slices;
      REQUIRE(e.contains("dur"));
      CHECK(e["dur"].get<double>() >= 0);
    }
    if (ph == "C") {
      ++counters;
      REQUIRE(e["args"].is_object());
      CHECK(e["args"].size() == memory::kNumCategories);
      for (const auto& [k, v] : e["args"].items()) CHECK(v.is_number_integer());
    }
  }
  CHECK(slices == static_cast<int>(t.ops().size()));
  CHECK(counters == static_cast<int>(n) + 1);  // the start, then one per event
  CHECK(phases == std::set<std::string>{"C", "M", "X", "i"});
}

TEST_CASE("tracing on and off gives bitwise equal training") {
  auto run = [](bool trace) {
    nn::TransformerConfig c{.dim = 16, .heads = 2, .layers = 1, .ff_hidden = 32, .dropout = 0.0};
    Generator g(7);
    nn::TransformerEncoder enc(c, nn::ParamOptions{.gen = &g});
    optim::AdamW opt(enc.parameters(), {.lr = 1e-2});
    Generator gx(8);
    Tensor x = randn({2, 9, 16}, DType::float32, &gx);  // [B, N, D]
    std::vector<float> losses;
    for (int step = 0; step < 2; ++step) {
      std::optional<memory::Trace> t;
      if (trace) t.emplace("on");
      opt.zero_grad();
      Tensor loss = mean(enc.forward(x, Tensor(), Tensor()) * enc.forward(x, Tensor(), Tensor()));
      loss.backward();
      opt.step();
      losses.push_back(loss.item<float>());
      if (trace) {
        t->stop();
        CHECK(t->events().size() > 10);
      }
    }
    std::vector<float> params;
    for (const Tensor& p : enc.parameters()) {
      std::vector<float> v = p.to_vector<float>();
      params.insert(params.end(), v.begin(), v.end());
    }
    return std::make_pair(losses, params);
  };
  const auto off = run(false), on = run(true);
  CHECK(off.first == on.first);
  CHECK(off.second == on.second);
}

TEST_CASE("module paths of a transformer layer's attention, forward and backward") {
  nn::TransformerConfig c{.dim = 8, .heads = 2, .layers = 2, .ff_hidden = 16, .dropout = 0.0};
  Generator g(1);
  nn::TransformerEncoder enc(c, nn::ParamOptions{.gen = &g});
  Tensor x = ones({1, 5, 8}).set_requires_grad();
  memory::Trace t;
  sum(enc.forward(x, Tensor(), Tensor())).backward();
  t.stop();
  std::set<std::string> fwd, bwd;
  for (const memory::OpSlice& o : t.ops()) {
    if (o.name == "attention_chunked") fwd.insert(o.module);
    if (o.name == "backward of attention_chunked") bwd.insert(o.module);
  }
  CHECK(fwd == std::set<std::string>{"0.attn", "1.attn"});
  CHECK(bwd == fwd);
}

TEST_CASE("attribution between ops: a factory's block is its own, a free goes to the op that ended before it") {
  Tensor a = randn({64, 64});  // [64, 64] float32: 16 KiB
  memory::Trace t;
  a = Tensor();                    // freed before any op of the trace
  Tensor b = randn({32, 32});      // randn's own block
  Tensor c = exp(b * 2.0);         // the scalar, mul's output (the scalar dies after mul), exp's
  c = Tensor();
  t.stop();
  std::vector<std::pair<std::string, int64_t>> seen;  // (op, signed bytes)
  for (const memory::Event& e : t.events()) seen.emplace_back(op_name(t, e), e.kind == 1 ? -e.bytes : e.bytes);
  const std::vector<std::pair<std::string, int64_t>> want{
      {"", -16384}, {"randn", 4096}, {"full", 4},  {"mul", 4096},  // full: the scalar 2.0
      {"mul", -4},  {"exp", 4096},    {"exp", -4096}, {"exp", -4096}};
  CHECK(seen == want);
}

TEST_CASE("cuda memory trace: GPU tensors, the CUDA allocator's blocks, exact against its statistics") {
  if (cudatest::skip_without_gpu()) return;
  const Device gpu = cudatest::kGpu;
  Generator g(2);
  Tensor q = to(randn({1, 2, 300, 32}, DType::float32, &g), gpu).set_requires_grad();  // [B, H, N, D]
  memory::reset_peak(gpu);
  memory::Trace t("gpu");
  AttentionOptions o{.kind = AttentionKind::chunked, .causal = true};
  o.fused = false;  // the block-wise passes, whose score blocks are attention workspace
  sum(attention(q, q, q, o)).backward();
  t.stop();
  const auto devs = t.devices();
  const memory::DeviceSummary* d = nullptr;
  for (const auto& x : devs)
    if (x.device == gpu) d = &x;
  REQUIRE(d != nullptr);
  CHECK(d->end == memory::live_by_category(gpu));
  CHECK(total(d->end) == memory::stats(gpu).current);
  CHECK(d->peak == memory::stats(gpu).peak);
  bool workspace = false;
  for (const memory::Event& e : t.events())
    workspace |= devs[e.device].device == gpu && e.category == static_cast<int>(Category::attention_workspace);
  CHECK(workspace);  // the block-wise passes' score blocks (backends/cuda/attention_host.h)
}

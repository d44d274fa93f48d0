// `bench_attention --paper` (attention_paper.h): the memory overhead and run time of attention for
// inference (forward under NoGradGuard) and differentiation (forward + backward) over sequence
// lengths, as in Rabe & Staats 2021, Tables 2 and 3, with the factors vanilla / chunked.
//
// What is counted (attention_measure.h): exact allocator bytes of one call on [B, H, N, D] float32
// q, k, v; "overhead" = peak live bytes during the call - bytes live before - the call's results
// (O; for forward+backward also dQ, dK, dV). The paper's "memory overhead" is likewise what
// attention needs beyond its inputs and outputs.
#include "benchmarks/attention_paper.h"

#include <algorithm>
#include <cstdio>
#include <memory>

#include "autograd/ops.h"
#include "benchmarks/bench_common.h"
#include "core/system_memory.h"

namespace memgrad::bench {
namespace {

using json = nlohmann::json;

// The commit of the source tree the benchmark was built from ("<hash>[+dirty]"), or "unknown".
std::string git_commit() {
#ifdef MEMGRAD_SOURCE_DIR
  auto run = [](const std::string& cmd) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
    if (!p) return out;
    char buf[256];
    while (std::fgets(buf, sizeof buf, p.get())) out += buf;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  };
  const std::string git = "git -C '" MEMGRAD_SOURCE_DIR "' ";
  std::string hash = run(git + "rev-parse --short=12 HEAD 2>/dev/null");
  if (hash.empty()) return "unknown";
  if (!run(git + "status --porcelain --untracked-files=no 2>/dev/null").empty()) hash += "+dirty";
  return hash;
#else
  return "unknown";
#endif
}

struct Row {
  int64_t n;
  bool backward;
  std::string kind;
  std::optional<Measure> m;   // unset: skipped
  int64_t needs = 0, available = 0;  // vanilla, when skipped
  int64_t predicted = 0;             // vanilla: predicted peak
};

json row_json(const Row& r, const Row* chunked) {
  json j = {{"n", r.n}, {"pass", r.backward ? "fwd+bwd" : "fwd"}, {"kind", r.kind}};
  if (r.kind == "vanilla") j["predicted_peak_bytes"] = r.predicted;
  if (!r.m) {
    j["skipped"] = true, j["needs_bytes"] = r.needs, j["available_bytes"] = r.available;
    return j;
  }
  const Measure& m = *r.m;
  j.update({{"peak_bytes", m.peak}, {"result_bytes", m.results}, {"overhead_bytes", m.overhead},
            {"overhead_per_row_bytes", static_cast<double>(m.overhead) / static_cast<double>(r.n)},
            {"seconds", m.seconds}, {"cpu_seconds", m.cpu_seconds}, {"samples", m.samples},
            {"first_call_timed", m.first_call_timed}});
  if (chunked && chunked->m && r.kind != "chunked") {
    j["memory_factor_vs_chunked"] = static_cast<double>(m.overhead) / static_cast<double>(chunked->m->overhead);
    j["time_factor_vs_chunked"] = m.seconds / chunked->m->seconds;
  }
  return j;
}

void print_row(const Row& r, const Row* chunked) {
  std::printf("%8lld %-8s %-8s ", static_cast<long long>(r.n), r.backward ? "fwd+bwd" : "fwd", r.kind.c_str());
  if (!r.m) {
    std::printf("skipped: needs %s, available %s (MemAvailable)\n", human_bytes(r.needs).c_str(),
                human_bytes(r.available).c_str());
  } else {
    const Measure& m = *r.m;
    std::string mem_f = "-", time_f = "-";
    if (chunked && chunked->m && r.kind != "chunked") {
      mem_f = fmt::format("{:.1f}x", static_cast<double>(m.overhead) / static_cast<double>(chunked->m->overhead));
      time_f = fmt::format("{:.2f}x", m.seconds / chunked->m->seconds);
    }
    std::printf("%14lld %11s %12.1f %10.3f %3d %9s %8s", static_cast<long long>(m.overhead),
                human_bytes(m.overhead).c_str(), static_cast<double>(m.overhead) / static_cast<double>(r.n),
                m.seconds, m.samples, mem_f.c_str(), time_f.c_str());
    if (r.kind == "vanilla")
      std::printf("  (peak %lld, predicted %lld)", static_cast<long long>(m.peak), static_cast<long long>(r.predicted));
    std::printf("\n");
  }
  std::fflush(stdout);
}

json paper_reference(const Config& c, const PaperOptions& o) {
  return {
      {"reference", "Rabe & Staats 2021, Self-attention Does Not Need O(n^2) Memory, arXiv 2112.05682"},
      {"claims",
       {{"inference_memory_factor_at_16384", 59}, {"differentiation_memory_factor_at_16384", 32},
        {"runtime", "within a few percent of the standard implementation"}}},
      {"paper_setting",
       "TPU (JAX); sequence lengths 2^8 .. 2^20; chunk sizes query 1024, key 4096 (the published code's "
       "defaults); overhead = memory beyond inputs and outputs. The exact heads/dims/dtype were not found in "
       "the searchable sources; the 59x at N=16384 fits one [N, N] float32 buffer (1 GiB) against one "
       "1024 x 4096 chunk of scores (16 MiB) plus small terms, i.e. one head, batch 1"},
      {"this_run",
       fmt::format("B={} H={} D={} float32 on the CPU; memgrad vanilla = the standard implementation "
                   "(primitive ops under autograd), chunked = the memory-efficient one (online softmax, "
                   "recomputation in backward), topk with k={}; chunk sizes q {} x k {}",
                   c.B, c.H, c.D, c.top_k, o.q_chunk.value_or(kDefaultQChunk), o.k_chunk.value_or(kDefaultKChunk))}};
}

}  // namespace

std::vector<int64_t> paper_default_sizes() {
  std::vector<int64_t> s;
  for (int e = 10; e <= 18; ++e) s.push_back(int64_t{1} << e);
  return s;
}

// Vanilla (autograd/ops/attention.cpp, no mask) allocates, with S = B·H·N²·4 (one score matrix)
// and T = B·H·N·D·4 (one [B, H, N, D] tensor):
//   forward   QKᵀ (S), then ·scale (S) while QKᵀ is alive; softmax (S) while the scaled scores
//             are alive (QKᵀ freed); P·V = O (T) while both are: peak 2S + T.
//   backward  autograd keeps P (S) and O (T); the matmul's backward makes dP = dO·Vᵀ (S) and
//             dV = Pᵀ·dO (T); softmax's backward needs one more S beside P and dP: peak 3S + 2T.
//             dQ and dK (2T) come after, when only the score gradient (S) is left.
// Measured peaks match this to a few bytes (the JSON holds both; the table prints both).
int64_t vanilla_predicted_peak(int64_t B, int64_t H, int64_t N, int64_t D, bool backward) {
  const int64_t S = B * H * N * N * 4, T = B * H * N * D * 4;
  return backward ? 3 * S + 2 * T : 2 * S + T;
}

int run_paper(const Config& c, const PaperOptions& o) {
  json machine = bench::machine();
  const std::string commit = git_commit();
  std::printf("machine: %s; %d threads; commit %s\n", describe(machine).c_str(),
              machine["omp_max_threads"].get<int>(), commit.c_str());
  std::printf("B=%lld H=%lld D=%lld float32, top_k=%lld, chunks q %lld x k %lld; median of up to %d samples, "
              "%.0f s budget, a first call over %.0f s is the only sample\n",
              static_cast<long long>(c.B), static_cast<long long>(c.H), static_cast<long long>(c.D),
              static_cast<long long>(c.top_k), static_cast<long long>(o.q_chunk.value_or(kDefaultQChunk)),
              static_cast<long long>(o.k_chunk.value_or(kDefaultKChunk)), c.repeats, c.budget_s, c.single_call_s);
  std::printf("overhead = peak during the call - live before - results (O; fwd+bwd also dQ, dK, dV); "
              "factors = kind / chunked\n\n");
  std::printf("%8s %-8s %-8s %14s %11s %12s %10s %3s %9s %8s\n", "N", "pass", "kind", "overhead B", "overhead",
              "B per row", "median s", "n", "mem x", "time x");
  json rows = json::array();
  json stops = json::object();  // pass -> the first N at which vanilla was skipped
  auto save = [&] {
    json doc = {{"benchmark", "attention_paper"},
                {"command", o.command},
                {"timestamp", utc_timestamp()},
                {"commit", commit},
                {"machine", machine},
                {"config",
                 {{"B", c.B}, {"H", c.H}, {"D", c.D}, {"top_k", c.top_k}, {"dtype", "float32"},
                  {"device", c.device.str()}, {"repeats", c.repeats}, {"budget_s", c.budget_s},
                  {"single_call_s", c.single_call_s}, {"q_chunk", o.q_chunk.value_or(kDefaultQChunk)},
                  {"k_chunk", o.k_chunk.value_or(kDefaultKChunk)}, {"vanilla_headroom", o.headroom},
                  {"statistic", "median"}}},
                {"counted",
                 "overhead_bytes = allocator peak during one call - bytes live before it - result_bytes "
                 "(O [B,H,N,D]; fwd+bwd also dQ, dK, dV); exact bytes asked of memgrad's allocator"},
                {"paper", paper_reference(c, o)},
                {"vanilla_skipped_from_n", stops},
                {"results", rows}};
    write_atomically(o.out, doc.dump(2) + "\n");
  };
  for (int64_t N : o.sizes)
    for (bool bwd : {false, true}) {
      // chunked first: the other kinds' factors are relative to it
      std::optional<Row> chunked;
      for (const char* kind : {"chunked", "vanilla", "topk"}) {
        if (std::find(o.kinds.begin(), o.kinds.end(), kind) == o.kinds.end()) continue;
        Row r{.n = N, .backward = bwd, .kind = kind};
        AttentionOptions opts{.kind = parse_attention_kind(kind), .top_k = c.top_k};
        if (r.kind == "chunked") opts.q_chunk = o.q_chunk, opts.k_chunk = o.k_chunk;
        if (r.kind == "vanilla") {
          memory::empty_cache(c.device);  // the allocator's cached blocks are this process's, not free
          r.predicted = vanilla_predicted_peak(c.B, c.H, N, c.D, bwd);
          r.available = c.device.is_cpu() ? memory::system_available_bytes() : -1;
          r.needs = r.predicted;
          if (r.available >= 0 && static_cast<double>(r.needs) * o.headroom > static_cast<double>(r.available)) {
            if (!stops.contains(bwd ? "fwd+bwd" : "fwd")) stops[bwd ? "fwd+bwd" : "fwd"] = N;
          } else {
            r.m = measure(c, N, opts, bwd);
          }
          memory::empty_cache(c.device);  // give vanilla's N² blocks back to the system
        } else {
          r.m = measure(c, N, opts, bwd);
        }
        const Row* base = chunked ? &*chunked : nullptr;
        print_row(r, base);
        rows.push_back(row_json(r, base));
        if (r.kind == "chunked") chunked = r;
        save();
      }
    }
  save();
  // the paper's headline figures beside this run's, where the run has N = 16384
  for (const char* pass : {"fwd", "fwd+bwd"}) {
    for (const json& r : rows)
      if (r["n"] == 16384 && r["pass"] == pass && r["kind"] == "vanilla" && r.contains("memory_factor_vs_chunked"))
        std::printf("N=16384 %-7s vanilla/chunked: memory %.1fx (paper %s), time %.2fx (paper: within a few percent)\n",
                    pass, r["memory_factor_vs_chunked"].get<double>(), std::string(pass) == "fwd" ? "59x" : "32x",
                    r["time_factor_vs_chunked"].get<double>());
  }
  std::printf("\nwrote %s\n", o.out.c_str());
  return 0;
}

}  // namespace memgrad::bench

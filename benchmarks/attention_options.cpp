// `bench_attention --options` (attention_options.h).
#include "benchmarks/attention_options.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "autograd/ops.h"
#include "benchmarks/bench_common.h"
#include "benchmarks/sgemm_rate.h"

namespace memgrad::bench {
namespace {

using json = nlohmann::json;

// One measured row: a case, a variant of it, and its figures.
struct Row {
  std::string kcase, variant, kind;
  int64_t n = 0;
  Measure m{};
};

struct Table {
  const Config& c;
  const OptionsBench& o;
  json results = json::array(), targets = json::array();

  void save() const {
    json doc = {{"benchmark", "attention_options"}, {"command", o.command},     {"timestamp", utc_timestamp()},
                {"machine", machine()},             {"sgemm_gflops_1024", o.sgemm_gflops},
                {"config", {{"B", c.B}, {"H", c.H}, {"D", c.D}, {"dtype", "float32"}, {"device", c.device.str()},
                            {"repeats", c.repeats}, {"statistic", "median"}}},
                {"results", results},              {"targets", targets}};
    write_atomically(o.out, doc.dump(2) + "\n");
  }
  Row run(const std::string& kcase, const std::string& variant, const std::string& kind, int64_t n, Inputs in,
          AttentionOptions opts) {
    opts.kind = parse_attention_kind(kind);
    Row r{kcase, variant, kind, n, measure(c, std::move(in), opts, true)};
    std::printf("%-9s %-34s %-8s %6lld %10.4f %12s\n", kcase.c_str(), variant.c_str(), kind.c_str(),
                static_cast<long long>(n), r.m.seconds, human_bytes(r.m.overhead).c_str());
    std::fflush(stdout);
    results.push_back({{"case", kcase}, {"variant", variant}, {"kind", kind}, {"n", n}, {"pass", "fwd+bwd"},
                       {"seconds", r.m.seconds}, {"cpu_seconds", r.m.cpu_seconds}, {"samples", r.m.samples},
                       {"overhead_bytes", r.m.overhead}});
    save();
    return r;
  }
  // A ratio of two rows against an upper (at_most) or lower bound.
  void target(const std::string& what, const std::string& kind, double ratio, double bound, bool at_most) {
    const bool met = at_most ? ratio <= bound : ratio >= bound;
    std::printf("  -> %s (%s): %.3f, target %s %.2f: %s\n", what.c_str(), kind.c_str(), ratio, at_most ? "<=" : ">=",
                bound, met ? "met" : "MISSED");
    targets.push_back({{"target", what}, {"kind", kind}, {"ratio", ratio}, {"bound", bound},
                       {"at_most", at_most}, {"met", met}});
    save();
  }
  Inputs plain(int64_t B, int64_t H, int64_t Hkv, int64_t N) const {
    return random_inputs(c, {B, H, N, c.D}, {B, Hkv, N, c.D});
  }
};

void causal_case(Table& t, const std::string& kind) {
  const int64_t n = t.o.causal_n;
  Row full = t.run("causal", "non-causal", kind, n, t.plain(t.c.B, t.c.H, t.c.H, n), {});
  Row causal = t.run("causal", "causal", kind, n, t.plain(t.c.B, t.c.H, t.c.H, n), {.causal = true});
  t.target("causal / non-causal fwd+bwd", kind, causal.m.seconds / full.m.seconds, 0.55, true);
}

void window_case(Table& t, const std::string& kind) {
  const int64_t w = t.o.window, small = t.o.window_small_n, large = t.o.window_large_n;
  const AttentionOptions opts{.window_left = w, .window_right = w};
  const std::string v = "window (" + std::to_string(w) + ", " + std::to_string(w) + ")";
  Row a = t.run("window", v, kind, small, t.plain(t.c.B, t.c.H, t.c.H, small), opts);
  Row b = t.run("window", v, kind, large, t.plain(t.c.B, t.c.H, t.c.H, large), opts);
  t.target("per-token time at N=" + std::to_string(large) + " / N=" + std::to_string(small), kind,
           (b.m.seconds / large) / (a.m.seconds / small), 1.2, true);
}

// Sequence lengths uniform in [N/2, N] (a fixed seed), padded into [S, H, N, D] with key_lengths
// against packed into [1, H, sum, D] with cu_seqlens.
void packed_case(Table& t, const std::string& kind) {
  const int64_t n = t.o.packed_n, S = t.o.packed_sequences;
  Generator g(7);
  Tensor lens_t = randint(n / 2, n + 1, {S}, DType::int64, &g);
  std::vector<int64_t> lens = lens_t.to_vector<int64_t>(), cu{0};
  for (int64_t l : lens) cu.push_back(cu.back() + l);
  Row padded = t.run("packed", "padded, key_lengths", kind, n, t.plain(S, t.c.H, t.c.H, n),
                     {.key_lengths = lens_t});
  const Tensor cu_t = from_vector(cu, {S + 1});
  Row packed = t.run("packed", "packed, cu_seqlens (" + std::to_string(cu.back()) + " tokens)", kind, n,
                     t.plain(1, t.c.H, t.c.H, cu.back()), {.cu_seqlens_q = cu_t, .cu_seqlens_k = cu_t});
  t.target("packed / padded fwd+bwd", kind, packed.m.seconds / padded.m.seconds, 0.8, true);
}

// The plain call at plain_n beside each option, for time and memory.
void overhead_cases(Table& t, const std::string& kind, const std::vector<std::string>& which) {
  const int64_t n = t.o.plain_n, B = t.c.B, H = t.c.H;
  auto has = [&](const char* c) { return std::find(which.begin(), which.end(), c) != which.end(); };
  t.run("plain", "no option", kind, n, t.plain(B, H, H, n), {});
  if (has("gqa")) t.run("gqa", "kv heads H/4", kind, n, t.plain(B, H, std::max<int64_t>(H / 4, 1), n), {});
  if (has("bias")) {
    Generator g(3);
    Tensor bias = randn({1, H, n, n}, DType::float32, &g, 0, 1, t.c.device).set_requires_grad();
    t.run("bias", "bias [1, H, N, N] with gradient", kind, n, t.plain(B, H, H, n), {.bias = bias});
  }
  if (has("alibi")) t.run("alibi", "ALiBi, default slopes", kind, n, t.plain(B, H, H, n), {.position = PositionBias::alibi});
  if (has("relative")) {
    Generator g(4);
    Tensor table = randn({H, 32}, DType::float32, &g, 0, 1, t.c.device).set_requires_grad();
    t.run("relative", "T5 table [H, 32] with gradient", kind, n, t.plain(B, H, H, n),
          {.position = PositionBias::relative, .relative_table = table});
  }
  if (has("dropout")) t.run("dropout", "dropout 0.1", kind, n, t.plain(B, H, H, n), {.dropout_p = 0.1});
}

// The sgemm rate is measured right before and right after the attention call and the higher of
// the two taken (the conservative ratio): on a shared VM the machine's speed drifts within a run.
void sgemm_case(Table& t, const std::string& kind) {
  const int64_t n = 4096;
  const double before = sgemm_gflops(1024);
  Row r = t.run("sgemm", "N = 4096 (12 N^2 D flops per head)", kind, n, t.plain(t.c.B, t.c.H, t.c.H, n), {});
  const double after = sgemm_gflops(1024), rate = std::max(before, after);
  std::printf("  cblas_sgemm at 1024 right before / after: %.1f / %.1f GFLOP/s\n", before, after);
  const double gf = 12.0 * n * n * t.c.D * t.c.B * t.c.H / r.m.seconds / 1e9;
  t.targets.push_back({{"sgemm_gflops_before", before}, {"sgemm_gflops_after", after}});
  t.target("GFLOP/s / sgemm GFLOP/s", kind, gf / rate, 0.75, false);
}

}  // namespace

int run_options(const Config& c, const OptionsBench& o) {
  Table t{c, o};
  const std::vector<std::string> all = {"causal", "window", "packed", "gqa", "bias", "alibi", "relative", "dropout",
                                        "sgemm"};
  const std::vector<std::string>& which = o.cases.empty() ? all : o.cases;
  for (const std::string& w : which)
    if (std::find(all.begin(), all.end(), w) == all.end()) {
      std::fprintf(stderr, "error: unknown --options case '%s' (expected one of causal, window, packed, gqa, bias, "
                           "alibi, relative, dropout, sgemm)\n", w.c_str());
      return 2;
    }
  auto has = [&](const char* w) { return std::find(which.begin(), which.end(), w) != which.end(); };
  std::printf("%-9s %-34s %-8s %6s %10s %12s\n", "case", "variant", "kind", "N", "fwd+bwd s", "overhead");
  for (const std::string& kind : o.kinds) {
    if (has("causal")) causal_case(t, kind);
    if (has("window")) window_case(t, kind);
    if (has("packed")) packed_case(t, kind);
    if (has("gqa") || has("bias") || has("alibi") || has("relative") || has("dropout")) overhead_cases(t, kind, which);
    if (has("sgemm")) sgemm_case(t, kind);
  }
  t.save();
  std::printf("\nwrote %s\n", o.out.c_str());
  return 0;
}

}  // namespace memgrad::bench

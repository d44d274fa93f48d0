// The chunked attention kernels' block products, one at a time (a standalone kernel harness, as
// llm.c keeps one per kernel): GFLOP/s of each product of one (query block, key block) pair, on
// one thread and on every thread at once (each thread its own operands: the per-core rate when all
// cores are busy, as they are inside the kernel), beside two yardsticks measured in the same run:
//  - the FMA peak: a loop of 12 independent vector FMAs, no memory (no float32 code runs faster);
//  - cblas_sgemm at n = 1024, the reference the attention and training-step benchmarks use.
// Then the whole chunked forward and backward at B = 1, H = --heads, N = --n, against the time the
// products alone predict (pairs x the all-threads product times / threads): what the kernel loses
// outside its products (scheduling, the online softmax's bookkeeping, dQ's sums, barriers).
//
// The products are called as backends/cpu/cpu_attention_chunked.cpp calls them (operands in its
// layouts: q, k, v rows H * D apart as in [B, N, H, D]; P and dS rows chunked_block_ld apart), for
// float32 without options (no mask, terms or dropout). Not a test: nothing is checked.
#include <CLI/CLI.hpp>
#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "backends/cpu/block_gemm.h"
#include "backends/cpu/chunked_workspace.h"
#include "backends/cpu/fast_exp.h"
#include "backends/cpu/row_ops.h"
#include "benchmarks/bench_common.h"
#include "benchmarks/sgemm_rate.h"

extern "C" void openblas_set_num_threads(int);

using namespace memgrad;
using namespace memgrad::cpu;
using json = nlohmann::json;

namespace {

struct Config {
  int64_t q_chunk = kDefaultQChunk, k_chunk = kDefaultKChunk, n = 4096, heads = 4;
  std::vector<int64_t> head_dims{32, 64};
  int repeats = 9;  // rounds
};

// One thread's operands for one (query block, key block) pair, head dim D, all random (never zeros).
struct Operands {
  int64_t Cq, Ck, D, ld, ldP;  // ld: q/k/v rows (H * D); ldP: P and dS rows
  std::vector<float> Q, K, V;                // [Cq | Ck, D], rows ld apart
  std::vector<float> dO, acc, dQ, dV, dK;    // [Cq, D], [Cq, D], [Cq, D], [Ck, D], [Ck, D]
  std::vector<float> P, dS;                  // [Cq, Ck], rows ldP apart (the forward's S: Ck apart)
  std::vector<float> L, l, Delta;            // [Cq]: logsumexp, row sums, rowsum(dO * O)
  std::vector<float> Kt, Vn, Vt, Kn, Qp, dOp;  // packed (block_gemm.h): K_jᵀ, V_j, V_jᵀ, K_j, Q_i, dO_i

  Operands(int64_t cq, int64_t ck, int64_t d, int64_t heads, unsigned seed)
      : Cq(cq), Ck(ck), D(d), ld(heads * d), ldP(chunked_block_ld(ck)) {
    std::mt19937 g(seed);
    std::normal_distribution<float> nd;
    auto fill = [&](std::vector<float>& v, size_t n, float s) {
      v.resize(n);
      for (float& x : v) x = s * nd(g);
    };
    fill(Q, Cq * ld, 1), fill(K, Ck * ld, 1), fill(V, Ck * ld, 1), fill(dO, Cq * D, 1);
    fill(P, Cq * ldP, 0.01f), fill(dS, Cq * ldP, 0.01f);  // probabilities' and score gradients' sizes
    fill(acc, Cq * D, 1), fill(dV, Ck * D, 1), fill(dK, Ck * D, 1), fill(dQ, Cq * D, 1);
    fill(L, Cq, 1), fill(l, Cq, 1), fill(Delta, Cq, 1);
    for (float& x : L) x += 8;  // a logsumexp above the scores, as in backward
    Kt.resize(block_gemm_packed_size<float>(D, Ck)), Vn.resize(block_gemm_packed_size<float>(Ck, D));
    Vt.resize(block_gemm_packed_size<float>(D, Ck)), Kn.resize(block_gemm_packed_size<float>(Ck, D));
    Qp.resize(block_gemm_packed_size<float>(Cq, D)), dOp.resize(block_gemm_packed_size<float>(Cq, D));
    pack_all();
  }
  void pack_all() {
    pack_b(K.data(), D, Ck, 1, ld, Kt.data());   // K_jᵀ [D, Ck]
    pack_b(V.data(), Ck, D, ld, 1, Vn.data());   // V_j [Ck, D] (forward)
    pack_b(V.data(), D, Ck, 1, ld, Vt.data());   // V_jᵀ [D, Ck] (backward)
    pack_b(K.data(), Ck, D, ld, 1, Kn.data());   // K_j [Ck, D]
    pack_b(Q.data(), Cq, D, ld, 1, Qp.data());   // Q_i [Cq, D]
    pack_b(dO.data(), Cq, D, D, 1, dOp.data());  // dO_i [Cq, D]
  }
};

struct Product {
  const char* name;
  const char* what;
  bool forward;
  double flops;                        // per call; 0: not a product (time only)
  std::function<void(Operands&)> run;  // one pair's worth, or one key block's (per_key_block)
  bool per_key_block = false;          // backward: once per key block and kv head, not per pair
};

std::vector<Product> products(int64_t Cq, int64_t Ck, int64_t D) {
  const double f = 2.0 * Cq * Ck * D;
  const float s = 1.0f / std::sqrt(static_cast<float>(D));
  using V = BlockVec<float>;
  return {
      {"fwd S", "S = s Q Kᵀ [Cq, Ck], k = D", true, f,
       [=](Operands& o) { block_gemm(Cq, Ck, D, s, o.Q.data(), o.ld, 1, o.Kt.data(), 0.f, o.P.data(), Ck); }},
      {"fwd softmax", "row max, exp(S - m), row sums", true, 0,
       [=](Operands& o) {
         for (int64_t r = 0; r < Cq; ++r) {
           float* x = o.P.data() + r * Ck;
           o.l[r] = exp_sub_sum(x, row_max(x, Ck), x, Ck);
         }
       }},
      {"fwd PV", "acc += P V [Cq, D], k = Ck", true, f,
       [=](Operands& o) { block_gemm(Cq, D, Ck, 1.f, o.P.data(), Ck, 1, o.Vn.data(), 1.f, o.acc.data(), D); }},
      {"fwd pack", "K_jᵀ and V_j packed", true, 0,
       [=](Operands& o) {
         pack_b(o.K.data(), D, Ck, 1, o.ld, o.Kt.data());
         pack_b(o.V.data(), Ck, D, o.ld, 1, o.Vn.data());
       }},
      {"bwd P", "P = exp(s Q Kᵀ - L), exp in the epilogue", false, f,
       [=](Operands& o) {
         const float* L = o.L.data();
         block_gemm(Cq, Ck, D, s, o.Q.data(), o.ld, 1, o.Kt.data(), 0.f, o.P.data(), o.ldP,
                    vec_epilogue([=](int64_t r, int64_t, auto x) { return fast_exp_vec(x - L[r]); }));
       }},
      {"bwd dS", "dS = P (dO Vᵀ - Delta), in the epilogue", false, f,
       [=](Operands& o) {
         const float *P = o.P.data(), *Dl = o.Delta.data();
         const int64_t ldP = o.ldP;
         block_gemm(Cq, Ck, D, 1.f, o.dO.data(), D, 1, o.Vt.data(), 0.f, o.dS.data(), ldP,
                    vec_epilogue([=](int64_t r, int64_t c, auto dp) { return V::load(P + r * ldP + c) * (dp - Dl[r]); }));
       }},
      {"bwd dV", "dV += Pᵀ dO [Ck, D], k = Cq, P read transposed", false, f,
       [=](Operands& o) { block_gemm(Ck, D, Cq, 1.f, o.P.data(), 1, o.ldP, o.dOp.data(), 1.f, o.dV.data(), D); }},
      {"bwd dK", "dK += s dSᵀ Q [Ck, D], k = Cq", false, f,
       [=](Operands& o) { block_gemm(Ck, D, Cq, s, o.dS.data(), 1, o.ldP, o.Qp.data(), 1.f, o.dK.data(), D); }},
      {"bwd dQ", "dQ part = s dS K [Cq, D], k = Ck", false, f,
       [=](Operands& o) { block_gemm(Cq, D, Ck, s, o.dS.data(), o.ldP, 1, o.Kn.data(), 0.f, o.dQ.data(), D); }},
      {"bwd pack", "Q_i and dO_i packed", false, 0,
       [=](Operands& o) {
         pack_b(o.dO.data(), Cq, D, D, 1, o.dOp.data());
         pack_b(o.Q.data(), Cq, D, o.ld, 1, o.Qp.data());
       }},
      {"bwd key pack", "K_jᵀ, V_jᵀ, K_j packed, once per key block", false, 0,
       [=](Operands& o) {
         pack_b(o.K.data(), D, Ck, 1, o.ld, o.Kt.data());
         pack_b(o.V.data(), D, Ck, 1, o.ld, o.Vt.data());
         pack_b(o.K.data(), Ck, D, o.ld, 1, o.Kn.data());
       },
       true},
  };
}

// Seconds of one call of `run` on `threads` threads at once (each its own operands; the slowest
// thread's time), averaged over `calls` calls.
double sample_product(const Product& p, std::vector<Operands>& ops, int threads, int calls) {
  return bench::seconds([&] {
#pragma omp parallel num_threads(threads)
    {
      Operands& o = ops[static_cast<size_t>(omp_get_thread_num())];
      for (int c = 0; c < calls; ++c) p.run(o);
    }
  }) / calls;
}

// GFLOP/s of 12 independent vector FMA chains per thread, no memory: the float32 peak.
double fma_peak(int threads) {
  using V = BlockVec<float>;
  const int64_t iters = 20'000'000;
  std::vector<double> samples;
  for (int r = 0; r < 7; ++r) {
    double sink = 0;
    const double t = bench::seconds([&] {
#pragma omp parallel num_threads(threads) reduction(+ : sink)
      {
        V::type a[12], x = V::type{} + 1.0000001f, y = V::type{} + 0.9999999f;
        for (auto& v : a) v = V::type{} + static_cast<float>(omp_get_thread_num());
        for (int64_t i = 0; i < iters; ++i)
          for (auto& v : a) v = v * x + y;
        for (auto& v : a) sink += v[0];
      }
    });
    if (sink == 1234.5) std::puts("");  // keeps the loop
    samples.push_back(2.0 * 12 * V::W * iters * threads / t / 1e9);
  }
  return *std::max_element(samples.begin(), samples.end());
}

// The whole chunked kernel at B = 1: its inputs, and one timed forward and backward. q, k, v are
// [1, H, N, D] views of [1, N, H, D] leaves (rows H * D apart), as a model's head split hands them.
struct Kernel {
  Tensor q, k, v, w;  // leaves [1, N, H, D]; w: the output's gradient [1, H, N, D]
  AttentionOptions o;
  Kernel(const Config& c, int64_t D) {
    Generator g(3);
    q = randn({1, c.n, c.heads, D}, DType::float32, &g).set_requires_grad();
    k = randn({1, c.n, c.heads, D}, DType::float32, &g).set_requires_grad();
    v = randn({1, c.n, c.heads, D}, DType::float32, &g).set_requires_grad();
    w = randn({1, c.heads, c.n, D}, DType::float32, &g);
    o.kind = AttentionKind::chunked, o.q_chunk = c.q_chunk, o.k_chunk = c.k_chunk;
  }
  std::pair<double, double> seconds() {
    Tensor out;
    const double tf = bench::seconds([&] { out = attention(transpose(q, 1, 2), transpose(k, 1, 2), transpose(v, 1, 2), o); });
    const double tb = bench::seconds([&] { out.backward(w); });
    for (Tensor* t : {&q, &k, &v}) t->set_grad(Tensor());
    return {tf, tb};
  }
};

}  // namespace

int main(int argc, char** argv) {
  Config c;
  std::string out = "benchmarks/results/block_gemm.json";
  CLI::App app{"GFLOP/s of each block product of the chunked attention kernels, and what the kernel adds"};
  app.add_option("--q-chunk", c.q_chunk, "query block Cq")->capture_default_str();
  app.add_option("--k-chunk", c.k_chunk, "key block Ck")->capture_default_str();
  app.add_option("--head-dims", c.head_dims, "head dims D")->capture_default_str();
  app.add_option("--n", c.n, "sequence length of the whole-kernel run (B = 1)")->capture_default_str();
  app.add_option("--heads", c.heads, "heads of the whole-kernel run (and the q/k/v row stride)")->capture_default_str();
  app.add_option("--repeats", c.repeats, "rounds (medians over them)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--out", out, "JSON output path")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (c.q_chunk < 1 || c.k_chunk < 1 || c.n < 1 || c.heads < 1 || c.head_dims.empty() ||
      std::any_of(c.head_dims.begin(), c.head_dims.end(), [](int64_t d) { return d < 1; })) {
    std::fprintf(stderr, "error: bench_block_gemm: --q-chunk, --k-chunk, --n, --heads and --head-dims must be positive\n");
    return 2;
  }
  const int threads = omp_get_max_threads();
  const json m = bench::machine();
  std::printf("machine: %s\n", bench::describe(m).c_str());
  const double peak1 = fma_peak(1), peakT = fma_peak(threads);
  openblas_set_num_threads(1);
  const double sgemm1 = bench::sgemm_gflops(1024);
  openblas_set_num_threads(threads);
  const double sgemmT = bench::sgemm_gflops(1024);
  std::printf("FMA peak: %.1f GFLOP/s on 1 thread, %.1f per thread on %d; cblas_sgemm at 1024: %.1f on 1 thread, "
              "%.1f per thread on %d\n",
              peak1, peakT / threads, threads, sgemm1, sgemmT / threads, threads);
  json doc{{"machine", m},         {"command", bench::command_line(argc, argv)},
           {"utc", bench::utc_timestamp()},
           {"threads", threads},   {"fma_peak_gflops_1", peak1},
           {"fma_peak_gflops_all", peakT}, {"sgemm_gflops_1", sgemm1},
           {"sgemm_gflops_all", sgemmT},   {"q_chunk", c.q_chunk},
           {"k_chunk", c.k_chunk},         {"runs", json::array()}};
  for (int64_t D : c.head_dims) {
    const int64_t Cq = std::min(c.q_chunk, c.n), Ck = std::min(c.k_chunk, c.n);
    std::vector<Operands> ops;
    for (int t = 0; t < threads; ++t) ops.emplace_back(Cq, Ck, D, c.heads, 17u + static_cast<unsigned>(t));
    std::printf("\nCq %ld, Ck %ld, D %ld: one pair's products (GFLOP/s per thread; all threads busy against one thread's FMA peak)\n",
                static_cast<long>(Cq), static_cast<long>(Ck), static_cast<long>(D));
    std::printf("  %-12s %-50s %10s %10s %8s %10s\n", "product", "", "1 thread", "all", "% peak", "us (all)");
    // rounds: every product once on one thread and once on all, then the kernel, so that the
    // machine's drift spreads over all of them alike; medians over the rounds
    const std::vector<Product> prods = products(Cq, Ck, D);
    std::vector<int> calls;  // per sample: about 20 ms
    for (const Product& p : prods)
      calls.push_back(std::max(1, static_cast<int>(0.02 / std::max(1e-7, sample_product(p, ops, 1, 2)))));
    Kernel kernel(c, D);
    kernel.seconds();  // warm-up
    std::vector<std::vector<double>> s1(prods.size()), sT(prods.size());
    std::vector<double> kf, kb;
    for (int r = 0; r < c.repeats; ++r) {
      for (size_t i = 0; i < prods.size(); ++i) {
        s1[i].push_back(sample_product(prods[i], ops, 1, calls[i]));
        sT[i].push_back(sample_product(prods[i], ops, threads, calls[i]));
      }
      const auto [f, b] = kernel.seconds();
      kf.push_back(f), kb.push_back(b);
    }
    const double q_blocks = std::ceil(double(c.n) / Cq), pairs = q_blocks * std::ceil(double(c.n) / Ck) * double(c.heads);
    double pf = 0, pb = 0;  // the whole kernel's seconds on all threads, as the products predict
    json rows = json::array();
    for (size_t i = 0; i < prods.size(); ++i) {
      const Product& p = prods[i];
      const double t1 = bench::median(s1[i]), tT = bench::median(sT[i]);
      (p.forward ? pf : pb) += tT * (p.per_key_block ? pairs / q_blocks : pairs) / threads;
      if (p.flops > 0)
        std::printf("  %-12s %-50s %10.1f %10.1f %7.0f%% %10.1f\n", p.name, p.what, p.flops / t1 / 1e9, p.flops / tT / 1e9,
                    100 * p.flops / tT / peak1 / 1e9, tT * 1e6);
      else
        std::printf("  %-12s %-50s %10s %10s %8s %10.1f\n", p.name, p.what, "-", "-", "-", tT * 1e6);
      rows.push_back({{"product", p.name}, {"what", p.what}, {"forward", p.forward}, {"flops", p.flops},
                      {"per_key_block", p.per_key_block}, {"seconds_1", t1}, {"seconds_all", tT}});
    }
    const double tf = bench::median(kf), tb = bench::median(kb);
    std::printf("  chunked at B 1, H %ld, N %ld: forward %.4f s (the products predict %.4f: %.0f%%), backward %.4f s "
                "(%.4f: %.0f%%)\n",
                static_cast<long>(c.heads), static_cast<long>(c.n), tf, pf, 100 * pf / tf, tb, pb, 100 * pb / tb);
    const double counted = 12.0 * c.heads * double(c.n) * double(c.n) * double(D);  // as bench_attention's sgemm case
    std::printf("  counted 12 N^2 D per head: %.1f GFLOP/s, %.2f of sgemm's rate on all threads\n", counted / (tf + tb) / 1e9,
                counted / (tf + tb) / 1e9 / sgemmT);
    doc["runs"].push_back({{"D", D}, {"q_chunk", Cq}, {"k_chunk", Ck}, {"products", rows}, {"n", c.n},
                           {"heads", c.heads}, {"kernel_forward_s", tf}, {"kernel_backward_s", tb},
                           {"predicted_forward_s", pf}, {"predicted_backward_s", pb}});
  }
  bench::write_atomically(out, doc.dump(2) + "\n");
  std::printf("\nwrote %s\n", out.c_str());
  return 0;
}

// bench_distributed: what memgrad::dist costs and buys, run under mpirun with 1 and with 2 ranks
// (docs/distributed.md):
//   ring   ring attention (AttentionOptions::context_parallel), forward + backward of one causal
//          sequence of N tokens split across the ranks: seconds and each rank's peak bytes above
//          its inputs (memgrad's allocator), for each --sizes N;
//   dp     a data-parallel training step (nn::DataParallel) of the transformer classifier of
//          bench_train_step at --dp-len, global batch --dp-batch split across the ranks: seconds,
//          peak bytes per rank, and the gradient bytes all-reduced per step.
// Rank 0 prints the table and writes JSON atomically (--out). The time of a step is the slowest
// rank's (all ranks wait for each other anyway).
//
//   mpirun -np 2 --oversubscribe --allow-run-as-root -x OMP_NUM_THREADS=1 build/benchmarks/bench_distributed
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "benchmarks/bench_common.h"
#include "core/allocator.h"
#include "dist/dist.h"
#include "nn/data_parallel.h"
#include "nn/heads.h"
#include "nn/layers.h"
#include "nn/optim/optimizer.h"
#include "nn/positional.h"
#include "nn/transformer.h"

using namespace memgrad;
using json = nlohmann::json;

namespace {

struct Timed {
  double seconds = 0;  // median over the repeats of the slowest rank's time
  int64_t peak = 0;    // this rank's peak bytes above the baseline, the largest over the ranks
};

// The largest value over the ranks.
double max_over_ranks(double x) {
  Tensor t = from_vector(std::vector<double>{x}, {1});
  dist::all_reduce(t, dist::Reduce::max);
  return t.to_vector<double>()[0];
}

template <class F>
Timed measure(int repeats, F&& once) {
  std::vector<double> times;
  int64_t peak = 0;
  for (int i = 0; i <= repeats; ++i) {  // the first is a warm-up
    dist::barrier();
    memory::PeakMeter meter;
    const double s = bench::seconds(once);
    peak = std::max(peak, meter.overhead());
    if (i > 0) times.push_back(max_over_ranks(s));
  }
  return {bench::median(times), static_cast<int64_t>(max_over_ranks(static_cast<double>(peak)))};
}

Timed ring(int64_t N, int64_t H, int64_t D, int repeats) {
  Generator g(1);
  const AttentionOptions o{.kind = AttentionKind::chunked, .causal = true, .context_parallel = true};
  // this rank's share only: the whole sequence never exists on one rank
  const int64_t n = context_parallel_shard(empty({N}), 0).numel();
  Tensor q = randn({1, H, n, D}, DType::float32, &g).set_requires_grad();
  Tensor k = randn({1, H, n, D}, DType::float32, &g).set_requires_grad();
  Tensor v = randn({1, H, n, D}, DType::float32, &g).set_requires_grad();
  return measure(repeats, [&] {
    for (Tensor* t : {&q, &k, &v}) t->set_grad(Tensor());
    sum(attention(q, k, v, o)).backward();
  });
}

class Classifier : public nn::Module {
 public:
  explicit Classifier(int64_t len) {
    nn::TransformerConfig t;
    t.dim = 128, t.heads = 4, t.layers = 2, t.ff_hidden = 256, t.dropout = 0.0;
    emb = register_module("emb", std::make_shared<nn::Embedding>(256, 128));
    pos = register_module("pos", std::make_shared<nn::LearnedPositionalEncoding>(len, 128));
    enc = register_module("enc", std::make_shared<nn::TransformerEncoder>(t));
    head = register_module("head", std::make_shared<nn::ClassificationHead>(128, 128, 10));
  }
  Tensor forward(const Tensor& tokens) const {
    return head->forward(nn::pool(enc->forward(pos->forward(emb->forward(tokens))), nn::Pooling::mean));
  }
  std::shared_ptr<nn::Embedding> emb;
  std::shared_ptr<nn::LearnedPositionalEncoding> pos;
  std::shared_ptr<nn::TransformerEncoder> enc;
  std::shared_ptr<nn::ClassificationHead> head;
};

struct DpResult {
  Timed t;
  int64_t bytes_per_step = 0, buckets = 0;
};

DpResult data_parallel(int64_t batch, int64_t len, int repeats) {
  manual_seed(0);
  Classifier model(len);
  nn::DataParallel dp(model);
  optim::AdamW opt(model.parameters());
  const int64_t share = batch / dist::world_size();
  Generator g(7 + static_cast<uint64_t>(dist::rank()));  // this rank's examples
  const Tensor tokens = randint(0, 256, {share, len}, DType::int64, &g), labels = randint(0, 10, {share}, DType::int64, &g);
  DpResult r;
  r.t = measure(repeats, [&] {
    opt.zero_grad();
    cross_entropy(model.forward(tokens), labels).backward();
    dp.synchronize();
    opt.step();
  });
  r.bytes_per_step = dp.bytes_per_step(), r.buckets = dp.num_buckets();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memgrad::dist: ring attention and data-parallel steps, under mpirun with 1 or more ranks"};
  std::vector<int64_t> sizes{16384, 65536};
  int64_t heads = 4, dim = 64, dp_batch = 8, dp_len = 512;
  int repeats = 3;
  std::string out = "benchmarks/results/distributed_np" + std::to_string(dist::world_size()) + ".json";
  app.add_option("--sizes", sizes, "ring attention: sequence lengths N")->capture_default_str();
  app.add_option("--heads", heads)->capture_default_str();
  app.add_option("--head-dim", dim)->capture_default_str();
  app.add_option("--dp-batch", dp_batch, "data parallel: the global batch")->capture_default_str();
  app.add_option("--dp-len", dp_len, "data parallel: the sequence length")->capture_default_str();
  app.add_option("--repeats", repeats, "timed runs after a warm-up (median)")->capture_default_str();
  app.add_option("--out", out, "JSON output (rank 0 writes it)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const int P = dist::world_size(), r = dist::rank();
  MG_CHECK(dp_batch % P == 0, "bench_distributed", "--dp-batch {} does not split among {} ranks", dp_batch, P);
  if (r == 0)
    std::printf("bench_distributed: %d rank(s) (%s), %d OpenMP thread(s) each\nmachine: %s\n\n", P,
                dist::backend_name().c_str(), omp_get_max_threads(), bench::describe(bench::machine()).c_str());
  json rows = json::array();
  if (r == 0) std::printf("%-6s %8s %12s %16s\n", "case", "N", "s (fwd+bwd)", "peak per rank");
  for (int64_t N : sizes) {
    const Timed t = ring(N, heads, dim, repeats);
    if (r == 0) std::printf("%-6s %8lld %12.3f %16s\n", "ring", static_cast<long long>(N), t.seconds, bench::human_bytes(double(t.peak)).c_str());
    rows.push_back({{"case", "ring"}, {"n", N}, {"heads", heads}, {"head_dim", dim}, {"seconds", t.seconds}, {"peak_bytes_per_rank", t.peak}});
  }
  const DpResult d = data_parallel(dp_batch, dp_len, repeats);
  if (r == 0)
    std::printf("%-6s %8lld %12.3f %16s   (global batch %lld; %s all-reduced per step in %lld buckets)\n", "dp",
                static_cast<long long>(dp_len), d.t.seconds, bench::human_bytes(double(d.t.peak)).c_str(),
                static_cast<long long>(dp_batch), bench::human_bytes(double(d.bytes_per_step)).c_str(),
                static_cast<long long>(d.buckets));
  rows.push_back({{"case", "dp"}, {"len", dp_len}, {"global_batch", dp_batch}, {"seconds", d.t.seconds},
                  {"peak_bytes_per_rank", d.t.peak}, {"allreduce_bytes_per_step", d.bytes_per_step}, {"buckets", d.buckets}});
  if (r == 0) {
    json doc = {{"benchmark", "distributed"}, {"ranks", P}, {"transport", dist::backend_name()},
                {"threads_per_rank", omp_get_max_threads()}, {"machine", bench::machine()},
                {"command", bench::command_line(argc, argv)}, {"when", bench::utc_timestamp()}, {"results", rows}};
    bench::write_atomically(out, doc.dump(2) + "\n");
    std::printf("\nwrote %s\n", out.c_str());
  }
  dist::barrier();
  return 0;
}

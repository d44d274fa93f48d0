#include "examples/lra/memory_estimate.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "autograd/attention.h"

namespace memgrad::lra {

namespace {

constexpr int64_t kF = 4;  // bytes of a float32

struct Candidate {
  int64_t bytes;
  const char* where;
};

// Parameter bytes of each part of the model (same shapes as model.cpp and nn/).
struct ParamBytes {
  int64_t total = 0, largest = 0;
  int64_t head = 0, final_norm = 0, layer_post = 0;  // the gradients that exist early in backward
};

ParamBytes param_bytes(const ModelConfig& m) {
  const auto& e = m.encoder;
  const int64_t D = e.dim, F = e.ff_hidden, C = m.classes, Hh = m.head_hidden > 0 ? m.head_hidden : D;
  const int64_t head_in = m.pair ? 4 * D : D;
  const int64_t cls = m.pooling == nn::Pooling::cls ? D : 0;  // the learned CLS token
  const std::vector<int64_t> tensors = {m.vocab * D, m.positions() * D, 3 * D * D, F * D, head_in * Hh};
  ParamBytes p;
  p.head = (head_in * Hh + Hh + Hh * C + C) * kF;
  p.final_norm = 2 * D * kF;
  const int64_t attn = (3 * D * D + 3 * D) + (D * D + D), ff = (F * D + F) + (D * F + D), norms = 4 * D;
  p.layer_post = (D * D + D + ff + 2 * D) * kF;  // out projection, ln2, feed-forward
  p.total = (m.vocab * D + m.positions() * D + cls) * kF + e.layers * (attn + ff + norms) * kF + p.final_norm + p.head;
  p.largest = *std::max_element(tensors.begin(), tensors.end()) * kF;
  return p;
}

}  // namespace

MemoryEstimate estimate_step_memory(const ModelConfig& m, int64_t batch, int64_t seq_len, int threads) {
  const auto& e = m.encoder;
  const AttentionKind kind = e.attention.kind;
  // With CLS pooling the encoder sees one more position than the batch has tokens.
  const int64_t B = batch, N = seq_len + (m.pooling == nn::Pooling::cls ? 1 : 0);
  const int64_t D = e.dim, F = e.ff_hidden, H = e.heads, L = e.layers, Dh = D / H;
  const int64_t nt = threads > 0 ? threads : omp_get_max_threads();
  const int64_t towers = m.pair ? 2 : 1;
  const bool drop = e.dropout > 0;

  // Sizes of one tower's tensors, in bytes.
  const int64_t T = B * N;
  const int64_t X = T * D * kF;   // a [B, N, D] activation
  const int64_t Fx = T * F * kF;  // a [B, N, ff_hidden] activation
  const int64_t S = T * kF;       // one float per token (LayerNorm mean / rstd, pooling weights)
  const int64_t P = B * H * N * N * kF;                       // vanilla's [B, H, N, N]
  const int64_t kk = std::min(e.attention.top_k, N);
  const int64_t K2 = 2 * B * H * N * kk * kF;                 // topk's indices (int32) + probabilities
  const int64_t lse = B * H * N * kF;                         // chunked's logsumexp
  const int64_t mask = B * N;                                 // bool key masks

  // Saved per layer (its input is the previous layer's output, counted there; its output counted here).
  const int64_t pre = X + 2 * S;                                       // ln1 output, ln1 statistics
  int64_t attn = 3 * X + X;                                            // qkv projection, merged heads
  if (kind == AttentionKind::vanilla) attn += P + 2 * mask;            // probabilities, masks
  if (kind == AttentionKind::chunked) attn += X + lse + mask;          // O, logsumexp, key mask
  if (kind == AttentionKind::topk) attn += K2;                         // indices, probabilities
  const int64_t post = X + (X + 2 * S) + 2 * Fx + X + (drop ? 2 * X + Fx : 0);  // h, ln2, fc1/act, output, dropout
  const int64_t layer = pre + attn + post;
  const int64_t A0 = X;              // embeddings + positions, the first layer's input
  const int64_t tail = 2 * S + S;    // final LayerNorm statistics, pooling weights
  const int64_t saved = e.checkpoint ? A0 + L * X + tail : A0 + L * layer + tail;

  const ParamBytes pb = param_bytes(m);
  MemoryEstimate r;
  r.params = pb.total;
  r.optimizer = 2 * pb.total;
  r.batch = towers * (B * seq_len * 4 + B * 8) + B * 8;  // int32 tokens, int64 lengths, labels
  r.saved = towers * saved;
  const int64_t others = (towers - 1) * saved;  // the other tower, fully saved while this one peaks

  // Transients of the last layer's attention: what it holds beyond `before`, the state before it.
  const int64_t Cq = std::min<int64_t>(e.attention.q_chunk.value_or(kDefaultQChunk), N);
  const int64_t Ck = std::min<int64_t>(e.attention.k_chunk.value_or(kDefaultKChunk), N);
  const int64_t Cq_top =
      std::clamp<int64_t>((int64_t{1} << 20) / N, 1, e.attention.q_chunk.value_or(kDefaultTopkQChunk));
  const int64_t grads_late = pb.head + pb.final_norm + pb.layer_post;  // gradients done before the last attention

  // The state around the last layer: everything else saved, then the layer's own parts.
  auto layer_candidates = [&](int64_t before, int64_t layer_state, int64_t extra_held,
                              std::vector<Candidate>& out) {
    // forward of the last layer, up to its attention
    out.push_back({before + pre + 6 * X, "qkv projection (forward)"});
    if (kind == AttentionKind::vanilla) out.push_back({before + pre + 3 * X + 2 * P + X, "vanilla scores (forward)"});
    if (kind == AttentionKind::chunked)
      out.push_back({before + pre + 3 * X + X + lse + nt * (Cq * Ck + Cq * Dh + 2 * Cq) * kF, "chunked forward"});
    if (kind == AttentionKind::topk)
      out.push_back({before + pre + 3 * X + X + K2 + nt * ((Cq_top * N + kk) * kF + N * 8 + kk * 4), "topk forward"});
    // backward: the feed-forward's hidden gradient, then the attention with the residual gradient held
    const int64_t top = before + layer_state + extra_held;
    out.push_back({top + Fx + (drop ? X : 0) + pb.head + pb.final_norm, "feed-forward backward"});
    const int64_t at_attn = top - post - X + 2 * X + grads_late;  // post-attention parts and merged freed
    if (kind == AttentionKind::vanilla) out.push_back({at_attn + 2 * P, "vanilla attention backward"});
    if (kind == AttentionKind::chunked)
      out.push_back({at_attn + 4 * X + lse + nt * (2 * Cq * Ck + Cq * D) * kF, "chunked attention backward"});
    if (kind == AttentionKind::topk) out.push_back({at_attn + 4 * X + nt * 2 * kk * kF, "topk attention backward"});
  };

  std::vector<Candidate> c;
  if (!e.checkpoint) {
    c.push_back({saved + 2 * X + pb.head, "start of backward"});  // pooling and final LayerNorm gradients
    if (L > 0) layer_candidates(A0 + (L - 1) * layer, layer, tail, c);
  } else if (L > 0) {
    // Only layer inputs are kept; the last layer is recomputed in backward with the incoming
    // gradient and its recorded output held by the checkpoint until its inner backward ends.
    c.push_back({saved + 2 * X + pb.head, "start of backward"});
    const int64_t before = A0 + (L - 1) * X + tail;  // the last layer's output was freed by the final LayerNorm
    layer_candidates(before, layer, 2 * X, c);  // the recorded output and the incoming gradient
  }
  for (auto& cand : c) cand.bytes += others;
  c.push_back({pb.total + 4 * pb.largest, "optimizer step"});  // gradients + clipping's float64 square

  auto best = std::max_element(c.begin(), c.end(),
                               [](const Candidate& a, const Candidate& b) { return a.bytes < b.bytes; });
  r.total = r.params + r.optimizer + r.batch + best->bytes;
  r.peak_at = best->where;
  return r;
}

int64_t available_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream fields(line.substr(13));
    int64_t kib = -1;
    fields >> kib;
    return kib < 0 ? -1 : kib * 1024;
  }
  return -1;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.{}f} {}", bytes, bytes < 10 ? 2 : 1, units[u]);
}

}  // namespace memgrad::lra

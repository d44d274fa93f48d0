#include "examples/lra/memory_estimate.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "autograd/attention.h"
#include "autograd/ops.h"
#include "backends/cpu/chunked_workspace.h"
#include "core/system_memory.h"
#include "dist/dist.h"
#include "examples/lra/checked.h"

namespace memgrad::lra {

namespace {

constexpr int64_t kF = 4;  // bytes of a float32

// Every count below is a checked Count (checked.h): sizes that overflow int64 throw SizeOverflow,
// which estimate_step_memory turns into an error naming them.
enum class Phase { forward, backward, optimizer };
struct Candidate {
  Count bytes;
  const char* where;
  Phase phase = Phase::backward;
};

// Parameter bytes of each part of the model (same shapes as model.cpp and nn/).
struct ParamBytes {
  Count total = 0, largest = 0;
  Count head = 0, final_norm = 0, layer_post = 0;  // the gradients that exist early in backward
};

ParamBytes param_bytes(const ModelConfig& m) {
  const auto& e = m.encoder;
  const Count D = e.dim, F = e.ff_hidden, C = m.classes, Hh = m.head_hidden > 0 ? m.head_hidden : e.dim;
  const Count KV = Count(e.kv_heads > 0 ? e.kv_heads : e.heads) * (e.dim / e.heads);  // k (or v) features
  const Count head_in = m.pair ? 4 * D : D;
  const Count cls = m.pooling == nn::Pooling::cls ? D : 0;  // the learned CLS token
  const Count positions = Count(m.max_len) + (m.pooling == nn::Pooling::cls ? 1 : 0);  // ModelConfig::positions()
  // the learned table is a parameter; the sinusoidal one a buffer of the same size (counted here too:
  // an overestimate of its optimizer state); alibi and relative have none
  const bool table = m.position == PositionKind::learned || m.position == PositionKind::sinusoidal;
  const Count pos = table ? positions * D : Count(0);
  const Count rel = m.position == PositionKind::relative ? Count(e.heads) * e.relative_buckets : Count(0);
  const std::vector<Count> tensors = {m.vocab * D, pos, (D + 2 * KV) * D, F * D, head_in * Hh};
  ParamBytes p;
  p.head = (head_in * Hh + Hh + Hh * C + C) * kF;
  p.final_norm = 2 * D * kF;
  const Count attn = (D + 2 * KV) * (D + 1) + (D * D + D) + rel, ff = (F * D + F) + (D * F + D), norms = 4 * D;
  p.layer_post = (D * D + D + ff + 2 * D) * kF;  // out projection, ln2, feed-forward
  p.total = (m.vocab * D + pos + cls) * kF + e.layers * (attn + ff + norms) * kF + p.final_norm + p.head;
  p.largest = *std::max_element(tensors.begin(), tensors.end()) * kF;
  return p;
}

// The sizes the estimate divides by or multiplies; a clear error instead of a division by zero.
void check_sizes(const ModelConfig& m, int64_t batch, int64_t seq_len, int threads) {
  const auto& e = m.encoder;
  constexpr const char* op = "lra memory estimate";
  MG_CHECK(batch >= 1 && seq_len >= 1, op, "batch {} and sequence length {} must be positive", batch, seq_len);
  MG_CHECK(e.dim >= 1 && e.heads >= 1 && e.ff_hidden >= 1 && e.layers >= 0, op,
           "dim {}, heads {} and ff {} must be positive and layers {} not negative", e.dim, e.heads, e.ff_hidden,
           e.layers);
  MG_CHECK(e.dim % e.heads == 0, op, "dim {} is not divisible by heads {}", e.dim, e.heads);
  MG_CHECK(e.kv_heads >= 0 && (e.kv_heads == 0 || e.heads % e.kv_heads == 0), op,
           "kv_heads {} must divide heads {} (0: one per head)", e.kv_heads, e.heads);
  MG_CHECK(e.relative_buckets >= 1, op, "relative_buckets {} must be positive", e.relative_buckets);
  MG_CHECK(m.vocab >= 1 && m.classes >= 1 && m.max_len >= 1 && m.head_hidden >= 0, op,
           "vocab {}, classes {} and max_len {} must be positive and head_hidden {} not negative", m.vocab, m.classes,
           m.max_len, m.head_hidden);
  MG_CHECK(e.attention.top_k >= 1, op, "top_k {} must be positive", e.attention.top_k);
  MG_CHECK(e.attention.q_chunk.value_or(1) >= 1 && e.attention.k_chunk.value_or(1) >= 1, op,
           "chunk sizes must be positive");
  MG_CHECK(e.ff_topk.top_k >= 0 && e.ff_topk.chunk >= 1, op,
           "ff top_k {} must not be negative and ff chunk {} positive", e.ff_topk.top_k, e.ff_topk.chunk);
  MG_CHECK(threads >= 0, op, "threads {} must not be negative", threads);
}

// The rows of an n-slot sequence the largest share holds: context parallel, the most any rank of
// memgrad::dist's world holds under the zigzag split (context_parallel_rows); else all n.
int64_t rank_rows(const ModelConfig& m, int64_t n) {
  if (!m.context_parallel) return n;
  int64_t most = 0;
  for (int r = 0; r < dist::world_size(); ++r) most = std::max(most, context_parallel_rows(n, r, dist::world_size()));
  return most;
}

// Packed (batch.h): `batch` sequences in one row of seq_len tokens; else batch rows of seq_len.
MemoryEstimate estimate_unchecked(const ModelConfig& m, int64_t batch, int64_t seq_len, int threads, bool packed) {
  const auto& e = m.encoder;
  const AttentionKind kind = e.attention.kind;
  // With CLS pooling the encoder sees one more position per sequence than the batch has tokens.
  const Count seqs = batch, cls_slots = m.pooling == nn::Pooling::cls ? (packed ? seqs : Count(1)) : Count(0);
  const Count B = packed ? Count(1) : seqs, N = rank_rows(m, (Count(seq_len) + cls_slots).value());
  const Count D = e.dim, F = e.ff_hidden, H = e.heads, L = e.layers, Dh = e.dim / e.heads;
  const Count KV = Count(e.kv_heads > 0 ? e.kv_heads : e.heads) * Dh;  // k (or v) features per token
  const Count nt = threads > 0 ? threads : omp_get_max_threads();
  const Count towers = m.pair ? 2 : 1;
  const bool drop = e.dropout > 0;

  // Sizes of one tower's tensors, in bytes.
  const Count T = B * N;
  const Count X = T * D * kF;   // a [B, N, D] activation
  const Count Fx = T * F * kF;  // a [B, N, ff_hidden] activation
  const Count S = T * kF;       // one float per token (LayerNorm mean / rstd, pooling weights)
  const Count QKV = T * (D + 2 * KV) * kF;  // the fused q/k/v projection (k, v narrower with kv_heads)
  // Each kind's own tensors, counted only for that kind (vanilla's N^2 may overflow where the others fit).
  const bool vanilla = kind == AttentionKind::vanilla, topk = kind == AttentionKind::topk;
  const Count P = vanilla ? B * H * N * N * kF : 0;          // vanilla's [B, H, N, N]
  const Count kk = std::min(Count(e.attention.top_k), N);
  const Count K2 = topk ? 2 * B * H * N * kk * kF : 0;       // topk's indices (int32) + probabilities
  const Count lse = B * H * N * kF;                          // chunked's logsumexp
  const Count mask = B * N;                                  // bool key masks
  // The feed-forward's hidden activations. Dense: [T, ff] before (and with dropout after) the activation. Top-k
  // (0 < top_k < ff, nn/layers.h): per token the k kept values before and after the activation
  // and their int64 indices, and while a chunk of tokens runs, its dense [chunk, ff] product and
  // the selection's scratch (two of them: an overestimate rather than an underestimate).
  const bool ff_topk = e.ff_topk.top_k > 0 && e.ff_topk.top_k < e.ff_hidden;
  const Count Kf = ff_topk ? Count(e.ff_topk.top_k) : F;
  // Dense without dropout: the pre-activation alone (nn::FeedForward runs feed_forward(), which
  // recomputes the activation in backward); with dropout, before and after the activation.
  const Count ff_saved = ff_topk ? T * Kf * (2 * kF + 8) : (drop ? 2 * Fx : Fx);
  const Count ff_drop = ff_topk ? T * Kf * kF : Fx;               // the dropout mask of the hidden layer
  const Count ff_work = ff_topk ? 2 * std::min(Count(e.ff_topk.chunk), T) * F * kF : 0;
  // the backward's [T, ff] transients. Dense without dropout (feed_forward()): one block of rows
  // at a time, its two [rows, ff] transients (dPre, the recomputed activation) about
  // kFeedForwardBlockBytes together (autograd/ops.h), beside the input side's gradient [T, D],
  // then ln2's dX beside it. With dropout (linear()s): dPre.
  const int64_t ff_row_bytes = std::max<int64_t>((2 * F * kF).value(), 1);
  const Count ff_rows = std::clamp<int64_t>(kFeedForwardBlockBytes / ff_row_bytes, 1, std::max<int64_t>(T.value(), 1));
  const Count ff_block = ff_rows * 2 * F * kF;
  const Count ff_hidden_grad = ff_topk ? T * Kf * kF + ff_work : (drop ? Fx : 2 * X + ff_block);

  // Saved per layer (its input is the previous layer's output, counted there; its output counted here).
  // ln1 and ln2 run inside the ops that read them (autograd InputNorm): their statistics are
  // saved, their outputs recomputed in backward; ln2's output is saved only before the top-k
  // feed-forward, whose ops take no input norm.
  const Count pre = 2 * S;                                             // ln1 statistics
  // qkv projection, merged heads: a copy for vanilla; chunked's and topk's outputs are laid out
  // as the merged heads (autograd/ops/attention.cpp), which are then a view of them
  Count attn = QKV + X;
  if (kind == AttentionKind::vanilla) attn += P + 2 * mask;            // probabilities, masks
  // vanilla's dense rules (autograd/ops/attention_vanilla.cpp): a [N, N] bool mask for packed
  // sequences or a window, the [N * N] int64 bucket index of the relative table's gather, and the
  // [1, H, N, N] position terms (counted as saved: an overestimate of a transient)
  const bool windowed = e.attention.window_left >= 0 || e.attention.window_right >= 0;
  if (vanilla && (packed || windowed)) attn += N * N;
  if (vanilla && m.position == PositionKind::relative) attn += N * N * 8;
  if (vanilla && (m.position == PositionKind::relative || m.position == PositionKind::alibi)) attn += H * N * N * kF;
  if (kind == AttentionKind::chunked) attn += lse + mask;              // logsumexp, key mask (O: above)
  if (kind == AttentionKind::topk) attn += K2;                         // indices, probabilities
  const Count ln2 = (ff_topk ? X : 0) + 2 * S;  // ln2 output (top-k only), statistics
  const Count post = X + ln2 + ff_saved + X + (drop ? 2 * X + ff_drop : 0);  // h, ln2, fc1/act, output, dropout
  const Count layer = pre + attn + post;
  const Count A0 = X;              // embeddings + positions, the first layer's input
  // final LayerNorm statistics, pooling weights (packed: the [sequences, T] mean weights, or the
  // CLS slots' index tensors)
  const Count tail = 2 * S + (packed ? seqs * T * kF + 2 * T * 8 : S);
  const Count saved = e.checkpoint ? A0 + L * X + tail : A0 + L * layer + tail;

  const ParamBytes pb = param_bytes(m);
  MemoryEstimate r;
  r.params = pb.total.value();
  r.optimizer = (2 * pb.total).value();
  // int32 tokens, int64 lengths (packed: and cu_seqlens), labels
  r.batch = (towers * (B * seq_len * 4 + seqs * 8 + (packed ? (seqs + 1) * 8 : Count(0))) + seqs * 8).value();
  r.saved = (towers * saved).value();
  const Count others = (towers - 1) * saved;  // the other tower, fully saved while this one peaks

  // Transients of the last layer's attention: what it holds beyond `before`, the state before it.
  const Count Cq = std::min(Count(e.attention.q_chunk.value_or(kDefaultQChunk)), N);
  const Count Ck = std::min(Count(e.attention.k_chunk.value_or(kDefaultKChunk)), N);
  const Count Cq_top = std::clamp<int64_t>((int64_t{1} << 20) / N.value(), 1,
                                           e.attention.q_chunk.value_or(kDefaultTopkQChunk));
  // chunked's per-thread workspaces, in floats (backends/cpu/chunked_workspace.h)
  const Count ws_fwd = cpu::chunked_forward_workspace<float>(Cq.value(), Ck.value(), Dh.value(), Dh.value());
  const Count ws_bwd = cpu::chunked_backward_workspace<float>(Cq.value(), Ck.value(), Dh.value(), Dh.value());
  const Count grads_late = pb.head + pb.final_norm + pb.layer_post;  // gradients done before the last attention
  // Ring attention (context parallel; not calibrated yet, docs/distributed.md): the forward holds
  // the next rank's k/v block while it merges each partial output (two [B, H, n, Dv] temporaries);
  // the backward the next block's k/v and the k/v gradients of the block in hand and the next.
  const Count KVb = T * 2 * KV * kF;  // one k/v block of this rank's size
  const Count ring_fwd = m.context_parallel ? KVb + 2 * X : Count(0), ring_bwd = m.context_parallel ? 3 * KVb : Count(0);

  // The state around the last layer: everything else saved, then the layer's own parts.
  auto layer_candidates = [&](Count before, Count layer_state, Count extra_held, std::vector<Candidate>& out) {
    // forward of the last layer, up to its attention
    const Phase fwd = e.checkpoint ? Phase::backward : Phase::forward;  // checkpointing recomputes in backward
    out.push_back({before + pre + X + 2 * QKV, "qkv projection (forward)", fwd});  // with ln1's output
    if (kind == AttentionKind::vanilla) out.push_back({before + pre + QKV + 2 * P + X, "vanilla scores (forward)", fwd});
    if (kind == AttentionKind::chunked)
      out.push_back({before + pre + QKV + X + lse + nt * ws_fwd * kF + ring_fwd,
                     m.context_parallel ? "ring attention forward" : "chunked forward", fwd});
    if (kind == AttentionKind::topk)
      out.push_back(
          {before + pre + QKV + X + K2 + nt * ((Cq_top * N + kk) * kF + N * 8 + kk * 4), "topk forward", fwd});
    // backward: the feed-forward's hidden gradient, then the attention with the residual gradient held
    const Count top = before + layer_state + extra_held;
    if (ff_topk) out.push_back({before + layer_state + ff_work, "top-k feed-forward forward", fwd});
    out.push_back({top + ff_hidden_grad + (drop ? X : 0) + pb.head + pb.final_norm, "feed-forward backward"});
    const Count at_attn = top - post - X + 2 * X + grads_late;  // post-attention parts and merged freed
    if (kind == AttentionKind::vanilla) out.push_back({at_attn + 2 * P, "vanilla attention backward"});
    if (kind == AttentionKind::chunked)
      out.push_back({at_attn + 4 * X + lse + nt * ws_bwd * kF + ring_bwd,
                     m.context_parallel ? "ring attention backward" : "chunked attention backward"});
    if (kind == AttentionKind::topk) out.push_back({at_attn + 4 * X + nt * 2 * kk * kF, "topk attention backward"});
  };

  std::vector<Candidate> c;
  // The end of the forward: everything saved, plus the encoder output that pooling reads (the
  // embedding output is freed once positions are added; mean pooling is one batched product, with
  // no [B, N, D] masked copy).
  c.push_back({saved + X, "pooling (end of forward)", Phase::forward});
  if (!e.checkpoint) {
    c.push_back({saved + 2 * X + pb.head, "start of backward"});  // pooling and final LayerNorm gradients
    if (L > 0) layer_candidates(A0 + (L - 1) * layer, layer, tail, c);
  } else if (L > 0) {
    // Only layer inputs are kept; the last layer is recomputed in backward with the incoming
    // gradient and its recorded output held by the checkpoint until its inner backward ends.
    c.push_back({saved + 2 * X + pb.head, "start of backward"});
    const Count before = A0 + (L - 1) * X + tail;  // the last layer's output was freed by the final LayerNorm
    layer_candidates(before, layer, 2 * X, c);    // the recorded output and the incoming gradient
  }
  for (auto& cand : c) cand.bytes += others;
  c.push_back({pb.total + 4 * pb.largest, "optimizer step", Phase::optimizer});  // gradients + clipping's float64 square

  auto best = std::max_element(c.begin(), c.end(),
                               [](const Candidate& a, const Candidate& b) { return a.bytes < b.bytes; });
  const Count base = Count(r.params) + r.optimizer + r.batch;
  r.total = (base + best->bytes).value();
  r.peak_at = best->where;
  for (const Candidate& cand : c) {
    int64_t& phase_peak = cand.phase == Phase::forward    ? r.forward_peak
                          : cand.phase == Phase::backward ? r.backward_peak
                                                          : r.optimizer_peak;
    phase_peak = std::max(phase_peak, (base + cand.bytes).value());
  }
  return r;
}

}  // namespace

namespace {

MemoryEstimate estimate_checked(const ModelConfig& m, int64_t batch, int64_t seq_len, int threads, bool packed) {
  check_sizes(m, batch, seq_len, threads);
  try {
    return estimate_unchecked(m, batch, seq_len, threads, packed);
  } catch (const SizeOverflow&) {
    const auto& e = m.encoder;
    fail("lra memory estimate",
         "one training step of {} {} tokens with dim {}, ff {}, {} heads, {} layers, vocab {}, max_len {} "
         "needs more than 2^63 bytes: the sizes overflow 64-bit byte counts",
         packed ? fmt::format("{} sequences packed into", batch) : fmt::format("batch {} x", batch), seq_len,
         e.dim, e.ff_hidden, e.heads, e.layers, m.vocab, m.max_len);
  }
}

}  // namespace

MemoryEstimate estimate_step_memory(const ModelConfig& m, int64_t batch, int64_t seq_len, int threads) {
  return estimate_checked(m, batch, seq_len, threads, false);
}

MemoryEstimate estimate_packed_step_memory(const ModelConfig& m, int64_t sequences, int64_t total_tokens,
                                           int threads) {
  return estimate_checked(m, sequences, total_tokens, threads, true);
}

int64_t estimate_generated_data_bytes(const TaskConfig& task) {
  if (!task.data_dir.empty()) return 0;
  const int64_t max_len = task_lengths(task).second;
  const int64_t towers = task.task == "retrieval" ? 2 : 1;
  try {
    Count total = 0;
    for (Split s : {Split::train, Split::val, Split::test})
      total += Count(generated_split_size(task, s)) * (Count(sizeof(Example)) + max_len * towers * 4);
    return total.value();
  } catch (const SizeOverflow&) {
    fail("lra memory estimate", "{} examples of {} tokens: the data's byte count overflows 64 bits", task.task,
         max_len);
  }
}

int64_t available_memory_bytes() { return memory::system_available_bytes(); }

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.{}f} {}", bytes, bytes < 10 ? 2 : 1, units[u]);
}

}  // namespace memgrad::lra

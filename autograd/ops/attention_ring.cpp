// Ring attention (context parallelism; Liu, Zaharia & Abbeel 2023): one sequence split across the
// ranks of memgrad::dist, each rank holding its zigzag share of q, k and v (AttentionOptions::
// context_parallel, context_parallel_shard). In P steps every rank attends its queries to every
// rank's keys: at step t it holds rank (r - t)'s k and v block, computes the partial output and
// logsumexp of each pair of pieces with the chunked kernel, merges them by their logsumexp (the
// online softmax across blocks that chunked attention does within a rank), and passes the block on
// to rank r + 1 with a nonblocking send while the next block arrives from rank r - 1 during the
// compute. Backward runs the same ring with the chunked backward kernel on the global output and
// logsumexp (FlashAttention-2 math: each block's gradients need only those), the k/v gradients
// travelling with their block and reaching its owner after the last step. Memory per rank: the
// local q, k, v, output and two k/v blocks in flight, O(N / P).
//
// The zigzag split: N positions in 2P chunks (ZigZag), rank r holding chunks r and 2P - 1 - r. A
// pair of chunks is then either the same chunk (causal within), wholly before the query chunk
// (fully visible) or wholly after it (hidden), so under the causal rule each pair of pieces is
// one plain kernel call or none, and every rank does the same work.
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/ops.h"
#include "autograd/ops/attention_internal.h"
#include "dist/dist.h"

namespace memgrad {
namespace {

// 2P chunks of N positions, as even as possible: chunk c starts at start(c) and has size(c).
struct ZigZag {
  int64_t N;
  int P;
  int64_t size(int c) const { return N / (2 * P) + (c < N % (2 * P) ? 1 : 0); }
  int64_t start(int c) const { return c * (N / (2 * P)) + std::min<int64_t>(c, N % (2 * P)); }
  // Rank r's two pieces: (chunk, first local row).
  std::array<std::pair<int, int64_t>, 2> pieces(int r) const { return {{{r, 0}, {2 * P - 1 - r, size(r)}}}; }
  int64_t local_len(int r) const { return size(r) + size(2 * P - 1 - r); }
};

}  // namespace

Tensor context_parallel_shard(const Tensor& x, int64_t dim) {
  MG_CHECK(x.defined() && x.dim() > 0, "context_parallel_shard", "needs a tensor with at least one dim");
  const int64_t d = wrap_dim(dim, x.dim(), "context_parallel_shard", x.shape());
  const ZigZag z{x.shape()[static_cast<size_t>(d)], dist::world_size()};
  const int r = dist::rank();
  return cat({narrow(x, d, z.start(r), z.size(r)), narrow(x, d, z.start(2 * z.P - 1 - r), z.size(2 * z.P - 1 - r))}, d);
}

namespace attn {
namespace {

enum class Seen { all, causal, none };

// How query chunk a sees key chunk b (global positions; both of the one sequence).
Seen seen(int a, int b, bool causal) {
  if (!causal || b < a) return Seen::all;
  return b == a ? Seen::causal : Seen::none;
}

// Rows [r0, r0 + n) of a [B, H, N, *] tensor (dim 2), as a view.
Tensor rows(const Tensor& t, int64_t r0, int64_t n) { return narrow(t, 2, r0, n); }

// The k and v block in flight, and (backward) its gradients, with the rank that owns them.
struct Block {
  Tensor k, v, dk, dv;
  int owner = 0;
};

// Sends the block's k, v (and dk, dv when `grads`) to the next rank and receives the previous
// rank's into `next` (whose tensors have that block's shapes). tag0: this step's first tag.
std::vector<dist::Request> pass_on(const Block& cur, Block& next, bool kv, bool grads, int tag0) {
  const int P = dist::world_size(), r = dist::rank(), to = (r + 1) % P, from = (r + P - 1) % P;
  std::vector<dist::Request> reqs;
  auto move = [&](const Tensor& out, Tensor& in, int tag) {
    reqs.push_back(dist::irecv(in, from, tag));
    reqs.push_back(dist::isend(out, to, tag));
  };
  if (kv) move(cur.k, next.k, tag0), move(cur.v, next.v, tag0 + 1);
  if (grads) move(cur.dk, next.dk, tag0 + 2), move(cur.dv, next.dv, tag0 + 3);
  return reqs;
}

int step_tag(int t) { return (4 * t) % 32764; }

// A [B, Hkv, n, cols] buffer for rank `owner`'s block.
Tensor block_like(const Tensor& like, int64_t n, int64_t cols, bool zero) {
  Shape s{like.shape()[0], like.shape()[1], n, cols};
  return zero ? zeros(s, like.dtype(), like.device()) : empty(s, like.dtype(), like.device());
}

// The running output and logsumexp of one query piece, merged block by block. lse -inf: nothing
// seen yet (a block's +inf, "no visible key", becomes -inf here: weight 0).
struct Partial {
  Tensor out, lse;  // [B, H, n, Dv], [B, H, n]
  void merge(const Tensor& o, const Tensor& l_in) {
    const Tensor ninf = full_like(l_in, -std::numeric_limits<double>::infinity());
    const Tensor l = where(eq(l_in, full_like(l_in, std::numeric_limits<double>::infinity())), ninf, l_in);
    const Tensor m = maximum(lse, l);
    const Tensor m0 = where(eq(m, ninf), full_like(m, 0.0), m);  // both -inf: weights 0, not NaN
    const Tensor wa = exp(lse - m0), wb = exp(l - m0), s = wa + wb;
    const Tensor s1 = where(eq(s, full_like(s, 0.0)), full_like(s, 1.0), s);
    out = (out * unsqueeze(wa / s1, 3)) + (o * unsqueeze(wb / s1, 3));
    lse = m0 + log(s);
  }
};

void check_ring_options(const Prepared& pr, const AttentionOptions& o) {
  const char* op = "attention";
  MG_CHECK(o.kind == AttentionKind::chunked, op, "context_parallel needs the chunked kind, not {}", to_string(o.kind));
  MG_CHECK(pr.d.Nq == pr.d.Nk, op, "context_parallel is self-attention: q and k must hold the same rows, got {} and {}",
           pr.d.Nq, pr.d.Nk);
  const char* other = o.window_left >= 0 || o.window_right >= 0 ? "window_left/right"
                      : o.attn_mask.defined()                   ? "attn_mask"
                      : o.bias.defined()                        ? "bias"
                      : o.position != PositionBias::none        ? "position"
                      : o.key_padding_mask.defined() || o.key_lengths.defined() ? "key padding"
                      : o.cu_seqlens_q.defined() || o.cu_seqlens_k.defined()    ? "cu_seqlens"
                      : o.dropout_p > 0                                          ? "dropout_p"
                                                                                 : nullptr;
  MG_CHECK(!other, op, "context_parallel does not take {} yet (causal and GQA only)", other);
}

}  // namespace

Tensor ring_chunked(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Prepared& pr,
                    const AttentionOptions& o) {
  check_ring_options(pr, o);
  const int P = dist::world_size(), r = dist::rank();
  // every rank's local length: the whole N, and a check that each holds its zigzag share
  Tensor n_all = dist::all_gather(from_vector(std::vector<int64_t>{pr.d.Nq}, {1}));
  int64_t N = 0;
  for (int64_t n : n_all.to_vector<int64_t>()) N += n;
  const ZigZag z{N, P};
  const std::vector<int64_t> lens = n_all.to_vector<int64_t>();
  for (int s = 0; s < P; ++s)
    MG_CHECK(lens[size_t(s)] == z.local_len(s), "attention",
             "context_parallel: rank {} holds {} rows, not its zigzag share {} of N = {} (context_parallel_shard)", s,
             lens[size_t(s)], z.local_len(s), N);
  const Tensor q = contiguous(detach(q_in)), k = contiguous(detach(k_in)), v = contiguous(detach(v_in));
  const int64_t B = pr.d.B, H = pr.d.H, Dv = pr.d.Dv;
  const AttentionParams base = pr.p;
  Backend& be = backend_for(q.device());

  std::array<Partial, 2> part;
  {
    NoGradGuard ng;
    for (int a = 0; a < 2; ++a) {
      const int64_t n = z.size(z.pieces(r)[size_t(a)].first);
      part[size_t(a)] = {zeros({B, H, n, Dv}, q.dtype(), q.device()),
                         full({B, H, n}, -std::numeric_limits<double>::infinity(), q.dtype(), q.device())};
    }
    Block cur{k, v, {}, {}, r};
    for (int t = 0; t < P; ++t) {
      Block next;
      std::vector<dist::Request> reqs;
      if (t + 1 < P) {  // the next block arrives while this one is used
        next.owner = (cur.owner + P - 1) % P;
        next.k = block_like(k, z.local_len(next.owner), pr.d.D, false);
        next.v = block_like(v, z.local_len(next.owner), Dv, false);
        reqs = pass_on(cur, next, true, false, step_tag(t));
      }
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          const auto [qc, q0] = z.pieces(r)[size_t(a)];
          const auto [kc, k0] = z.pieces(cur.owner)[size_t(b)];
          const Seen how = seen(qc, kc, base.causal);
          if (how == Seen::none || z.size(qc) == 0 || z.size(kc) == 0) continue;
          AttentionParams p = base;
          p.causal = how == Seen::causal;  // the same chunk: Nq = Nk, both alignments agree
          Tensor out = empty({B, H, z.size(qc), Dv}, q.dtype(), q.device());
          Tensor lse = empty({B, H, z.size(qc)}, q.dtype(), q.device());
          be.attention_chunked_forward(rows(q, q0, z.size(qc)), rows(cur.k, k0, z.size(kc)),
                                       rows(cur.v, k0, z.size(kc)), AttentionMods{}, p, out, lse);
          part[size_t(a)].merge(out, lse);
        }
      for (dist::Request& rq : reqs) rq.wait();
      if (t + 1 < P) cur = next;
    }
  }
  Tensor out = cat({part[0].out, part[1].out}, 2);  // [B, H, n, Dv]
  Tensor lse;                                       // [B, H, n], +inf where no key was visible
  {
    NoGradGuard ng;
    const Tensor l = cat({part[0].lse, part[1].lse}, 2);
    lse = where(eq(l, full_like(l, -std::numeric_limits<double>::infinity())),
                full_like(l, std::numeric_limits<double>::infinity()), l);
  }
  Tensor sq = saved(q), sk = saved(k), sv = saved(v), so = saved(out), sl = saved(lse);
  return finish("attention_ring", {q_in, k_in, v_in}, out, [=](const Tensor& g_in) {
    const Tensor g = contiguous(g_in);  // [B, H, n, Dv]
    Backend& bk = backend_for(sq.device());
    Tensor dq = zeros(sq.shape(), sq.dtype(), sq.device());
    Block cur{sk, sv, zeros(sk.shape(), sk.dtype(), sk.device()), zeros(sv.shape(), sv.dtype(), sv.device()), r};
    for (int t = 0; t < P; ++t) {
      Block next;
      next.owner = (cur.owner + P - 1) % P;
      std::vector<dist::Request> kv_reqs;
      if (t + 1 < P) {
        next.k = block_like(sk, z.local_len(next.owner), pr.d.D, false);
        next.v = block_like(sv, z.local_len(next.owner), Dv, false);
        kv_reqs = pass_on(cur, next, true, false, step_tag(t));
      }
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          const auto [qc, q0] = z.pieces(r)[size_t(a)];
          const auto [kc, k0] = z.pieces(cur.owner)[size_t(b)];
          const Seen how = seen(qc, kc, base.causal);
          if (how == Seen::none || z.size(qc) == 0 || z.size(kc) == 0) continue;
          AttentionParams p = base;
          p.causal = how == Seen::causal;
          const int64_t nq = z.size(qc), nk = z.size(kc);
          Tensor dqp = zeros({B, H, nq, pr.d.D}, sq.dtype(), sq.device());
          Tensor dkp = block_like(sk, nk, pr.d.D, true), dvp = block_like(sv, nk, Dv, true);
          AttentionModGrads none;
          bk.attention_chunked_backward(rows(sq, q0, nq), rows(cur.k, k0, nk), rows(cur.v, k0, nk), AttentionMods{},
                                        contiguous(rows(so, q0, nq)), contiguous(rows(sl, q0, nq)),
                                        contiguous(rows(g, q0, nq)), p, dqp, dkp, dvp, none);
          Tensor dq_rows = rows(dq, q0, nq);
          bk.copy(dq_rows + dqp, dq_rows);
          Tensor dk_rows = rows(cur.dk, k0, nk), dv_rows = rows(cur.dv, k0, nk);
          bk.copy(dk_rows + dkp, dk_rows);
          bk.copy(dv_rows + dvp, dv_rows);
        }
      for (dist::Request& rq : kv_reqs) rq.wait();
      if (P == 1) break;  // the one block is this rank's own
      // the block's gradients go on with it; after the last step they reach their owner (r + 1)
      next.dk = block_like(sk, z.local_len(next.owner), pr.d.D, false);
      next.dv = block_like(sv, z.local_len(next.owner), Dv, false);
      std::vector<dist::Request> g_reqs = pass_on(cur, next, false, true, step_tag(t));
      for (dist::Request& rq : g_reqs) rq.wait();
      cur = next;
    }
    // after P steps the block in hand is this rank's own, with every rank's contributions
    return std::vector<Tensor>{dq, cur.dk, cur.dv};
  });
}

}  // namespace attn
}  // namespace memgrad

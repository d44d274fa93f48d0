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

int64_t context_parallel_rows(int64_t n, int rank, int ranks) {
  MG_CHECK(n >= 0 && ranks >= 1 && rank >= 0 && rank < ranks, "context_parallel_rows",
           "needs n >= 0 and 0 <= rank < ranks, got n {}, rank {}, ranks {}", n, rank, ranks);
  return ZigZag{n, ranks}.local_len(rank);
}

namespace attn {
namespace {

enum class Seen { all, causal, none };

// How query chunk a sees key chunk b (global positions; both of the one sequence).
Seen seen(int a, int b, bool causal) {
  if (!causal || b < a) return Seen::all;
  return b == a ? Seen::causal : Seen::none;
}

// Calls f(a, q0, nq, k0, nk, p) for each pair (query piece a of rank r, key piece of rank
// `owner`'s block) with a visible pair of positions: q0 / k0 the pieces' first local rows, nq / nk
// their lengths, p the kernel parameters (causal only for the diagonal chunk, where Nq = Nk and
// both alignments agree).
template <class F>
void for_each_visible_pair(const ZigZag& z, int r, int owner, const AttentionParams& base, F&& f) {
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b) {
      const auto [qc, q0] = z.pieces(r)[size_t(a)];
      const auto [kc, k0] = z.pieces(owner)[size_t(b)];
      const Seen how = seen(qc, kc, base.causal);
      if (how == Seen::none || z.size(qc) == 0 || z.size(kc) == 0) continue;
      AttentionParams p = base;
      p.causal = how == Seen::causal;
      f(a, q0, z.size(qc), k0, z.size(kc), p);
    }
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

namespace {

// One call's ring: the split, this rank, the shapes and the kernel parameters.
struct Ring {
  ZigZag z;
  int r;
  Dims d;
  AttentionParams base;
  Block next_block(const Block& cur, const Tensor& k, const Tensor& v, bool kv) const {
    Block n;
    n.owner = (cur.owner + z.P - 1) % z.P;
    if (kv) n.k = block_like(k, z.local_len(n.owner), d.D, false), n.v = block_like(v, z.local_len(n.owner), d.Dv, false);
    return n;
  }
};

// The split of this call: every rank's local length (one all_gather) gives N, and each must hold
// its zigzag share.
Ring ring_of(const Prepared& pr) {
  const int P = dist::world_size();
  const std::vector<int64_t> lens = dist::all_gather(from_vector(std::vector<int64_t>{pr.d.Nq}, {1})).to_vector<int64_t>();
  int64_t N = 0;
  for (int64_t n : lens) N += n;
  const Ring ring{ZigZag{N, P}, dist::rank(), pr.d, pr.p};
  for (int s = 0; s < P; ++s)
    MG_CHECK(lens[size_t(s)] == ring.z.local_len(s), "attention",
             "context_parallel: rank {} holds {} rows, not its zigzag share {} of N = {} (context_parallel_shard)", s,
             lens[size_t(s)], ring.z.local_len(s), N);
  return ring;
}

// Forward: out [B, H, n, Dv] and lse [B, H, n] (+inf where no key was visible) of this rank's
// queries against every rank's keys, the blocks passed on while they are used.
std::pair<Tensor, Tensor> ring_forward(const Ring& ring, const Tensor& q, const Tensor& k, const Tensor& v) {
  NoGradGuard ng;
  const ZigZag& z = ring.z;
  const int64_t B = ring.d.B, H = ring.d.H, Dv = ring.d.Dv;
  Backend& be = backend_for(q.device());
  std::array<Partial, 2> part;
  for (int a = 0; a < 2; ++a) {
    const int64_t n = z.size(z.pieces(ring.r)[size_t(a)].first);
    part[size_t(a)] = {zeros({B, H, n, Dv}, q.dtype(), q.device()),
                       full({B, H, n}, -std::numeric_limits<double>::infinity(), q.dtype(), q.device())};
  }
  Block cur{k, v, {}, {}, ring.r};
  for (int t = 0; t < z.P; ++t) {
    Block next;
    std::vector<dist::Request> reqs;
    if (t + 1 < z.P) {  // the next block arrives while this one is used
      next = ring.next_block(cur, k, v, true);
      reqs = pass_on(cur, next, true, false, step_tag(t));
    }
    for_each_visible_pair(z, ring.r, cur.owner, ring.base,
                          [&](int a, int64_t q0, int64_t nq, int64_t k0, int64_t nk, const AttentionParams& p) {
                            Tensor out = empty({B, H, nq, Dv}, q.dtype(), q.device());  // [B, H, nq, Dv]
                            Tensor lse = empty({B, H, nq}, q.dtype(), q.device());      // [B, H, nq]
                            be.attention_chunked_forward(rows(q, q0, nq), rows(cur.k, k0, nk), rows(cur.v, k0, nk),
                                                         AttentionMods{}, p, out, lse);
                            part[size_t(a)].merge(out, lse);
                          });
    for (dist::Request& rq : reqs) rq.wait();
    if (t + 1 < z.P) cur = next;
  }
  const Tensor l = cat({part[0].lse, part[1].lse}, 2);
  const double inf = std::numeric_limits<double>::infinity();
  return {cat({part[0].out, part[1].out}, 2), where(eq(l, full_like(l, -inf)), full_like(l, inf), l)};
}

// Backward: {dq, dk, dv} of this rank's rows, from the saved inputs, the global out and lse and
// the output's gradient g [B, H, n, Dv]. The k/v gradients travel with their block.
std::vector<Tensor> ring_backward(const Ring& ring, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& out, const Tensor& lse, const Tensor& g) {
  const ZigZag& z = ring.z;
  const int64_t B = ring.d.B, H = ring.d.H, D = ring.d.D, Dv = ring.d.Dv;
  Backend& bk = backend_for(q.device());
  Tensor dq = zeros(q.shape(), q.dtype(), q.device());
  Block cur{k, v, zeros(k.shape(), k.dtype(), k.device()), zeros(v.shape(), v.dtype(), v.device()), ring.r};
  for (int t = 0; t < z.P; ++t) {
    Block next = ring.next_block(cur, k, v, t + 1 < z.P);
    std::vector<dist::Request> kv_reqs;
    if (t + 1 < z.P) kv_reqs = pass_on(cur, next, true, false, step_tag(t));
    for_each_visible_pair(z, ring.r, cur.owner, ring.base,
                          [&](int, int64_t q0, int64_t nq, int64_t k0, int64_t nk, const AttentionParams& p) {
                            Tensor dqp = zeros({B, H, nq, D}, q.dtype(), q.device());  // [B, H, nq, D]
                            Tensor dkp = block_like(k, nk, D, true), dvp = block_like(v, nk, Dv, true);
                            AttentionModGrads none;
                            bk.attention_chunked_backward(rows(q, q0, nq), rows(cur.k, k0, nk), rows(cur.v, k0, nk),
                                                          AttentionMods{}, contiguous(rows(out, q0, nq)),
                                                          contiguous(rows(lse, q0, nq)), contiguous(rows(g, q0, nq)), p,
                                                          dqp, dkp, dvp, none);
                            Tensor dq_rows = rows(dq, q0, nq), dk_rows = rows(cur.dk, k0, nk),
                                   dv_rows = rows(cur.dv, k0, nk);
                            bk.copy(dq_rows + dqp, dq_rows);
                            bk.copy(dk_rows + dkp, dk_rows);
                            bk.copy(dv_rows + dvp, dv_rows);
                          });
    for (dist::Request& rq : kv_reqs) rq.wait();
    if (z.P == 1) break;  // the one block is this rank's own
    // the block's gradients go on with it; after the last step they reach their owner (r + 1)
    next.dk = block_like(k, z.local_len(next.owner), D, false);
    next.dv = block_like(v, z.local_len(next.owner), Dv, false);
    for (dist::Request& rq : pass_on(cur, next, false, true, step_tag(t))) rq.wait();
    cur = next;
  }
  // after P steps the block in hand is this rank's own, with every rank's contributions
  return {dq, cur.dk, cur.dv};
}

}  // namespace

Tensor ring_chunked(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const Prepared& pr,
                    const AttentionOptions& o) {
  check_ring_options(pr, o);
  const Ring ring = ring_of(pr);
  const Tensor q = contiguous(detach(q_in)), k = contiguous(detach(k_in)), v = contiguous(detach(v_in));
  auto [out, lse] = ring_forward(ring, q, k, v);  // [B, H, n, Dv], [B, H, n]
  Tensor sq = saved(q), sk = saved(k), sv = saved(v), so = saved(out), sl = saved(lse);
  return finish("attention_ring", {q_in, k_in, v_in}, out, [=](const Tensor& g) {
    return ring_backward(ring, sq, sk, sv, so, sl, contiguous(g));
  });
}

}  // namespace attn
}  // namespace memgrad

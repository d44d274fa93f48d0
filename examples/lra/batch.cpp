// make_batch and BatchSampler.
#include "examples/lra/batch.h"

#include <algorithm>
#include <numeric>
#include <tuple>

#include "autograd/ops.h"
#include "examples/lra/rng.h"

namespace memgrad::lra {

namespace {

// Pads the sequences to one length; returns tokens [B, L] and lengths [B].
std::pair<Tensor, Tensor> pad(const std::vector<const std::vector<int32_t>*>& seqs, int64_t fixed, const char* which) {
  int64_t L = fixed;
  if (L == 0)
    for (const auto* s : seqs) L = std::max<int64_t>(L, static_cast<int64_t>(s->size()));
  const int64_t B = static_cast<int64_t>(seqs.size());
  std::vector<int32_t> tokens(static_cast<size_t>(B * L), kPad);
  std::vector<int64_t> lengths(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const auto& s = *seqs[static_cast<size_t>(b)];
    MG_CHECK(static_cast<int64_t>(s.size()) <= L, "lra", "make_batch: {} of example {} has {} tokens, more than max_len {}",
             which, b, s.size(), L);
    std::copy(s.begin(), s.end(), tokens.begin() + b * L);
    lengths[static_cast<size_t>(b)] = static_cast<int64_t>(s.size());
  }
  return {from_vector(tokens, {B, L}), from_vector(lengths, {B})};
}

// Concatenates the sequences; returns tokens [1, total], lengths [B] and cu_seqlens [B + 1].
std::tuple<Tensor, Tensor, Tensor> pack(const std::vector<const std::vector<int32_t>*>& seqs) {
  std::vector<int32_t> tokens;
  std::vector<int64_t> lengths, cu{0};
  for (const auto* s : seqs) {
    tokens.insert(tokens.end(), s->begin(), s->end());
    lengths.push_back(static_cast<int64_t>(s->size()));
    cu.push_back(cu.back() + lengths.back());
  }
  const int64_t B = static_cast<int64_t>(seqs.size());
  return {from_vector(tokens, {1, cu.back()}), from_vector(lengths, {B}), from_vector(cu, {B + 1})};
}

struct Picked {
  std::vector<const std::vector<int32_t>*> first, second;
  std::vector<int64_t> labels;
};

Picked pick(const Dataset& ds, Split split, const std::vector<int64_t>& indices) {
  const auto& examples = ds.split(split);
  MG_CHECK(!indices.empty(), "lra", "make_batch: no indices");
  Picked p;
  for (int64_t i : indices) {
    MG_CHECK(i >= 0 && i < static_cast<int64_t>(examples.size()), "lra",
             "make_batch: index {} is out of range for the {} split of {} examples", i, split_name(split),
             examples.size());
    const Example& ex = examples[static_cast<size_t>(i)];
    p.first.push_back(&ex.tokens);
    p.second.push_back(&ex.tokens2);
    p.labels.push_back(ex.label);
  }
  return p;
}

}  // namespace

Batch make_packed_batch(const Dataset& ds, Split split, const std::vector<int64_t>& indices) {
  const Picked p = pick(ds, split, indices);
  Batch b;
  std::tie(b.tokens, b.lengths, b.cu_seqlens) = pack(p.first);
  b.labels = from_vector(p.labels, {static_cast<int64_t>(p.labels.size())});
  if (ds.pair) std::tie(b.tokens2, b.lengths2, b.cu_seqlens2) = pack(p.second);
  return b;
}

Batch make_batch(const Dataset& ds, Split split, const std::vector<int64_t>& indices, bool fixed_len) {
  const Picked p = pick(ds, split, indices);
  const auto& [first, second, labels] = p;
  const int64_t fixed = fixed_len ? ds.max_len : 0;
  MG_CHECK(!fixed_len || ds.max_len > 0, "lra", "make_batch: fixed_len needs the dataset's max_len");
  Batch b;
  std::tie(b.tokens, b.lengths) = pad(first, fixed, "tokens");
  b.labels = from_vector(labels, {static_cast<int64_t>(labels.size())});
  if (ds.pair) std::tie(b.tokens2, b.lengths2) = pad(second, fixed, "tokens2");
  return b;
}

BatchSampler::BatchSampler(int64_t n, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last)
    : n_(n), batch_size_(batch_size), seed_(seed), shuffle_(shuffle), drop_last_(drop_last) {
  MG_CHECK(n >= 0 && batch_size >= 1, "lra", "BatchSampler: n {} and batch_size {} must be >= 0 and >= 1", n,
           batch_size);
}

int64_t BatchSampler::batches_per_epoch() const {
  return drop_last_ ? n_ / batch_size_ : (n_ + batch_size_ - 1) / batch_size_;
}

void BatchSampler::bucket_by(std::vector<int64_t> lengths, int64_t pool_batches) {
  MG_CHECK(static_cast<int64_t>(lengths.size()) == n_ && pool_batches >= 1, "lra",
           "BatchSampler::bucket_by: {} lengths for {} examples, pool of {} batches (need n lengths and a pool >= 1)",
           lengths.size(), n_, pool_batches);
  lengths_ = std::move(lengths);
  pool_batches_ = pool_batches;
}

std::vector<std::vector<int64_t>> BatchSampler::epoch(int64_t e) const {
  std::vector<int64_t> order(static_cast<size_t>(n_));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(mix_seed(seed_, 0xba7c4ull, static_cast<uint64_t>(e)));
  if (shuffle_) rng.shuffle(order);
  const int64_t n_batches = batches_per_epoch();
  if (!lengths_.empty()) {
    // Sort each pool by length (stable: ties keep the shuffled order), within the examples used.
    const int64_t used = std::min(n_, n_batches * batch_size_), pool = pool_batches_ * batch_size_;
    for (int64_t lo = 0; lo < used; lo += pool)
      std::stable_sort(order.begin() + lo, order.begin() + std::min(used, lo + pool),
                       [&](int64_t a, int64_t b) { return lengths_[static_cast<size_t>(a)] < lengths_[static_cast<size_t>(b)]; });
  }
  std::vector<std::vector<int64_t>> batches;
  for (int64_t k = 0; k < n_batches; ++k) {
    auto begin = order.begin() + k * batch_size_;
    batches.emplace_back(begin, begin + std::min(batch_size_, n_ - k * batch_size_));
  }
  if (!lengths_.empty() && shuffle_) rng.shuffle(batches);  // pools would otherwise run short to long
  return batches;
}

Batch to_device(const Batch& b, Device d) {
  if (d.is_cpu()) return b;
  auto move = [d](const Tensor& t) { return t.defined() ? to(t, d) : t; };
  // cu_seqlens stay on the host: the model builds its index tensors from them
  return {move(b.tokens), move(b.lengths), move(b.labels), move(b.tokens2), move(b.lengths2), b.cu_seqlens,
          b.cu_seqlens2};
}

}  // namespace memgrad::lra

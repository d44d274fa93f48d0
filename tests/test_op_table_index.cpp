// Op table rows: index_select, gather, embedding and cross_entropy with its options (the harness:
// tests/op_table.h). Index inputs run in int64 and int32.
#include <doctest/doctest.h>

#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

const std::vector<DType> kNumeric = {DType::float32, DType::float64, DType::int32, DType::int64};

Row index_select_row(int64_t dim) {
  const int64_t d = dim < 0 ? dim + 3 : dim;
  return {.op = "index_select",
          .name = fmt::format("index_select along dim {}", dim),
          .inputs = {in({4, 3, 5}), idx_of({6}, 0, d)},
          .fn = f1([dim](auto& x) { return index_select(x[0], dim, x[1]); }),
          .ref = [dim](const std::vector<Tensor>& x) { return std::vector<Expect>{ref::index_select(x[0], dim, x[1])}; },
          .dtypes = kNumeric,
          .variants = {{"no indices", {{4, 3, 5}, {0}}}, {"one index", {{4, 3, 5}, {1}}}, {"one element", {{1, 1, 1}, {3}}}},
          .errors = {{[] { index_select(zeros({4, 3}), 0, from_vector<int64_t>({0, 4})); },
                      {"[index_select] index 4 is out of range for dim 0 of size 4"}},
                     {[] { index_select(zeros({4, 3}), 0, from_vector<int64_t>({0, -1})); }, {"[index_select] index -1 is out of range"}},
                     {[] { index_select(zeros({4, 3}), 0, from_vector<int64_t>({0, 1, 2, 3}, {2, 2})); },
                      {"[index_select] index must be 1-d, got shape [2, 2]"}},
                     {[] { index_select(zeros({4, 3}), 0, from_vector<float>({0, 1})); }, {"[index_select] index must be int32 or int64"}},
                     {[] { index_select(scalar(1.0), 0, from_vector<int64_t>({0})); }, {"[index_select]", "at least one dim"}}}};
}

Row gather_row(int64_t dim) {
  Shape is = {3, 4, 2};
  is[dim] = 5;  // more indices than the dim holds: repeats
  return {.op = "gather",
          .name = fmt::format("gather along dim {}", dim),
          .inputs = {in({3, 4, 2}), idx_of(is, 0, dim)},
          .fn = f1([dim](auto& x) { return gather(x[0], dim, x[1]); }),
          .ref = [dim](const std::vector<Tensor>& x) { return std::vector<Expect>{ref::gather(x[0], dim, x[1])}; },
          .dtypes = kNumeric,
          .variants = {{"one element", {{1, 1, 1}, {1, 1, 1}}}},
          .errors = {{[] { gather(zeros({2, 3}), 1, from_vector<int64_t>({3, 0}, {2, 1})); },
                      {"[gather] index 3 is out of range for dim 1 of size 3"}},
                     {[] { gather(zeros({2, 3}), 1, from_vector<int64_t>({0, 0, 0}, {3, 1})); },
                      {"[gather] index of shape [3, 1] does not match input [2, 3] outside dim 1"}},
                     {[] { gather(zeros({2, 3}), 1, from_vector<float>({0, 0}, {2, 1})); }, {"[gather] index must be int32 or int64"}}}};
}

Row cross_entropy_row(const std::string& name, CrossEntropyOptions o, Input logits, Input target,
                      std::vector<Variant> variants = {}) {
  return {.op = "cross_entropy",
          .name = name,
          .inputs = {std::move(logits), std::move(target)},
          .fn = f1([o](auto& x) { return cross_entropy(x[0], x[1], o); }),
          .ref = [o](const std::vector<Tensor>& x) {
            ref::CrossEntropy r = ref::cross_entropy(x[0], x[1], o.ignore_index, o.label_smoothing);
            if (o.reduction == Reduction::none)
              return std::vector<Expect>{{x[1].shape(), x[0].dtype(), r.losses}};
            return std::vector<Expect>{{{}, x[0].dtype(), {o.reduction == Reduction::sum ? r.sum : r.mean}}};
          },
          .variants = std::move(variants),
          .errors = {{[] { cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, 4})); },
                      {"[cross_entropy] target 4 at position 1 is out of range for 4 classes"}},
                     {[] { cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, -1})); }, {"[cross_entropy]", "-1"}},
                     {[] { cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, 2, 3})); },
                      {"[cross_entropy] logits [2, 4] and target [3] do not match"}},
                     {[] { cross_entropy(zeros({2, 4}), from_vector<double>({1, 2})); }, {"[cross_entropy] target must be int32 or int64"}},
                     {[] { cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, 2}), {.label_smoothing = 1.5}); },
                      {"[cross_entropy] label_smoothing must be in [0, 1], got 1.5"}},
                     {[] { cross_entropy(zeros({2, 4}), from_vector<int64_t>({1, -100}), {.ignore_index = 2}); },
                      {"[cross_entropy]", "-100"}},
                     {[] { cross_entropy(zeros({2, 0}), from_vector<int64_t>({0, 0})); }, {"[cross_entropy]", "no classes"}}}};
}

std::vector<Row> rows() {
  std::vector<Row> r;
  for (int64_t dim : {0, 1, 2, -1}) r.push_back(index_select_row(dim));
  r.push_back({.op = "index_select",
               .name = "index_select from a 1-d tensor",
               .inputs = {in({5}), idx_of({7}, 0, 0)},
               .fn = f1([](auto& x) { return index_select(x[0], 0, x[1]); }),
               .ref = [](const std::vector<Tensor>& x) { return std::vector<Expect>{ref::index_select(x[0], 0, x[1])}; },
               .dtypes = kNumeric});
  for (int64_t dim : {0, 1, 2}) r.push_back(gather_row(dim));

  auto emb_ref = [](const std::vector<Tensor>& x) {
    const int64_t D = x[0].shape()[1];
    Shape os = x[1].shape();
    os.push_back(D);
    return std::vector<Expect>{{os, x[0].dtype(), ref::remap(x[0], os, [&](const ref::Index& i) {
                                  ref::Index id(i.begin(), i.end() - 1);
                                  return ref::Index{static_cast<int64_t>(optest::vals(x[1])[ref::ravel(id, x[1].shape())]),
                                                    i.back()};
                                })}};
  };
  r.push_back({.op = "embedding",
               .name = "embedding of [2, 3] ids",
               .inputs = {in({6, 3}), idx_of({2, 3}, 0, 0)},
               .fn = f1([](auto& x) { return embedding(x[0], x[1]); }),
               .ref = emb_ref,
               .dtypes = kNumeric,
               .variants = {{"0-d id", {{6, 3}, {}}}, {"no ids", {{6, 3}, {0}}}, {"one row", {{1, 4}, {5}}}},
               .errors = {{[] { embedding(zeros({5, 3}), from_vector<int64_t>({0, 7})); },
                           {"[embedding] weight [5, 3], ids [2]", "index 7 is out of range for dim 0 of size 5"}},
                          {[] { embedding(zeros({5, 3}), from_vector<float>({0, 1})); }, {"[embedding] index must be int32 or int64"}},
                          {[] { embedding(ones({6}), from_vector<int64_t>({1, 2})); }, {"[embedding] weight must be [V, D], got [6]"}}}});

  const Input logits = in({6, 4});
  Input target = idx_of({6}, 0, 1);
  target.every_third = -100;  // ignored rows
  for (Reduction red : {Reduction::none, Reduction::sum, Reduction::mean})
    for (double ls : {0.0, 0.2}) {
      const char* rn = red == Reduction::none ? "none" : red == Reduction::sum ? "sum" : "mean";
      r.push_back(cross_entropy_row(fmt::format("cross_entropy reduction {}, label smoothing {}, ignored rows", rn, ls),
                                    {.reduction = red, .label_smoothing = ls}, logits, target,
                                    {{"empty batch", {{0, 4}, {0}}}, {"one class", {{3, 1}, {3}}}}));
    }
  r.push_back(cross_entropy_row("cross_entropy ignore_index 2", {.ignore_index = 2, .label_smoothing = 0.1}, logits,
                                idx_of({6}, 0, 1)));
  r.push_back(cross_entropy_row("cross_entropy of one sample: logits [C], target 0-d", {}, in({5}), idx_of({}, 0, 0)));
  r.push_back(cross_entropy_row("cross_entropy of one sample, reduction none", {.reduction = Reduction::none}, in({5}),
                                idx_of({}, 0, 0)));
  for (Reduction red : {Reduction::mean, Reduction::sum})
    r.push_back(cross_entropy_row(fmt::format("cross_entropy, every row ignored ({})", red == Reduction::sum ? "sum" : "mean"),
                                  {.reduction = red, .label_smoothing = 0.1}, in({3, 4}), idx({3}, -99, -100)));
  return r;
}

}  // namespace

OP_TABLE_FAMILY("index", rows)

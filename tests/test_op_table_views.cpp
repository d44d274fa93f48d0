// Op table rows: the view ops, cat and stack (the harness: tests/op_table.h). Each reference maps
// an output index to the input index it shows.
#include <doctest/doctest.h>

#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;
using ref::Index;

namespace {

const std::vector<DType> kAll = {DType::float32, DType::float64, DType::int32, DType::int64, DType::boolean};
using Map = std::function<Index(const Index&, const Shape& in_shape)>;
using Un = std::function<Tensor(const Tensor&)>;

// A view row: `out_shape` from the input's shape, `map` from an output index to the input's.
Row view_row(const std::string& op, const std::string& name, Input x, Un f,
             std::function<Shape(const Shape&)> out_shape, Map map, std::vector<ErrorCase> errors = {},
             std::vector<Variant> variants = {}) {
  return {.op = op,
          .name = name,
          .inputs = {std::move(x)},
          .fn = f1([f](auto& t) { return f(t[0]); }),
          .ref = [out_shape, map](const std::vector<Tensor>& t) {
            const Shape in = t[0].shape(), os = out_shape(in);
            return std::vector<Expect>{{os, t[0].dtype(), ref::remap(t[0], os, [&](const Index& i) { return map(i, in); })}};
          },
          .dtypes = kAll,
          .variants = std::move(variants),
          .errors = std::move(errors)};
}

// Reshape-like rows: the same row-major values in the `target` shape.
Row same_order_row(const std::string& op, const std::string& name, Input x, Un f, Shape target,
                   std::vector<ErrorCase> errors = {}) {
  return {.op = op,
          .name = name,
          .inputs = {std::move(x)},
          .fn = f1([f](auto& t) { return f(t[0]); }),
          .ref = [target](const std::vector<Tensor>& t) {
            return std::vector<Expect>{{target, t[0].dtype(), optest::vals(t[0])}};
          },
          .dtypes = kAll,
          .errors = std::move(errors)};
}

Index swap(Index i, int64_t a, int64_t b) {
  std::swap(i[a], i[b]);
  return i;
}

std::vector<Row> rows() {
  std::vector<Row> r;
  const Input X = in({2, 3, 4});
  // reshape, view, flatten: the same values in row-major order
  r.push_back(same_order_row("reshape", "reshape [2, 3, 4] -> [4, 6]", X, [](auto& t) { return reshape(t, {4, 6}); }, {4, 6},
                             {{[] { reshape(zeros({2, 3}), {4, 2}); }, {"[reshape] cannot reshape [2, 3] (6 elements) into [4, 2]"}},
                              {[] { reshape(zeros({2, 3}), {-1, -1}); }, {"[reshape] only one dim can be -1"}}}));
  r.push_back(same_order_row("reshape", "reshape with -1", X, [](auto& t) { return reshape(t, {-1, 2}); }, {12, 2}));
  r.push_back(same_order_row("reshape", "reshape to 1-d", X, [](auto& t) { return reshape(t, {24}); }, {24}));
  r.push_back(same_order_row("reshape", "reshape 0-d -> [1, 1]", in({}), [](auto& t) { return reshape(t, {1, 1}); }, {1, 1}));
  r.push_back(same_order_row("reshape", "reshape [1, 1] -> 0-d", in({1, 1}), [](auto& t) { return reshape(t, {}); }, {}));
  r.push_back(same_order_row("reshape", "reshape of an empty tensor", in({0, 3}), [](auto& t) { return reshape(t, {3, 0, 2}); },
                             {3, 0, 2}));
  r.push_back(same_order_row("view", "view splitting the last dim", X, [](auto& t) { return view(t, {2, 3, 2, 2}); },
                             {2, 3, 2, 2},
                             {{[] { view(transpose(zeros({2, 3}), 0, 1), {6}); },
                               {"[view]", "cannot be viewed as [6] without a copy; use reshape"}}}));
  r.push_back(same_order_row("view", "view splitting the first dim", X, [](auto& t) { return view(t, {1, 2, 3, -1}); },
                             {1, 2, 3, 4}));
  r.push_back(same_order_row("flatten", "flatten", X, [](auto& t) { return flatten(t); }, {24},
                             {{[] { flatten(zeros({2, 3, 4}), 2, 1); }, {"[flatten]", "start_dim 2 after end_dim 1"}}}));
  r.push_back(same_order_row("flatten", "flatten from dim 1", X, [](auto& t) { return flatten(t, 1); }, {2, 12}));
  r.push_back(same_order_row("flatten", "flatten dims 0..1", X, [](auto& t) { return flatten(t, 0, 1); }, {6, 4}));
  r.push_back(same_order_row("flatten", "flatten a 0-d tensor", in({}), [](auto& t) { return flatten(t); }, {1}));
  r.push_back(same_order_row("squeeze(Tensor)", "squeeze every size-1 dim", in({2, 1, 4, 1}),
                             [](auto& t) { return squeeze(t); }, {2, 4}));
  r.push_back(same_order_row("squeeze(Tensor)", "squeeze [1, 1] to 0-d", in({1, 1}), [](auto& t) { return squeeze(t); }, {}));
  r.push_back(same_order_row("squeeze(Tensor, int64_t)", "squeeze dim 1", in({2, 1, 4}),
                             [](auto& t) { return squeeze(t, 1); }, {2, 4},
                             {{[] { squeeze(zeros({2, 3}), 2); }, {"[squeeze]", "dim 2 is out of range for shape [2, 3]"}}}));
  r.push_back(same_order_row("squeeze(Tensor, int64_t)", "squeeze a dim that is not 1 (unchanged)", X,
                             [](auto& t) { return squeeze(t, 0); }, {2, 3, 4}));
  r.push_back(same_order_row("unsqueeze", "unsqueeze 1", X, [](auto& t) { return unsqueeze(t, 1); }, {2, 1, 3, 4},
                             {{[] { unsqueeze(zeros({2, 3}), 3); }, {"[unsqueeze]", "out of range"}}}));
  r.push_back(same_order_row("unsqueeze", "unsqueeze -1", X, [](auto& t) { return unsqueeze(t, -1); }, {2, 3, 4, 1}));
  r.push_back(same_order_row("unsqueeze", "unsqueeze a 0-d tensor", in({}), [](auto& t) { return unsqueeze(t, 0); }, {1}));

  // transpose, permute
  r.push_back(view_row(
      "transpose", "transpose 0 2", X, [](auto& t) { return transpose(t, 0, 2); },
      [](const Shape& s) { return Shape{s[2], s[1], s[0]}; }, [](const Index& i, const Shape&) { return swap(i, 0, 2); },
      {{[] { transpose(zeros({2, 3}), 0, 2); }, {"[transpose] dim 2 is out of range for shape [2, 3]"}}},
      {{"one element", {{1, 1, 1}}}, {"empty", {{2, 0, 4}}}}));
  r.push_back(view_row(
      "transpose", "transpose -1 -2", X, [](auto& t) { return transpose(t, -1, -2); },
      [](const Shape& s) { return Shape{s[0], s[2], s[1]}; }, [](const Index& i, const Shape&) { return swap(i, 1, 2); }));
  r.push_back(view_row(
      "permute", "permute 2 0 1", X, [](auto& t) { return permute(t, {2, 0, 1}); },
      [](const Shape& s) { return Shape{s[2], s[0], s[1]}; },
      [](const Index& i, const Shape&) { return Index{i[1], i[2], i[0]}; },
      {{[] { permute(zeros({2, 3}), {0, 0}); }, {"[permute] dim 0 repeated"}},
       {[] { permute(zeros({2, 3}), {0}); }, {"[permute] 1 dims given for shape [2, 3]"}}},
      {{"empty", {{2, 0, 4}}}}));

  // narrow, slice, select
  r.push_back(view_row(
      "narrow", "narrow dim 2 [1, 3)", X, [](auto& t) { return narrow(t, 2, 1, 2); },
      [](const Shape& s) { return Shape{s[0], s[1], 2}; },
      [](Index i, const Shape&) { return i[2] += 1, i; },
      {{[] { narrow(zeros({4}), 0, 3, 2); }, {"[narrow] range [3, 5) is out of bounds for dim 0 of shape [4]"}},
       {[] { narrow(scalar(1.0), 0, 0, 1); }, {"[narrow] cannot narrow a 0-d tensor"}}}));
  r.push_back(view_row(
      "narrow", "narrow dim 0 to one", X, [](auto& t) { return narrow(t, 0, 1, 1); },
      [](const Shape& s) { return Shape{1, s[1], s[2]}; }, [](Index i, const Shape&) { return i[0] += 1, i; }));
  r.push_back(view_row(
      "narrow", "narrow with a start counted from the end", X, [](auto& t) { return narrow(t, -1, -3, 2); },
      [](const Shape& s) { return Shape{s[0], s[1], 2}; }, [](Index i, const Shape& s) { return i[2] += s[2] - 3, i; },
      {{[] { narrow(zeros({4}), 0, -5, 2); }, {"[narrow] range [-5, -3) is out of bounds for dim 0 of shape [4]"}}}));
  r.push_back(view_row(
      "narrow", "narrow to empty", X, [](auto& t) { return narrow(t, 1, 3, 0); },
      [](const Shape& s) { return Shape{s[0], 0, s[2]}; }, [](Index i, const Shape&) { return i; }));
  r.push_back(view_row(
      "slice", "slice dim 1 [1, 3)", X, [](auto& t) { return slice(t, 1, 1, 3); },
      [](const Shape& s) { return Shape{s[0], 2, s[2]}; }, [](Index i, const Shape&) { return i[1] += 1, i; },
      {{[] { slice(zeros({4}), 0, 0, 4, 0); }, {"[slice] step must be positive"}},
       {[] { slice(scalar(1.0), 0, 0, 1); }, {"[slice] cannot slice a 0-d tensor"}}}));
  r.push_back(view_row(
      "slice", "slice with step 3", X, [](auto& t) { return slice(t, 2, 0, 4, 3); },
      [](const Shape& s) { return Shape{s[0], s[1], 2}; }, [](Index i, const Shape&) { return i[2] *= 3, i; }));
  r.push_back(view_row(
      "slice", "slice with negative, clamped bounds", X, [](auto& t) { return slice(t, -1, -3, 100, 2); },
      [](const Shape& s) { return Shape{s[0], s[1], 2}; }, [](Index i, const Shape&) { return i[2] = 1 + 2 * i[2], i; }));
  r.push_back(view_row(
      "slice", "slice to empty", X, [](auto& t) { return slice(t, 0, 5, 2); },
      [](const Shape& s) { return Shape{0, s[1], s[2]}; }, [](Index i, const Shape&) { return i; }));
  // split: several outputs, each the narrow at its running offset
  auto split_row = [&](const std::string& name, const Input& x, std::vector<int64_t> sizes, int64_t dim,
                       std::vector<ErrorCase> errors = {}) {
    return Row{.op = "split",
               .name = name,
               .inputs = {x},
               .fn = [sizes, dim](const std::vector<Tensor>& t) { return split(t[0], sizes, dim); },
               .ref = [sizes, dim](const std::vector<Tensor>& t) {
                 std::vector<Expect> out;
                 const int64_t d = dim < 0 ? dim + t[0].dim() : dim;
                 int64_t first = 0;
                 for (int64_t n : sizes) {
                   Shape os = t[0].shape();
                   os[d] = n;
                   out.push_back({os, t[0].dtype(), ref::remap(t[0], os, [&](Index i) { return i[d] += first, i; })});
                   first += n;
                 }
                 return out;
               },
               .dtypes = kAll,
               .errors = std::move(errors)};
  };
  r.push_back(split_row("split dim 2 into 1, 2, 1", X, {1, 2, 1}, 2,
                        {{[] { split(zeros({2, 4}), {1, 2}, 1); },
                          {"[split] sizes [1, 2] sum to 3, but dim 1 of shape [2, 4] has 4"}},
                         {[] { split(zeros({2, 4}), {5, -1}, 1); }, {"[split] sizes must not be negative"}},
                         {[] { split(zeros({2, 4}), {2}, 2); }, {"[split] dim 2 is out of range for shape [2, 4]"}},
                         {[] { split(scalar(1.0), {1}); }, {"[split] cannot split a 0-d tensor"}}}));
  r.push_back(split_row("split dim 0 with an empty part", X, {0, 2}, 0));
  r.push_back(split_row("split dim -2 into one part", X, {3}, -2));
  r.push_back(view_row(
      "select", "select dim 1 index 2", X, [](auto& t) { return select(t, 1, 2); },
      [](const Shape& s) { return Shape{s[0], s[2]}; }, [](const Index& i, const Shape&) { return Index{i[0], 2, i[1]}; },
      {{[] { select(zeros({2, 3}), 1, 3); }, {"[select] index 3 is out of range for dim 1 of shape [2, 3]"}},
       {[] { select(scalar(1.0), 0, 0); }, {"[select] cannot select from a 0-d tensor"}}}));
  r.push_back(view_row(
      "select", "select with negative dim and index", X, [](auto& t) { return select(t, -1, -4); },
      [](const Shape& s) { return Shape{s[0], s[1]}; }, [](const Index& i, const Shape&) { return Index{i[0], i[1], 0}; }));
  r.push_back(view_row(
      "select", "select from a 1-d tensor (0-d result)", in({5}), [](auto& t) { return select(t, 0, 3); },
      [](const Shape&) { return Shape{}; }, [](const Index&, const Shape&) { return Index{3}; }));

  // expand
  auto expand_map = [](const Index& i, const Shape& in) {
    Index o(in.size());
    size_t lead = i.size() - in.size();
    for (size_t d = 0; d < in.size(); ++d) o[d] = in[d] == 1 ? 0 : i[lead + d];
    return o;
  };
  r.push_back(view_row(
      "expand", "expand a size-1 dim", in({2, 1, 4}), [](auto& t) { return expand(t, {2, 5, 4}); },
      [](const Shape&) { return Shape{2, 5, 4}; }, expand_map,
      {{[] { expand(zeros({2, 3}), {4, 3}); }, {"[expand] shape [2, 3] cannot be broadcast to [4, 3]"}},
       {[] { expand(zeros({2, 3}), {3}); }, {"[expand] cannot expand shape [2, 3] to [3]"}}}));
  r.push_back(view_row(
      "expand", "expand with new leading dims", X, [](auto& t) { return expand(t, {3, 2, 3, 4}); },
      [](const Shape&) { return Shape{3, 2, 3, 4}; }, expand_map));
  r.push_back(view_row(
      "expand", "expand with -1", in({2, 1, 4}), [](auto& t) { return expand(t, {-1, 3, -1}); },
      [](const Shape&) { return Shape{2, 3, 4}; }, expand_map));
  r.push_back(view_row(
      "expand", "expand a 0-d tensor", in({}), [](auto& t) { return expand(t, {3, 2}); },
      [](const Shape&) { return Shape{3, 2}; }, expand_map));
  r.push_back(view_row(
      "expand", "expand to an empty dim", in({2, 1}), [](auto& t) { return expand(t, {2, 0}); },
      [](const Shape&) { return Shape{2, 0}; }, expand_map));

  // cat and stack: inputs of several shapes, one row per dim
  auto cat_ref = [](int64_t dim_in) {
    return [dim_in](const std::vector<Tensor>& ts) {
      const int64_t dim = ref::wrap(dim_in, ts[0].dim());
      Shape os = ts[0].shape();
      os[dim] = 0;
      for (const Tensor& t : ts) os[dim] += t.shape()[dim];
      Vec out;
      for (int64_t i = 0; i < numel(os); ++i) {
        Index idx = optest::unravel(i, os);
        size_t k = 0;
        while (idx[dim] >= ts[k].shape()[dim]) idx[dim] -= ts[k++].shape()[dim];
        out.push_back(optest::vals(ts[k])[ref::ravel(idx, ts[k].shape())]);
      }
      return std::vector<Expect>{{os, ts[0].dtype(), out}};
    };
  };
  std::vector<ErrorCase> cat_errors = {
      {[] { cat({zeros({2, 3}), zeros({2, 4})}, 0); }, {"[cat] shapes [2, 3] and [2, 4] differ outside dim 0"}},
      {[] { cat({zeros({2, 3}), zeros({3})}, 0); }, {"[cat]", "[2, 3] and [3]"}},
      {[] { cat({scalar(1.0), scalar(2.0)}, 0); }, {"[cat]"}},
      {[] { cat({}, 0); }, {"[cat] needs at least one tensor"}}};
  for (int64_t dim : {1, -2}) {
    r.push_back({.op = "cat",
                 .name = fmt::format("cat three along dim {}", dim),
                 .inputs = {in({2, 3, 2}), in({2, 1, 2}), in({2, 2, 2})},
                 .fn = f1([dim](auto& x) { return cat({x[0], x[1], x[2]}, dim); }),
                 .ref = cat_ref(dim),
                 .dtypes = kAll,
                 .variants = {{"an empty part", {{2, 0, 2}, {2, 1, 2}, {2, 2, 2}}}},
                 .errors = cat_errors});
  }
  r.push_back({.op = "cat",
               .name = "cat two along dim 0",
               .inputs = {in({2, 3}), in({1, 3})},
               .fn = f1([](auto& x) { return cat({x[0], x[1]}, 0); }),
               .ref = cat_ref(0),
               .dtypes = kAll,
               .variants = {{"an empty part", {{0, 3}, {2, 3}}}, {"the same shape", {{2, 3}, {2, 3}}}}});
  r.push_back({.op = "cat",
               .name = "cat along the last dim",
               .inputs = {in({2, 3, 1}), in({2, 3, 4})},
               .fn = f1([](auto& x) { return cat({x[0], x[1]}, -1); }),
               .ref = cat_ref(-1),
               .dtypes = kAll});
  r.push_back({.op = "cat",
               .name = "cat of one tensor",
               .inputs = {in({2, 3})},
               .fn = f1([](auto& x) { return cat({x[0]}, 1); }),
               .ref = cat_ref(1),
               .dtypes = kAll});
  r.push_back({.op = "cat",
               .name = "cat of one tensor used twice",
               .inputs = {in({2, 3})},
               .fn = f1([](auto& x) { return cat({x[0], x[0]}, 0); }),
               .ref = [](const std::vector<Tensor>& x) {
                 Vec v = optest::vals(x[0]), w = v;
                 w.insert(w.end(), v.begin(), v.end());
                 return std::vector<Expect>{{{4, 3}, x[0].dtype(), w}};
               },
               .dtypes = kAll});
  for (int64_t dim : {0, 1, 2, -1}) {
    r.push_back({.op = "stack",
                 .name = fmt::format("stack three along dim {}", dim),
                 .inputs = {in({2, 3}), in({2, 3}), in({2, 3})},
                 .fn = f1([dim](auto& x) { return stack({x[0], x[1], x[2]}, dim); }),
                 .ref = [dim](const std::vector<Tensor>& ts) {
                   const int64_t d = ref::wrap(dim, ts[0].dim() + 1);
                   Shape os = ts[0].shape();
                   os.insert(os.begin() + d, 3);
                   return std::vector<Expect>{{os, ts[0].dtype(), [&] {
                                                 Vec out;
                                                 for (int64_t i = 0; i < numel(os); ++i) {
                                                   Index idx = optest::unravel(i, os);
                                                   int64_t k = idx[d];
                                                   idx.erase(idx.begin() + d);
                                                   out.push_back(optest::vals(ts[k])[ref::ravel(idx, ts[k].shape())]);
                                                 }
                                                 return out;
                                               }()}};
                 },
                 .dtypes = kAll,
                 .variants = dim == 0 ? std::vector<Variant>{{"0-d tensors", {{}, {}, {}}}, {"empty", {{0, 3}, {0, 3}, {0, 3}}}}
                                      : std::vector<Variant>{},
                 .errors = {{[] { stack({zeros({2}), zeros({3})}); }, {"[stack] shapes [2] and [3] differ"}},
                            {[] { stack({}); }, {"[stack] needs at least one tensor"}}}});
  }
  return r;
}

}  // namespace

OP_TABLE_FAMILY("views", rows)

// Op table rows: sum/mean/amax/amin over dim sets, max/min/argmax with indices, sum_to (the
// harness: tests/op_table.h).
#include <doctest/doctest.h>

#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

using Dims = std::vector<int64_t>;
using Reduce = std::function<Tensor(const Tensor&, Dims, bool)>;
const std::vector<DType> kNumeric = {DType::float32, DType::float64, DType::int32, DType::int64};

// code: 's' sum, 'a' mean, 'M' amax, 'm' amin.
Row reduce_row(const std::string& op, char code, Reduce f, const Dims& dims, bool keepdim) {
  Row row{.op = op,
          .name = fmt::format("{} over {}{}", op, str(dims), keepdim ? " keepdim" : ""),
          .inputs = {in({2, 3, 4})},
          .fn = f1([f, dims, keepdim](auto& x) { return f(x[0], dims, keepdim); }),
          .ref = [code, dims, keepdim](const std::vector<Tensor>& x) {
            const Tensor& t = x[0];
            Shape s = t.dim() == 0 ? Shape{} : ref::reduced_shape(t.shape(), dims, keepdim);
            return std::vector<Expect>{{s, t.dtype(), t.dim() == 0 ? optest::vals(t) : ref::reduce(t, dims, code)}};
          },
          .dtypes = code == 'a' ? std::vector<DType>{DType::float32, DType::float64} : kNumeric,
          .variants = {{"one element", {{1, 1, 1}}}, {"transposed sizes", {{4, 3, 2}}}}};
  if (dims.empty() || dims == Dims{0}) row.variants.push_back({"0-d", {{}}});
  if (code == 's') row.variants.push_back({"empty", {{2, 0, 4}}});
  if (code == 'a' && !dims.empty() && std::find(dims.begin(), dims.end(), 1) == dims.end())
    row.variants.push_back({"empty, a non-empty dim reduced", {{2, 0, 4}}});
  row.errors = {{[f] { f(zeros({2, 3}), {0, 0}, false); }, {"[" + op + "]", "repeated dim"}},
                {[f] { f(zeros({2, 3}), {2}, false); }, {"[" + op + "]", "dim 2 is out of range for shape [2, 3]"}}};
  if (code == 'M' || code == 'm')
    row.errors.push_back({[f] { f(zeros({2, 0}), {}, false); }, {"[" + op + "]", "empty"}});
  if (code == 'a')
    row.errors.push_back({[f] { f(zeros({2, 0}), {1}, false); }, {"[mean]", "empty dim", "[2, 0]"}});
  return row;
}

Row arg_row(const std::string& op, int64_t dim, bool keepdim) {
  const bool is_max = op != "min";
  Fn fn;
  if (op == "argmax") fn = f1([dim, keepdim](auto& x) { return argmax(x[0], dim, keepdim); });
  else if (is_max) fn = [dim, keepdim](auto& x) { auto r = max(x[0], dim, keepdim); return Outputs{r.values, r.indices}; };
  else fn = [dim, keepdim](auto& x) { auto r = min(x[0], dim, keepdim); return Outputs{r.values, r.indices}; };
  std::vector<Variant> variants = {{"one element", {{1, 1, 1}}}, {"empty in another dim", {{dim == 0 ? 2 : 0, 3, dim == 0 ? 0 : 4}}}};
  if (dim == 0 || dim == -1) variants.push_back({"0-d", {{}}});
  Shape empty_dim = {2, 3, 4};
  empty_dim[dim < 0 ? dim + 3 : dim] = 0;
  std::vector<ErrorCase> errors = {{[fn, empty_dim] { fn({zeros(empty_dim)}); }, {"[" + op + "]", "empty"}}};
  if (dim > 0) errors.push_back({[fn] { fn({zeros({2})}); }, {"[" + op + "]", "out of range for shape [2]"}});
  return {.op = op,
          .name = fmt::format("{} over dim {}{}", op, dim, keepdim ? " keepdim" : ""),
          .inputs = {op == "argmax" ? in({2, 3, 4}).no_grad() : in({2, 3, 4})},
          .fn = fn,
          .ref = [=](const std::vector<Tensor>& x) {
            auto e = ref::arg_extreme(x[0], dim, keepdim, is_max);
            if (op == "argmax") e.erase(e.begin());
            return e;
          },
          .dtypes = kNumeric,
          .variants = variants,
          .errors = errors};
}

std::vector<Row> rows() {
  std::vector<Row> r;
  const std::vector<std::pair<const char*, char>> ops = {{"sum", 's'}, {"mean", 'a'}, {"amax", 'M'}, {"amin", 'm'}};
  const std::vector<Reduce> fns = {[](const Tensor& t, Dims d, bool k) { return sum(t, d, k); },
                                   [](const Tensor& t, Dims d, bool k) { return mean(t, d, k); },
                                   [](const Tensor& t, Dims d, bool k) { return amax(t, d, k); },
                                   [](const Tensor& t, Dims d, bool k) { return amin(t, d, k); }};
  for (size_t o = 0; o < ops.size(); ++o)
    for (const Dims& dims : std::vector<Dims>{{}, {0}, {1}, {2}, {-1}, {0, 1}, {0, 2}, {2, 0}, {1, 2}, {0, 1, 2}})
      for (bool keepdim : {false, true}) r.push_back(reduce_row(ops[o].first, ops[o].second, fns[o], dims, keepdim));
  for (const char* op : {"max", "min", "argmax"})
    for (int64_t dim : {0, 1, 2, -1})
      for (bool keepdim : {false, true}) r.push_back(arg_row(op, dim, keepdim));

  // sum_to: the inverse of broadcasting
  for (const auto& [from, to_shape] : std::vector<std::pair<Shape, Shape>>{
           {{2, 3, 4}, {3, 1}}, {{2, 3, 4}, {}}, {{2, 3, 4}, {2, 1, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {2, 3, 4}}}) {
    Shape target = to_shape;
    r.push_back({.op = "sum_to",
                 .name = "sum_to " + str(from) + " -> " + str(target),
                 .inputs = {in(from)},
                 .fn = f1([target](auto& x) { return sum_to(x[0], target); }),
                 .ref = [target](const std::vector<Tensor>& x) {
                   const Shape& s = x[0].shape();
                   Vec v = optest::vals(x[0]), out(numel(target), 0.0);
                   for (int64_t i = 0; i < x[0].numel(); ++i) out[optest::bcast_index(optest::unravel(i, s), target)] += v[i];
                   return std::vector<Expect>{{target, x[0].dtype(), out}};
                 },
                 .dtypes = kNumeric,
                 .errors = {{[] { sum_to(zeros({2, 3}), {4}); }, {"[sum_to]", "cannot sum shape [2, 3] to [4]"}},
                            {[] { sum_to(zeros({3}), {2, 3}); }, {"[sum_to]", "cannot sum shape [3] to [2, 3]"}}}});
  }
  return r;
}

}  // namespace

OP_TABLE_FAMILY("reduce", rows)

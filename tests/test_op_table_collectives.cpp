// Op table rows: the differentiable collectives of autograd/collectives.h, in the world of one that
// the test binary runs in (the identity, with its gradient), so that views, dtypes, gradcheck and
// CPU-vs-CUDA hold for them as for every op. Across ranks: tests/dist/test_dist.cpp.
#include <doctest/doctest.h>

#include "autograd/collectives.h"
#include "op_table.h"
#include "op_table_refs.h"

using namespace memgrad;
using namespace memgrad::optable;

namespace {

std::vector<Row> rows() {
  std::vector<Row> r;
  r.push_back({.op = "all_reduce_sum",
               .name = "all_reduce_sum in a world of one (the identity)",
               .inputs = {in({3, 5})},
               .fn = f1([](auto& x) { return all_reduce_sum(x[0]); }),
               .ref = [](const std::vector<Tensor>& x) {
                 return std::vector<Expect>{{x[0].shape(), x[0].dtype(), optest::vals(x[0])}};
               },
               .dtypes = {DType::float32, DType::float64, DType::int32, DType::int64},  // ints sum too
               .variants = {{"0-d", {Shape{}}}, {"empty", {Shape{0, 4}}}, {"4-d", {Shape{2, 1, 3, 2}}}},
               .mix_dtypes = false});  // one input: nothing to mix
  return r;
}

}  // namespace

OP_TABLE_FAMILY("collectives", rows)

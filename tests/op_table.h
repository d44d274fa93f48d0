#pragma once
// The op table (in the spirit of ggml's test-backend-ops): one Row per op and use of it, and the
// harness that runs every row through the same checks (op_table.cpp):
//
//   forward    the op on contiguous inputs against the row's reference (plain double loops over
//              row-major values, tests/op_table_refs.h), for every dtype the row lists, on the main
//              shapes and on each shape variant (empty, one element, 0-d, ...);
//   views      the op on every view kind of its inputs (transposed, last two dims transposed with
//              an offset, rows padded (a narrow of the last dim), sliced with an offset and a step,
//              stride 0 in an outer / the inner / every dim), laid out one input at a time and all
//              at once, each in its own buffer of NaN (or out-of-range integer) poison: outputs AND
//              input gradients must equal those of the contiguous inputs holding the same values;
//              and the upstream gradient in every view kind, against a contiguous one;
//   gradcheck  float64 central differences, all differentiable inputs together and each alone,
//              on contiguous and sliced inputs; float32 gradients against float64 ones;
//   errors     the row's bad-input cases with the message parts they must produce, and, where a
//              row takes several value inputs, float32 mixed with float64;
//   cuda       the same runs on the GPU (contiguous and every view kind built in GPU memory)
//              against the CPU; skipped with a message without a GPU, and a dry run with the CPU
//              standing in under MEMGRAD_CUDA_TESTS_ON_CPU=1 (tests/cuda_test_util.h).
//
// A new op gets a row in the family's tests/test_op_table_<family>.cpp and an entry in the op
// list of tests/test_op_table.cpp; the harness does the rest.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "ops_test_util.h"

namespace memgrad::optable {

using optest::Vec;

// How an input's values are drawn (seeded; never all zeros).
enum class Domain {
  normal,          // randn; ints in [-5, 5]
  positive,        // [0.5, 2); ints in [1, 5]
  away_from_zero,  // |x| >= 0.2 (kinks of relu/abs); ints in +-[1, 5]
  unit,            // (0.1, 0.9); ints in [0, 3]
  ties,            // small integers in [-2, 2] in the row's dtype: comparisons see equal values
  index,           // integers in [low, high), in the run's index dtype
  mask,            // bool, about 30% false
};

struct Input {
  Shape shape;
  Domain domain = Domain::normal;
  bool grad = true;  // differentiable (float inputs of a float run)
  // index inputs: values in [low, high); with of_input >= 0, high = size of dim `of_dim` of that
  // input (in the shapes of the run) + high_add
  int64_t low = 0, high = 0;
  int of_input = -1;
  int64_t of_dim = 0, high_add = 0;
  // every third element (1, 4, 7, ...) set to this value (an ignore_index, an inf)
  std::optional<double> every_third;

  Input& no_grad() { return grad = false, *this; }
};

inline Input in(Shape s) { return {.shape = std::move(s)}; }
inline Input pos(Shape s) { return {.shape = std::move(s), .domain = Domain::positive}; }
inline Input afz(Shape s) { return {.shape = std::move(s), .domain = Domain::away_from_zero}; }
inline Input unit(Shape s) { return {.shape = std::move(s), .domain = Domain::unit}; }
inline Input ties(Shape s) { return {.shape = std::move(s), .domain = Domain::ties, .grad = false}; }
inline Input mask(Shape s) { return {.shape = std::move(s), .domain = Domain::mask, .grad = false}; }
inline Input idx(Shape s, int64_t high, int64_t low = 0) {
  return {.shape = std::move(s), .domain = Domain::index, .grad = false, .low = low, .high = high};
}
// Indices into dim `dim` of input `input`: [0, size + add).
inline Input idx_of(Shape s, int input, int64_t dim, int64_t add = 0) {
  return {.shape = std::move(s), .domain = Domain::index, .grad = false, .of_input = input, .of_dim = dim,
          .high_add = add};
}

// One expected output: shape, dtype and values (row-major).
struct Expect {
  Shape shape;
  DType dtype;
  Vec values;
};
using Outputs = std::vector<Tensor>;
using Fn = std::function<Outputs(const std::vector<Tensor>&)>;
using Ref = std::function<std::vector<Expect>(const std::vector<Tensor>&)>;
// Checks with CHECK where no reference can exist (random values): inputs, outputs.
using Prop = std::function<void(const std::vector<Tensor>&, const Outputs&)>;

struct ErrorCase {
  std::function<void()> call;
  std::vector<std::string> parts;  // each must appear in the memgrad::Error's message
};

// Another set of input shapes for the same row (same number of inputs).
struct Variant {
  std::string name;
  std::vector<Shape> shapes;
};

struct Row {
  std::string op;    // the entry of the op list it covers (test_op_table.cpp), e.g. "pow(Tensor, double)"
  std::string name;  // what this row does, unique in its family
  std::vector<Input> inputs;
  Fn fn;
  Ref ref;    // the reference; or
  Prop prop;  // property checks (random ops)
  std::vector<DType> dtypes = {DType::float32, DType::float64};  // the value dtypes it takes
  double tol32 = 1e-5, tol64 = 1e-10;                             // atol = rtol, per value dtype
  std::vector<Variant> variants;
  std::vector<ErrorCase> errors;
  std::string err_op;       // the op name errors carry (default: op up to '('); "" with no_mix
  bool mix_dtypes = true;   // check that float32 mixed with float64 inputs is an Error naming err_op
  bool reject_ints = true;  // rows without int dtypes: int64 value inputs are an Error naming err_op
  bool values_defined = true;  // false: outputs are compared by shape and dtype only (empty_like)
  bool gradcheck = true;
  GradcheckOptions gc = {};
  double cuda_tol_scale = 1;  // float32 GPU results round differently (long reductions)
};

// What the harness is running now: creation rows read the dtype and device from here.
struct RunCtx {
  DType dtype = DType::float32;
  DType index_dtype = DType::int64;
  Device device = Device::cpu();
};
const RunCtx& ctx();

// One output per row function, for the common case.
inline Fn f1(std::function<Tensor(const std::vector<Tensor>&)> f) {
  return [f = std::move(f)](const std::vector<Tensor>& x) { return Outputs{f(x)}; };
}

// The families of rows, registered by each tests/test_op_table_<family>.cpp at static init.
using RowsFn = std::vector<Row> (*)();
bool register_family(const char* family, RowsFn rows);
struct Family {
  std::string name;
  RowsFn rows;
};
const std::vector<Family>& families();

// The harness stages, each over every row of a family.
void check_forward(const std::vector<Row>& rows);
void check_views(const std::vector<Row>& rows);
void check_gradcheck(const std::vector<Row>& rows);
void check_errors(const std::vector<Row>& rows);
void check_cuda(const std::vector<Row>& rows);

}  // namespace memgrad::optable

// The five test cases of a family: `rows_fn` returns its rows.
#define OP_TABLE_FAMILY(family, rows_fn)                                                                      \
  static const bool op_table_registered_ = ::memgrad::optable::register_family(family, rows_fn);            \
  TEST_CASE("op table, " family ": forward against the reference") { ::memgrad::optable::check_forward(rows_fn()); } \
  TEST_CASE("op table, " family ": every view kind equals the contiguous input, values and gradients") {    \
    ::memgrad::optable::check_views(rows_fn());                                                               \
  }                                                                                                           \
  TEST_CASE("op table, " family ": float64 gradcheck, float32 gradients") {                               \
    ::memgrad::optable::check_gradcheck(rows_fn());                                                           \
  }                                                                                                           \
  TEST_CASE("op table, " family ": bad input gives the row's errors") { ::memgrad::optable::check_errors(rows_fn()); } \
  TEST_CASE("op table, " family ": CUDA equals the CPU") { ::memgrad::optable::check_cuda(rows_fn()); }

#pragma once
// The differentiable ops: the public tensor API. Each records a Node when an input requires a
// gradient (autograd/node.h); backward formulas are written with these same ops.
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "backends/op_kinds.h"
#include "core/allocator.h"
#include "core/random.h"
#include "core/tensor.h"

namespace memgrad {

// ---- creation (ops/factories.cpp) ----
Tensor zeros(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::float32, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
Tensor empty_like(const Tensor& t);
Tensor scalar(double value, DType dtype = DType::float32, Device device = Device::cpu());  // 0-d
Tensor arange(double start, double end, double step = 1, DType dtype = DType::int64, Device device = Device::cpu());
Tensor arange(int64_t n, DType dtype = DType::int64, Device device = Device::cpu());
// Uniform in [low, high) and normal(mean, std), from `gen` (the default generator when null).
Tensor rand(const Shape& shape, DType dtype = DType::float32, Generator* gen = nullptr, double low = 0,
            double high = 1, Device device = Device::cpu());
Tensor randn(const Shape& shape, DType dtype = DType::float32, Generator* gen = nullptr, double mean = 0,
             double std = 1, Device device = Device::cpu());
// Integers uniform in [low, high).
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype = DType::int64, Generator* gen = nullptr,
               Device device = Device::cpu());
// Copies a vector into a new tensor of the given shape (a 1-d tensor when shape is empty).
template <class T>
Tensor from_vector(const std::vector<T>& values, Shape shape = {}, Device device = Device::cpu());

// ---- copies and conversions ----
Tensor to(const Tensor& t, DType dtype);    // differentiable between float types
Tensor to(const Tensor& t, Device device);  // differentiable
Tensor contiguous(const Tensor& t);         // t itself when already contiguous
Tensor clone(const Tensor& t);
Tensor detach(const Tensor& t);             // shares storage, no history

// ---- views: share storage (ops/views.cpp) ----
Tensor reshape(const Tensor& t, Shape shape);  // one dim may be -1; copies only when it must
Tensor view(const Tensor& t, Shape shape);     // like reshape, but errors instead of copying
Tensor flatten(const Tensor& t, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& t, int64_t d0, int64_t d1);
Tensor permute(const Tensor& t, const std::vector<int64_t>& dims);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);  // start < 0 counts from the end
Tensor slice(const Tensor& t, int64_t dim, int64_t start, int64_t end, int64_t step = 1);  // python-style bounds
Tensor select(const Tensor& t, int64_t dim, int64_t index);  // drops dim
// Consecutive views of t along dim, of the given sizes (summing to t.size(dim)): one node whose
// backward writes every part's gradient into one tensor of t's shape, where narrow()s would
// each make a zero tensor of that shape and sum them (a fused q/k/v projection's three heads).
std::vector<Tensor> split(const Tensor& t, const std::vector<int64_t>& sizes, int64_t dim = 0);
Tensor expand(const Tensor& t, const Shape& shape);          // -1 keeps a dim
Tensor squeeze(const Tensor& t);
Tensor squeeze(const Tensor& t, int64_t dim);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor cat(const std::vector<Tensor>& ts, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& ts, int64_t dim = 0);

// ---- elementwise, broadcasting (ops/elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& t);
Tensor exp(const Tensor& t);
Tensor log(const Tensor& t);
Tensor sqrt(const Tensor& t);
Tensor tanh(const Tensor& t);
Tensor sigmoid(const Tensor& t);
Tensor relu(const Tensor& t);
Tensor gelu(const Tensor& t);  // exact (erf) form
Tensor abs(const Tensor& t);
// Comparisons and logic give bool tensors and no gradient.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
bool all_finite(const Tensor& t);

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);

// ---- reductions (ops/reduce.cpp); empty dims = all dims ----
Tensor sum(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amax(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
Tensor amin(const Tensor& t, std::vector<int64_t> dims = {}, bool keepdim = false);
struct ValuesIndices {
  Tensor values;
  Tensor indices;  // int64
};
ValuesIndices max(const Tensor& t, int64_t dim, bool keepdim = false);
ValuesIndices min(const Tensor& t, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& t, int64_t dim, bool keepdim = false);
// Sums a broadcast gradient back down to `shape` (the inverse of broadcasting).
Tensor sum_to(const Tensor& t, const Shape& shape);

// ---- linear algebra (ops/linalg.cpp) ----
// Batched with numpy broadcasting of batch dims; 1-d operands as numpy treats them.
Tensor matmul(const Tensor& a, const Tensor& b);
// A LayerNorm over the last dim that linear() and feed_forward() apply to x inside the node (a
// pre-LN transformer's ln -> projection): the op computes layer_norm(x, weight, bias, eps) into a
// temporary, and backward recomputes it from x and the saved statistics, so the normalized
// [..., in] tensor is never saved (x is: layer_norm saves it anyway). Against layer_norm() then
// linear() that is one [..., in] activation less per norm, for one more LayerNorm pass in backward
// (Transformer Engine's LayerNormLinear). on = false: x as given.
struct InputNorm {
  bool on = false;
  Tensor weight, bias;  // [in] each, or undefined (no affine part)
  double eps = 1e-5;
};
// The fused linear layer (ops/linear.cpp): act(x W^T + b), x [..., in], weight [out, in], bias
// [out] or undefined -> [..., out]. One gemm and one elementwise pass forward (bias and activation
// together); backward one pass for act' and the bias gradient, then the dX and dW gemms. Saves x
// and W (as needed for their gradients) and, for gelu, the pre-activation; for relu the output.
// With norm.on, the product reads layer_norm(x) (InputNorm above); its inputs are then x, weight,
// bias, norm.weight, norm.bias.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, Activation act = Activation::none,
              const InputNorm& norm = {});
// Two linears with an activation between: act(x W1^T + b1) W2^T + b2, x [..., in], w1 [hidden, in],
// w2 [out, hidden], biases [hidden] / [out] or undefined -> [..., out] (ops/linear.cpp). One node
// that saves x, w1, w2 and the pre-activation only: backward recomputes the hidden activation for
// dW2, where two linear()s would also keep it ([..., hidden], a transformer's largest activation).
// With norm.on the first linear reads layer_norm(x), as in linear(). Backward runs over blocks of
// rows whose [rows, hidden] transients (dPre and the recomputed activation) take about
// kFeedForwardBlockBytes together: they exist one block at a time, and only [..., in]-sized
// gradients are whole.
inline constexpr int64_t kFeedForwardBlockBytes = int64_t{1} << 20;
Tensor feed_forward(const Tensor& x, const Tensor& w1, const Tensor& b1, const Tensor& w2, const Tensor& b2,
                    Activation act, const InputNorm& norm = {});

// ---- neural-network ops (ops/nn_ops.cpp, ops/index.cpp, ops/loss.cpp) ----
Tensor softmax(const Tensor& t, int64_t dim);
Tensor log_softmax(const Tensor& t, int64_t dim);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);  // cond bool, broadcasting
Tensor masked_fill(const Tensor& t, const Tensor& mask, double value);  // mask bool, broadcast to t
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);  // last dim
// Zeroes each element with probability p and scales the rest by 1/(1-p); identity when !training.
Tensor dropout(const Tensor& x, double p, bool training = true, Generator* gen = nullptr);
Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index);  // index 1-d int
Tensor gather(const Tensor& t, int64_t dim, const Tensor& index);        // torch.gather
// weight [V, D], ids int of any shape -> [..., D]; backward scatter-adds into the rows used.
Tensor embedding(const Tensor& weight, const Tensor& ids);

// ---- sparse rows: the top-k feed-forward layer (ops/sparse_linear.cpp; nn::FeedForward) ----
// The top k entries of each row of the linear map x weight^T + bias: x [..., in], weight [F, in]
// (Linear's layout), bias [F] or undefined, 1 <= k <= F. Returns values [..., k] and indices
// int64 [..., k], each row in ascending column order (a sparse row: value j sits at column
// indices[..., j]). Ranking: larger first, NaN above +inf, equal values to the lower column.
// Forward forms the scores `chunk` rows at a time (one [chunk, F] workspace, no [rows, F]
// tensor). Backward saves only x, weight and the indices, and is sparse, O(rows * k * in):
// dx[t] = sum_j g[t, j] W[idx[t, j]], dW[idx[t, j]] += g[t, j] x[t], db[idx[t, j]] += g[t, j].
// The indices carry no gradient (the selection is piecewise constant).
ValuesIndices topk_linear(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t k, int64_t chunk = 1024);
// A linear map of sparse rows: values [..., k] at columns indices (int32/int64, same shape, each
// in [0, F): checked), weight [out, F] -> [..., out] = linear(scatter_add(zeros[..., F], indices,
// values), weight), i.e. y[t] = sum_j values[t, j] W[:, indices[t, j]] (repeated indices add up).
// Saves values, indices and weight; backward is O(rows * k * out); indices get no gradient.
Tensor sparse_linear(const Tensor& values, const Tensor& indices, const Tensor& weight);

enum class Reduction { none, mean, sum };
struct CrossEntropyOptions {
  int64_t ignore_index = -100;
  Reduction reduction = Reduction::mean;  // mean over targets that are not ignored; 0 (and zero
                                          // gradients) when none is left, where PyTorch gives NaN
  double label_smoothing = 0.0;
};
// logits [N, C] (or [C]), target int [N] (or 0-d).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opts = {});

// ---- in-place writes (ops/inplace.cpp) ----
// The only ways memgrad writes into an existing tensor (nn's initialisation, state loading,
// gradient clipping, optimizer steps and Python's indexed assignment all use them). Each bumps
// the version of t's storage, so a tensor saved for backward before the write makes backward
// raise an error instead of silently using the new values (autograd/node.h, saved()). They
// return t and record no graph; they refuse, with an error naming the op:
// - t requiring grad while grad mode is on (autograd could not follow the change: use an
//   out-of-place op, or NoGradGuard for updates such as initialisation and optimizer steps);
// - a source that requires grad while grad mode is on (the write would cut its gradient);
// - t an expanded view (stride 0 in a dim of size > 1: several elements share one location).
// Sources broadcast to t's shape and convert to t's dtype and device; a source that overlaps t's
// storage is copied first.
Tensor copy_(const Tensor& t, const Tensor& src);
Tensor fill_(const Tensor& t, double value);
Tensor zero_(const Tensor& t);
Tensor add_(const Tensor& t, const Tensor& other, double alpha = 1);  // t += alpha * other
Tensor sub_(const Tensor& t, const Tensor& other);
Tensor mul_(const Tensor& t, const Tensor& other);
Tensor mul_(const Tensor& t, double value);
Tensor div_(const Tensor& t, const Tensor& other);

// ---- fused optimizer updates (ops/optim_steps.cpp): in place on a parameter and its state ----
// PyTorch's update formulas (backends/backend.h states them). param and the state tensors must be
// contiguous, of param's shape and float dtype, on one device; grad any view of param's shape.
// Like the ops above they bump the versions of what they write and refuse a parameter that
// requires grad while grad mode is on (optimizers step under NoGradGuard).
struct SgdStep {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer starts as the first update
};
void sgd_step_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buf, const SgdStep& o);
struct AdamStep {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;  // AdamW
  int64_t step = 1;        // counts from 1, this step included
};
void adam_step_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                const AdamStep& o);

// ---- checkpointing and gradient checks (checkpoint.cpp, gradcheck.cpp) ----
using TensorFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;
// Runs fn without recording and saves only its inputs; backward re-runs it with recording.
// Random ops inside fn draw the same numbers both times (the default generator is restored).
// `params`: tensors fn uses without taking them as inputs (a layer's weights); naming them makes
// the outputs require grad even when no input does. Their gradients accumulate as usual.
std::vector<Tensor> checkpoint(const TensorFn& fn, const std::vector<Tensor>& inputs,
                               const std::vector<Tensor>& params = {});

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
};
struct GradcheckResult {
  bool ok = true;
  std::string message;  // the first mismatch, naming input, element, analytic and numeric values
};
// Compares backward of sum(fn(inputs) * w) (w fixed random weights) with central differences,
// for each float64 input that requires grad.
GradcheckResult gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& opts = {});

}  // namespace memgrad

#pragma once
// The host-side checks of scalar_math.h's rules that every backend makes the same way, with the
// same messages: values that an integer type cannot hold are errors, never undefined behaviour.
#include "backends/op_kinds.h"
#include "core/tensor.h"

namespace memgrad {

// Whether `value` converts to `dtype` (always for float and bool dtypes; for integer dtypes,
// finite with its truncation in range).
bool scalar_fits(double value, DType dtype);
// Errors naming `op` unless every element of the float tensor x (any device, any view) converts
// to the integer type `to`; the message names the first element that does not and its value.
void check_integer_conversion(const Tensor& x, DType to, const char* op);
// The scalars of Backend::fill, arange and random must fit the output's dtype (integer outputs:
// a fill value and every arange value in range; uniform bounds in range; no normal samples).
void check_fill_value(double value, DType dtype);
void check_arange_values(double start, double step, int64_t n, DType dtype);
void check_random_dtype(DType dtype, RandomKind kind, double a, double b);

}  // namespace memgrad

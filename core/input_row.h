// Reading one output channel of a raw input tensor as float32.

#ifndef SQUANT_CORE_INPUT_ROW_H_
#define SQUANT_CORE_INPUT_ROW_H_

#include <cstdint>

#include "absl/status/status.h"
#include "core/squant.h"

namespace squant {

// Converts output channel `channel` (its `size` elements) of `weights` to
// float32 in `out`. Fails with INVALID_ARGUMENT naming the first NaN or Inf
// element by its flat index in the tensor.
absl::Status LoadInputRow(const WeightTensor& weights, int64_t channel,
                          int64_t size, float* out);

// The error LoadInputRow reports for a non-finite element.
absl::Status NonFiniteError(float value, int64_t flat_index, int64_t channel);

}  // namespace squant

#endif  // SQUANT_CORE_INPUT_ROW_H_

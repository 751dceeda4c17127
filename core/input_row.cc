#include "core/input_row.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "core/float_convert.h"

namespace squant {

absl::Status NonFiniteError(float value, int64_t flat_index, int64_t channel) {
  return absl::InvalidArgumentError(absl::StrCat(
      "element ", flat_index, " (output channel ", channel, ") is ",
      std::isnan(value) ? "NaN" : "Inf", ": weights must be finite"));
}

absl::Status LoadInputRow(const WeightTensor& weights, int64_t channel,
                          int64_t size, float* out) {
  const int64_t first = channel * size;
  const uint8_t* data = weights.data.data();
  switch (weights.dtype) {
    case DType::kF32:
      for (int64_t i = 0; i < size; ++i) out[i] = LoadF32(data, first + i);
      break;
    case DType::kF16:
      for (int64_t i = 0; i < size; ++i) {
        out[i] = F16BitsToFloat(LoadU16(data, first + i));
      }
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < size; ++i) {
        out[i] = Bf16BitsToFloat(LoadU16(data, first + i));
      }
      break;
  }
  for (int64_t i = 0; i < size; ++i) {
    if (!std::isfinite(out[i]))
      return NonFiniteError(out[i], first + i, channel);
  }
  return absl::OkStatus();
}

}  // namespace squant

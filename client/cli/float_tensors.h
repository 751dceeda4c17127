// Float32 values of a file's tensors, whether stored as floats or in the
// quantized schema (dequantized as scale * (q - zero_point)).

#ifndef SQUANT_CLIENT_CLI_FLOAT_TENSORS_H_
#define SQUANT_CLIENT_CLI_FLOAT_TENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/cli/quantized_format.h"
#include "safetensors/safetensors.h"

namespace squant::cli {

struct FloatTensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// The fake-quantized weights of quantized tensor `name`: each value is
// float32(scale[m] * float32(q - zero_point[m])), packed values unpacked.
// Errors name the tensor and what is inconsistent.
absl::StatusOr<FloatTensor> Dequantize(const safetensors::MappedFile& file,
                                       const std::string& name,
                                       const QuantizedTensorRecord& record);

// Tensor `name` as float32: dequantized if `records` lists it, else an
// F32/F16/BF16 tensor converted exactly.
absl::StatusOr<FloatTensor> LoadFloatTensor(
    const safetensors::MappedFile& file,
    const std::map<std::string, QuantizedTensorRecord>& records,
    const std::string& name);

}  // namespace squant::cli

#endif  // SQUANT_CLIENT_CLI_FLOAT_TENSORS_H_

// Safetensors inputs made by the tests themselves: random F32/F16/BF16
// tensors, files from explicit bytes, and golden cases re-packed as
// one-tensor models.

#ifndef SQUANT_TESTS_CLI_TEST_MODELS_H_
#define SQUANT_TESTS_CLI_TEST_MODELS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "safetensors/safetensors.h"

namespace squant::testing {

struct TensorData {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Normally distributed values (std 0.05, like trained weights) stored as
// `dtype` (F32, F16, BF16, or F64); the same seed gives the same bytes.
TensorData RandomTensor(const std::string& name, const std::string& dtype,
                        const std::vector<int64_t>& shape, uint32_t seed);

absl::Status WriteModel(
    const std::string& path, const std::vector<TensorData>& tensors,
    const std::map<std::string, std::string>& metadata = {});

// The bytes of a tensor of a mapped file, as a vector of T.
template <typename T>
std::vector<T> Values(const safetensors::MappedFile& file,
                      const std::string& name) {
  const safetensors::TensorInfo* tensor = file.Find(name);
  if (tensor == nullptr) return {};
  const absl::Span<const uint8_t> data = file.Data(*tensor);
  std::vector<T> values(data.size() / sizeof(T));
  std::memcpy(values.data(), data.data(), values.size() * sizeof(T));
  return values;
}

// Float32 values of an F32/F16/BF16 tensor.
std::vector<float> FloatValues(const safetensors::MappedFile& file,
                               const std::string& name);

}  // namespace squant::testing

#endif  // SQUANT_TESTS_CLI_TEST_MODELS_H_

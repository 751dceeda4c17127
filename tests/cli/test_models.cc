#include "tests/cli/test_models.h"

#include <bit>
#include <cstring>
#include <random>

#include "core/float_convert.h"

namespace squant::testing {
namespace {

// float32 -> float16 bits, truncating; values below the half normal range
// become signed zeros (good enough for test inputs).
uint16_t ToF16Bits(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return static_cast<uint16_t>(sign);
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7bffu);
  return static_cast<uint16_t>(sign | (exponent << 10) |
                               ((bits >> 13) & 0x3ffu));
}

template <typename T>
void Append(std::vector<uint8_t>& bytes, T value) {
  const size_t at = bytes.size();
  bytes.resize(at + sizeof(T));
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

}  // namespace

TensorData RandomTensor(const std::string& name, const std::string& dtype,
                        const std::vector<int64_t>& shape, uint32_t seed) {
  std::mt19937 random(seed);
  std::normal_distribution<float> normal(0.0f, 0.05f);
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  TensorData tensor{name, dtype, shape, {}};
  for (int64_t i = 0; i < count; ++i) {
    const float value = normal(random);
    if (dtype == "F32") {
      Append(tensor.bytes, value);
    } else if (dtype == "F16") {
      Append(tensor.bytes, ToF16Bits(value));
    } else if (dtype == "BF16") {
      Append(tensor.bytes,
             static_cast<uint16_t>(std::bit_cast<uint32_t>(value) >> 16));
    } else {
      Append(tensor.bytes, static_cast<double>(value));
    }
  }
  return tensor;
}

absl::Status WriteModel(const std::string& path,
                        const std::vector<TensorData>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  std::vector<safetensors::TensorSpec> specs;
  for (const TensorData& tensor : tensors) {
    specs.push_back({tensor.name, tensor.dtype, tensor.shape});
  }
  absl::StatusOr<safetensors::Writer> writer =
      safetensors::Writer::Create(path, specs, metadata);
  if (!writer.ok()) return writer.status();
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (absl::Status status = writer->Write(i, 0, tensors[i].bytes);
        !status.ok()) {
      return status;
    }
  }
  return writer->Close();
}

std::vector<float> FloatValues(const safetensors::MappedFile& file,
                               const std::string& name) {
  const safetensors::TensorInfo* tensor = file.Find(name);
  if (tensor == nullptr) return {};
  const uint8_t* data = file.Data(*tensor).data();
  const int64_t count = static_cast<int64_t>(tensor->size()) /
                        safetensors::DTypeSize(tensor->dtype);
  std::vector<float> values(count);
  for (int64_t i = 0; i < count; ++i) {
    if (tensor->dtype == "F32") {
      values[i] = LoadF32(data, i);
    } else if (tensor->dtype == "F16") {
      values[i] = F16BitsToFloat(LoadU16(data, i));
    } else {
      values[i] = Bf16BitsToFloat(LoadU16(data, i));
    }
  }
  return values;
}

}  // namespace squant::testing

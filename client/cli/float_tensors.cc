#include "client/cli/float_tensors.h"

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/float_convert.h"

namespace squant::cli {
namespace {

absl::Status Inconsistent(const std::string& name, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("quantized tensor '", name, "': ", what));
}

absl::StatusOr<const safetensors::TensorInfo*> FindPart(
    const safetensors::MappedFile& file, const std::string& name,
    absl::string_view suffix, absl::string_view dtype,
    const std::vector<int64_t>& shape) {
  const std::string part = absl::StrCat(name, suffix);
  const safetensors::TensorInfo* tensor = file.Find(part);
  if (tensor == nullptr)
    return Inconsistent(name, absl::StrCat(part, " is missing"));
  if (tensor->dtype != dtype || tensor->shape != shape) {
    return Inconsistent(
        name, absl::StrCat(part, " is ", tensor->dtype, " [",
                           absl::StrJoin(tensor->shape, ","), "], expected ",
                           dtype, " [", absl::StrJoin(shape, ","), "]"));
  }
  return tensor;
}

}  // namespace

absl::StatusOr<FloatTensor> Dequantize(const safetensors::MappedFile& file,
                                       const std::string& name,
                                       const QuantizedTensorRecord& record) {
  if (record.shape.size() < 2) return Inconsistent(name, "rank below 2");
  LayerGeometry geometry;
  geometry.channels = record.shape[0];
  geometry.kernels_per_channel = record.shape[1];
  geometry.kernel_size = 1;
  for (size_t d = 2; d < record.shape.size(); ++d) {
    geometry.kernel_size *= record.shape[d];
  }
  const int64_t channels = geometry.channels;
  const std::vector<int64_t> packed_shape = {channels,
                                             (geometry.channel_size() + 1) / 2};
  absl::StatusOr<const safetensors::TensorInfo*> qweight =
      record.packed ? FindPart(file, name, kQWeightSuffix, "U8", packed_shape)
                    : FindPart(file, name, kQWeightSuffix, "I8", record.shape);
  if (!qweight.ok()) return qweight.status();
  absl::StatusOr<const safetensors::TensorInfo*> scale =
      FindPart(file, name, kScaleSuffix, "F32", {channels});
  if (!scale.ok()) return scale.status();
  absl::StatusOr<const safetensors::TensorInfo*> zero_point =
      FindPart(file, name, kZeroPointSuffix, "I32", {channels});
  if (!zero_point.ok()) return zero_point.status();

  std::vector<int8_t> values;
  const absl::Span<const uint8_t> q_bytes = file.Data(**qweight);
  if (record.packed) {
    values = UnpackInt4(q_bytes, geometry);
  } else {
    values.assign(q_bytes.begin(), q_bytes.end());
  }
  std::vector<float> scales(channels);
  std::vector<int32_t> zero_points(channels);
  std::memcpy(scales.data(), file.Data(**scale).data(), channels * 4);
  std::memcpy(zero_points.data(), file.Data(**zero_point).data(), channels * 4);

  FloatTensor result{record.shape, std::vector<float>(values.size())};
  const int64_t row = geometry.channel_size();
  for (int64_t m = 0; m < channels; ++m) {
    for (int64_t i = m * row; i < (m + 1) * row; ++i) {
      result.values[i] =
          scales[m] * static_cast<float>(int32_t{values[i]} - zero_points[m]);
    }
  }
  return result;
}

absl::StatusOr<FloatTensor> LoadFloatTensor(
    const safetensors::MappedFile& file,
    const std::map<std::string, QuantizedTensorRecord>& records,
    const std::string& name) {
  if (const auto record = records.find(name); record != records.end()) {
    return Dequantize(file, name, record->second);
  }
  const safetensors::TensorInfo* tensor = file.Find(name);
  if (tensor == nullptr) {
    return absl::NotFoundError(absl::StrCat("no tensor '", name, "'"));
  }
  absl::StatusOr<DType> dtype = ParseDType(tensor->dtype);
  if (!dtype.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor '", name, "' is ", tensor->dtype, ", not a float tensor"));
  }
  const absl::Span<const uint8_t> data = file.Data(*tensor);
  const int64_t count = data.size() / DTypeSize(*dtype);
  FloatTensor result{tensor->shape, std::vector<float>(count)};
  for (int64_t i = 0; i < count; ++i) {
    switch (*dtype) {
      case DType::kF32:
        result.values[i] = LoadF32(data.data(), i);
        break;
      case DType::kF16:
        result.values[i] = F16BitsToFloat(LoadU16(data.data(), i));
        break;
      case DType::kBF16:
        result.values[i] = Bf16BitsToFloat(LoadU16(data.data(), i));
        break;
    }
  }
  return result;
}

}  // namespace squant::cli

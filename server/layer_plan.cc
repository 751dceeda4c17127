#include "server/layer_plan.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/status_mapping.h"

namespace squant::server {
namespace {

absl::StatusOr<Mode> FromProto(v1::Mode mode) {
  switch (mode) {
    case v1::MODE_SQUANT:
      return Mode::kSquant;
    case v1::MODE_SQUANT_K:
      return Mode::kSquantK;
    case v1::MODE_SQUANT_C:
      return Mode::kSquantC;
    case v1::MODE_SQUANT_E:
      return Mode::kSquantE;
    default:
      return ServiceError(ErrorReason::kInvalidOptions,
                          absl::StrCat("unknown mode ", mode));
  }
}

absl::StatusOr<Grid> FromProto(v1::Grid grid) {
  switch (grid) {
    case v1::GRID_ASYMMETRIC:
      return Grid::kAsymmetric;
    case v1::GRID_SYMMETRIC:
      return Grid::kSymmetric;
    default:
      return ServiceError(ErrorReason::kInvalidOptions,
                          absl::StrCat("unknown grid ", grid));
  }
}

absl::StatusOr<DType> FromProto(v1::Dtype dtype) {
  switch (dtype) {
    case v1::DTYPE_F32:
      return DType::kF32;
    case v1::DTYPE_F16:
      return DType::kF16;
    case v1::DTYPE_BF16:
      return DType::kBF16;
    default:
      return ServiceError(
          ErrorReason::kInvalidShape,
          absl::StrCat("dtype ", v1::Dtype_Name(dtype), " (",
                       static_cast<int>(dtype), ") is not F32, F16 or BF16"));
  }
}

absl::Status WithLayer(const absl::Status& status, uint64_t layer_id,
                       absl::string_view name) {
  return ServiceError(ReasonOf(status), absl::StrCat(LayerLabel(layer_id, name),
                                                     ": ", status.message()));
}

}  // namespace

LayerOptions ServerDefaultOptions() { return LayerOptions{}; }

absl::StatusOr<LayerOptions> ResolveOptions(
    const LayerOptions& defaults, const v1::QuantizationOptions& options) {
  LayerOptions resolved = defaults;
  if (options.bits() != 0) {
    if (options.bits() < kMinBits || options.bits() > kMaxBits) {
      return ServiceError(
          ErrorReason::kInvalidOptions,
          absl::StrCat("bits ", options.bits(), " out of range [", kMinBits,
                       ", ", kMaxBits, "]"));
    }
    resolved.quant.bits = static_cast<int>(options.bits());
  }
  if (options.mode() != v1::MODE_UNSPECIFIED) {
    absl::StatusOr<Mode> mode = FromProto(options.mode());
    if (!mode.ok()) return mode.status();
    resolved.quant.mode = *mode;
  }
  if (options.grid() != v1::GRID_UNSPECIFIED) {
    absl::StatusOr<Grid> grid = FromProto(options.grid());
    if (!grid.ok()) return grid.status();
    resolved.quant.grid = *grid;
  }
  if (options.has_pack()) resolved.pack = options.pack();
  if (resolved.pack && resolved.quant.bits > kMaxPackedBits) {
    return ServiceError(ErrorReason::kInvalidOptions,
                        absl::StrCat("pack needs bits <= ", kMaxPackedBits,
                                     ", got ", resolved.quant.bits));
  }
  return resolved;
}

absl::StatusOr<LayerPlan> PlanLayer(uint64_t layer_id, absl::string_view name,
                                    absl::Span<const int64_t> shape,
                                    v1::Dtype dtype,
                                    const LayerOptions& defaults,
                                    const v1::QuantizationOptions& overrides,
                                    const LayerLimits& limits) {
  absl::StatusOr<LayerOptions> options = ResolveOptions(defaults, overrides);
  if (!options.ok()) return WithLayer(options.status(), layer_id, name);
  absl::StatusOr<DType> core_dtype = FromProto(dtype);
  if (!core_dtype.ok()) return WithLayer(core_dtype.status(), layer_id, name);

  const std::string shape_text =
      absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
  if (shape.size() < 2) {
    return WithLayer(
        ServiceError(ErrorReason::kInvalidShape,
                     absl::StrCat("shape ", shape_text, " has rank ",
                                  shape.size(), "; need [M, N, k1, ...]")),
        layer_id, name);
  }
  // The size limit also keeps the products far from overflowing.
  const int64_t element_size = DTypeSize(*core_dtype);
  int64_t elements = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 1) {
      return WithLayer(
          ServiceError(ErrorReason::kInvalidShape,
                       absl::StrCat("shape ", shape_text, " has dimension ", d,
                                    " = ", shape[d], "; need >= 1")),
          layer_id, name);
    }
    if (elements > limits.max_bytes / element_size / shape[d]) {
      return WithLayer(
          ServiceError(ErrorReason::kLayerTooLarge,
                       absl::StrCat("shape ", shape_text, " of ",
                                    DTypeName(*core_dtype), " exceeds ",
                                    limits.max_bytes, " bytes (the server's ",
                                    limits.max_bytes_flag, ")")),
          layer_id, name);
    }
    elements *= shape[d];
  }
  if (shape[0] > limits.max_channels) {
    return WithLayer(
        ServiceError(
            ErrorReason::kLayerTooLarge,
            absl::StrCat("shape ", shape_text, " has ", shape[0],
                         " output channels; the server's limit is ",
                         limits.max_channels, " (--max_layer_channels)")),
        layer_id, name);
  }

  LayerPlan plan;
  plan.layer_id = layer_id;
  plan.name = std::string(name);
  plan.shape.assign(shape.begin(), shape.end());
  plan.dtype = *core_dtype;
  plan.options = *options;
  plan.input_bytes = elements * element_size;
  const int64_t row = elements / shape[0];
  plan.value_bytes = options->pack ? shape[0] * ((row + 1) / 2) : elements;
  return plan;
}

}  // namespace squant::server

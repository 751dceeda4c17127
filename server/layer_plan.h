// Turns what a client announces about a layer (options, shape, dtype) into
// a validated plan, before any of its bytes arrive: the options in effect
// after defaults and overrides, the byte count to expect, the size limits.

#ifndef SQUANT_SERVER_LAYER_PLAN_H_
#define SQUANT_SERVER_LAYER_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/squant.h"
#include "squant/v1/quantization.pb.h"

namespace squant::server {

// The options a layer is quantized with.
struct LayerOptions {
  QuantOptions quant;  // bits, mode, grid
  bool pack = false;   // two values per byte
};

struct LayerLimits {
  int64_t max_bytes = 0;
  int64_t max_channels = 0;
  // Which limit max_bytes is, for error messages.
  absl::string_view max_bytes_flag = "--max_layer_bytes";
};

struct LayerPlan {
  uint64_t layer_id = 0;
  std::string name;
  std::vector<int64_t> shape;
  DType dtype = DType::kF32;
  LayerOptions options;
  int64_t input_bytes = 0;  // product(shape) * DTypeSize(dtype)
  int64_t value_bytes = 0;  // bytes of the quantized values sent back
};

// The server's defaults (4 bits, squant, asymmetric, unpacked) with the set
// fields of `options` applied. INVALID_ARGUMENT (invalid_options) for
// unknown enum values, bits out of range, or packing with more than 4 bits.
absl::StatusOr<LayerOptions> ResolveOptions(
    const LayerOptions& defaults, const v1::QuantizationOptions& options);
LayerOptions ServerDefaultOptions();

// Checks a layer's announcement: INVALID_ARGUMENT for a bad dtype or shape
// or options (messages name the layer), RESOURCE_EXHAUSTED (layer_too_large)
// over the limits.
absl::StatusOr<LayerPlan> PlanLayer(uint64_t layer_id, absl::string_view name,
                                    absl::Span<const int64_t> shape,
                                    v1::Dtype dtype,
                                    const LayerOptions& defaults,
                                    const v1::QuantizationOptions& overrides,
                                    const LayerLimits& limits);

}  // namespace squant::server

#endif  // SQUANT_SERVER_LAYER_PLAN_H_

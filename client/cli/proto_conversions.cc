#include "client/cli/proto_conversions.h"

namespace squant::cli {

v1::Mode ToProto(Mode mode) {
  switch (mode) {
    case Mode::kSquant:
      return v1::MODE_SQUANT;
    case Mode::kSquantK:
      return v1::MODE_SQUANT_K;
    case Mode::kSquantC:
      return v1::MODE_SQUANT_C;
    case Mode::kSquantE:
      return v1::MODE_SQUANT_E;
  }
  return v1::MODE_UNSPECIFIED;
}

v1::Grid ToProto(Grid grid) {
  switch (grid) {
    case Grid::kAsymmetric:
      return v1::GRID_ASYMMETRIC;
    case Grid::kSymmetric:
      return v1::GRID_SYMMETRIC;
  }
  return v1::GRID_UNSPECIFIED;
}

v1::DType ToProto(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return v1::DTYPE_F32;
    case DType::kF16:
      return v1::DTYPE_F16;
    case DType::kBF16:
      return v1::DTYPE_BF16;
  }
  return v1::DTYPE_UNSPECIFIED;
}

v1::QuantizationOptions ToProto(const QuantOptions& options, bool pack) {
  v1::QuantizationOptions proto;
  proto.set_bits(options.bits);
  proto.set_mode(ToProto(options.mode));
  proto.set_grid(ToProto(options.grid));
  proto.set_pack(pack);
  return proto;
}

LayerStats FromProto(const v1::LayerStats& stats) {
  LayerStats result;
  result.elements = static_cast<int64_t>(stats.elements());
  result.kernel_flips = static_cast<int64_t>(stats.kernel_flips());
  result.channel_flips = static_cast<int64_t>(stats.channel_flips());
  result.clamped_elements = static_cast<int64_t>(stats.clamped_elements());
  result.degenerate_channels =
      static_cast<int64_t>(stats.degenerate_channels());
  result.max_kernel_error_sum_before = stats.max_kernel_error_sum_before();
  result.max_kernel_error_sum_after = stats.max_kernel_error_sum_after();
  result.max_channel_error_sum_before = stats.max_channel_error_sum_before();
  result.max_channel_error_sum_after = stats.max_channel_error_sum_after();
  result.mse_squant = stats.mse_squant();
  result.mse_rtn = stats.mse_rtn();
  return result;
}

}  // namespace squant::cli

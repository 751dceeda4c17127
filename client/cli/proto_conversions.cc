#include "client/cli/proto_conversions.h"

namespace squant::cli {

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

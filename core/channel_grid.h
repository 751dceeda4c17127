// The per-channel grid: where an output channel's weights land on the
// integer lattice. Shared by the reference and the fast implementation so
// that both compute the same float32 operations in the same order.

#ifndef SQUANT_CORE_CHANNEL_GRID_H_
#define SQUANT_CORE_CHANNEL_GRID_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/squant.h"

namespace squant {

struct ChannelGrid {
  // x = (w * step) - offset   on the asymmetric grid (two float32 ops);
  // x = w / divisor           on the symmetric grid (one float32 op).
  float step = 1;     // the reference's s ("steps per unit")
  float offset = 0;   // the reference's z (an integer value)
  float divisor = 1;  // symmetric grid only: the scale
  float t_min = 0;
  float t_max = 0;
  // Output, w ~= scale * (q - zero_point).
  float scale = 1;
  int32_t zero_point = 0;
  // The channel is encoded as the constant `constant_value` (SQUANT.md,
  // "Degenerate channels"): every q = sign(constant_value).
  bool degenerate = false;
  float constant_value = 0;
};

// 2^exponent for 0 <= exponent <= 8 (bits 2 to 8), exactly; std::ldexp is
// a libm call, which costs more than a small channel's quantization.
inline float PowerOfTwo(int exponent) {
  return static_cast<float>(1 << exponent);
}

inline float GridMin(const QuantOptions& options) {
  return options.grid == Grid::kSymmetric ? -PowerOfTwo(options.bits - 1) + 1.0f
                                          : -PowerOfTwo(options.bits - 1);
}
inline float GridMax(const QuantOptions& options) {
  return PowerOfTwo(options.bits - 1) - 1.0f;
}

// Asymmetric grid from the channel's min `lo` and max `hi`:
//   d = max(hi - lo, 1e-8f); s = (2^b - 1) / d; z = rint(s * lo) + 2^(b-1)
// each rounded to float32 as written (round half to even: nearbyint).
inline ChannelGrid AsymmetricGrid(float lo, float hi, int bits) {
  ChannelGrid grid;
  grid.t_min = -PowerOfTwo(bits - 1);
  grid.t_max = PowerOfTwo(bits - 1) - 1.0f;
  const float levels = PowerOfTwo(bits) - 1.0f;
  const float range = std::max(hi - lo, 1e-8f);
  const float step = levels / range;
  const float step_lo = step * lo;
  const float offset = std::nearbyint(step_lo) + PowerOfTwo(bits - 1);
  // Past 2^24 the reference's z is a float32 artefact, not a grid point.
  if (!(std::fabs(offset) < 16777216.0f)) {
    grid.degenerate = true;
    grid.constant_value = (lo + hi) / 2.0f;
    const float magnitude = std::fabs(grid.constant_value);
    grid.scale = magnitude == 0.0f ? 1.0f : magnitude;
    grid.zero_point = 0;
    return grid;
  }
  grid.step = step;
  grid.offset = offset;
  grid.scale = 1.0f / step;
  grid.zero_point = -static_cast<int32_t>(offset);
  return grid;
}

// Symmetric grid from the channel's max |w|: scale = amax / (2^(b-1) - 1),
// x = w / scale (ONNX QuantizeLinear's division); an all-zero channel (or
// one whose scale underflows) gets scale 1.
inline ChannelGrid SymmetricGrid(float max_abs, int bits) {
  ChannelGrid grid;
  grid.t_max = PowerOfTwo(bits - 1) - 1.0f;
  grid.t_min = -grid.t_max;
  float scale = max_abs / grid.t_max;
  if (!(scale > 0.0f) || !std::isfinite(scale)) scale = 1.0f;
  grid.divisor = scale;
  grid.scale = scale;
  grid.zero_point = 0;
  return grid;
}

// rint(x) past the grid's ends: clamping changes q there. (Elements at
// x >= t_max or x <= t_min cannot flip outward; only these few can clamp.)
inline bool OutsideGrid(const ChannelGrid& grid, float rounded) {
  return rounded < grid.t_min || rounded > grid.t_max;
}

inline float GridPosition(const ChannelGrid& grid, Grid kind, float w) {
  if (kind == Grid::kSymmetric) return w / grid.divisor;
  const float scaled = w * grid.step;
  return scaled - grid.offset;
}

// q of a degenerate channel: sign(c) as 1, -1 or 0.
inline int8_t DegenerateValue(const ChannelGrid& grid) {
  return grid.constant_value > 0 ? 1 : (grid.constant_value < 0 ? -1 : 0);
}

// The grid of a channel's float32 weights w[0..size) (all finite).
inline ChannelGrid ChannelGridOf(const float* w, int64_t size,
                                 const QuantOptions& options) {
  if (options.grid == Grid::kSymmetric) {
    float max_abs = 0;
    for (int64_t i = 0; i < size; ++i)
      max_abs = std::max(max_abs, std::fabs(w[i]));
    return SymmetricGrid(max_abs, options.bits);
  }
  float lo = w[0], hi = w[0];
  for (int64_t i = 1; i < size; ++i) {
    lo = std::min(lo, w[i]);
    hi = std::max(hi, w[i]);
  }
  return AsymmetricGrid(lo, hi, options.bits);
}

}  // namespace squant

#endif  // SQUANT_CORE_CHANNEL_GRID_H_

#include "bench/rtn_baseline.h"

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "bench/rtn_baseline.cc"
// clang-format off
#include "hwy/foreach_target.h"  // IWYU pragma: keep
// clang-format on

#include <algorithm>
#include <cstring>

#include "core/channel_grid.h"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace squant::bench {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void RoundToNearestChannelsSimd(const float* weights, int64_t row, int bits,
                                int64_t first, int64_t last, int8_t* values,
                                float* scale, int32_t* zero_point) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const int64_t lanes = static_cast<int64_t>(hn::Lanes(df));
  const int64_t whole = row / lanes * lanes;
  for (int64_t m = first; m < last; ++m) {
    const float* w = weights + m * row;
    int8_t* q = values + m * row;
    auto lo = hn::Set(df, w[0]);
    auto hi = lo;
    for (int64_t i = 0; i < whole; i += lanes) {
      lo = hn::Min(lo, hn::LoadU(df, w + i));
      hi = hn::Max(hi, hn::LoadU(df, w + i));
    }
    float low = hn::GetLane(hn::MinOfLanes(df, lo));
    float high = hn::GetLane(hn::MaxOfLanes(df, hi));
    for (int64_t i = whole; i < row; ++i) {
      low = std::min(low, w[i]);
      high = std::max(high, w[i]);
    }
    const ChannelGrid grid = AsymmetricGrid(low, high, bits);
    scale[m] = grid.scale;
    zero_point[m] = grid.zero_point;
    if (grid.degenerate) {
      std::memset(q, DegenerateValue(grid), row);
      continue;
    }
    const auto step = hn::Set(df, grid.step);
    const auto offset = hn::Set(df, grid.offset);
    const auto t_min = hn::Set(df, grid.t_min);
    const auto t_max = hn::Set(df, grid.t_max);
    for (int64_t i = 0; i < whole; i += lanes) {
      const auto x = hn::Sub(hn::Mul(hn::LoadU(df, w + i), step), offset);
      const auto r = hn::Min(hn::Max(hn::Round(x), t_min), t_max);
      hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, r)), d8, q + i);
    }
    for (int64_t i = whole; i < row; ++i) {
      const float x = GridPosition(grid, Grid::kAsymmetric, w[i]);
      q[i] = static_cast<int8_t>(
          std::clamp(std::nearbyint(x), grid.t_min, grid.t_max));
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace squant::bench
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace squant::bench {

HWY_EXPORT(RoundToNearestChannelsSimd);

void RoundToNearestChannels(const float* weights, int64_t row, int bits,
                            int64_t first, int64_t last, int8_t* values,
                            float* scale, int32_t* zero_point) {
  HWY_DYNAMIC_DISPATCH(RoundToNearestChannelsSimd)
  (weights, row, bits, first, last, values, scale, zero_point);
}

}  // namespace squant::bench
#endif  // HWY_ONCE
